"""Opening an up-to-date state is cheap (no sqlite-utils, no feature modules), yet a newly
registered migration is still applied on the next open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wedsync_cli.store import Store, schema
from wedsync_cli.store.schema import migration_fingerprint, migration_sets

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from wedsync_cli.store import Store
s = Store(sys.argv[1])
rows = s.query("SELECT COUNT(*) AS n FROM clients")
print(json.dumps({"rows": rows, "loaded": sorted(m for m in sys.modules
      if m.split('.')[0] == 'sqlite_utils' or m in ('wedsync_cli.sources.tave', 'wedsync_cli.calendars.engine'))}))
"""


def _probe(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def test_current_state_opens_without_sqlite_utils_or_feature_modules(tmp_path):
    path = tmp_path / "s" / "wedsync.db"
    first = _probe(path)  # creates and migrates: the full check needs sqlite-utils
    assert "sqlite_utils" in first["loaded"]
    second = _probe(path)
    assert second["rows"] == [{"n": 0}]
    assert second["loaded"] == []


def test_a_new_migration_is_applied_although_the_state_was_stamped(tmp_path, monkeypatch):
    path = tmp_path / "s" / "wedsync.db"
    Store(path).close()
    stamped = Store(path)
    assert stamped.scalar("PRAGMA user_version") == migration_fingerprint() != 0
    stamped.close()

    mod = tmp_path / "extra_feature_migrations.py"
    mod.write_text(
        "from wedsync_cli.store.migrations import Migrations\n"
        "migrations = Migrations('wedsync.test_extra')\n"
        "@migrations()\n"
        "def m001_extra(db):\n"
        "    db.executescript('CREATE TABLE extra_things (id INTEGER PRIMARY KEY)')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(schema, "MIGRATION_SETS", [*schema.MIGRATION_SETS, "extra_feature_migrations:migrations"])
    s = Store(path)
    assert s.scalar("SELECT name FROM sqlite_master WHERE name = 'extra_things'") == "extra_things"
    assert s.scalar("PRAGMA user_version") == migration_fingerprint()
    assert all(not m.pending(s.db) for m in migration_sets())


def test_a_stamp_from_other_code_brings_the_full_check_back(tmp_path):
    path = tmp_path / "s" / "wedsync.db"
    Store(path).close()
    s = Store(path)
    # a state stamped by other code, missing one set (as if that set were new to it)
    s.execute("PRAGMA user_version = 12345")
    s.execute("DELETE FROM _sqlite_migrations WHERE migration_set = 'wedsync.notify'")
    s.execute("DROP TABLE domain_events")
    s.close()
    s = Store(path)
    assert s.scalar("SELECT name FROM sqlite_master WHERE name = 'domain_events'") == "domain_events"
    assert s.scalar("PRAGMA user_version") == migration_fingerprint()


def test_store_db_still_offers_sqlite_utils(tmp_path):
    s = Store(tmp_path / "w.db")
    s.db["scratch"].insert({"id": 1, "name": "Ana"}, pk="id")
    assert s.query("SELECT * FROM scratch") == [{"id": 1, "name": "Ana"}]
    assert s.db.conn is s.conn
    assert s.scalar("PRAGMA recursive_triggers") == 1
