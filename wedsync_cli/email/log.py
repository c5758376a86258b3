"""Listing email deliveries and their attempts (`wedsync send --log`)."""

from __future__ import annotations

from typing import Any

from wedsync_cli.errors import UsageError

STATUS_FILTERS = {"queued": ("pending", "retry", "leased"), "sent": ("sent",), "failed": ("failed",),
                  "dead": ("dead",), "bounced": ("bounced",)}


def deliveries(rt, *, status: str | None = None, recipient: str | None = None, since: str | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
    import json

    from wedsync_cli.clock import iso, parse_when
    from wedsync_cli.email.deliver import JSON_STATUS

    where, params = ["kind = 'email'"], []
    if status:
        if status not in STATUS_FILTERS:
            raise UsageError(f"--status {status!r} is not a delivery status",
                             fix=f"use one of {', '.join(STATUS_FILTERS)}")
        sts = STATUS_FILTERS[status]
        where.append(f"status IN ({','.join('?' * len(sts))})")
        params += list(sts)
    if recipient:
        where.append("LOWER(target) LIKE ?")
        params.append(f"%{recipient.strip().lower()}%")
    if since:
        try:
            when = parse_when(since, rt.clock.now())
        except ValueError as exc:
            raise UsageError(f"--since: {exc}", fix="pass e.g. --since 2026-06-01 or --since 2d") from None
        where.append("created_at >= ?")
        params.append(iso(when))
    rows = rt.store.query(f"SELECT * FROM outbox WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
                          [*params, int(limit)])
    out = []
    for r in rows:
        meta = json.loads(r["meta"] or "{}")
        payload = json.loads(r["payload"])
        attempts = rt.store.query(
            "SELECT n, at, provider, status_code, outcome, latency_ms, error, provider_message_id"
            " FROM outbox_attempts WHERE outbox_id = ? ORDER BY id", [r["id"]])
        out.append({"id": r["id"], "key": r["key"], "to": r["target"], "template": meta.get("template"),
                    "subject": payload.get("subject"), "status": JSON_STATUS.get(r["status"], r["status"]),
                    "state": r["status"], "provider": r["provider"], "provider_message_id": r["provider_message_id"],
                    "created_at": r["created_at"], "done_at": r["done_at"], "next_attempt_at": r["not_before"]
                    if r["status"] in ("pending", "retry") else None, "error": r["last_error"],
                    "attempts": attempts})
    return out
