"""`health check` against loopback stand-ins: a provider outage during the wedding-day protocol
produces exactly one alert and one recovery (Slack + SMS + email), outside it no SMS."""

import json

import pytest

from tests.standins.alerts import PROBE_KEY, SLACK_PATH, TWILIO_SID, TWILIO_TOKEN, AlertStandins
from wedsync_cli import registry


@pytest.fixture(scope="module")
def standins():
    s = AlertStandins().start()
    yield s
    s.stop()


@pytest.fixture
def setup(standins, cli, config_file, memory_keyring, monkeypatch):
    standins.slack.clear()
    standins.sms.clear()
    standins.pings.clear()
    standins.srv.faults.queue.clear()
    standins.srv.faults.rate = 0.0
    monkeypatch.setitem(registry.REGISTRY["check"], "tave", "tests.standins.alerts:probe")
    registry._cache.pop(("check", "tave"), None)
    config_file.write_text(f"""
timezone = "Europe/London"
[email]
from = "Studio <studio@example.com>"
providers = ["maildir"]
[health]
providers = ["tave"]
[providers.tave]
base_url = "{standins.url}"
[providers.twilio]
base_url = "{standins.url}"
[alerts]
email = ["ops@example.com"]
slack = true
sms = ["+447700900123"]
[metrics]
textfile = "metrics/wedsync.prom"
ping_urls = {{ health = "{standins.url}/ping/health-uuid" }}
""")
    for provider, value in (("tave", {"api_key": PROBE_KEY}),
                            ("slack", {"webhook_url": standins.url + SLACK_PATH}),
                            ("twilio", {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from": "+15005550006"})):
        r = cli("auth", "set", provider, "--from-file", "-", input=json.dumps(value))
        assert r.exit_code == 0, r.stderr
    yield standins
    registry._cache.pop(("check", "tave"), None)


def run(cli, when):
    r = cli("health", "check", "--json", env={"WEDSYNC_NOW": when})
    assert r.exit_code in (0, 1), r.stderr
    return r.exit_code, json.loads(r.stdout)


def tave(doc):
    return {p["name"]: p for p in doc["providers"]}["tave"]


def db(home):
    import sqlite3

    conn = sqlite3.connect(home / "default" / "wedsync.db")
    conn.row_factory = sqlite3.Row
    return conn


def test_outage_on_a_saturday_is_one_alert_and_one_recovery(setup, cli, home, config_file):
    s = setup
    code, doc = run(cli, "2026-06-13T10:00:00+01:00")  # Saturday: protocol active all day
    assert code == 0 and doc["protocol"]["active"]
    assert tave(doc)["state"] == "healthy"
    assert doc["probes"][0]["status"] == "ok"
    assert s.slack == [] and s.sms == []

    s.srv.faults.path_filter = r"^/studio"
    s.srv.faults.rate = 1.0
    s.srv.faults.kinds = ["503"]
    code, doc = run(cli, "2026-06-13T10:05:00+01:00")
    assert code == 1
    assert tave(doc)["state"] == "down"
    assert [a["key"] for a in doc["alerts"]["opened"]] == ["provider_down:tave"]
    assert len(s.slack) == 1 and "ALERT" in s.slack[0]["text"] and "tave is down" in s.slack[0]["text"]
    assert len(s.sms) == 1 and s.sms[0]["To"] == "+447700900123" and s.sms[0]["From"] == "+15005550006"

    for minute in ("10:10", "10:15"):  # still down: nothing new is sent
        code, doc = run(cli, f"2026-06-13T{minute}:00+01:00")
        assert code == 1 and doc["alerts"]["notifications"] == []
    assert len(s.slack) == 1 and len(s.sms) == 1

    s.srv.faults.rate = 0.0
    code, doc = run(cli, "2026-06-13T10:21:00+01:00")
    assert code == 0 and tave(doc)["state"] == "healthy"
    assert [a["key"] for a in doc["alerts"]["resolved"]] == ["provider_down:tave"]
    code, doc = run(cli, "2026-06-13T10:26:00+01:00")
    assert doc["alerts"]["notifications"] == []

    assert len(s.slack) == 2 and "RECOVERED" in s.slack[1]["text"]
    assert len(s.sms) == 2 and "RECOVERED" in s.sms[1]["Body"]
    conn = db(home)
    emails = conn.execute("SELECT target, payload FROM outbox WHERE kind = 'email' ORDER BY id").fetchall()
    assert [json.loads(e["payload"])["subject"].split()[1] for e in emails] == ["ALERT:", "RECOVERED:"]
    assert all(e["target"] == "ops@example.com" for e in emails)
    events = [r[0] for r in conn.execute("SELECT type FROM domain_events WHERE type LIKE 'provider.%' ORDER BY id")]
    # healthy -> degraded? no: the failing probe exhausts its retries at once, so healthy -> down -> healthy
    assert events == ["provider.degraded", "provider.recovered"]
    assert conn.execute("SELECT COUNT(*) FROM protocol_decisions WHERE decision = 'escalate'").fetchone()[0] == 1
    # secrets never reach the state
    dump = "\n".join(conn.iterdump())
    assert TWILIO_TOKEN not in dump and PROBE_KEY not in dump and SLACK_PATH not in dump
    # the dead-man's switch saw start + success/failure for each run
    assert s.pings.count("health-uuid/start") == 6
    assert s.pings.count("health-uuid/1") == 3 and s.pings.count("health-uuid") == 3
    prom = (config_file.parent / "metrics" / "wedsync.prom").read_text()
    assert 'wedsync_provider_state{provider="tave",state="healthy"} 1' in prom
    assert 'wedsync_last_run_timestamp_seconds{job="health"}' in prom


def test_outage_on_a_weekday_is_not_escalated_to_sms(setup, cli, home):
    s = setup
    s.srv.faults.path_filter = r"^/studio"
    s.srv.faults.rate = 1.0
    code, doc = run(cli, "2026-06-10T10:00:00+01:00")  # Wednesday, no wedding
    assert code == 1 and not doc["protocol"]["active"]
    assert len(s.slack) == 1 and s.sms == []
    s.srv.faults.rate = 0.0
    run(cli, "2026-06-10T10:05:00+01:00")
    assert len(s.slack) == 2 and s.sms == []


def test_broken_channel_does_not_silence_the_others_and_is_retried(setup, cli, home, memory_keyring):
    s = setup
    # A wrong Twilio token: Twilio answers 401; Slack still gets the alert.
    r = cli("auth", "set", "twilio", "--from-file", "-",
            input=json.dumps({"account_sid": TWILIO_SID, "auth_token": "wrong-token-999999", "from": "+15005550006"}))
    assert r.exit_code == 0
    s.srv.faults.path_filter = r"^/studio"
    s.srv.faults.rate = 1.0
    code, doc = run(cli, "2026-06-13T10:00:00+01:00")
    statuses = {n["channel"]: n["status"] for n in doc["alerts"]["notifications"]}
    assert statuses == {"email": "queued", "slack": "sent", "sms": "failed"}
    assert "wrong-token-999999" not in json.dumps(doc)
    assert len(s.slack) == 1 and s.sms == []
    # the SMS channel is retried on the next run, without repeating the alert on Slack or email
    code, doc = run(cli, "2026-06-13T10:05:00+01:00")
    assert [(n["channel"], n["status"]) for n in doc["alerts"]["notifications"]] == [("sms", "failed")]
    r = cli("auth", "set", "twilio", "--from-file", "-",
            input=json.dumps({"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from": "+15005550006"}))
    code, doc = run(cli, "2026-06-13T10:10:00+01:00")
    assert [(n["channel"], n["status"]) for n in doc["alerts"]["notifications"]] == [("sms", "sent")]
    code, doc = run(cli, "2026-06-13T10:15:00+01:00")
    assert doc["alerts"]["notifications"] == []
    assert len(s.slack) == 1 and len(s.sms) == 1
    # recovery goes to every channel that carried the alert, SMS included
    s.srv.faults.rate = 0.0
    code, doc = run(cli, "2026-06-13T10:21:00+01:00")
    assert sorted(n["channel"] for n in doc["alerts"]["notifications"]) == ["email", "slack", "sms"]


def test_sync_failing_and_dead_email_rules(setup, cli, home):
    s = setup
    cli("status")  # creates the state
    conn = db(home)
    for i in range(3):
        conn.execute("INSERT INTO job_runs(job, started_at, ended_at, outcome, error) VALUES "
                     "('sync:studio', ?, ?, 'failed', 'google refused the credential')",
                     [f"2026-06-10T0{i}:00:00+00:00", f"2026-06-10T0{i}:01:00+00:00"])
    conn.commit()
    code, doc = run(cli, "2026-06-10T10:00:00+01:00")
    assert [a["key"] for a in doc["alerts"]["opened"]] == ["sync_failing:sync:studio"]
    assert "failed 3 times in a row" in s.slack[0]["text"]
    conn.execute("INSERT INTO job_runs(job, started_at, ended_at, outcome) VALUES "
                 "('sync:studio', '2026-06-10T09:30:00+00:00', '2026-06-10T09:31:00+00:00', 'ok')")
    conn.commit()
    code, doc = run(cli, "2026-06-10T10:35:00+01:00")
    assert [a["key"] for a in doc["alerts"]["resolved"]] == ["sync_failing:sync:studio"]
    assert len(s.slack) == 2
    # a dead email opens one alert, however many checks see it
    conn.execute("INSERT INTO outbox(kind, key, target, payload, status, max_attempts, created_at, updated_at) "
                 "VALUES ('email', 'k1', 'a@example.com', '{}', 'dead', 8, '2026-06-10T09:00:00+00:00', "
                 "'2026-06-10T09:00:00+00:00')")
    conn.commit()
    run(cli, "2026-06-10T10:40:00+01:00")
    run(cli, "2026-06-10T10:45:00+01:00")
    assert len(s.slack) == 3 and "1 email(s) are dead" in s.slack[2]["text"]
    # a webhook endpoint the dispatcher disabled (410, or failing for days) is an alert too
    conn.execute("INSERT INTO webhook_endpoints(name, disabled_at, disabled_reason, updated_at) VALUES "
                 "('crm', '2026-06-10T09:00:00+00:00', 'the endpoint answered 410 Gone', '2026-06-10T09:00:00+00:00')")
    conn.commit()
    code, doc = run(cli, "2026-06-10T10:50:00+01:00")
    assert [a["key"] for a in doc["alerts"]["opened"]] == ["webhook_disabled:crm"]
    assert "410 Gone" in s.slack[3]["text"]


def test_new_user_without_credentials_gets_one_sentence_per_probe(cli, config_file, monkeypatch):
    monkeypatch.setitem(registry.REGISTRY["check"], "tave", "tests.standins.alerts:probe")
    registry._cache.pop(("check", "tave"), None)
    config_file.write_text('[sources.crm]\nprovider = "tave"\n[calendars.home]\nprovider = "local"\ncalendar = "cal"\n')
    r = cli("health", "check")
    registry._cache.pop(("check", "tave"), None)
    assert r.exit_code == 1
    assert "tave: No credential is stored for tave" in r.stderr and "wedsync auth" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # a missing credential is our configuration, not the provider being down: no alert, state healthy
    r = cli("status", "--json")
    assert all(p["state"] == "healthy" for p in json.loads(r.stdout)["providers"])
