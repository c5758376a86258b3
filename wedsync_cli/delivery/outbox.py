"""The outbox: one row per thing to deliver, claimed with a lease, completed only by its holder.

How it keeps "nothing lost, nothing doubled" across ``kill -9``:
- ``enqueue`` is keyed: the same key always lands on the same row (UNIQUE(kind, key)), and the key
  is what providers dedupe on (Resend ``Idempotency-Key``, Standard Webhooks ``webhook-id``).
- ``claim`` runs in ``BEGIN IMMEDIATE`` with ``UPDATE ... RETURNING``, so two overlapping cron runs
  never take the same row. A claimed row carries a random lease token and an expiry.
- ``complete``/``fail`` update the row only ``WHERE lease_token = ?`` (fencing): a worker whose
  lease expired and was taken over cannot overwrite the newer worker's outcome.
- A worker that died leaves a leased row; once its lease expires the next ``claim`` logs the lost
  attempt (outcome unknown), and either makes the row due again or, past max attempts, ``dead``.

Times are ISO 8601 UTC strings with seconds (``clock.iso``), so they compare as text.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wedsync_cli.clock import Clock, iso
from wedsync_cli.secrets import redact, redact_obj
from wedsync_cli.store.migrations import Migrations  # sqlite-utils own, built on first use

migrations = Migrations("wedsync.delivery")

STATUSES = ("pending", "retry", "leased", "sent", "delivered", "failed", "dead", "bounced")
DUE_STATUSES = ("pending", "retry")
EXCERPT_CHARS = 2000


class LeaseLost(Exception):
    """This worker's lease on an item was taken over (it stalled past the lease)."""


@dataclass(frozen=True)
class KindPolicy:
    """How one kind of delivery is retried. ``schedule[i]`` is the wait after the (i+1)-th failure."""

    schedule: tuple[float, ...]
    max_attempts: int
    done_status: str = "sent"
    jitter: float = 0.2  # each wait is scaled by uniform(1 - jitter, 1 + jitter)


# Emails: quick first retries (a provider blip), then hours; a day later it is dead and listed.
EMAIL_POLICY = KindPolicy(schedule=(30, 120, 600, 1800, 3600, 7200, 21600), max_attempts=8)
# Webhooks: the Svix / Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
WEBHOOK_POLICY = KindPolicy(schedule=(5, 300, 1800, 7200, 18000, 36000, 36000), max_attempts=8,
                            done_status="delivered")
POLICIES: dict[str, KindPolicy] = {"email": EMAIL_POLICY, "webhook": WEBHOOK_POLICY}
DEFAULT_POLICY = EMAIL_POLICY


