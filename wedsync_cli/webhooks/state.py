"""Webhook tables: endpoint state (disabled, failing since) and stored inbound requests.

Outbound deliveries themselves live in the shared outbox (kind ``webhook``); this only holds
what the outbox has no place for.
"""

from __future__ import annotations

from typing import Any

from wedsync_cli.store.migrations import Migrations  # sqlite-utils own, built on first use

migrations = Migrations("wedsync.webhooks")


@migrations()
def m001_webhooks(db):
    db.executescript(
        """
        -- Per outbound endpoint: disabled by hand, by a 410, or after failing for days.
        CREATE TABLE webhook_endpoints (
            name TEXT PRIMARY KEY,
            disabled_at TEXT,
            disabled_reason TEXT,
            failing_since TEXT,                 -- first failure of the current failure streak
            last_success_at TEXT,
            last_failure_at TEXT,
            last_error TEXT,
            updated_at TEXT NOT NULL
        );

        -- Every inbound request we accepted, raw, stored before it is processed.
        CREATE TABLE inbound_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,               -- resend | sendgrid | tave | <standard webhooks sender>
            message_id TEXT NOT NULL,           -- webhook-id / svix-id / digest of the body
            event_type TEXT,
            received_at TEXT NOT NULL,
            headers TEXT NOT NULL,              -- JSON, signature headers included (not secrets)
            body BLOB NOT NULL,
            status TEXT NOT NULL DEFAULT 'received', -- received | processed | pending | failed | ignored
            attempts INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT,
            processed_at TEXT,
            UNIQUE (source, message_id)
        );
        CREATE INDEX inbound_events_status ON inbound_events(status, received_at);

        -- Addresses that bounced or complained; the email sender can consult it before sending.
        CREATE TABLE email_suppressions (
            address TEXT PRIMARY KEY,           -- lower-cased, trimmed
            reason TEXT NOT NULL,               -- bounce | complaint | dropped
            source TEXT NOT NULL,
            detail TEXT,
            at TEXT NOT NULL
        );
        """
    )


def endpoint_state(store, name: str) -> dict[str, Any]:
    row = store.one("SELECT * FROM webhook_endpoints WHERE name = ?", [name])
    return row or {"name": name, "disabled_at": None, "disabled_reason": None, "failing_since": None,
                   "last_success_at": None, "last_failure_at": None, "last_error": None}


def _upsert(store, name: str, **cols: Any) -> None:
    cols["updated_at"] = store.now()
    names = ", ".join(cols)
    marks = ", ".join("?" * len(cols))
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols)
    store.execute(
        f"INSERT INTO webhook_endpoints(name, {names}) VALUES (?, {marks}) ON CONFLICT(name) DO UPDATE SET {updates}",
        [name, *cols.values()],
    )


def set_disabled(store, name: str, reason: str | None) -> None:
    """``reason=None`` re-enables (and forgets the failure streak)."""
    with store.transaction():
        if reason is None:
            _upsert(store, name, disabled_at=None, disabled_reason=None, failing_since=None)
        else:
            _upsert(store, name, disabled_at=store.now(), disabled_reason=reason)


def is_disabled(store, name: str) -> bool:
    return store.scalar("SELECT disabled_at IS NOT NULL FROM webhook_endpoints WHERE name = ?", [name]) == 1


def note_success(store, name: str) -> None:
    _upsert(store, name, failing_since=None, last_success_at=store.now())


def note_failure(store, name: str, error: str) -> str:
    """Record a failure; returns the start of the current failure streak (ISO)."""
    since = store.scalar("SELECT failing_since FROM webhook_endpoints WHERE name = ?", [name]) or store.now()
    _upsert(store, name, failing_since=since, last_failure_at=store.now(), last_error=error[:500])
    return since
