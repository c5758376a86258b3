"""What the wedding-day protocol decides while it is active, each decision logged with its reason.

- ``should_run(rt, job)``: non-urgent jobs run less often. Cron still fires on its schedule; the
  job asks this first and skips itself (exit 0, run recorded as 'skipped') until its minimum
  interval since its last run has passed. ``[wedding_day.min_interval_minutes]`` maps job-name
  globs to minutes; jobs that match nothing are urgent and always run.
- ``require_force(rt, what, force)``: destructive commands refuse without ``--force``.
- ``record(store, decision, subject, reason)``: the ``protocol_decisions`` log.
- ``observe(rt)``: called by `health check` and at the end of cron jobs; emits
  ``wedding_day.activated`` / ``wedding_day.ended`` once per protected stretch when it sees the
  protocol switch.
"""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime, timedelta
from typing import Any

from wedsync_cli.clock import iso, parse_instant
from wedsync_cli.errors import UsageError

# Defaults: imports and housekeeping can wait on a wedding day; each sync run (calendar or CRM
# source, job "sync:<name>") slows down (deletes are deferred anyway); sending and health checks
# are urgent and never skipped. A more specific name wins over a glob ("sync:crm" over "sync:*").
DEFAULT_MIN_INTERVALS = {
    "import:*": 60,
    "sync:*": 30,
    "maintenance": 360,
}
OBSERVED_CURSOR = "wedding_day:observed"


class ProtocolRefused(UsageError):
    """A destructive command was refused while the wedding-day protocol is active."""


def record(store, decision: str, subject: str, reason: str) -> None:
    store.execute("INSERT INTO protocol_decisions(at, decision, subject, reason) VALUES (?,?,?,?)",
                  [store.now(), decision, subject, reason])


def _policy(rt):
    from wedsync_cli.wedding_day.policy import WeddingDayPolicy

    return WeddingDayPolicy.from_runtime(rt)


def min_interval(config, job: str) -> float | None:
    wd = config.wedding_day
    table = dict(DEFAULT_MIN_INTERVALS)
    extra = getattr(wd, "min_interval_minutes", None) or (wd.model_extra or {}).get("min_interval_minutes") or {}
    table.update(extra)
    if job in table:
        v = table[job]
    else:
        matches = [(len(p), p) for p in table if fnmatch.fnmatchcase(job, p)]
        if not matches:
            return None
        v = table[max(matches)[1]]
    return None if v in (None, 0, False) else float(v)


def should_run(rt, job: str, at: datetime | None = None) -> tuple[bool, str]:
    """(run?, why). While the protocol is inactive every job runs; while active a non-urgent job
    runs only when its minimum interval since its last (non-skipped) run has passed."""
    at = (at or rt.clock.now()).astimezone(UTC)
    state = _policy(rt).state(at)
    if not state.active:
        return True, "wedding-day protocol inactive"
    interval = min_interval(rt.config, job)
    store = rt.store
    if interval is None:
        why = f"urgent job: runs on every schedule during the wedding-day protocol ({state.reason})"
        _log(store, "run", job, why)
        return True, why
    last = store.scalar(
        "SELECT started_at FROM job_runs WHERE job = ? AND outcome NOT IN ('skipped') "
        "ORDER BY started_at DESC, id DESC LIMIT 1", [job])
    if last is not None:
        due = parse_instant(last) + timedelta(minutes=interval)
        if at < due:
            why = (f"wedding-day protocol active ({state.reason}): {job} runs at most every {interval:g} min; "
                   f"last run {last}, next after {iso(due)}")
            _log(store, "skip", job, why)
            return False, why
    why = f"wedding-day protocol active: {job} is due (minimum interval {interval:g} min has passed)"
    _log(store, "run", job, why)
    return True, why


def record_skip(store, job: str, reason: str) -> None:
    """A job that should_run() held back: one 'skipped' run row, so `status` shows why it did not run."""
    import json

    now = store.now()
    with store.transaction():
        store.execute("INSERT INTO job_runs(job, started_at, ended_at, outcome, counts) VALUES (?,?,?, 'skipped', ?)",
                      [job, now, now, json.dumps({"reason": reason})])


