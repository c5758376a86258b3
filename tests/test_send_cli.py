"""`wedsync send` as users run it: templates, dry run, maildir default, exit codes, --log, --flush."""

from __future__ import annotations

import json
import mailbox

import pytest

from tests.standins.resend import ResendStandin
from tests.standins.sendgrid import SendGridStandin

KEY = "re_cli_test_key"


@pytest.fixture(scope="module")
def resend():
    srv = ResendStandin(KEY).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sendgrid():
    srv = SendGridStandin("SG.cli").start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _reset(resend, sendgrid):
    for s in (resend, sendgrid):
        s.faults.queue.clear()
        s.faults.rate = 0
        s.accepted.clear()
        s.reset_requests()
    resend.idem.clear()
    resend.api_key = KEY


def add_wedding(venue: str | None = "Kew Gardens", email2: str | None = "john@example.com") -> str:
    """A booked couple with a wedding day event, written as the import would."""
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    now = "2026-05-01T10:00:00+00:00"
    with store.transaction():
        store.execute(
            "INSERT INTO clients(id, kind, display_name, p1_first, p1_last, p1_email, p2_first, p2_last, p2_email,"
            " content_hash, created_at, updated_at) VALUES ('c1', 'couple', 'Jane & John Smith', 'Jane', 'Smith',"
            " 'jane@example.com', 'John', 'Smith', ?, 'h', ?, ?)", [email2, now, now])
        store.execute(
            "INSERT INTO weddings(id, client_id, date, venue, status, content_hash, created_at, updated_at)"
            " VALUES ('w1', 'c1', '2026-06-13', ?, 'booked', 'h', ?, ?)", [venue, now, now])
        store.execute(
            "INSERT INTO events(id, wedding_id, kind, title, all_day, start, end, tz, location, content_hash,"
            " created_at, updated_at) VALUES ('e1', 'w1', 'wedding', 'Jane & John Smith wedding', 0,"
            " '2026-06-13T13:00:00+01:00', '2026-06-13T23:00:00+01:00', 'Europe/London', ?, 'h', ?, ?)",
            [venue, now, now])
    store.close()
    return "w1"


def write_config(config_file, body: str = "") -> None:
    config_file.write_text('timezone = "Europe/London"\n[email]\nfrom = "Studio <studio@example.com>"\n' + body)


def test_list_shows_the_shipped_templates(cli, config_file):
    r = cli("send", "--list", "--json")
    assert r.exit_code == 0
    names = [t["name"] for t in r.json["templates"]]
    assert names == ["booking-confirmation", "test", "timeline-update", "wedding-week-reminder"]
    assert "booking-confirmation" in cli("send", "--list").stdout


def test_dry_run_renders_and_queues_nothing(cli, config_file, home):
    write_config(config_file)
    add_wedding()
    r = cli("send", "booking-confirmation", "--wedding", "w1", "--dry-run")
    assert r.exit_code == 0, r.stderr
    assert "Subject: Your wedding on Saturday 13 June 2026 is booked with Studio" in r.stdout
    assert "To: jane@example.com, john@example.com" in r.stdout
    assert "Dear Jane & John" in r.stdout and "Kew Gardens" in r.stdout and "13:00–23:00" in r.stdout
    assert cli("send", "--log", "--json").json["deliveries"] == []
    j = cli("send", "booking-confirmation", "--wedding", "w1", "--dry-run", "--json").json
    assert j["dry_run"] is True and "<strong>Saturday 13 June 2026</strong>" in j["messages"][0]["html"]


def test_send_to_the_default_maildir_once(cli, config_file, home):
    write_config(config_file)
    add_wedding()
    r = cli("send", "booking-confirmation", "--wedding", "w1", "--json")
    assert r.exit_code == 0, r.stderr
    (m,) = r.json["messages"]
    assert (m["status"], m["provider"], m["template"]) == ("sent", "maildir", "booking-confirmation")
    assert m["to"] == "jane@example.com, john@example.com"
    box = mailbox.Maildir(home / "default" / "mail", create=False)
    (msg,) = list(box)
    assert msg["To"] == "jane@example.com, john@example.com" and msg.is_multipart()
    # the same confirmation again is the same message: not sent twice
    again = cli("send", "booking-confirmation", "--wedding", "w1", "--json")
    assert again.exit_code == 0 and again.json["messages"][0]["id"] == m["id"]
    assert len(list(box)) == 1 and "not sent twice" in again.stderr


