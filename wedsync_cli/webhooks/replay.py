"""Finding and replaying outbound deliveries (and re-processing inbound events).

A replay puts the same outbox row back to pending (same key, hence the same ``webhook-id``) and
delivers it at once with a fresh timestamp and signature; every attempt stays in the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wedsync_cli.clock import iso
from wedsync_cli.webhooks.dispatch import KIND

# Contract statuses -> outbox statuses. "failed" includes deliveries waiting for a retry.
STATUS_FILTER = {"failed": ("failed", "retry"), "dead": ("dead",), "delivered": ("delivered",)}
DEFAULT_REPLAY_STATUSES = ("failed", "retry", "dead")
REPLAYABLE = ("failed", "retry", "dead", "delivered")


@dataclass
class Filters:
    ids: list[str] | None = None          # outbox ids or webhook-ids (msg_...)
    endpoint: str | None = None
    event: str | None = None              # event type or glob (client.*)
    status: str | None = None             # failed | dead | delivered
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None


def select_deliveries(store, f: Filters, *, statuses: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    where, params = ["kind = ?"], [KIND]
    if f.ids:
        nums = [int(i) for i in f.ids if str(i).isdigit()]
        msgs = [str(i) for i in f.ids if not str(i).isdigit()]
        ors = []
        if nums:
            ors.append(f"id IN ({','.join('?' * len(nums))})")
            params += nums
        if msgs:
            ors.append(f"json_extract(meta, '$.webhook_id') IN ({','.join('?' * len(msgs))})")
            params += msgs
        where.append("(" + " OR ".join(ors) + ")")
    if f.endpoint:
        where.append("target = ?")
        params.append(f.endpoint)
    if f.event:
        where.append("json_extract(meta, '$.event_type') GLOB ?")
        params.append(f.event)
    if statuses is None:
        statuses = STATUS_FILTER[f.status] if f.status else None
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        params += list(statuses)
    if f.since:
        where.append("created_at >= ?")
        params.append(iso(f.since))
    if f.until:
        where.append("created_at <= ?")
        params.append(iso(f.until))
    sql = ("SELECT id, target AS endpoint, json_extract(meta, '$.event_type') AS event,"
           " json_extract(meta, '$.webhook_id') AS webhook_id, status, attempts, last_error, created_at,"
           " updated_at, done_at, not_before FROM outbox WHERE " + " AND ".join(where) + " ORDER BY id")
    if f.limit:
        sql += f" LIMIT {int(f.limit)}"
    return store.query(sql, params)


def replay(rt, f: Filters, *, dry_run: bool = False) -> dict[str, Any]:
    """``webhook-replay``: {"matched","replayed","succeeded","failed","pending","dry_run","ids"}."""
    from wedsync_cli.webhooks import dispatch

    dispatch.fan_out(rt)  # events recorded but not yet turned into deliveries are replayable too
    if f.status:
        statuses = STATUS_FILTER[f.status]
    elif f.ids:
        statuses = REPLAYABLE
    else:
        statuses = DEFAULT_REPLAY_STATUSES
    rows = select_deliveries(rt.store, f, statuses=statuses)
    ids = [r["id"] for r in rows]
    out: dict[str, Any] = {"matched": len(rows), "replayed": 0, "succeeded": 0, "failed": 0, "pending": 0,
                           "dry_run": dry_run, "ids": ids}
    if dry_run or not ids:
        return out
    store = rt.store
    box = dispatch.outbox(rt)
    with store.transaction():
        n = box.replay([r["id"] for r in rows if r["status"] != "retry"])
        retrying = [r["id"] for r in rows if r["status"] == "retry"]
        if retrying:  # waiting for a retry: make it due now, with a fresh attempt budget
            cur = store.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, not_before = NULL, updated_at = ?"
                f" WHERE kind = ? AND status = 'retry' AND id IN ({','.join('?' * len(retrying))})",
                [store.now(), KIND, *retrying])
            n += cur.rowcount
    out["replayed"] = n
    endpoints = sorted({r["endpoint"] for r in rows})
    flushed = dispatch.flush(rt, only=endpoints)
    out["skipped"] = flushed.get("skipped", {})
    for r in store.query(f"SELECT status FROM outbox WHERE id IN ({','.join('?' * len(ids))})", ids):
        if r["status"] == "delivered":
            out["succeeded"] += 1
        elif r["status"] in ("pending", "leased"):
            out["pending"] += 1
        else:
            out["failed"] += 1
    return out


def replay_inbound(rt, f: Filters, *, dry_run: bool = False) -> dict[str, Any]:
    """``webhook-replay --inbound``: re-process stored inbound events (the raw body is kept)."""
    from wedsync_cli.webhooks import inbound

    ids = [int(i) for i in (f.ids or []) if str(i).isdigit()] or None
    if f.ids and not ids:
        rows_by_msg = rt.store.query(
            f"SELECT id FROM inbound_events WHERE message_id IN ({','.join('?' * len(f.ids))})", list(f.ids))
        ids = [r["id"] for r in rows_by_msg] or [-1]
    rows = inbound.select_inbound(rt.store, ids=ids, source=f.endpoint, event=f.event, status=f.status,
                                  since=iso(f.since) if f.since else None, until=iso(f.until) if f.until else None,
                                  limit=f.limit)
    out: dict[str, Any] = {"matched": len(rows), "replayed": 0, "succeeded": 0, "failed": 0, "pending": 0,
                           "dry_run": dry_run, "ids": [r["id"] for r in rows]}
    if dry_run:
        return out
    for r in rows:
        status = inbound.process_stored(rt, r["id"])
        out["replayed"] += 1
        if status in ("processed", "ignored"):
            out["succeeded"] += 1
        elif status == "pending":
            out["pending"] += 1
        else:
            out["failed"] += 1
    return out


def delivery_detail(rt, ref: str) -> dict[str, Any] | None:
    """One delivery with every attempt (request headers/body, response, latency, error)."""
    rows = select_deliveries(rt.store, Filters(ids=[ref]))
    if not rows:
        return None
    row = rows[0]
    full = rt.store.one("SELECT payload, max_attempts, provider FROM outbox WHERE id = ?", [row["id"]])
    attempts = []
    for a in dispatch_attempts(rt, row["id"]):
        for k in ("request", "response"):
            if a.get(k):
                try:
                    a[k] = json.loads(a[k])
                except ValueError:
                    pass
        attempts.append(a)
    return {**row, "tries": row["attempts"], "max_attempts": full["max_attempts"],
            "payload": json.loads(full["payload"]), "attempts": attempts}


def dispatch_attempts(rt, item_id: int) -> list[dict[str, Any]]:
    from wedsync_cli.webhooks import dispatch

    return dispatch.outbox(rt).attempts(item_id)
