"""Validation of the free-form config sections this feature owns ([health], [alerts], [metrics],
[schedule], [wedding_day.min_interval_minutes]): a wrong value is one sentence naming the key
(exit 78), never a traceback later in the middle of a health check.

Plain checks rather than pydantic models: `status` runs this on every call and building models
costs more than the checks themselves.
"""

from __future__ import annotations

from typing import Any


def _num(lo: float | None = None, hi: float | None = None, *, strict_lo: bool = False, integer: bool = False):
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float) or (integer and not isinstance(v, int)):
            return "must be a whole number" if integer else "must be a number"
        if lo is not None and (v <= lo if strict_lo else v < lo):
            return f"must be {'more than' if strict_lo else 'at least'} {lo:g}"
        if hi is not None and v > hi:
            return f"must be at most {hi:g}"
        return None
    return check


def _str_or_list(v: Any) -> str | None:
    if isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)):
        return None
    return "must be a string or a list of strings"


def _str(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _list_of_str(v: Any) -> str | None:
    return None if isinstance(v, list) and all(isinstance(x, str) for x in v) else "must be a list of strings"


def _choice(*options: str):
    def check(v: Any) -> str | None:
        return None if v in options else f"must be one of {', '.join(options)}"
    return check


def _str_map(v: Any) -> str | None:
    ok = isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
    return None if ok else "must map job names to URLs"


SECTIONS: dict[str, dict[str, Any]] = {
    "health": {
        "providers": _list_of_str, "down_after_failures": _num(1, integer=True),
        "degraded_error_rate": _num(0, 1, strict_lo=True), "min_calls": _num(1, integer=True),
        "window_minutes": _num(0, strict_lo=True), "quiet_minutes": _num(0),
        "double_booking_days": _num(0, strict_lo=True),
    },
    "alerts": {
        "email": _str_or_list, "slack": _bool, "sms": _str_or_list, "sms_from": _str,
        "sms_when": _choice("wedding_day", "always", "never"), "sync_failures": _num(1, integer=True),
        "conflict_hours": _num(0, strict_lo=True), "repeat_hours": _num(0),
        "max_per_hour": _num(1, integer=True),
    },
    "metrics": {
        "raw_days": _num(0, strict_lo=True), "rollup_days": _num(0, strict_lo=True),
        "runs_days": _num(0, strict_lo=True), "window_hours": _num(0, strict_lo=True),
        "textfile": _str, "ping_urls": _str_map,
    },
}


def validate(config) -> None:
    from wedsync_cli.errors import ConfigError

    file = config.source_file

    def fail(key: str, msg: str):
        raise ConfigError(f"Config file {file}: key `{key}`: {msg}",
                          fix=f"edit {file} (see config.example.toml, section wedding-day)")

    for name, checks in SECTIONS.items():
        for key, value in (getattr(config, name, None) or {}).items():
            check = checks.get(key)
            if check is None:
                fail(f"{name}.{key}", "unknown key")
            msg = check(value)
            if msg:
                fail(f"{name}.{key}", msg)
    for job, section in (config.schedule or {}).items():
        if not isinstance(section, dict):
            fail(f"schedule.{job}", "must be a table such as [schedule.sync]")
        for key, value in section.items():
            if key != "ping_url":
                fail(f"schedule.{job}.{key}", "unknown key")
            if not isinstance(value, str):
                fail(f"schedule.{job}.ping_url", "must be a string")
    intervals = (config.wedding_day.model_extra or {}).get("min_interval_minutes")
    if intervals is not None and (
            not isinstance(intervals, dict)
            or any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in intervals.values())):
        fail("wedding_day.min_interval_minutes", "must map job names to minutes (numbers, 0 = urgent)")
