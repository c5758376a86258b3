"""`check(rt, provider)` for the OAuth calendar providers: one cheap authenticated call per
configured calendar (or the default calendar when none is configured)."""

from __future__ import annotations


def check_calendars(rt, provider: str, backend_cls, default_calendar: str) -> str:
    from wedsync_cli.calendars.backend import BackendContext

    calendars = {n: c for n, c in rt.config.calendars.items() if c.provider == provider and c.enabled}
    settings = rt.provider_settings(provider)
    targets = list(calendars.items()) or [(provider, None)]
    checked = []
    for name, cfg in targets:
        extras = cfg.model_dump(exclude_none=True) if cfg is not None else {}
        ctx = BackendContext(
            name=name, calendar=extras.get("calendar") or default_calendar,
            provider_config={**settings, **extras}, credentials=rt.credentials, clock=rt.clock,
            recorder=rt.recorder, state_dir=rt.paths.state_dir, timezone=rt.config.timezone)
        backend = backend_cls(ctx)
        try:
            backend.check()
        finally:
            backend.close()
        checked.append(f"{name} ({ctx.calendar})")
    return f"{provider}: calendar readable: " + ", ".join(checked)
