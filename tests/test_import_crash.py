"""kill -9 during an import, then a rerun: the same state as one clean run, nothing doubled."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def make_csv(path: Path, rows: int) -> Path:
    lines = ["Couple,Email,Phone,Wedding Date,Start Time,Venue,Status"]
    for i in range(rows):
        lines.append(f'Ann{i} & Bo{i} Lee{i % 50},ann{i}@example.com,07700 9{i:05d},2027-{1 + i % 12:02d}-{1 + i % 28:02d},'
                     f'{"14:00" if i % 3 else ""},"Hall {i % 7}, Kent",{"lead" if i % 5 == 0 else "booked"}')
        if i % 10 == 0:  # the same couple again, email in other case
            lines.append(f"Ann{i} & Bo{i} Lee{i % 50},ANN{i}@Example.com,,2027-{1 + i % 12:02d}-{1 + i % 28:02d},,,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(db_file: Path) -> dict:
    c = sqlite3.connect(db_file)
    q = lambda sql: sorted(c.execute(sql).fetchall())  # noqa: E731
    snap = {
        "clients": q("SELECT display_name, p1_email, p1_phone, p2_first, extra FROM clients"),
        "weddings": q("SELECT k.p1_email, w.date, w.venue, w.status FROM weddings w JOIN clients k ON k.id = w.client_id"),
        "events": q("SELECT k.p1_email, e.title, e.start, e.end, e.location, e.version FROM events e "
                    "JOIN weddings w ON w.id = e.wedding_id JOIN clients k ON k.id = w.client_id"),
        "keys": q("SELECT key FROM client_keys"),
        "source_records": q("SELECT source, external_id, entity, content_hash FROM source_records"),
        "domain_events": q("SELECT type, COUNT(*) FROM domain_events GROUP BY type"),
    }
    c.close()
    return snap


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    from wedsync_cli.transform import engine

    # More rows than one engine chunk, so the kill can land after a chunk was flushed.
    return make_csv(tmp_path_factory.mktemp("crash") / "clients.csv", engine.CHUNK + 300)


@pytest.fixture(scope="module")
def clean_state(big_csv, tmp_path_factory):
    """One clean import of the same file, done once for the module."""
    from tests.support.cli import run_subprocess

    base = tmp_path_factory.mktemp("clean")
    env = {"WEDSYNC_HOME": str(base / "home"), "WEDSYNC_CONFIG": str(base / "config.toml"),
           "XDG_CONFIG_HOME": str(base / "xdg"), "XDG_DATA_HOME": str(base / "xdg-data"),
           "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
           "WEDSYNC_TEST_KEYRING": str(base / "kr.json")}
    r = run_subprocess(["import", "csv", str(big_csv), "--json"], env)
    assert r.exit_code == 0, r.stderr
    return snapshot(base / "home" / "default" / "wedsync.db"), r.json


@pytest.mark.parametrize("point", ["import.record:5", "import.record:2100", "import.committed"])
def test_kill_9_during_import_then_rerun_equals_one_clean_run(cli_subprocess, home, big_csv, clean_state, point):
    expected, clean_doc = clean_state
    crashed = cli_subprocess("import", "csv", str(big_csv), "--json", extra_env={"WEDSYNC_TEST_CRASH_AT": point})
    assert crashed.exit_code == -signal.SIGKILL
    db_file = home / "default" / "wedsync.db"
    conn = sqlite3.connect(db_file)
    n_clients = conn.execute("SELECT COUNT(*) FROM clients").fetchone()[0]
    conn.close()
    if point == "import.committed":
        assert n_clients == clean_doc["created"]  # the one transaction had committed
    else:
        assert n_clients == 0  # the one transaction never committed: nothing half-written

    rerun = cli_subprocess("import", "csv", str(big_csv), "--json")
    assert rerun.exit_code == 0, rerun.stderr
    doc = rerun.json
    if point == "import.committed":
        assert (doc["created"], doc["updated"]) == (0, 0)
    else:
        assert doc["created"] == clean_doc["created"]
    assert snapshot(db_file) == expected
    outcomes = [r[0] for r in sqlite3.connect(db_file).execute("SELECT outcome FROM job_runs ORDER BY id")]
    assert outcomes == ["crashed", "ok"]