def _log(store, decision: str, subject: str, reason: str) -> None:
    with store.transaction():
        record(store, decision, subject, reason)


def require_force(rt, what: str, force: bool) -> None:
    """Refuse a destructive command during the protocol unless ``force``; log either way."""
    state = _policy(rt).state()
    if not state.active:
        return
    store = rt.store
    zone = rt.config.zone
    until = state.until.astimezone(zone).strftime("%a %H:%M") if state.until else "the end of the day"
    if force:
        _log(store, "force", what, f"--force given during the wedding-day protocol ({state.reason})")
        return
    _log(store, "refuse", what, f"destructive command without --force during the wedding-day protocol ({state.reason})")
    raise ProtocolRefused(
        f"Refusing to {what}: the wedding-day protocol is active until {until} ({state.reason})",
        fix="rerun with --force if it really must happen now",
    )


def decisions(store, since: datetime | None = None, limit: int = 200) -> list[dict[str, Any]]:
    if since is None:
        return store.query("SELECT * FROM protocol_decisions ORDER BY id DESC LIMIT ?", [limit])
    return store.query("SELECT * FROM protocol_decisions WHERE at >= ? ORDER BY id DESC LIMIT ?", [iso(since), limit])


def observe(rt, at: datetime | None = None) -> str | None:
    """Compare the protocol with what was last observed; emit activated/ended once per stretch.

    Returns 'activated', 'ended' or None. The observation and its event are one transaction, so
    two overlapping cron jobs never announce a switch twice (the dedupe key also guards that).
    """
    from wedsync_cli import notify

    at = (at or rt.clock.now()).astimezone(UTC)
    state = _policy(rt).state(at)
    store = rt.store
    with store.transaction():
        seen = store.get_cursor(OBSERVED_CURSOR) or {"active": False}
        if state.active and not seen.get("active"):
            since = iso(state.since)
            data = {"since": since, "until": iso(state.until), "reason": state.reason, "weddings": state.weddings}
            notify.emit(store, "wedding_day.activated", data, dedupe_key=f"wedding_day.activated:{since}")
            record(store, "activated", "wedding_day", state.reason)
            store.set_cursor(OBSERVED_CURSOR, {"active": True, "since": since, "until": iso(state.until),
                                               "weddings": state.weddings})
            return "activated"
        if not state.active and seen.get("active"):
            since = seen.get("since")
            data = {"since": since, "until": seen.get("until"), "ended_at": iso(at), "weddings": seen.get("weddings", [])}
            notify.emit(store, "wedding_day.ended", data, dedupe_key=f"wedding_day.ended:{since}")
            record(store, "ended", "wedding_day", f"protected stretch from {since} is over")
            store.set_cursor(OBSERVED_CURSOR, {"active": False, "ended_at": iso(at)})
            return "ended"
        if (state.active and seen.get("active") and seen.get("until") and parse_instant(seen["until"]) <= at
                and seen.get("since") != iso(state.since)):
            # A new stretch began after the last one ended, with no observation in between.
            old_since = seen.get("since")
            notify.emit(store, "wedding_day.ended", {"since": old_since, "until": seen.get("until"),
                                                     "ended_at": seen.get("until"), "weddings": seen.get("weddings", [])},
                        dedupe_key=f"wedding_day.ended:{old_since}")
            record(store, "ended", "wedding_day", f"protected stretch from {old_since} is over")
            since = iso(state.since)
            notify.emit(store, "wedding_day.activated", {"since": since, "until": iso(state.until),
                                                         "reason": state.reason, "weddings": state.weddings},
                        dedupe_key=f"wedding_day.activated:{since}")
            record(store, "activated", "wedding_day", state.reason)
            store.set_cursor(OBSERVED_CURSOR, {"active": True, "since": since, "until": iso(state.until),
                                               "weddings": state.weddings})
            return "activated"
        if state.active and seen.get("active") and iso(state.until) != seen.get("until"):
            # The stretch grew (a wedding added, an event moved): remember the new end quietly.
            store.set_cursor(OBSERVED_CURSOR, {**seen, "until": iso(state.until), "weddings": state.weddings})
    return None
