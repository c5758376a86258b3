"""Job runs: one row per run of a job (start, end, outcome, counts, error) for `status`."""

from __future__ import annotations

import json
import os
from typing import Any

from wedsync_cli.secrets import redact


class JobRun:
    """``with JobRun(store, "sync:studio") as run: ...; run.counts.update(...)``

    The row is committed as 'running' at the start (so a crash is visible), and finished with
    ok / partial / failed. An exception marks it failed with the error sentence and re-raises.
    """

    def __init__(self, store, job: str):
        self.store = store
        self.job = job
        self.id: int | None = None
        self.counts: dict[str, Any] = {}
        self.outcome: str | None = None
        self.error: str | None = None

    def __enter__(self) -> JobRun:
        # A previous run of this job that is still 'running' died without finishing (we hold the lock).
        with self.store.transaction():
            self.store.execute(
                "UPDATE job_runs SET outcome = 'crashed', ended_at = COALESCE(ended_at, ?) "
                "WHERE job = ? AND outcome = 'running'",
                [self.store.now(), self.job],
            )
            cur = self.store.execute(
                "INSERT INTO job_runs(job, started_at, outcome, pid) VALUES (?, ?, 'running', ?)",
                [self.job, self.store.now(), os.getpid()],
            )
            self.id = cur.lastrowid
        return self

    def finish(self, outcome: str, error: str | None = None) -> None:
        self.outcome, self.error = outcome, error

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None:
            from wedsync_cli.errors import WedsyncError

            self.outcome = "failed"
            self.error = exc.sentence() if isinstance(exc, WedsyncError) else f"{type(exc).__name__}: {exc}"
        outcome = self.outcome or "ok"
        if self.store.db.conn.in_transaction:  # never finish inside someone's half-done transaction
            self.store.db.conn.execute("ROLLBACK")
        with self.store.transaction():
            self.store.execute(
                "UPDATE job_runs SET ended_at = ?, outcome = ?, counts = ?, error = ? WHERE id = ?",
                [self.store.now(), outcome, json.dumps(self.counts, default=str),
                 redact(self.error) if self.error else None, self.id],
            )


def last_runs(store, limit_per_job: int = 1) -> list[dict[str, Any]]:
    rows = store.query(
        """
        SELECT * FROM (
          SELECT r.*, ROW_NUMBER() OVER (PARTITION BY job ORDER BY id DESC) AS rn FROM job_runs r
        ) WHERE rn <= ? ORDER BY job, id DESC
        """,
        [limit_per_job],
    )
    for r in rows:
        r.pop("rn", None)
        r["counts"] = json.loads(r["counts"] or "{}")
    return rows
