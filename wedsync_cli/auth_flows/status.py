"""`auth status` below the CLI: which credentials are stored, their expiry, and (``check``) one
cheap authenticated call each through the providers' registered checks. Prints nothing."""

from __future__ import annotations

from typing import Any


def known_providers(rt) -> list[str]:
    """Every credential name worth listing: the known shapes plus the config's webhook/inbound names."""
    from wedsync_cli.secrets import SHAPES

    # The receiver's built-in sources (webhooks/inbound.py BUILTIN_SOURCES; not imported: heavy).
    names = list(SHAPES) + ["inbound:resend", "inbound:sendgrid", "inbound:tave"]
    try:
        cfg = rt.config
    except Exception:  # noqa: BLE001 - status must still list what it can
        return names
    names += [f"webhook:{n}" for n in cfg.webhooks]
    names += [f"inbound:{src}" for src in inbound_sources(cfg)]
    return list(dict.fromkeys(names))


def inbound_sources(cfg) -> list[str]:
    """Source names the config gives ``[inbound]``: ``sources = ["site", ...]`` and/or
    ``[inbound.<name>]`` tables."""
    inbound = cfg.inbound if isinstance(cfg.inbound, dict) else {}
    listed = inbound.get("sources", [])
    names = [str(s) for s in (listed if isinstance(listed, list) else [])]
    names += [k for k, v in inbound.items() if isinstance(v, dict)]
    return names


def configured_providers(rt) -> set[str]:
    """Providers the config uses, so a missing credential shows up as MISSING."""
    try:
        cfg = rt.config
    except Exception:  # noqa: BLE001
        return set()
    used = {c.provider for c in cfg.calendars.values() if c.provider != "local"}
    used |= {s.provider for s in cfg.sources.values() if s.provider != "csv"}
    used |= {p for p in cfg.email.providers if p in ("resend", "sendgrid")}
    used |= {f"webhook:{n}" for n in cfg.webhooks}
    used |= {f"inbound:{n}" for n in inbound_sources(cfg)}
    return used


def calendar_providers(rt) -> set[str]:
    """Providers some calendar syncs through (their credential is needed on a wedding day)."""
    try:
        return {c.provider for c in rt.config.calendars.values()}
    except Exception:  # noqa: BLE001 - an unreadable config must not block deleting a credential
        return set()


def credential_rows(rt, *, check: bool = False) -> tuple[str, list[dict[str, Any]], bool]:
    """(keyring backend name, one row per stored or configured credential, whether a check failed)."""
    from datetime import UTC, datetime

    from wedsync_cli import registry
    from wedsync_cli.errors import WedsyncError

    backend = rt.credentials.backend_name()
    if backend == "none":
        rt.credentials.get("probe")  # raises NoKeyring with the fix
    rows = []
    failed = False
    configured = configured_providers(rt)
    for provider in known_providers(rt):
        cred = rt.credentials.get(provider)
        entry = {"provider": provider, "present": cred is not None, "stored_in": backend if cred else None,
                 "expires_at": None, "expired": None, "check": None}
        if cred and cred.get("expires_at"):
            exp = datetime.fromtimestamp(float(cred["expires_at"]), UTC)
            entry["expires_at"] = exp.isoformat(timespec="seconds")
            entry["expired"] = exp <= rt.clock.now()
        if check and cred is not None:
            if provider in registry.REGISTRY["check"]:
                try:
                    detail = registry.load("check", provider)(rt, provider)
                    entry["check"] = {"ok": True, "detail": detail}
                except WedsyncError as exc:
                    failed = True
                    entry["check"] = {"ok": False, "detail": exc.sentence(), "exit_code": exc.exit_code}
            else:
                entry["check"] = {"ok": None, "detail": "no check available for this provider"}
        if cred is not None or provider in configured:
            rows.append(entry)
    rt.flush_calls()
    return backend, rows, failed
