"""Tables of the monitoring feature (own migration set, listed in store/schema.py)."""

from __future__ import annotations

from wedsync_cli.store.migrations import Migrations  # sqlite-utils own, built on first use

migrations = Migrations("wedsync.monitoring")


@migrations()
def m001_monitoring(db):
    db.executescript(
        """
        -- Hourly rollups of http_calls: what `status` reads, so it stays fast however many raw
        -- calls are kept. hist: sparse JSON {bucket: count} over log-spaced latency buckets.
        CREATE TABLE http_rollups (
            provider TEXT NOT NULL,
            operation TEXT NOT NULL,
            hour TEXT NOT NULL,                 -- UTC 'YYYY-MM-DDTHH:00:00+00:00'
            calls INTEGER NOT NULL,
            errors INTEGER NOT NULL,            -- any non-ok outcome (404/412 included)
            failures INTEGER NOT NULL,          -- health-relevant: no answer, 5xx, 401/403, 429
            latency_sum REAL NOT NULL,
            hist TEXT NOT NULL,
            PRIMARY KEY (provider, operation, hour)
        );
        CREATE INDEX http_rollups_hour ON http_rollups(hour);

        -- Latest signals per provider, kept by the rollup (state decisions read one row each).
        CREATE TABLE provider_last (
            provider TEXT PRIMARY KEY,
            last_at TEXT,
            last_ok_at TEXT,
            last_fail_at TEXT,
            last_status INTEGER,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0
        );

        -- The state health check last observed per provider (transitions emit domain events).
        CREATE TABLE provider_health (
            provider TEXT PRIMARY KEY,
            state TEXT NOT NULL,                -- healthy | degraded | down
            since TEXT NOT NULL,
            checked_at TEXT NOT NULL,
            detail TEXT
        );

        -- One row per alert condition episode: opened once, notified once, recovered once.
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL,                  -- provider_down:google, sync_failing:sync:studio ...
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            notified_at TEXT,                   -- NULL: the alert is still to be sent
            last_notified_at TEXT,
            resolved_at TEXT,
            recovery_notified_at TEXT,          -- NULL with resolved_at set: recovery still to be sent
            escalated INTEGER NOT NULL DEFAULT 0 -- sent by SMS too (wedding-day protocol)
        );
        CREATE UNIQUE INDEX alerts_open_key ON alerts(key) WHERE resolved_at IS NULL;
        CREATE INDEX alerts_resolved ON alerts(resolved_at);

        -- Every notification attempt per channel (email | slack | sms).
        CREATE TABLE alert_notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                 -- alert | recovery | reminder
            channel TEXT NOT NULL,
            at TEXT NOT NULL,
            status TEXT NOT NULL,               -- sent | queued | failed | rate_limited
            error TEXT
        );
        CREATE INDEX alert_notifications_at ON alert_notifications(at);

        -- Every wedding-day protocol decision with its reason (skips, deferrals, refusals, switches).
        CREATE TABLE protocol_decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            decision TEXT NOT NULL,             -- run | skip | defer_delete | refuse | force | activated | ended | escalate
            subject TEXT NOT NULL,              -- job name, command, event id ...
            reason TEXT NOT NULL
        );
        CREATE INDEX protocol_decisions_at ON protocol_decisions(at);
        """
    )


@migrations()
def m002_alert_channels(db):
    # Per-channel delivery: an alert is complete once every channel carried it (or gave up), so a
    # channel that was down gets the notice later without repeating it on the others.
    db.execute("ALTER TABLE alerts ADD COLUMN alert_done INTEGER NOT NULL DEFAULT 0")
