"""The one store: a SQLite file per profile (sqlite-utils), WAL, busy timeout, migrations.

Rules every caller follows:
- read-then-write goes inside ``store.transaction()`` (``BEGIN IMMEDIATE``; nested blocks
  become savepoints), so two processes never interleave a check and its write;
- progress markers (cursors, bookmarks, link rows, outbox states) are written in the same
  transaction as the data they describe, so a ``kill -9`` leaves either both or neither.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wedsync_cli.clock import Clock, SystemClock, iso
from wedsync_cli.paths import ensure_private_dir
from wedsync_cli.store.locks import file_lock

BUSY_TIMEOUT_S = 30


class _LazyDatabase:
    """``store.db``: the raw connection at once, sqlite-utils' Database only when something asks.

    Importing sqlite-utils costs ~35 ms per command; the hot paths (status, send --flush, health
    check, a no-change sync) only need ``db.conn``, which is the same connection either way.
    """

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._db = None

    def real(self):
        if self._db is None:
            import sqlite_utils

            # recursive_triggers was switched on when the connection was opened
            self._db = sqlite_utils.Database(self.conn, execute_plugins=False, recursive_triggers=False)
        return self._db

    def __getattr__(self, name: str):
        return getattr(self.real(), name)

    def __getitem__(self, name: str):
        return self.real()[name]


class Store:
    def __init__(self, path: Path | str, clock: Clock | None = None):
        self.path = Path(path)
        self.clock = clock or SystemClock()
        if str(path) != ":memory:":
            ensure_private_dir(self.path.parent)
            if not self.path.exists():
                # Create 0600 before SQLite touches it: -wal/-shm inherit the mode.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            elif (self.path.stat().st_mode & 0o077) != 0:
                self.path.chmod(0o600)
        conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = None
        self.conn = conn
        self.db = _LazyDatabase(conn)
        conn.execute("PRAGMA recursive_triggers=on")  # what sqlite-utils' Database sets
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode=wal")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._migrate()

    # -- migrations ----------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply pending migrations; skip even looking when the state is known to be current.

        After a full check the state records (``PRAGMA user_version``) a fingerprint of the
        migration modules (their names, sizes and mtimes). While it matches, no feature module
        is imported and no migration table is read: ~10 ms less on every cron run. Any edit to
        a module that holds migrations changes the fingerprint and brings the full check back.
        """
        from wedsync_cli.store.schema import migration_fingerprint, migration_sets

        fingerprint = migration_fingerprint()
        if fingerprint and self.scalar("PRAGMA user_version") == fingerprint:
            return
        sets = migration_sets()
        if any(s.pending(self.db) for s in sets):
            lock_dir = self.path.parent / "locks" if str(self.path) != ":memory:" else None
            ctx = file_lock(lock_dir / "migrate.lock", wait=True) if lock_dir else contextlib.nullcontext()
            with ctx:
                for s in sets:
                    s.apply(self.db)
        if fingerprint:
            # Only an optimisation: a state we may not write to still opens, checked in full.
            with contextlib.suppress(sqlite3.OperationalError):
                self.conn.execute(f"PRAGMA user_version = {int(fingerprint)}")

    # -- transactions --------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """``BEGIN IMMEDIATE`` at the outermost level, savepoints inside."""
        conn = self.conn
        if self._depth == 0 and not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._depth = 0
        else:
            self._depth += 1
            name = f"sp_{self._depth}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
            finally:
                self._depth -= 1

    # -- small helpers -------------------------------------------------------------------------
    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, () if params is None else params)
        if cur.description is None:
            return []
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    def now(self) -> str:
        return iso(self.clock.now())  # type: ignore[return-value]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    # -- source cursors (bookmarks, sync tokens) -----------------------------------------------
    def get_cursor(self, key: str) -> dict[str, Any] | None:
        row = self.one("SELECT value FROM cursors WHERE key = ?", [key])
        return json.loads(row["value"]) if row else None

    def set_cursor(self, key: str, value: dict[str, Any] | None) -> None:
        """Call inside the transaction that wrote the data the cursor describes."""
        if value is None:
            self.execute("DELETE FROM cursors WHERE key = ?", [key])
        else:
            self.execute(
                "INSERT INTO cursors(key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                [key, json.dumps(value, sort_keys=True), self.now()],
            )


def open_store(path: Path | str, clock: Clock | None = None) -> Store:
    return Store(path, clock)