def test_missing_variable_exits_65_naming_it(cli, config_file, home):
    write_config(config_file)
    r = cli("send", "booking-confirmation", "--to", "x@example.com")
    assert r.exit_code == 65
    assert "needs the variable wedding" in r.stderr and "Traceback" not in r.stderr
    # an override template that uses data the wedding lacks names the full path
    tdir = home / "default" / "templates" / "email" / "booking-confirmation"
    tdir.mkdir(parents=True)
    (tdir / "subject.txt").write_text("Booked at {{ wedding.venue }}")
    (tdir / "body.txt").write_text("hi")
    add_wedding(venue=None)
    r = cli("send", "booking-confirmation", "--wedding", "w1", "--dry-run")
    assert r.exit_code == 65 and "wedding.venue" in r.stderr
    assert cli("send", "--log", "--json").json["deliveries"] == []  # nothing half-written


def test_usage_errors(cli, config_file):
    write_config(config_file)
    assert cli("send", "nope", "--to", "a@example.com").exit_code == 2
    r = cli("send", "test")
    assert r.exit_code == 2 and "--to EMAIL" in r.stderr
    assert cli("send", "test", "--to", "not an address").exit_code == 2
    assert cli("send", "test", "--wedding", "missing").exit_code == 2
    assert cli("send", "--flush", "--list").exit_code == 2
    assert cli("send", "--log", "--status", "weird").exit_code == 2


def test_resend_auth_refused_exits_77_and_pages_once(cli, config_file, resend, sendgrid):
    write_config(config_file, f'providers = ["resend", "sendgrid"]\n[providers.resend]\nbase_url = "{resend.url}"\n'
                              f'[providers.sendgrid]\nbase_url = "{sendgrid.url}"\n')
    cli("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": "re_wrong_key"}))
    cli("auth", "set", "sendgrid", "--from-file", "-", input=json.dumps({"api_key": "SG.cli"}))
    r = cli("send", "test", "--to", "me@example.com", "--json")
    assert r.exit_code == 77
    assert "auth set resend" in r.stderr and "re_wrong_key" not in r.stderr + r.stdout
    assert r.json["messages"][0]["status"] == "queued"
    assert cli("send", "--flush").exit_code == 77
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    assert store.scalar("SELECT COUNT(*) FROM domain_events WHERE type = 'provider.degraded'") == 1
    store.close()
    assert not sendgrid.accepted  # a refused credential is not a reason to fail over
    cli("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": KEY}))
    ok = cli("send", "--flush", "--json")
    assert ok.exit_code == 0 and ok.json["email"]["sent"] == 1 and len(resend.accepted) == 1


def test_permanent_failure_exits_1_with_reason(cli, config_file, resend):
    write_config(config_file, f'providers = ["resend"]\n[providers.resend]\nbase_url = "{resend.url}"\n')
    cli("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": KEY}))
    resend.faults.queue.append("422")
    r = cli("send", "test", "--to", "me@example.com", "--json")
    assert r.exit_code == 1 and r.json["messages"][0]["status"] == "failed"
    assert "validation_error" in r.stderr
    log = cli("send", "--log", "--status", "failed", "--recipient", "me@", "--json").json["deliveries"]
    assert len(log) == 1 and log[0]["attempts"][0]["status_code"] == 422


def test_all_providers_down_exits_69_and_keeps_it_queued(cli, config_file, resend, sendgrid):
    write_config(config_file, f'providers = ["resend", "sendgrid"]\n[providers.resend]\nbase_url = "{resend.url}"\n'
                              f'[providers.sendgrid]\nbase_url = "{sendgrid.url}"\n')
    cli("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": KEY}))
    cli("auth", "set", "sendgrid", "--from-file", "-", input=json.dumps({"api_key": "SG.cli"}))
    resend.faults.rate = sendgrid.faults.rate = 1.0
    resend.faults.kinds = sendgrid.faults.kinds = ["500"]
    r = cli("send", "test", "--to", "me@example.com", "--json")
    assert r.exit_code == 69 and r.json["messages"][0]["status"] == "queued"
    status = cli("status", "--json").json
    assert status["outbox"]["pending"] == 1


def test_missing_credential_is_78(cli, config_file, resend):
    write_config(config_file, f'providers = ["resend"]\n[providers.resend]\nbase_url = "{resend.url}"\n')
    r = cli("send", "test", "--to", "me@example.com")
    assert r.exit_code == 78 and "auth set resend" in r.stderr
    (row,) = cli("send", "--log", "--json").json["deliveries"]
    assert row["state"] == "pending" and row["attempts"] == []  # handed back untouched


