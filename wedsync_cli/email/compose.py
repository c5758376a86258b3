"""Turn a template + a wedding, client or address into queued outbox messages.

The outbox key is ``<template>/<wedding|client|to>/<hash of what is sent>``: sending the same
confirmation twice (a rerun, a double click, a retry after a crash) lands on the same row and is
never delivered twice; a changed timeline is different content and so a new message.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any

from wedsync_cli.email.providers import OutgoingEmail
from wedsync_cli.errors import ConfigError, UsageError

DEFAULT_FROM = "wedsync <wedsync@localhost>"


def studio(rt) -> dict[str, Any]:
    from wedsync_cli.email.providers import parse_address

    sender = rt.config.email.from_ or DEFAULT_FROM
    name, addr = parse_address(sender)
    return {"name": name or addr, "email": addr, "from": sender}


def _long_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        d = date.fromisoformat(value[:10])
    except ValueError:
        return value
    return f"{d:%A} {d.day} {d:%B %Y}"


def _when(ev: dict[str, Any], zone) -> str:
    if ev["all_day"]:
        return _long_date(ev["start"]) or ev["start"]
    try:
        start = datetime.fromisoformat(ev["start"]).astimezone(zone)
        end = datetime.fromisoformat(ev["end"]).astimezone(zone)
    except ValueError:
        return ev["start"]
    day = f"{start:%a} {start.day} {start:%b %Y}"
    return f"{day} {start:%H:%M}–{end:%H:%M}"


def client_vars(row: dict[str, Any]) -> dict[str, Any]:
    def person(n: str) -> dict[str, Any] | None:
        p = {"first": row.get(f"{n}_first"), "last": row.get(f"{n}_last"), "email": row.get(f"{n}_email"),
             "phone": row.get(f"{n}_phone")}
        return p if any(p.values()) else None

    p1, p2 = person("p1"), person("p2")
    firsts = [p["first"] for p in (p1, p2) if p and p.get("first")]
    return {"id": row["id"], "name": row["display_name"], "kind": row["kind"], "partner1": p1, "partner2": p2,
            "greeting": " & ".join(firsts) if firsts else row["display_name"]}


def client_emails(row: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for n in ("p1", "p2"):
        e = (row.get(f"{n}_email") or "").strip()
        if e and e.lower() not in {x.lower() for x in out}:
            out.append(e)
    return out


def wedding_vars(rt, wedding: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    zone = rt.config.zone
    events = rt.store.query(
        "SELECT * FROM events WHERE wedding_id = ? AND deleted = 0 ORDER BY start", [wedding["id"]])
    evs = [{"id": e["id"], "title": e["title"], "start": e["start"], "end": e["end"], "all_day": bool(e["all_day"]),
            "location": e["location"], "kind": e["kind"], "when": _when(e, zone)} for e in events]
    w = {"id": wedding["id"], "date": wedding["date"], "date_long": _long_date(wedding["date"]),
         "venue": wedding["venue"], "status": wedding["status"]}
    return w, evs


def resolve(rt, *, wedding_id: str | None = None, client_id: str | None = None,
            to: str | list[str] | None = None) -> tuple[str, list[str], dict[str, Any]]:
    """-> (entity for the key, recipients, template context). ``to`` may name several addresses
    (`send --to a --to b`): one message to all of them."""
    tos = list(dict.fromkeys(a.strip() for a in ([to] if isinstance(to, str) else (to or [])) if a.strip()))
    to = tos or None
    store = rt.store
    ctx: dict[str, Any] = {"studio": studio(rt), "now": rt.clock.now().strftime("%Y-%m-%d %H:%M UTC")}
    if wedding_id:
        wedding = store.one("SELECT * FROM weddings WHERE id = ?", [wedding_id])
        if wedding is None:
            raise UsageError(f"There is no wedding with id {wedding_id}",
                             fix="find ids with `wedsync wedding-day status --json` or `wedsync status`")
        client = store.one("SELECT * FROM clients WHERE id = ?", [wedding["client_id"]])
        ctx["client"] = client_vars(client)
        ctx["wedding"], ctx["events"] = wedding_vars(rt, wedding)
        recipients = tos if tos else client_emails(client)
        entity = f"wedding:{wedding_id}"
    elif client_id:
        client = store.one("SELECT * FROM clients WHERE id = ?", [client_id])
        if client is None:
            raise UsageError(f"There is no client with id {client_id}", fix="check the id and try again")
        ctx["client"] = client_vars(client)
        # The client's next wedding (else their latest) gives the wedding templates their data.
        today = rt.clock.now().date().isoformat()
        wedding = (store.one("SELECT * FROM weddings WHERE client_id = ? AND date >= ? ORDER BY date LIMIT 1",
                             [client_id, today])
                   or store.one("SELECT * FROM weddings WHERE client_id = ? ORDER BY date DESC LIMIT 1", [client_id]))
        if wedding is not None:
            ctx["wedding"], ctx["events"] = wedding_vars(rt, wedding)
        recipients = tos if tos else client_emails(client)
        entity = f"client:{client_id}"
    elif to:
        recipients = tos
        entity = "to:" + ",".join(sorted(a.lower() for a in tos))  # one address: the key as before
    else:
        raise UsageError("Say who the email is for", fix="add --wedding ID, --client ID or --to EMAIL")
    if not recipients:
        raise UsageError(f"The {entity.split(':')[0]} has no email address", fix="add one in the CRM, or pass --to EMAIL")
    for r in recipients:
        _check_address(r)
    ctx["to"] = ", ".join(recipients)
    return entity, recipients, ctx


def _check_address(addr: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(addr, check_deliverability=False)
    except EmailNotValidError as exc:
        raise UsageError(f"{addr!r} is not a valid email address ({exc})", fix="pass a valid --to EMAIL") from None


def build_message(rt, template: str, recipients: list[str], ctx: dict[str, Any], entity: str
                  ) -> tuple[str, OutgoingEmail]:
    from wedsync_cli.email.templates import render

    r = render(rt, template, ctx)
    sender = rt.config.email.from_ or DEFAULT_FROM
    if "<" not in sender and "@" not in sender:
        raise ConfigError(f"[email] from = {sender!r} is not an address", fix='set e.g. from = "Studio <studio@example.com>"')
    msg = OutgoingEmail(from_=sender, to=recipients, subject=r.subject, text=r.text, html=r.html,
                        reply_to=rt.config.email.reply_to)
    digest = hashlib.sha256(json.dumps(msg.to_payload(), sort_keys=True).encode()).hexdigest()[:16]
    return f"{template}/{entity}/{digest}", msg
