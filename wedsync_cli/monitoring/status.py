"""The data behind `wedsync status` (contract `status --json`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wedsync_cli.store.runs import last_runs


def _table_exists(store, name: str) -> bool:
    return store.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [name]) is not None


def _duration(run: dict[str, Any]) -> float | None:
    if not run.get("ended_at"):
        return None
    return (datetime.fromisoformat(run["ended_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()


def overall_status(rt) -> dict[str, Any]:
    rt.config  # a broken config is reported (exit 78) before anything else
    store = rt.store
    jobs = []
    for r in last_runs(store):
        jobs.append({"job": r["job"], "outcome": r["outcome"], "started_at": r["started_at"],
                     "ended_at": r["ended_at"], "duration_s": _duration(r), "counts": r["counts"],
                     "error": r["error"]})
    outbox = {"pending": 0, "sent": 0, "failed": 0, "bounced": 0, "dead": 0}
    webhooks = {"pending": 0, "failed": 0, "delivered": 0, "dead": 0}
    conflicts = store.scalar("SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL") or 0
    return {"jobs": jobs, "providers": [], "outbox": outbox, "webhooks": webhooks, "conflicts": conflicts,
            "problems": []}
