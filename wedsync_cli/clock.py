"""Injected time. Everything that schedules, backs off or decides by the hour asks a Clock.

``SystemClock`` reads ``datetime.now`` (so freezegun moves it in tests); ``WEDSYNC_NOW``
(ISO 8601) pins it for black-box runs of the CLI ("what would happen on Saturday at 14:00?").
``sleep`` goes through the clock too so tests can advance time instead of waiting.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta


def parse_instant(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def iso(dt: datetime | None) -> str | None:
    """UTC ISO 8601 with seconds, the form every table stores."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat(timespec="seconds")


class Clock:
    def now(self) -> datetime:  # aware, UTC
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def monotonic(self) -> float:
        return time.monotonic()


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FixedClock(Clock):
    """A clock that only moves when told to (tests, WEDSYNC_NOW). ``sleep`` advances it."""

    def __init__(self, start: datetime):
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kw) -> None:
        delta = timedelta(seconds=seconds, **kw)
        self._now += delta
        self._mono += delta.total_seconds()

    def set(self, when: datetime) -> None:
        self._now = when if when.tzinfo else when.replace(tzinfo=UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    def monotonic(self) -> float:
        return self._mono


class PinnedWallClock(SystemClock):
    """WEDSYNC_NOW: the wall clock is pinned, but sleeping (backoff) still really waits."""

    def __init__(self, start: datetime):
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


def default_clock(env: dict[str, str] | None = None) -> Clock:
    env = os.environ if env is None else env
    pinned = env.get("WEDSYNC_NOW")
    if pinned:
        try:
            return PinnedWallClock(parse_instant(pinned))
        except ValueError:
            from wedsync_cli.errors import ConfigError

            raise ConfigError(f"WEDSYNC_NOW={pinned!r} is not an ISO 8601 date-time",
                              fix="set it like WEDSYNC_NOW=2026-06-13T12:00:00Z, or unset it") from None
    return SystemClock()


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str, now: datetime) -> datetime:
    """Contract ``WHEN``: an ISO 8601 date or date-time, or a duration back from now (90m, 2h, 3d)."""
    v = value.strip()
    if v and v[-1].lower() in _DURATION_UNITS and v[:-1].replace(".", "", 1).isdigit():
        return now - timedelta(seconds=float(v[:-1]) * _DURATION_UNITS[v[-1].lower()])
    try:
        return parse_instant(v)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date/date-time or a duration such as 90m, 2h, 3d") from None
