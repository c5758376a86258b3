"""Prometheus textfile (atomic, parseable) and dead-man's-switch pings that never fail a job."""

import re
from datetime import UTC, datetime

from tests.standins.alerts import AlertStandins
from wedsync_cli.monitoring import export

LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+-]+$')


def test_textfile_is_written_atomically_and_parses(runtime, config_file, tmp_path):
    out = tmp_path / "prom" / "wedsync.prom"
    config_file.write_text(f'[metrics]\ntextfile = "{out}"\n')
    store = runtime.store
    with store.transaction():
        store.execute("INSERT INTO job_runs(job, started_at, ended_at, outcome) VALUES "
                      "('sync:studio', '2026-06-01T08:00:00+00:00', '2026-06-01T08:00:05+00:00', 'ok')")
        store.execute("INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms) VALUES "
                      "('2026-06-01T08:00:01+00:00', 'google', 'events.list', 'GET', 200, 'ok', 120.0)")
    out.parent.mkdir()
    out.write_text("old content\n")
    inode_before = out.stat().st_ino
    assert export.write_textfile(runtime) == out
    text = out.read_text()
    assert out.stat().st_ino != inode_before  # replaced by rename, never rewritten in place
    assert sorted(p.name for p in out.parent.iterdir()) == ["wedsync.prom"]  # no temp file left
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples and all(LINE.match(s) for s in samples), samples
    ts = datetime(2026, 6, 1, 8, 0, tzinfo=UTC).timestamp()
    assert f'wedsync_last_success_timestamp_seconds{{job="sync:studio"}} {ts:g}' in text
    assert 'wedsync_last_run_duration_seconds{job="sync:studio"} 5' in text
    assert 'wedsync_provider_state{provider="google",state="healthy"} 1' in text
    assert 'wedsync_provider_latency_ms{provider="google",quantile="0.5"}' in text
    assert "wedsync_wedding_day_protocol_active 0" in text
    # every metric has HELP and TYPE once
    names = {s.split("{")[0].split(" ")[0] for s in samples}
    for n in names:
        assert text.count(f"# TYPE {n} ") == 1


def test_no_textfile_configured_writes_nothing(runtime):
    assert export.write_textfile(runtime) is None


def test_pings_start_success_failure_and_an_unreachable_ping_never_fails(runtime, config_file):
    s = AlertStandins().start()
    try:
        config_file.write_text(f'[schedule.sync]\nping_url = "{s.url}/ping/abc"\n'
                               f'[metrics]\nping_urls = {{ send = "{s.url}/ping/def" }}\n')
        with export.monitored_job(runtime, "sync"):
            pass
        try:
            from wedsync_cli.errors import ProviderUnavailable

            with export.monitored_job(runtime, "send"):
                raise ProviderUnavailable("resend stayed unavailable")
        except ProviderUnavailable:
            pass
        assert s.pings == ["abc/start", "abc", "def/start", "def/69"]
    finally:
        s.stop()
    # the ping server is gone now: the job still finishes, nothing raises
    with export.monitored_job(runtime, "sync"):
        pass
    assert export.ping(runtime, "sync", "success") is False


def test_finish_job_survives_an_unwritable_textfile(runtime, config_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config_file.write_text(f'[metrics]\ntextfile = "{blocker}/sub/wedsync.prom"\n')
    export.finish_job(runtime, "sync", 0)  # logs, never raises
