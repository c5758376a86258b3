"""The wiring between features, as users run it: the wedding-day protocol around sync, send and
the destructive commands; inbound bounces stopping the email sender; the sync runner's callers."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest

from tests import test_sync_cli
from tests.calendars.helpers import edit_event, seed_wedding, set_status

# Fixtures shared with the sync CLI tests: a local calendar 'studio' (`setup(policy=...)`) and its state.
setup, store = test_sync_cli.setup, test_sync_cli.store

WEDNESDAY = "2026-11-25T10:00:00Z"  # no wedding near: the protocol is off (test_sync_cli's NOW)
SATURDAY = "2026-11-28T12:00:00Z"  # Saturdays are protected by default


def decisions(store, kind: str) -> list[dict]:
    return store.query("SELECT decision, subject, reason FROM protocol_decisions WHERE decision = ? ORDER BY id", [kind])


# -- sync ---------------------------------------------------------------------------------------------
def test_deferred_delete_is_logged_once_with_its_reason_and_skips_are_recorded(cli, store, monkeypatch):
    ev = seed_wedding(store)
    assert cli("sync").exit_code == 0
    monkeypatch.setenv("WEDSYNC_NOW", SATURDAY)
    set_status(store, ev, "cancelled")
    r = cli("sync", "studio", "--json")
    assert r.exit_code == 0 and len(r.json["runs"][0]["deferred"]) == 1
    [d] = decisions(store, "defer_delete")
    assert d["subject"] == ev and "studio" in d["reason"] and "Saturday" in d["reason"]
    # a second protected run still defers, but the deferral was already logged
    assert cli("sync", "studio").exit_code == 0
    assert len(decisions(store, "defer_delete")) == 1
    # a scheduled run inside the minimum interval is held back, recorded with the reason
    r = cli("sync", "--json")
    assert r.json["runs"][0]["status"] == "skipped"
    row = store.one("SELECT outcome, counts FROM job_runs WHERE outcome = 'skipped'")
    assert "at most every 30 min" in json.loads(row["counts"])["reason"]


def test_dry_run_during_the_protocol_logs_no_deferral(cli, store, monkeypatch):
    ev = seed_wedding(store)
    assert cli("sync").exit_code == 0
    monkeypatch.setenv("WEDSYNC_NOW", SATURDAY)
    set_status(store, ev, "cancelled")
    assert cli("sync", "--dry-run").exit_code == 0
    assert decisions(store, "defer_delete") == []


def test_sync_runner_is_the_core_entry_point(runtime, config_file, tmp_path):
    from wedsync_cli.errors import UsageError
    from wedsync_cli.sync_runner import run_sync

    folder = tmp_path / "cal"
    folder.mkdir()
    config_file.write_text(f'timezone = "Europe/London"\n[calendars.studio]\nprovider = "local"\ncalendar = "{folder}"\n')
    ev = seed_wedding(runtime.store)
    [run] = run_sync(runtime, [])
    assert (run["name"], run["status"], run["pushed"]["created"]) == ("studio", "ok", 1)
    assert sorted(p.name for p in folder.glob("*.ics")) == [f"{ev}@wedsync.ics"]
    with pytest.raises(UsageError, match="nope"):
        run_sync(runtime, ["nope"])


# -- send --flush is a monitored cron job ------------------------------------------------------------
def test_send_flush_pings_and_observes_the_protocol_switch(cli, config_file, home, monkeypatch):
    from tests.standins.alerts import AlertStandins

    s = AlertStandins().start()
    try:
        config_file.write_text(f'timezone = "Europe/London"\n[metrics]\nping_urls = {{ send = "{s.url}/ping/snd" }}\n')
        monkeypatch.setenv("WEDSYNC_NOW", SATURDAY)
        assert cli("send", "--flush").exit_code == 0
        assert s.pings == ["snd/start", "snd"]
    finally:
        s.stop()
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    st = Store(Paths.resolve().db_file)
    try:  # the end of the cron run noticed the Saturday protocol and announced it once
        assert st.scalar("SELECT COUNT(*) FROM domain_events WHERE type = 'wedding_day.activated'") == 1
        assert st.scalar("SELECT outcome FROM job_runs WHERE job = 'send'") == "ok"
    finally:
        st.close()


# -- destructive commands need --force during the protocol ------------------------------------------
def test_conflicts_resolve_needs_force_on_a_wedding_day(cli, setup, store, tmp_path, monkeypatch):
    setup(policy="manual")
    ev = seed_wedding(store)
    assert cli("sync").exit_code == 0
    path = tmp_path / "calendar" / f"{ev}@wedsync.ics"
    path.write_text(path.read_text().replace("SUMMARY:Jane & John Smith", "SUMMARY:Their title"))
    edit_event(store, ev, title="Our title")
    assert cli("sync").exit_code == 0
    [c] = cli("conflicts", "list", "--json").json["conflicts"]
    monkeypatch.setenv("WEDSYNC_NOW", SATURDAY)
    r = cli("conflicts", "resolve", str(c["id"]), "--keep", "remote")
    assert r.exit_code == 2 and "wedding-day protocol" in r.stderr and "--force" in r.stderr
    assert len(cli("conflicts", "list", "--json").json["conflicts"]) == 1  # untouched
    r = cli("conflicts", "resolve", str(c["id"]), "--keep", "remote", "--force")
    assert r.exit_code == 0, r.stderr
    assert cli("conflicts", "list", "--json").json["conflicts"] == []
    assert [d["decision"] for d in store.query("SELECT decision FROM protocol_decisions WHERE subject LIKE "
                                               "'resolve conflict%' ORDER BY id")] == ["refuse", "force"]


def test_auth_logout_of_a_calendar_provider_needs_force_on_a_wedding_day(cli, config_file, tmp_path, monkeypatch, memory_keyring):
    config_file.write_text('timezone = "Europe/London"\n[calendars.work]\nprovider = "google"\ncalendar = "primary"\n')
    token = json.dumps({"access_token": "a", "refresh_token": "r", "expires_at": 2000000000, "client_id": "c"})
    assert cli("auth", "set", "google", "--from-file", "-", input=token).exit_code == 0
    assert cli("auth", "set", "resend", "--from-file", "-", input='{"api_key": "re_x"}').exit_code == 0
    monkeypatch.setenv("WEDSYNC_NOW", SATURDAY)
    r = cli("auth", "logout", "google")
    assert r.exit_code == 2 and "--force" in r.stderr
    assert cli("auth", "logout", "resend").exit_code == 0  # no calendar depends on it
    assert cli("auth", "logout", "google", "--force").exit_code == 0
    status = cli("auth", "status", "--json")
    assert "google" in status.stdout  # still listed (configured) but no longer stored
    monkeypatch.setenv("WEDSYNC_NOW", WEDNESDAY)
    assert cli("auth", "logout", "google").exit_code == 0  # off the protocol: no --force needed


def test_webhooks_disable_needs_force_on_a_wedding_day(cli, config_file, monkeypatch):
    config_file.write_text('timezone = "Europe/London"\n[webhooks.zap]\nurl = "https://hooks.example.com/x"\n'
                           'events = ["client.*"]\n')
    monkeypatch.setenv("WEDSYNC_NOW", SATURDAY)
    r = cli("webhooks", "disable", "zap")
    assert r.exit_code == 2 and "--force" in r.stderr
    assert cli("webhooks", "list", "--json").json["endpoints"][0]["enabled"] is True
    assert cli("webhooks", "disable", "zap", "--force").exit_code == 0
    assert cli("webhooks", "list", "--json").json["endpoints"][0]["enabled"] is False


# -- an inbound bounce stops the sender ---------------------------------------------------------------
def maildir_messages(home: Path) -> list:
    folder = home / "default" / "mail"
    return list(mailbox.Maildir(folder, create=False)) if folder.exists() else []


def test_inbound_bounce_suppresses_the_address_until_cleared(cli, runtime, config_file, home):
    from tests.test_webhooks_inbound import start_server, sw_headers

    config_file.write_text('timezone = "Europe/London"\n[email]\nproviders = ["maildir"]\n')
    # queued before the bounce arrives: refused at delivery, not sent
    from wedsync_cli.email.deliver import queue

    runtime._config = None
    queued_id, _, _, _ = queue(runtime, "test", to="john@example.com")
    client, stop = start_server(runtime)
    try:
        for n, addr in enumerate(("jane@example.com", "john@example.com")):
            body = json.dumps({"type": "email.bounced", "data": {"email_id": f"re_{n}", "to": [addr],
                                                                 "bounce": {"message": "mailbox does not exist"}}})
            r = client.post("/webhooks/resend", content=body, headers=sw_headers(body, f"msg_b{n}", prefix="svix"))
            assert r.status_code == 200 and r.json()["processing"] == "processed", r.text
    finally:
        stop()

    r = cli("send", "test", "--to", "Jane@Example.com", "--json")
    assert r.exit_code == 1
    [m] = r.json["messages"]
    assert m["status"] == "failed" and "jane@example.com" in m["error"]
    assert "jane@example.com" in r.stderr and "wedsync send --unsuppress jane@example.com" in r.stderr
    assert maildir_messages(home) == []

    r = cli("send", "--flush", "--json")
    assert r.exit_code == 1
    assert [(x["id"], x["status"]) for x in r.json["messages"]] == [(queued_id, "failed")]
    assert maildir_messages(home) == []

    listed = cli("send", "--suppressed", "--json").json["suppressions"]
    assert sorted(x["address"] for x in listed) == ["jane@example.com", "john@example.com"]
    assert {x["reason"] for x in listed} == {"bounce"}

    r = cli("send", "--unsuppress", "JANE@example.com")
    assert r.exit_code == 0 and "jane@example.com" in r.stderr
    r = cli("send", "--unsuppress", "jane@example.com")
    assert r.exit_code == 2 and "--suppressed" in r.stderr
    # asked again, the refused message goes out now: once
    r = cli("send", "test", "--to", "jane@example.com", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["messages"][0]["status"] == "sent" and len(maildir_messages(home)) == 1
    # john is still suppressed; the flush refuses nothing new and sends nothing
    assert cli("send", "--flush").exit_code == 0
    assert len(maildir_messages(home)) == 1
