"""The data behind `wedsync status` and `wedsync wedding-day status` (contract ``--json`` shapes).

Every query here is bounded by an index (job_runs by job, events by start, http_rollups by hour,
conflicts by resolved_at), so both screens stay fast on a state with a million recorded calls
and ten thousand weddings (benchmarks/status.py).
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from wedsync_cli.clock import iso

EMPTY_OUTBOX = {"pending": 0, "sent": 0, "failed": 0, "bounced": 0, "dead": 0}
DOUBLE_BOOKINGS_SHOWN = 20
EMPTY_WEBHOOKS = {"pending": 0, "failed": 0, "delivered": 0, "dead": 0}


def _table_exists(store, name: str) -> bool:
    return store.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [name]) is not None


def _duration(run: dict[str, Any]) -> float | None:
    if not run.get("ended_at"):
        return None
    return (datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()


# -- queue depths (owned by the delivery and webhooks features; guarded until they exist) ------
def outbox_counts(store) -> dict[str, int]:
    try:
        from wedsync_cli.delivery.outbox import outbox_counts as counts
    except ImportError:
        return dict(EMPTY_OUTBOX)
    return {**EMPTY_OUTBOX, **counts(store)}


def webhook_counts(store) -> dict[str, int]:
    try:
        from wedsync_cli.webhooks.dispatch import webhook_counts as counts
    except ImportError:
        return dict(EMPTY_WEBHOOKS)
    return {**EMPTY_WEBHOOKS, **counts(store)}


def overdue_emails(store, now: datetime, grace_minutes: float = 15) -> int:
    """Emails due for longer than the grace period and still not delivered (queued is normal)."""
    if not _table_exists(store, "outbox"):
        return 0
    cut = iso(now - timedelta(minutes=grace_minutes))
    return store.scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'email' AND status IN ('pending', 'retry', 'leased') "
        "AND COALESCE(not_before, created_at) < ?", [cut]) or 0


def deferred_deletes(store) -> int:
    """Remote deletes the sync held back during the wedding-day protocol (done after it)."""
    return store.scalar("SELECT COUNT(*) FROM calendar_links WHERE state = 'deferred_delete'") or 0


# -- jobs ------------------------------------------------------------------------------------
def last_runs(store) -> list[dict[str, Any]]:
    """The latest run of every job: one index probe per job (job_runs_job), not a scan of history."""
    jobs = [r[0] for r in store.db.conn.execute("SELECT DISTINCT job FROM job_runs ORDER BY job")]
    out = []
    for job in jobs:
        r = store.one("SELECT * FROM job_runs WHERE job = ? ORDER BY started_at DESC, id DESC LIMIT 1", [job])
        if r is None:
            continue
        last_ok = store.scalar(
            "SELECT started_at FROM job_runs WHERE job = ? AND outcome = 'ok' ORDER BY started_at DESC LIMIT 1", [job])
        out.append({"job": job, "outcome": r["outcome"], "started_at": r["started_at"], "ended_at": r["ended_at"],
                    "duration_s": _duration(r), "counts": json.loads(r["counts"] or "{}"), "error": r["error"],
                    "last_success": last_ok, "failing_streak": failing_streak(store, job)})
    return out


def failing_streak(store, job: str, limit: int = 50) -> int:
    n = 0
    for (outcome,) in store.db.conn.execute(
            "SELECT outcome FROM job_runs WHERE job = ? AND outcome NOT IN ('running', 'skipped') "
            "ORDER BY started_at DESC, id DESC LIMIT ?", [job, limit]):
        if outcome in ("failed", "crashed"):
            n += 1
        else:
            break
    return n


# -- conflicts and double bookings -------------------------------------------------------------
def open_conflicts(store, start: datetime | None = None, end: datetime | None = None) -> list[dict[str, Any]]:
    """Unresolved conflicts, optionally only those on events starting in [start, end)."""
    rows = store.query(
        "SELECT c.id, c.calendar, c.event_id, c.reason, c.detected_at, e.title, e.start, e.\"end\", e.wedding_id "
        "FROM conflicts c LEFT JOIN events e ON e.id = c.event_id WHERE c.resolved_at IS NULL ORDER BY c.id")
    if start is None:
        return rows
    from wedsync_cli.wedding_day.policy import _parse_point

    out = []
    for r in rows:
        if not r.get("start"):
            continue
        with contextlib.suppress(ValueError):
            s = _parse_point(r["start"], UTC)
            if start <= s < end:
                out.append(r)
    return out


def _booked_events(store, zone, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    from wedsync_cli.wedding_day.policy import _parse_point

    lo_key = (lo.astimezone(zone).date() - timedelta(days=2)).isoformat()
    hi_key = (hi.astimezone(zone).date() + timedelta(days=2)).isoformat()
    rows = store.query(
        "SELECT e.id, e.wedding_id, e.title, e.kind, e.all_day, e.start, e.\"end\", e.tz, e.location "
        "FROM events e JOIN weddings w ON w.id = e.wedding_id "
        "WHERE e.start >= ? AND e.start < ? AND e.deleted = 0 AND w.status = 'booked' ORDER BY e.start",
        [lo_key, hi_key])
    out = []
    for r in rows:
        try:
            r["_s"], r["_e"] = _parse_point(r["start"], zone), _parse_point(r["end"], zone)
        except ValueError:
            continue
        if r["_e"] > lo and r["_s"] < hi:
            out.append(r)
    return out


def double_bookings(store, zone, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """Pairs of events of different booked weddings that overlap in time (sweep over start order)."""
    evs = sorted(_booked_events(store, zone, lo, hi), key=lambda r: r["_s"])
    out, active = [], []
    for ev in evs:
        active = [a for a in active if a["_e"] > ev["_s"]]
        for a in active:
            if a["wedding_id"] != ev["wedding_id"]:
                out.append({"a": {"event_id": a["id"], "wedding_id": a["wedding_id"], "title": a["title"],
                                  "start": a["start"], "end": a["end"]},
                            "b": {"event_id": ev["id"], "wedding_id": ev["wedding_id"], "title": ev["title"],
                                  "start": ev["start"], "end": ev["end"]}})
        active.append(ev)
    return out


# -- status ----------------------------------------------------------------------------------
def overall_status(rt) -> dict[str, Any]:
    from wedsync_cli.monitoring.health import provider_health
    from wedsync_cli.monitoring.settings import validate

    config = rt.config  # a broken config is reported (exit 78) before anything else
    validate(config)
    store = rt.store
    now = rt.clock.now().astimezone(UTC)
    jobs = last_runs(store)
    providers = provider_health(store, config, now)
    outbox = outbox_counts(store)
    webhooks = webhook_counts(store)
    conflicts = store.scalar("SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL") or 0
    horizon = float((config.health or {}).get("double_booking_days", 365))
    doubles = double_bookings(store, config.zone, now, now + timedelta(days=horizon))
    problems = []
    for p in providers:
        if p["state"] != "healthy":
            problems.append(f"{p['name']} is {p['state']}: {p['reason']}")
    for j in jobs:
        if j["outcome"] in ("failed", "crashed"):
            problems.append(f"{j['job']} {j['outcome']} at {j['started_at']}: {j['error'] or 'no reason recorded'}")
    if outbox["dead"]:
        problems.append(f"{outbox['dead']} email(s) dead in the outbox (see `wedsync send --log`)")
    if webhooks["dead"]:
        problems.append(f"{webhooks['dead']} webhook deliveries dead (replay with `wedsync webhook-replay --status dead`)")
    if conflicts:
        problems.append(f"{conflicts} unresolved conflict(s) (see `wedsync conflicts list`)")
    for d in doubles[:5]:
        problems.append(f"double booking: {d['a']['title']} ({d['a']['start']}) overlaps {d['b']['title']} ({d['b']['start']})")
    if len(doubles) > 5:
        problems.append(f"... and {len(doubles) - 5} more double bookings in the next {horizon:g} days")
    from wedsync_cli.wedding_day.policy import WeddingDayPolicy

    protocol = WeddingDayPolicy(store, config, rt.clock).state(now)
    return {"jobs": jobs, "providers": providers, "outbox": outbox, "webhooks": webhooks, "conflicts": conflicts,
            # the soonest ones; a screen (or a script) needs the first few and the count, not thousands
            "double_bookings": doubles[:DOUBLE_BOOKINGS_SHOWN], "double_bookings_total": len(doubles),
            "deferred_deletes": deferred_deletes(store),
            "alerts": [{"key": a["key"], "message": a["message"], "opened_at": a["opened_at"],
                        "notified_at": a["notified_at"]}
                       for a in store.query("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id")],
            "protocol": _protocol_doc(protocol), "problems": problems,
            "generated_at": iso(now)}


def _protocol_doc(state) -> dict[str, Any]:
    d = state.as_dict()
    return {"active": d["active"], "reason": d["reason"], "since": d["since"], "until": d["until"],
            "weddings": d["weddings"], "next_start": d["next_start"]}


def wedding_day_status(rt, day: date | None = None) -> dict[str, Any]:
    """Contract `wedding-day status --json`, plus `risks` (every reason the day is at risk)."""
    from wedsync_cli.monitoring.health import provider_health
    from wedsync_cli.monitoring.settings import validate
    from wedsync_cli.wedding_day.policy import WeddingDayPolicy

    config = rt.config
    validate(config)
    store = rt.store
    zone = config.zone
    now = rt.clock.now().astimezone(UTC)
    day = day or now.astimezone(zone).date()
    lo = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    hi = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    policy = WeddingDayPolicy(store, config, rt.clock)
    protocol = policy.day_state(day)

    # The day's weddings: booked (or already completed) weddings dated that day, plus any wedding with a
    # booked event that day (a rehearsal dinner of tomorrow's wedding is still today's work).
    wedding_ids = [r[0] for r in store.db.conn.execute(
        "SELECT id FROM weddings WHERE date = ? AND status IN ('booked', 'completed')", [day.isoformat()])]
    for ev in _booked_events(store, zone, lo, hi):
        if ev["wedding_id"] not in wedding_ids:
            wedding_ids.append(ev["wedding_id"])
    weddings = []
    for wid in wedding_ids:
        w = store.one("SELECT w.id, w.date, w.venue, w.status, c.display_name AS client, c.p1_email, c.p2_email "
                      "FROM weddings w LEFT JOIN clients c ON c.id = w.client_id WHERE w.id = ?", [wid])
        if w is None:
            continue
        evs = store.query(
            "SELECT id, title, kind, all_day, start, \"end\", tz, location FROM events "
            "WHERE wedding_id = ? AND deleted = 0 ORDER BY start", [wid])
        todays = [e for e in evs if _on_day(e, zone, lo, hi)]
        weddings.append({"id": w["id"], "client": w["client"], "venue": w["venue"], "status": w["status"],
                         "date": w["date"],
                         "events": [{"id": e["id"], "title": e["title"], "kind": e["kind"], "start": e["start"],
                                     "end": e["end"], "all_day": bool(e["all_day"]), "location": e["location"]}
                                    for e in todays]})
    weddings.sort(key=lambda w: (w["events"][0]["start"] if w["events"] else "", w["id"]))

    providers = provider_health(store, config, now)
    outbox = outbox_counts(store)
    webhooks = webhook_counts(store)
    day_conflicts = open_conflicts(store, lo, hi)
    doubles = double_bookings(store, zone, lo, hi)
    failing_jobs = [j for j in last_runs(store) if j["job"].startswith("sync") and j["outcome"] in ("failed", "crashed")]
    risks = []
    for p in providers:
        if p["state"] != "healthy":
            risks.append({"kind": "provider", "subject": p["name"], "message": f"{p['name']} is {p['state']}: {p['reason']}"})
    for j in failing_jobs:
        risks.append({"kind": "sync", "subject": j["job"],
                      "message": f"{j['job']} failed {j['failing_streak']} time(s) in a row: {j['error'] or ''}".strip()})
    overdue = overdue_emails(store, now)
    if overdue or outbox["dead"] or outbox["failed"]:
        risks.append({"kind": "outbox", "subject": "email",
                      "message": f"emails undelivered: {overdue} overdue, {outbox['failed']} failed, {outbox['dead']} dead"})
    if webhooks["failed"] or webhooks["dead"]:
        risks.append({"kind": "webhooks", "subject": "webhooks",
                      "message": f"webhook deliveries undelivered: {webhooks['failed']} failed, {webhooks['dead']} dead"})
    for c in day_conflicts:
        risks.append({"kind": "conflict", "subject": str(c["id"]),
                      "message": f"unresolved conflict {c['id']} on {c.get('title') or c['event_id']} ({c['calendar']})"})
    for d in doubles:
        risks.append({"kind": "double_booking", "subject": f"{d['a']['event_id']}/{d['b']['event_id']}",
                      "message": f"double booking: {d['a']['title']} overlaps {d['b']['title']}"})
    return {"date": day.isoformat(), "protocol": _protocol_doc(protocol), "weddings": weddings,
            "providers": providers, "outbox": {"pending": outbox["pending"], "dead": outbox["dead"],
                                               "failed": outbox["failed"]},
            "webhooks": {"failed": webhooks["failed"], "dead": webhooks["dead"], "pending": webhooks["pending"]},
            "conflicts": len(day_conflicts), "conflict_details": day_conflicts, "double_bookings": doubles,
            "deferred_deletes": deferred_deletes(store),
            "at_risk": bool(risks), "risks": risks, "generated_at": iso(now)}


def _on_day(e: dict[str, Any], zone, lo: datetime, hi: datetime) -> bool:
    from wedsync_cli.wedding_day.policy import _parse_point

    try:
        s, en = _parse_point(e["start"], zone), _parse_point(e["end"], zone)
    except ValueError:
        return False
    return en > lo and s < hi
