"""Measurements: rollups, quantiles, retention, provider states, and a kill -9 during the rollup."""

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from wedsync_cli.clock import iso
from wedsync_cli.config import Config
from wedsync_cli.monitoring import metrics
from wedsync_cli.monitoring.health import classify, provider_health

NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)


def add_calls(store, rows):
    """rows: (at, provider, operation, status, outcome, latency_ms)"""
    with store.transaction():
        store.db.conn.executemany(
            "INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms, error) "
            "VALUES (?,?,?,'GET',?,?,?,NULL)", rows)


def test_quantiles_from_rollups_match_raw_within_bucket_error(runtime):
    store = runtime.store
    lat = [float(i) for i in range(1, 1001)]  # 1..1000 ms
    add_calls(store, [(iso(NOW - timedelta(minutes=i % 50)), "google", "events.list", 200, "ok", v)
                      for i, v in enumerate(lat)])
    assert metrics.rollup(store) == 1000
    s = metrics.window_stats(store, NOW - timedelta(hours=24))["google"]
    assert s.calls == 1000 and s.failures == 0
    for q, exact in ((0.5, 500), (0.95, 950), (0.99, 990)):
        assert abs(s.quantile(q) - exact) / exact < 0.06
    # the same figures before the rollup (tail read in memory) and after it
    add_calls(store, [(iso(NOW), "google", "events.list", 503, "error", 5000.0)])
    before = metrics.window_stats(store, NOW - timedelta(hours=24))["google"]
    metrics.rollup(store)
    after = metrics.window_stats(store, NOW - timedelta(hours=24))["google"]
    assert before.summary() == after.summary()
    assert after.calls == 1001 and after.failures == 1


def test_404_and_412_are_not_provider_failures(runtime):
    store = runtime.store
    add_calls(store, [(iso(NOW), "google", "events.patch", 412, "error", 10.0),
                      (iso(NOW), "google", "events.get", 404, "error", 10.0)])
    metrics.rollup(store)
    last = metrics.provider_last(store)["google"]
    assert last["consecutive_failures"] == 0 and last["last_ok_at"] == iso(NOW)
    s = metrics.window_stats(store, NOW - timedelta(hours=1))["google"]
    assert s.errors == 2 and s.failures == 0


def test_provider_states(runtime):
    cfg = Config()
    store = runtime.store
    t = NOW - timedelta(minutes=30)
    ok = [(iso(t + timedelta(seconds=i)), "resend", "emails.send", 200, "ok", 50.0) for i in range(20)]
    add_calls(store, ok)
    states = {p["name"]: p for p in provider_health(store, cfg, NOW)}
    assert states["resend"]["state"] == "healthy" and states["resend"]["last_success"] == iso(t + timedelta(seconds=19))
    # one failing call: degraded
    add_calls(store, [(iso(NOW - timedelta(minutes=1)), "resend", "emails.send", 503, "error", 50.0)])
    assert {p["name"]: p for p in provider_health(store, cfg, NOW)}["resend"]["state"] == "degraded"
    # three in a row (a probe exhausting its retries): down
    add_calls(store, [(iso(NOW), "resend", "emails.send", None, "connect_error", 1.0)] * 2)
    p = {p["name"]: p for p in provider_health(store, cfg, NOW)}["resend"]
    assert p["state"] == "down" and "3 calls failed" in p["reason"]
    assert p["error_rate"] == round(3 / 23, 4)
    # a success resets it
    add_calls(store, [(iso(NOW), "resend", "emails.send", 200, "ok", 1.0)])
    assert {p["name"]: p for p in provider_health(store, cfg, NOW)}["resend"]["state"] == "degraded"  # 3/24 >= 10 %
    later = NOW + timedelta(minutes=6)
    assert {p["name"]: p for p in provider_health(store, cfg, later)}["resend"]["state"] == "healthy"


def test_classify_error_rate_threshold():
    cfg = Config.model_validate({"health": {"degraded_error_rate": 0.5, "min_calls": 4}})
    s = metrics.Stats()
    for outcome, status in [("ok", 200), ("error", 500), ("ok", 200), ("ok", 200)]:
        s.add_call(outcome, status, 1.0)
    recent_fail = {"consecutive_failures": 0, "last_fail_at": iso(NOW - timedelta(minutes=1))}
    assert classify(recent_fail, s, cfg, NOW)[0] == "healthy"
    s.add_call("error", 500, 1.0)
    s.add_call("ok", 200, 1.0)
    s.add_call("error", 429, 1.0)
    assert classify(recent_fail, s, cfg, NOW)[0] == "healthy"  # 2 of 7
    s.add_call("error", None, 1.0)  # timeout: 3 of 8
    s.add_call("error", 503, 1.0)  # 4 of 9 ...
    s.add_call("error", 502, 1.0)  # 5 of 10 = the threshold
    assert classify(recent_fail, s, cfg, NOW)[0] == "degraded"
    # quiet for longer than quiet_minutes: healthy again
    quiet = {"consecutive_failures": 0, "last_fail_at": iso(NOW - timedelta(minutes=6))}
    assert classify(quiet, s, cfg, NOW)[0] == "healthy"


