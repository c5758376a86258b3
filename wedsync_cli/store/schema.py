"""Versioned migrations (sqlite-utils' own ``Migrations``).

Each feature owns one migration set in its own package; ``MIGRATION_SETS`` lists them, so a
feature adds tables by appending one line here. Never edit an applied migration: add one.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import zlib
from pathlib import Path

from wedsync_cli.store.migrations import Migrations

MIGRATION_SETS = [
    "wedsync_cli.store.schema:core",
    "wedsync_cli.notify:migrations",
    "wedsync_cli.sources.tave:migrations",
    "wedsync_cli.delivery.outbox:migrations",
    "wedsync_cli.webhooks.state:migrations",
    "wedsync_cli.monitoring.schema:migrations",
    "wedsync_cli.calendars.engine:migrations",
]


def migration_sets() -> list[Migrations]:
    out = []
    for spec in MIGRATION_SETS:
        module, attr = spec.split(":")
        out.append(getattr(importlib.import_module(module), attr))
    return out


def _module_file(module: str) -> str | None:
    """The source file of a module, found without importing it (or its package's heavy parts)."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        return getattr(loaded, "__file__", None)
    head, _, rest = module.partition(".")
    if head == "wedsync_cli":
        base = Path(__file__).resolve().parents[1].joinpath(*rest.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return str(candidate)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None else None


def migration_fingerprint() -> int:
    """A 31-bit fingerprint of the registered migration modules (names, sizes, mtimes); 0 when
    one cannot be found, which disables the fast path. Stored in ``PRAGMA user_version`` once a
    full check found nothing pending, so later runs skip importing every feature's module."""
    parts = []
    for spec in MIGRATION_SETS:
        path = _module_file(spec.split(":")[0])
        if path is None:
            return 0
        try:
            st = os.stat(path)
        except OSError:
            return 0
        parts.append(f"{spec}|{path}|{st.st_size}|{st.st_mtime_ns}")
    return (zlib.crc32("\n".join(parts).encode()) & 0x7FFFFFFF) or 1


core = Migrations("wedsync.core")


@core()
def m001_domain(db):
    db.executescript(
        """
        CREATE TABLE clients (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,                 -- couple | single
            display_name TEXT NOT NULL,
            p1_first TEXT, p1_last TEXT, p1_email TEXT, p1_phone TEXT,
            p2_first TEXT, p2_last TEXT, p2_email TEXT, p2_phone TEXT,
            notes TEXT,
            extra TEXT NOT NULL DEFAULT '{}',    -- unmapped source fields, kept raw
            content_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        -- Every way a client can be recognised again: ext:<source>:<id>, email:<addr>, name:<..>|<date>
        CREATE TABLE client_keys (
            key TEXT PRIMARY KEY,
            client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE
        );
        CREATE INDEX client_keys_client ON client_keys(client_id);

        CREATE TABLE weddings (
            id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
            date TEXT,                          -- ISO date of the wedding day
            venue TEXT,
            status TEXT NOT NULL,               -- lead | booked | completed | cancelled
            source TEXT, external_id TEXT,
            extra TEXT NOT NULL DEFAULT '{}',
            content_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX weddings_client ON weddings(client_id);
        CREATE INDEX weddings_date ON weddings(date);
        CREATE UNIQUE INDEX weddings_source_ext ON weddings(source, external_id) WHERE external_id IS NOT NULL;

        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            wedding_id TEXT NOT NULL REFERENCES weddings(id) ON DELETE CASCADE,
            kind TEXT NOT NULL DEFAULT 'wedding', -- wedding | consultation | engagement | other
            title TEXT NOT NULL,
            all_day INTEGER NOT NULL DEFAULT 0,
            start TEXT NOT NULL,                -- ISO date (all-day) or date-time with offset
            end TEXT NOT NULL,                  -- exclusive end, same form as start
            tz TEXT,                            -- IANA zone of start/end
            location TEXT,
            description TEXT,
            source TEXT, external_id TEXT,
            version INTEGER NOT NULL DEFAULT 1, -- bumped on every local change; links remember the synced one
            deleted INTEGER NOT NULL DEFAULT 0, -- tombstone so calendars learn of deletions
            content_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX events_wedding ON events(wedding_id);
        CREATE INDEX events_start ON events(start);
        CREATE UNIQUE INDEX events_source_ext ON events(source, external_id) WHERE external_id IS NOT NULL;

        -- What each source last said about each record (change detection, raw fields kept).
        CREATE TABLE source_records (
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            entity TEXT NOT NULL,               -- client | wedding | event | row
            entity_id TEXT,
            content_hash TEXT NOT NULL,
            raw TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (source, external_id, entity)
        );

        -- Sync tokens, delta links, bookmarks: one JSON value per key.
        CREATE TABLE cursors (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """
    )


@core()
def m002_calendar_links(db):
    db.executescript(
        """
        -- Per calendar and item: what a bidirectional sync needs to tell who changed what.
        CREATE TABLE calendar_links (
            calendar TEXT NOT NULL,
            event_id TEXT NOT NULL,             -- our event id
            uid TEXT NOT NULL,                  -- iCalendar UID / client-chosen remote id basis
            remote_id TEXT,                     -- provider's id (href, event id)
            etag TEXT,
            local_version INTEGER,              -- events.version at last sync
            local_hash TEXT,                    -- content hash of our side at last sync
            remote_hash TEXT,                   -- content hash of their side at last sync
            state TEXT NOT NULL DEFAULT 'synced', -- pending | synced | conflict | deferred_delete | gone
            created_by_us INTEGER NOT NULL DEFAULT 1,
            last_synced_at TEXT,
            PRIMARY KEY (calendar, event_id)
        );
        CREATE UNIQUE INDEX calendar_links_remote ON calendar_links(calendar, remote_id) WHERE remote_id IS NOT NULL;
        CREATE INDEX calendar_links_uid ON calendar_links(calendar, uid);

        CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            calendar TEXT NOT NULL,
            event_id TEXT NOT NULL,
            local TEXT NOT NULL,                -- JSON of our version
            remote TEXT NOT NULL,               -- JSON of theirs
            reason TEXT,
            detected_at TEXT NOT NULL,
            resolved_at TEXT,
            resolution TEXT                     -- local | remote
        );
        CREATE INDEX conflicts_open ON conflicts(resolved_at);
        """
    )


@core()
def m003_runs_and_calls(db):
    db.executescript(
        """
        CREATE TABLE job_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job TEXT NOT NULL,                  -- import:csv, sync:<name>, send, health ...
            started_at TEXT NOT NULL,
            ended_at TEXT,
            outcome TEXT NOT NULL DEFAULT 'running', -- running | ok | partial | failed | skipped
            counts TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            pid INTEGER
        );
        CREATE INDEX job_runs_job ON job_runs(job, started_at);

        -- Every external call the HTTP layer makes (raw window; rollups live beside it).
        CREATE TABLE http_calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            provider TEXT NOT NULL,
            operation TEXT NOT NULL,
            method TEXT,
            status INTEGER,                     -- HTTP status, NULL when no response
            outcome TEXT NOT NULL,              -- ok | error | timeout | connect_error
            latency_ms REAL NOT NULL,
            error TEXT
        );
        CREATE INDEX http_calls_provider_at ON http_calls(provider, at);
        CREATE INDEX http_calls_at ON http_calls(at);
        """
    )
