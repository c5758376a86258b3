import multiprocessing
import os
import sqlite3
import stat

import pytest

from wedsync_cli.errors import LockBusy
from wedsync_cli.store import Store
from wedsync_cli.store.locks import job_lock
from wedsync_cli.store.schema import migration_sets


def test_state_file_is_private_and_in_wal_mode(tmp_path):
    s = Store(tmp_path / "state" / "wedsync.db")
    assert stat.S_IMODE((tmp_path / "state" / "wedsync.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    assert s.scalar("PRAGMA journal_mode") == "wal"
    assert s.scalar("PRAGMA busy_timeout") >= 10000


def test_migrations_are_recorded_and_idempotent(tmp_path):
    path = tmp_path / "s" / "w.db"
    Store(path).close()
    s = Store(path)
    applied = s.query("SELECT migration_set, name FROM _sqlite_migrations")
    expected = sum(len(m._migrations) for m in migration_sets())
    assert len(applied) == expected
    assert all(not m.pending(s.db) for m in migration_sets())


def test_transaction_rolls_back_everything_on_error(tmp_path):
    s = Store(tmp_path / "s" / "w.db")
    with pytest.raises(RuntimeError):
        with s.transaction():
            s.set_cursor("a", {"x": 1})
            with s.transaction():  # nested -> savepoint
                s.set_cursor("b", {"y": 2})
            raise RuntimeError("boom")
    assert s.get_cursor("a") is None and s.get_cursor("b") is None


def test_nested_savepoint_rolls_back_only_inner(tmp_path):
    s = Store(tmp_path / "s" / "w.db")
    with s.transaction():
        s.set_cursor("a", {"x": 1})
        with pytest.raises(ValueError):
            with s.transaction():
                s.set_cursor("b", {"y": 2})
                raise ValueError
    assert s.get_cursor("a") == {"x": 1}
    assert s.get_cursor("b") is None


def test_transaction_takes_the_write_lock_up_front(tmp_path):
    """BEGIN IMMEDIATE: a second writer cannot slip in between our read and our write."""
    path = tmp_path / "s" / "w.db"
    s = Store(path)
    with s.transaction():
        other = sqlite3.connect(str(path), timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def _hold_lock(state_dir, ready, release):
    with job_lock(state_dir, "sync"):
        ready.set()
        release.wait(10)


def test_job_lock_refuses_a_second_run_and_frees_on_death(tmp_path):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    p.start()
    assert ready.wait(10)
    with pytest.raises(LockBusy) as exc:
        with job_lock(tmp_path, "sync"):
            pass
    assert exc.value.exit_code == 75
    os.kill(p.pid, 9)  # kill -9: the kernel drops the flock
    p.join(10)
    with job_lock(tmp_path, "sync"):
        pass