def test_retention_keeps_raw_window_and_only_rolled_up_rows(runtime):
    store = runtime.store
    old = [(iso(NOW - timedelta(days=10, minutes=i)), "tave", "job.list", 200, "ok", 5.0) for i in range(100)]
    new = [(iso(NOW - timedelta(days=1, minutes=i)), "tave", "job.list", 200, "ok", 5.0) for i in range(50)]
    add_calls(store, old + new)
    # nothing is deleted before it has been rolled up
    assert metrics.prune(store, runtime.config, NOW)["http_calls"] == 0
    metrics.rollup(store)
    assert metrics.prune(store, runtime.config, NOW)["http_calls"] == 100
    assert store.scalar("SELECT COUNT(*) FROM http_calls") == 50
    # the rollups still know the old calls
    assert metrics.window_stats(store, NOW - timedelta(days=30))["tave"].calls == 150
    # job history: old runs go, but the latest run of each job stays however old
    with store.transaction():
        for job, day in (("import:csv", 200), ("import:csv", 150), ("sync:studio", 120), ("sync:studio", 1)):
            store.execute("INSERT INTO job_runs(job, started_at, ended_at, outcome) VALUES (?, ?, ?, 'ok')",
                          [job, iso(NOW - timedelta(days=day)), iso(NOW - timedelta(days=day))])
    assert metrics.prune(store, runtime.config, NOW)["job_runs"] == 2
    left = store.query("SELECT job, started_at FROM job_runs ORDER BY id")
    assert [r["job"] for r in left] == ["import:csv", "sync:studio"]
    assert left[0]["started_at"] == iso(NOW - timedelta(days=150))


def test_kill_during_rollup_then_rerun_counts_every_call_once(cli_subprocess, home):
    """SIGKILL inside the second rollup chunk; the rerun folds every call exactly once."""
    r = cli_subprocess("status", "--json")
    assert r.exit_code == 0, r.stderr
    db = home / "default" / "wedsync.db"
    conn = sqlite3.connect(db)
    n = 120_000
    conn.executemany("INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms) "
                     "VALUES (?, 'google', 'events.list', 'GET', 200, 'ok', ?)",
                     [(iso(NOW - timedelta(seconds=i % 7200)), float(i % 300 + 1)) for i in range(n)])
    conn.commit()
    conn.close()
    r = cli_subprocess("health", "check", extra_env={"WEDSYNC_TEST_CRASH_AT": "monitoring.rollup:2",
                                                     "WEDSYNC_NOW": iso(NOW)})
    assert r.exit_code == -9
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT SUM(calls) FROM http_rollups").fetchone()[0] == 50_000  # first chunk only
    conn.close()
    r = cli_subprocess("health", "check", "--json", extra_env={"WEDSYNC_NOW": iso(NOW)})
    assert r.exit_code == 0, r.stderr
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT SUM(calls) FROM http_rollups").fetchone()[0] == n
    conn.close()
    doc = json.loads(cli_subprocess("status", "--json", extra_env={"WEDSYNC_NOW": iso(NOW)}).stdout)
    google = {p["name"]: p for p in doc["providers"]}["google"]
    assert google["calls"] == n and google["state"] == "healthy"


@pytest.mark.parametrize("latency", [0.2, 1.0, 3.7, 250.0, 99_000.0])
def test_bucket_value_close_to_latency(latency):
    v = metrics.bucket_value(metrics.bucket(latency))
    assert latency <= 1 or abs(v - latency) / latency < 0.06


def test_reader_folds_a_large_tail_first_and_figures_stay_the_same(runtime):
    store = runtime.store
    add_calls(store, [(iso(NOW - timedelta(seconds=i)), "tave", "job.list", 200, "ok", 10.0) for i in range(500)])
    assert metrics.maybe_rollup(store, threshold=1000) == 0  # small tail: read as is
    cfg = runtime.config
    before = {p["name"]: p for p in provider_health(store, cfg, NOW)}["tave"]
    assert metrics.maybe_rollup(store, threshold=100) == 500
    after = {p["name"]: p for p in provider_health(store, cfg, NOW)}["tave"]
    assert before == after and after["calls"] == 500
