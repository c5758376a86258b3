"""Opt-in timeline notifications (``[email] timeline_notifications = true``).

After a sync, every booked wedding whose events changed gets ONE ``timeline-update`` digest
listing what changed, however many changes the run made. Changes are read from ``domain_events``
after the cursor ``domain_events:timeline``; the digests and the advanced cursor are written in
one transaction, so a crash either queues all of this run's digests and moves the cursor, or
neither (and the rerun does it). The first run after enabling starts from "now": couples are
not told about history.
"""

from __future__ import annotations

import logging
from typing import Any

CURSOR = "domain_events:timeline"
TYPES = ("event.created", "event.updated", "event.deleted")
log = logging.getLogger(__name__)


def _describe(store, ev: dict[str, Any], zone) -> str | None:
    from wedsync_cli.email.compose import _when

    data = ev["data"]
    row = store.one("SELECT * FROM events WHERE id = ?", [data.get("event_id")])
    if row is None:
        return None
    title, when = row["title"], _when(row, zone)
    if ev["type"] == "event.created":
        return f"Added: {title}, {when}"
    if ev["type"] == "event.deleted":
        return f"Removed: {title}"
    changed = sorted(k for k in (data.get("changed") or {}) if k in ("start", "end", "location", "title", "all_day"))
    what = ", ".join({"start": "time", "end": "end time", "all_day": "time"}.get(k, k) for k in changed)
    return f"Changed{f' ({what})' if what else ''}: {title}, now {when}" + (
        f" at {row['location']}" if "location" in changed and row["location"] else "")


def queue_timeline_digests(rt) -> int:
    """Queue one digest per booked wedding whose events changed since the last call. Returns how
    many digests were queued (0 when the feature is off)."""
    from wedsync_cli.email.deliver import queue
    from wedsync_cli.errors import WedsyncError
    from wedsync_cli.notify import events_after

    if not rt.config.email.timeline_notifications:
        return 0
    store = rt.store
    cursor = store.get_cursor(CURSOR)
    if cursor is None:
        with store.transaction():
            top = store.scalar("SELECT COALESCE(MAX(id), 0) FROM domain_events") or 0
            store.set_cursor(CURSOR, {"id": top})
        return 0
    zone = rt.config.zone
    queued = 0
    with store.transaction():
        after = int(cursor.get("id", 0))
        changes: dict[str, list[dict[str, Any]]] = {}
        last = after
        while True:
            batch = events_after(store, last, limit=1000)
            if not batch:
                break
            for ev in batch:
                last = ev["id"]
                if ev["type"] in TYPES and ev["data"].get("wedding_id"):
                    changes.setdefault(ev["data"]["wedding_id"], []).append(ev)
        for wedding_id, evs in sorted(changes.items()):
            wedding = store.one("SELECT status FROM weddings WHERE id = ?", [wedding_id])
            if wedding is None or wedding["status"] != "booked":
                continue
            lines = list(dict.fromkeys(d for d in (_describe(store, e, zone) for e in evs) if d))
            key = f"timeline-update/wedding:{wedding_id}/events:{evs[0]['id']}-{evs[-1]['id']}"
            try:
                with store.transaction():  # savepoint: one couple's bad data does not stop the rest
                    _, created, _, _ = queue(rt, "timeline-update", wedding_id=wedding_id,
                                             extra={"changes": lines}, key=key)
            except WedsyncError as exc:
                log.warning("timeline digest for wedding %s not queued: %s", wedding_id, exc.sentence())
                continue
            queued += int(created)
        store.set_cursor(CURSOR, {"id": last})
    return queued
