"""`wedsync status --json` on a populated state: jobs, providers with quantiles, queues, conflicts."""

import json
import sqlite3

from tests.test_wedding_day_policy import add_wedding


def test_status_json_reports_runs_providers_queues_conflicts(cli, home, config_file):
    config_file.write_text('timezone = "Europe/London"\n[email]\nproviders = ["resend"]\n')
    assert cli("status").exit_code == 0
    conn = sqlite3.connect(home / "default" / "wedsync.db")
    conn.executemany("INSERT INTO job_runs(job, started_at, ended_at, outcome, counts, error) VALUES (?,?,?,?,?,?)", [
        ("sync:studio", "2026-06-10T08:00:00+00:00", "2026-06-10T08:00:30+00:00", "ok", '{"pulled": 3}', None),
        ("sync:studio", "2026-06-10T08:15:00+00:00", "2026-06-10T08:15:12+00:00", "failed", "{}", "google refused"),
        ("send", "2026-06-10T08:14:00+00:00", "2026-06-10T08:14:01+00:00", "ok", "{}", None),
    ])
    conn.executemany("INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms) "
                     "VALUES (?, 'resend', 'emails.send', 'POST', ?, ?, ?)",
                     [("2026-06-10T08:00:00+00:00", 200, "ok", float(ms)) for ms in range(10, 110)]
                     + [("2026-06-10T08:01:00+00:00", 503, "error", 20.0)])
    conn.execute("INSERT INTO conflicts(calendar, event_id, local, remote, detected_at) VALUES "
                 "('studio', 'e1', '{}', '{}', '2026-06-10T07:00:00+00:00')")

    class S:
        execute = staticmethod(conn.execute)

    add_wedding(S, "wa", "2026-07-04", [("2026-07-04T13:00:00+01:00", "2026-07-04T18:00:00+01:00", "wedding")])
    add_wedding(S, "wb", "2026-07-04", [("2026-07-04T17:00:00+01:00", "2026-07-04T22:00:00+01:00", "wedding")],
                name="Ann & Bob")
    conn.commit()
    r = cli("status", "--json", env={"WEDSYNC_NOW": "2026-06-10T08:30:00+00:00"})
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    jobs = {j["job"]: j for j in doc["jobs"]}
    assert jobs["sync:studio"]["outcome"] == "failed" and jobs["sync:studio"]["duration_s"] == 12
    assert jobs["sync:studio"]["last_success"] == "2026-06-10T08:00:00+00:00"
    assert jobs["send"]["outcome"] == "ok"
    resend = {p["name"]: p for p in doc["providers"]}["resend"]
    assert set(resend) >= {"name", "state", "last_success", "error_rate", "p50_ms", "p95_ms", "p99_ms"}
    assert resend["state"] == "degraded" and resend["error_rate"] == round(1 / 101, 4)
    assert 55 <= resend["p50_ms"] <= 63 and 100 <= resend["p99_ms"] <= 115
    assert resend["last_success"] == "2026-06-10T08:00:00+00:00"
    assert doc["outbox"] == {"pending": 0, "sent": 0, "failed": 0, "bounced": 0, "dead": 0}
    assert set(doc["webhooks"]) == {"pending", "failed", "delivered", "dead"}
    assert doc["conflicts"] == 1
    assert len(doc["double_bookings"]) == 1
    # the human screen shows the same
    r = cli("status", env={"WEDSYNC_NOW": "2026-06-10T08:30:00+00:00"})
    assert r.exit_code == 0
    assert "resend" in r.stdout and "degraded" in r.stdout and "double booking" in r.stdout


def test_bad_monitoring_settings_exit_78_naming_the_key(cli, config_file):
    for text, key in (('[alerts]\nsms_when = "sometimes"\n', "alerts.sms_when"),
                      ('[metrics]\nraw_days = "a week"\n', "metrics.raw_days"),
                      ('[health]\ndown_after = 3\n', "health.down_after"),
                      ('[wedding_day.min_interval_minutes]\nsync = "often"\n', "wedding_day.min_interval_minutes")):
        config_file.write_text(text)
        for args in (("status",), ("wedding-day", "status"), ("health", "check")):
            r = cli(*args)
            assert r.exit_code == 78, (args, r.stderr)
            assert key in r.stderr and str(config_file) in r.stderr and "Traceback" not in r.stderr


def test_every_documented_setting_validates(cli, config_file):
    """The wedding-day section of config.example.toml, uncommented, is accepted as is."""
    import re
    from pathlib import Path

    example = (Path(__file__).resolve().parents[1] / "config.example.toml").read_text()
    sec = example[example.index("# -- section:wedding-day --"):example.index("# -- /section:wedding-day --")]
    lines = []
    for line in sec.splitlines()[1:]:
        line = line[2:] if line.startswith("# ") else ""
        lines.append(line.split("#")[0] if line.startswith("[") else re.sub(r"\s+#.*$", "", line))
    config_file.write_text('timezone = "Europe/London"\n' + "\n".join(lines))
    r = cli("status", "--json")
    assert r.exit_code == 0, r.stderr
