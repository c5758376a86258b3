"""kill -9 in the middle of `wedsync sync` (a real subprocess, SIGKILL at an injected point), then a
rerun: exactly one calendar item per local event, every change applied once."""

from __future__ import annotations

import signal
from datetime import datetime
from pathlib import Path

import pytest

from tests.calendars.helpers import LONDON, edit_event, seed_wedding, set_status
from wedsync_cli.calendars.ics import parse_ics

NOW = "2026-11-25T10:00:00Z"


@pytest.fixture
def env(cli_subprocess, config_file, tmp_path):
    folder = tmp_path / "calendar"
    folder.mkdir()
    config_file.write_text(f'timezone = "Europe/London"\n[calendars.studio]\nprovider = "local"\ncalendar = "{folder}"\n')
    return folder


@pytest.fixture
def store(env, home):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    s = Store(Paths.resolve().db_file)
    yield s
    s.close()


def uids(folder: Path) -> list[str]:
    return sorted(parse_ics(p.read_bytes()).uid for p in folder.glob("*.ics"))


def sync(cli_subprocess, crash: str | None = None):
    extra = {"WEDSYNC_NOW": NOW}
    if crash:
        extra["WEDSYNC_TEST_CRASH_AT"] = crash
    return cli_subprocess("sync", "--json", extra_env=extra)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["sync.before_create:2", "sync.after_create:2"])
def test_kill_during_push_then_rerun_leaves_exactly_one_item_per_event(cli_subprocess, env, store, point):
    ids = [seed_wedding(store, name=f"Couple {i}", day=datetime(2027, 6, 1 + i, 12, tzinfo=LONDON)) for i in range(4)]
    r = sync(cli_subprocess, crash=point)
    assert r.exit_code == -signal.SIGKILL
    r = sync(cli_subprocess)
    assert r.exit_code == 0, r.stderr
    assert uids(env) == sorted(f"{i}@wedsync" for i in ids)
    assert store.scalar("SELECT COUNT(*) FROM calendar_links WHERE state = 'synced'") == 4
    again = sync(cli_subprocess).json["runs"][0]
    assert again["pushed"] == {"created": 0, "updated": 0, "deleted": 0} and again["conflicts"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("point", ["sync.after_update:1", "sync.after_delete:1"])
def test_kill_after_an_update_or_delete_then_rerun_converges(cli_subprocess, env, store, point):
    a = seed_wedding(store)
    b = seed_wedding(store, name="Second Couple", day=datetime(2027, 8, 1, 12, tzinfo=LONDON))
    assert sync(cli_subprocess).exit_code == 0
    edit_event(store, a, title="Renamed")
    set_status(store, b, "cancelled")
    assert sync(cli_subprocess, crash=point).exit_code == -signal.SIGKILL
    r = sync(cli_subprocess)
    assert r.exit_code == 0, r.stderr
    assert uids(env) == [f"{a}@wedsync"]
    assert "SUMMARY:Renamed" in (env / f"{a}@wedsync.ics").read_text()
    assert r.json["runs"][0]["conflicts"] == 0
    assert store.scalar("SELECT COUNT(*) FROM events WHERE deleted = 1") == 0