@migrations()
def m001_outbox(db):
    db.executescript(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,                 -- email | webhook
            key TEXT NOT NULL,                  -- idempotency key: Idempotency-Key / webhook-id
            target TEXT NOT NULL,               -- recipient address / endpoint name
            payload TEXT NOT NULL,              -- JSON: what to deliver
            meta TEXT NOT NULL DEFAULT '{}',    -- JSON: template, wedding id, sticky provider ...
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            not_before TEXT,                    -- due time (NULL: now)
            lease_token TEXT,
            lease_until TEXT,
            provider TEXT,                      -- who accepted it
            provider_message_id TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            done_at TEXT,
            UNIQUE (kind, key)
        );
        CREATE INDEX outbox_due ON outbox(status, not_before);
        CREATE INDEX outbox_kind_status ON outbox(kind, status);
        CREATE INDEX outbox_target ON outbox(target);

        CREATE TABLE outbox_attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
            n INTEGER NOT NULL,                 -- attempt number of the row
            at TEXT NOT NULL,
            provider TEXT,
            status_code INTEGER,
            outcome TEXT NOT NULL,              -- sent | delivered | retry | failed | dead | unknown | lease_expired ...
            latency_ms REAL,
            error TEXT,
            provider_message_id TEXT,
            request TEXT,                       -- redacted excerpt
            response TEXT                       -- redacted excerpt
        );
        CREATE INDEX outbox_attempts_item ON outbox_attempts(outbox_id, id);
        """
    )


@migrations()
def m002_provider_breakers(db):
    db.executescript(
        """
        -- Per-provider circuit breaker and health (read by `status`, written by deliverers).
        CREATE TABLE provider_breakers (
            provider TEXT PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'closed', -- closed | open | half_open
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            opened_at TEXT,
            retry_at TEXT,                      -- when an open breaker lets one probe through
            last_success TEXT,
            last_failure TEXT,
            last_error TEXT,
            updated_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m003_groups_and_auth(db):
    db.executescript(
        """
        -- A batch's membership, fixed before it is sent: a retried batch (after a crash or an
        -- ambiguous timeout) is the same request again, so the provider's idempotency key holds.
        ALTER TABLE outbox ADD COLUMN group_key TEXT;
        CREATE INDEX outbox_group ON outbox(group_key) WHERE group_key IS NOT NULL;
        -- When a provider first refused the credential: set once per episode so ops is paged once.
        ALTER TABLE provider_breakers ADD COLUMN auth_refused_at TEXT;
        """
    )


@dataclass
class OutboxItem:
    id: int
    kind: str
    key: str
    target: str
    payload: dict[str, Any]
    attempts: int
    lease_token: str | None
    status: str
    not_before: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    max_attempts: int = 0
    provider: str | None = None
    provider_message_id: str | None = None
    last_error: str | None = None
    created_at: str | None = None
    group_key: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OutboxItem:
        return cls(
            id=row["id"], kind=row["kind"], key=row["key"], target=row["target"],
            payload=json.loads(row["payload"]), attempts=row["attempts"], lease_token=row["lease_token"],
            status=row["status"], not_before=row["not_before"], meta=json.loads(row["meta"] or "{}"),
            max_attempts=row["max_attempts"], provider=row["provider"],
            provider_message_id=row["provider_message_id"], last_error=row["last_error"],
            created_at=row["created_at"], group_key=row.get("group_key"),
        )


def _excerpt(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = json.dumps(redact_obj(value), default=str, sort_keys=True)
    return redact(value)[:EXCERPT_CHARS]


class Outbox:
    def __init__(self, store, clock: Clock | None = None, *, lease_seconds: float = 300,
                 policies: dict[str, KindPolicy] | None = None, rng: random.Random | None = None):
        self.store = store
        self.clock = clock or store.clock
        self.lease_seconds = lease_seconds
        self.policies = {**POLICIES, **(policies or {})}
        self.rng = rng or random.Random()

    # -- helpers -------------------------------------------------------------------------------
    def policy(self, kind: str) -> KindPolicy:
        return self.policies.get(kind, DEFAULT_POLICY)

    def _now(self) -> datetime:
        return self.clock.now()

    def _at(self, seconds: float) -> str:
        return iso(self._now() + timedelta(seconds=seconds))  # type: ignore[return-value]

    def get(self, item_id: int) -> OutboxItem | None:
        row = self.store.one("SELECT * FROM outbox WHERE id = ?", [item_id])
        return OutboxItem.from_row(row) if row else None

    def by_key(self, kind: str, key: str) -> OutboxItem | None:
        row = self.store.one("SELECT * FROM outbox WHERE kind = ? AND key = ?", [kind, key])
        return OutboxItem.from_row(row) if row else None

    # -- enqueue -------------------------------------------------------------------------------
    def enqueue(self, kind: str, key: str, target: str, payload: dict[str, Any], *,
                max_attempts: int | None = None, not_before: datetime | str | None = None,
                meta: dict[str, Any] | None = None) -> tuple[int, bool]:
        """Queue one delivery. The same (kind, key) returns the existing row: never doubled.

        Call it inside the caller's transaction when the delivery must exist iff a change does.
        """
        if not key or len(key) > 256:
            raise ValueError("an outbox key must be 1-256 characters (Resend's Idempotency-Key limit)")
        now = iso(self._now())
        nb = iso(not_before) if isinstance(not_before, datetime) else not_before
        with self.store.transaction():
            cur = self.store.execute(
                "INSERT INTO outbox(kind, key, target, payload, meta, status, attempts, max_attempts, not_before,"
                " created_at, updated_at) VALUES (?,?,?,?,?, 'pending', 0, ?,?,?,?)"
                " ON CONFLICT(kind, key) DO NOTHING",
                [kind, key, target, json.dumps(payload, default=str, sort_keys=True),
                 json.dumps(meta or {}, default=str, sort_keys=True),
                 max_attempts or self.policy(kind).max_attempts, nb, now, now],
            )
            if cur.rowcount:
                return int(cur.lastrowid), True
            existing = self.store.scalar("SELECT id FROM outbox WHERE kind = ? AND key = ?", [kind, key])
            return int(existing), False

    # -- claim ---------------------------------------------------------------------------------
    def claim(self, kinds: list[str] | None = None, limit: int = 100, target: str | None = None, *,
              ids: list[int] | None = None, group_key: str | None = None) -> list[OutboxItem]:
        """Lease up to ``limit`` due rows (oldest due first) for this worker.

        ``ids`` narrows to those rows (deliver one message now); ``group_key`` takes the waiting
        members of one batch whether or not each is due yet, so the batch is re-sent whole.
        """
        now = iso(self._now())
        token = secrets.token_hex(12)
        until = self._at(self.lease_seconds)
        where, params = [], []
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            params += list(kinds)
        if target is not None:
            where.append("target = ?")
            params.append(target)
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids)) or 'NULL'})")
            params += list(ids)
        if group_key is not None:
            where.append("group_key = ?")
            params.append(group_key)
        scope = (" AND " + " AND ".join(where)) if where else ""
        due = "" if group_key is not None else " AND (not_before IS NULL OR not_before <= ?)"
        with self.store.transaction():
            self._recover_expired(now, scope, params)
            rows = self.store.query(
                "UPDATE outbox SET status = 'leased', lease_token = ?, lease_until = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE id IN (SELECT id FROM outbox WHERE status IN ('pending', 'retry')"
                f"{due}{scope} ORDER BY COALESCE(not_before, created_at), id LIMIT ?) RETURNING *",
                [token, until, now, *([now] if due else []), *params, int(limit)],
            )
        return sorted((OutboxItem.from_row(r) for r in rows), key=lambda i: i.id)

    def recover_orphans(self, kinds: list[str]) -> int:
        """Expire every lease of these kinds now. Only for a caller holding the job lock that all
        workers of these kinds take: any lease it finds belongs to a process that died."""
        with self.store.transaction():
            params = list(kinds)
            cur = self.store.execute(
                f"UPDATE outbox SET lease_until = ? WHERE status = 'leased' AND kind IN ({','.join('?' * len(kinds))})",
                [iso(self._now()), *params])
            n = cur.rowcount
            if n:
                self._recover_expired(iso(self._now()), f" AND kind IN ({','.join('?' * len(kinds))})", params)
        return n

    def set_group(self, items: list[OutboxItem], group_key: str | None, **meta: Any) -> bool:
        """Fix a batch's membership (and note e.g. the provider in flight) before sending it,
        in one transaction; fenced by each item's lease."""
        now = iso(self._now())
        with self.store.transaction():
            for item in items:
                if not self._holds(item):
                    raise LeaseLost(f"outbox item {item.id} is no longer leased by this worker")
                item.meta.update(meta)
                item.group_key = group_key
                self.store.execute(
                    "UPDATE outbox SET group_key = ?, meta = ?, updated_at = ? WHERE id = ? AND lease_token = ?",
                    [group_key, json.dumps(item.meta, default=str, sort_keys=True), now, item.id, item.lease_token])
        return True

    def log_attempt(self, item: OutboxItem, attempt: dict[str, Any], outcome: str) -> None:
        """Log an attempt that does not change the row (e.g. a provider hop before failover)."""
        with self.store.transaction():
            self._log(item.id, item.attempts, attempt, outcome)

    def _recover_expired(self, now: str, scope: str, params: list[Any]) -> None:
        """Rows whose worker died: log the lost attempt, then make them due again (or dead)."""
        expired = self.store.query(
            f"SELECT * FROM outbox WHERE status = 'leased' AND lease_until <= ?{scope}", [now, *params])
        for row in expired:
            dead = row["attempts"] >= row["max_attempts"]
            self._log(row["id"], row["attempts"], {
                "provider": json.loads(row["meta"] or "{}").get("inflight_provider"),
                "error": "the worker stopped before recording an outcome (lease expired); outcome unknown",
            }, "dead" if dead else "lease_expired")
            self.store.execute(
                "UPDATE outbox SET status = ?, lease_token = NULL, lease_until = NULL, not_before = ?,"
                " last_error = ?, updated_at = ?, done_at = CASE WHEN ? THEN ? ELSE done_at END WHERE id = ?",
                ["dead" if dead else "retry", now, "worker stopped mid-delivery (lease expired)", now,
                 dead, now, row["id"]],
            )

    # -- outcomes (fenced by the lease token) --------------------------------------------------
    def _log(self, item_id: int, n: int, attempt: dict[str, Any], outcome: str) -> None:
        self.store.execute(
            "INSERT INTO outbox_attempts(outbox_id, n, at, provider, status_code, outcome, latency_ms, error,"
            " provider_message_id, request, response) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [item_id, n, iso(self._now()), attempt.get("provider"), attempt.get("status_code"),
             attempt.get("outcome") or outcome, attempt.get("latency_ms"),
             redact(str(attempt["error"]))[:EXCERPT_CHARS] if attempt.get("error") else None,
             attempt.get("provider_message_id"), _excerpt(attempt.get("request")),
             _excerpt(attempt.get("response"))],
        )

    def _holds(self, item: OutboxItem) -> bool:
        return self.store.scalar(
            "SELECT 1 FROM outbox WHERE id = ? AND status = 'leased' AND lease_token = ?",
            [item.id, item.lease_token]) is not None

    def note(self, item: OutboxItem, **meta: Any) -> bool:
        """Merge ``meta`` into the row while holding the lease (e.g. which provider is in flight)."""
        with self.store.transaction():
            if not self._holds(item):
                return False
            item.meta.update(meta)
            self.store.execute("UPDATE outbox SET meta = ?, updated_at = ? WHERE id = ? AND lease_token = ?",
                               [json.dumps(item.meta, default=str, sort_keys=True), iso(self._now()),
                                item.id, item.lease_token])
            return True

    def complete(self, item: OutboxItem, *, provider: str | None, provider_message_id: str | None = None,
                 attempt: dict[str, Any] | None = None, status: str | None = None) -> bool:
        """Mark delivered. False (and nothing changed but the attempt log) if the lease was lost."""
        attempt = {"provider": provider, "provider_message_id": provider_message_id, **(attempt or {})}
        status = status or self.policy(item.kind).done_status
        now = iso(self._now())
        with self.store.transaction():
            # A worker that lost its lease still records what it saw, marked late.
            self._log(item.id, item.attempts, attempt, status if self._holds(item) else f"late:{status}")
            cur = self.store.execute(
                "UPDATE outbox SET status = ?, provider = ?, provider_message_id = ?, lease_token = NULL,"
                " lease_until = NULL, last_error = NULL, updated_at = ?, done_at = ?"
                " WHERE id = ? AND status = 'leased' AND lease_token = ?",
                [status, provider, provider_message_id, now, now, item.id, item.lease_token],
            )
            ok = cur.rowcount == 1
        if ok:
            item.status, item.lease_token = status, None
            item.provider, item.provider_message_id = provider, provider_message_id
        return ok

    def backoff(self, kind: str, attempts: int) -> float:
        pol = self.policy(kind)
        base = pol.schedule[min(max(attempts, 1), len(pol.schedule)) - 1] if pol.schedule else 60
        return base * self.rng.uniform(1 - pol.jitter, 1 + pol.jitter)

    def fail(self, item: OutboxItem, *, attempt: dict[str, Any] | None = None, permanent: bool = False,
             retry_after: float | None = None, status: str | None = None,
             count_attempt: bool = True, meta: dict[str, Any] | None = None) -> str:
        """Record a failed attempt. Returns the new status: retry | failed | dead (or ``status``).

        ``permanent`` -> failed (no retry). Otherwise retry after the kind's backoff (with jitter) or
        the provider's ``retry_after``; past ``max_attempts`` -> dead. ``count_attempt=False`` gives
        the attempt back (a rate-limit wait, or a breaker that never let the request out).
        If the lease was lost the row is left to its new holder and its current status is returned.
        """
        attempt = dict(attempt or {})
        attempts = item.attempts if count_attempt else max(0, item.attempts - 1)
        if status is None:
            if permanent:
                status = "failed"
            elif attempts >= item.max_attempts:
                status = "dead"
            else:
                status = "retry"
        wait = retry_after if retry_after is not None else self.backoff(item.kind, attempts)
        now = iso(self._now())
        not_before = self._at(max(0.0, wait)) if status == "retry" else None
        terminal = status not in ("retry", "pending")
        if meta:
            item.meta.update(meta)
        with self.store.transaction():
            self._log(item.id, item.attempts, attempt, status if self._holds(item) else f"late:{status}")
            cur = self.store.execute(
                "UPDATE outbox SET status = ?, attempts = ?, not_before = ?, lease_token = NULL, lease_until = NULL,"
                " last_error = ?, meta = ?, updated_at = ?, done_at = ? WHERE id = ? AND status = 'leased'"
                " AND lease_token = ?",
                [status, attempts, not_before,
                 redact(str(attempt.get("error")))[:EXCERPT_CHARS] if attempt.get("error") else None,
                 json.dumps(item.meta, default=str, sort_keys=True), now, now if terminal else None,
                 item.id, item.lease_token],
            )
            if cur.rowcount != 1:
                return self.store.scalar("SELECT status FROM outbox WHERE id = ?", [item.id]) or "unknown"
        item.status, item.lease_token, item.attempts, item.not_before = status, None, attempts, not_before
        return status

    def release(self, item: OutboxItem) -> None:
        """Give a claimed item back untouched (its claim does not count as an attempt)."""
        with self.store.transaction():
            self.store.execute(
                "UPDATE outbox SET status = CASE WHEN attempts > 1 THEN 'retry' ELSE 'pending' END,"
                " attempts = MAX(0, attempts - 1), lease_token = NULL, lease_until = NULL, updated_at = ?"
                " WHERE id = ? AND status = 'leased' AND lease_token = ?",
                [iso(self._now()), item.id, item.lease_token],
            )
        item.lease_token = None

    def replay(self, ids: list[int]) -> int:
        """Put failed/dead/delivered/sent/bounced items back to pending: same row, same key."""
        if not ids:
            return 0
        now = iso(self._now())
        with self.store.transaction():
            cur = self.store.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, not_before = NULL, lease_token = NULL,"
                " lease_until = NULL, done_at = NULL, updated_at = ?"
                f" WHERE id IN ({','.join('?' * len(ids))})"
                " AND status IN ('failed', 'dead', 'delivered', 'sent', 'bounced')",
                [now, *ids],
            )
            return cur.rowcount

    def mark(self, item_id: int, status: str, *, error: str | None = None) -> bool:
        """Set a terminal status from outside a delivery (an inbound 'bounced' event, say)."""
        with self.store.transaction():
            cur = self.store.execute(
                "UPDATE outbox SET status = ?, last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?",
                [status, redact(error) if error else None, iso(self._now()), item_id])
            return cur.rowcount == 1

    # -- reading -------------------------------------------------------------------------------
    def attempts(self, item_id: int) -> list[dict[str, Any]]:
        return self.store.query("SELECT * FROM outbox_attempts WHERE outbox_id = ? ORDER BY id", [item_id])

    def counts(self, kind: str) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for r in self.store.query("SELECT status, COUNT(*) AS n FROM outbox WHERE kind = ? GROUP BY status", [kind]):
            out[r["status"]] = r["n"]
        return out

    def next_due(self, kinds: list[str] | None = None) -> str | None:
        """When the earliest waiting row becomes due (for 'next retry at' messages)."""
        q = "SELECT MIN(COALESCE(not_before, created_at)) FROM outbox WHERE status IN ('pending', 'retry')"
        params: list[Any] = []
        if kinds:
            q += f" AND kind IN ({','.join('?' * len(kinds))})"
            params = list(kinds)
        return self.store.scalar(q, params)


def outbox_counts(store) -> dict[str, int]:
    """Email outbox counts for `status --json`: pending (incl. waiting retries and in flight),
    sent, failed, bounced, dead."""
    if store.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name='outbox'") is None:
        return {"pending": 0, "sent": 0, "failed": 0, "bounced": 0, "dead": 0}
    c = Outbox(store).counts("email")
    return {"pending": c["pending"] + c["retry"] + c["leased"], "sent": c["sent"], "failed": c["failed"],
            "bounced": c["bounced"], "dead": c["dead"]}