def test_flush_lock_busy_is_75(cli, config_file, home):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store.locks import job_lock

    write_config(config_file)
    with job_lock(Paths.resolve().state_dir, "send"):
        r = cli("send", "--flush")
    assert r.exit_code == 75 and "send" in r.stderr


def test_flush_drains_and_reports_json(cli, config_file, home):
    write_config(config_file)
    add_wedding()
    from wedsync_cli.email.deliver import queue
    from wedsync_cli.paths import Paths
    from wedsync_cli.runtime import Runtime

    rt = Runtime(paths=Paths.resolve())
    queue(rt, "wedding-week-reminder", wedding_id="w1")
    queue(rt, "test", to="ops@example.com")
    rt.close()
    r = cli("send", "--flush", "--json")
    assert r.exit_code == 0, r.stderr
    assert sorted(m["template"] for m in r.json["messages"]) == ["test", "wedding-week-reminder"]
    assert {m["status"] for m in r.json["messages"]} == {"sent"}
    assert cli("send", "--flush", "--json").json["messages"] == []
    assert cli("status", "--json").json["outbox"]["sent"] == 2


def test_flush_also_delivers_webhooks(cli, config_file, home):
    from tests.standins.http import Response, StandinServer

    rx = StandinServer()
    rx.route("POST", "/hook")(lambda req: Response(204))
    with rx:
        write_config(config_file, f'\n[webhooks.crm]\nurl = "{rx.url}/hook"\nevents = ["email.*"]\nallow_private = true\n')
        cli("auth", "set", "webhook:crm", "--from-file", "-",
            input=json.dumps({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
        from wedsync_cli import notify
        from wedsync_cli.paths import Paths
        from wedsync_cli.store import Store

        store = Store(Paths.resolve().db_file)
        with store.transaction():
            notify.emit(store, "email.failed", {"id": 1, "reason": "test"})
        store.close()
        r = cli("send", "--flush", "--json")
        assert r.exit_code == 0, r.stderr
        assert r.json["webhooks"]["delivered"] == 1
        assert rx.count("POST", "/hook") == 1 and "webhook-signature" in rx.requests[0].headers


def test_client_picks_their_wedding_and_to_overrides_recipients(cli, config_file):
    write_config(config_file)
    add_wedding(email2=None)
    r = cli("send", "wedding-week-reminder", "--client", "c1", "--dry-run", "--json")
    assert r.exit_code == 0, r.stderr
    (m,) = r.json["messages"]
    assert m["to"] == "jane@example.com" and "One week to go" in m["subject"]
    r = cli("send", "timeline-update", "--wedding", "w1", "--to", "planner@example.com", "--dry-run", "--json")
    assert r.json["messages"][0]["to"] == "planner@example.com"


def test_rate_limit_longer_than_the_run_exits_75(cli, config_file, resend):
    write_config(config_file, f'providers = ["resend"]\n[providers.resend]\nbase_url = "{resend.url}"\n')
    cli("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": KEY}))
    resend.faults.retry_after = "300"
    resend.faults.queue.append("429")
    try:
        r = cli("send", "test", "--to", "me@example.com", "--json")
    finally:
        resend.faults.retry_after = "0"
    assert r.exit_code == 75 and r.json["messages"][0]["status"] == "queued"
    (row,) = cli("send", "--log", "--json").json["deliveries"]
    assert row["attempts"][0]["outcome"] == "rate_limited" and row["next_attempt_at"]


def test_auth_status_check_uses_the_email_checks(cli, config_file, resend, sendgrid):
    write_config(config_file, f'providers = ["resend", "sendgrid"]\n[providers.resend]\nbase_url = "{resend.url}"\n'
                              f'[providers.sendgrid]\nbase_url = "{sendgrid.url}"\n')
    cli("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": KEY}))
    cli("auth", "set", "sendgrid", "--from-file", "-", input=json.dumps({"api_key": "SG.cli"}))
    r = cli("auth", "status", "--check", "--json")
    assert r.exit_code == 0, r.stderr
    assert sendgrid.count("POST", "/v3/mail/send") == 1 and not sendgrid.accepted  # sandbox: nothing sent
    assert resend.count("GET", "/domains") == 1
