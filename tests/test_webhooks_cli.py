"""`webhook-replay` and `webhooks ...` as users run them (in-process CLI, isolated WEDSYNC_HOME),
against a real loopback receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.standins.webhook_receiver import WebhookReceiver
from tests.support.cli import ROOT
from wedsync_cli import notify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(scope="module")
def rx():
    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def setup(cli, config_file, rx, runtime):
    rx.reset()
    config_file.write_text(
        f'[webhooks.zap]\nurl = "{rx.url("zap")}"\nevents = ["client.*"]\nallow_private = true\n'
        f'retry_schedule = [3600]\n'  # retries never come due during a test (real clock)
        f'[webhooks.site]\nurl = "{rx.url("site")}"\nevents = ["wedding.*"]\nallow_private = true\n')
    r = cli("auth", "set", "webhook:zap", "--from-file", "-", input=json.dumps({"secret": SECRET}))
    assert r.exit_code == 0, r.stderr
    cli("auth", "set", "webhook:site", "--from-file", "-", input=json.dumps({"secret": SECRET}))

    def emit(type_, data):
        with runtime.store.transaction():
            notify.emit(runtime.store, type_, data)

    return emit


def test_replay_filters_counts_and_keeps_webhook_id(cli, setup, rx):
    emit = setup
    rx.always("zap", 500)
    emit("client.created", {"id": "c1"})
    emit("client.created", {"id": "c2"})
    emit("client.updated", {"id": "c3"})
    emit("wedding.booked", {"id": "w1"})
    r = cli("webhooks", "flush", "--json")
    assert r.exit_code == 0 and r.json["retry"] == 3 and r.json["delivered"] == 1
    first_ids = rx.ids("zap")

    dry = cli("webhook-replay", "--dry-run", "--json")
    assert dry.exit_code == 0
    assert {k: dry.json[k] for k in ("matched", "replayed", "succeeded", "failed", "dry_run")} == \
        {"matched": 3, "replayed": 0, "succeeded": 0, "failed": 0, "dry_run": True}
    assert len(rx.ids("zap")) == 3  # a dry run sends nothing

    assert cli("webhook-replay", "--event", "client.updated", "--dry-run", "--json").json["matched"] == 1
    assert cli("webhook-replay", "--endpoint", "site", "--dry-run", "--json").json["matched"] == 0
    assert cli("webhook-replay", "--since", "2h", "--dry-run", "--json").json["matched"] == 3
    assert cli("webhook-replay", "--until", "2000-01-01", "--dry-run", "--json").json["matched"] == 0

    rx.always("zap", 200)
    r = cli("webhook-replay", "--endpoint", "zap", "--event", "client.created", "--limit", "1", "--json")
    assert r.exit_code == 0, r.stderr
    assert {k: r.json[k] for k in ("matched", "replayed", "succeeded", "failed", "dry_run")} == \
        {"matched": 1, "replayed": 1, "succeeded": 1, "failed": 0, "dry_run": False}
    r = cli("webhook-replay", "--json")
    assert (r.json["matched"], r.json["succeeded"]) == (2, 2)
    assert sorted(set(rx.ids("zap"))) == sorted(set(first_ids))  # same webhook-id on replay
    for req in rx.received("zap")[3:]:
        Webhook(SECRET).verify(req.body, req.headers)  # fresh timestamp + signature

    # force a resend of a delivered one, by webhook-id
    wid = first_ids[0]
    r = cli("webhook-replay", "--id", wid, "--status", "delivered", "--json")
    assert (r.json["matched"], r.json["succeeded"]) == (1, 1) and rx.ids("zap")[-1] == wid
    assert cli("webhook-replay", "--json").json["matched"] == 0


def test_replay_that_fails_again_exits_1_with_json_and_one_sentence(cli, setup, rx):
    setup("client.created", {"id": "c1"})
    rx.always("zap", 503)
    cli("webhooks", "flush")
    r = cli("webhook-replay", "--status", "failed", "--json")
    assert r.exit_code == 1
    assert (r.json["matched"], r.json["replayed"], r.json["failed"]) == (1, 1, 1)
    assert r.stderr.strip().count("\n") == 0 and "failed again" in r.stderr and "Traceback" not in r.stderr


def test_replay_usage_errors(cli, setup):
    r = cli("webhook-replay", "--since", "last tuesday")
    assert r.exit_code == 2 and "--since" in r.stderr and "Traceback" not in r.stderr
    r = cli("webhook-replay", "--endpoint", "nope")
    assert r.exit_code == 2 and "nope" in r.stderr
    r = cli("webhook-replay", "--since", "1d", "--until", "3d")
    assert r.exit_code == 2
    assert cli("webhook-replay", "--status", "weird").exit_code == 2
    assert cli("webhook-replay", "--limit", "0").exit_code == 2


def test_deliveries_show_enable_disable(cli, setup, rx):
    setup("client.created", {"id": "c1"})
    rx.then("zap", 500, body={"error": "boom"})
    cli("webhooks", "flush")
    rows = cli("webhooks", "deliveries", "--status", "failed", "--json").json["deliveries"]
    assert len(rows) == 1 and rows[0]["endpoint"] == "zap" and rows[0]["event"] == "client.created"
    shown = cli("webhooks", "show", str(rows[0]["id"]), "--json").json
    (att,) = shown["attempts"]
    assert att["status_code"] == 500 and "boom" in att["response"]["body"]
    assert att["request"]["headers"]["webhook-id"] == rows[0]["webhook_id"]
    assert SECRET not in json.dumps(shown)
    human = cli("webhooks", "show", rows[0]["webhook_id"])
    assert human.exit_code == 0 and "HTTP 500" in human.stdout and "status retry, 1/2 attempts" in human.stdout
    assert shown["tries"] == 1
    assert cli("webhooks", "show", "999").exit_code == 2

    assert cli("webhooks", "disable", "zap").exit_code == 0
    listed = {e["name"]: e for e in cli("webhooks", "list", "--json").json["endpoints"]}
    assert listed["zap"]["enabled"] is False and listed["site"]["enabled"] is True
    assert cli("webhooks", "enable", "zap").exit_code == 0
    assert cli("webhooks", "enable", "ghost").exit_code == 78


def test_webhooks_test_sends_a_signed_ping(cli, setup, rx):
    r = cli("webhooks", "test", "site", "--json")
    assert r.exit_code == 0 and r.json["ok"] is True
    (req,) = rx.received("site")
    assert Webhook(SECRET).verify(req.body, req.headers)["type"] == "webhook.test"
    rx.always("site", 404)
    r = cli("webhooks", "test", "site")
    assert r.exit_code == 69 and "404" in r.stderr


def test_inbound_replay_reprocesses_stored_events(cli, setup, runtime):
    from wedsync_cli.webhooks import inbound

    runtime.credentials.set("inbound:tave", {"secret": "tave-token-123456"})
    row_id, _ = inbound.store_event(runtime.store, "tave", "sha256:x", {}, json.dumps({"event": "job.created"}).encode())
    assert inbound.process_stored(runtime, row_id) == "failed"
    dry = cli("webhook-replay", "--inbound", "--dry-run", "--json")
    assert dry.json["matched"] == 1 and dry.json["replayed"] == 0
    r = cli("webhook-replay", "--inbound", "--status", "failed", "--json")
    assert r.exit_code == 1 and (r.json["matched"], r.json["replayed"], r.json["failed"]) == (1, 1, 1)
    assert runtime.store.scalar("SELECT attempts FROM inbound_events WHERE id=?", [row_id]) == 2


def test_serve_as_a_subprocess(cli_subprocess, tmp_path):
    r = cli_subprocess("auth", "set", "inbound:zapier", "--from-file", "-", input=json.dumps({"secret": SECRET}))
    assert r.exit_code == 0, r.stderr
    env = {**os.environ, **cli_subprocess.env, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "wedsync_cli", "webhooks", "serve", "--port", "0"], env=env,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stderr.readline()
        assert "Receiving webhooks on http://127.0.0.1:" in line, line
        base = line.split("http://", 1)[1].split("/webhooks", 1)[0]
        body = json.dumps({"type": "ping"})
        from datetime import UTC, datetime
        ts = int(time.time())
        headers = {"webhook-id": "msg_s1", "webhook-timestamp": str(ts),
                   "webhook-signature": Webhook(SECRET).sign("msg_s1", datetime.fromtimestamp(ts, tz=UTC), body)}
        ok = httpx.post(f"http://{base}/webhooks/zapier", content=body, headers=headers, timeout=10)
        assert ok.status_code == 200
        bad = httpx.post(f"http://{base}/webhooks/zapier", content=body,
                         headers={**headers, "webhook-signature": "v1,%%%"}, timeout=10)
        assert bad.status_code == 401
        assert httpx.post(f"http://{base}/webhooks/nobody", content=body, timeout=10).status_code == 404
    finally:
        p.terminate()
        p.wait(timeout=10)
        p.stderr.close()


def test_send_flush_delivers_webhooks_too(cli, setup, rx):
    setup("wedding.booked", {"id": "w1"})
    r = cli("send", "--flush", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["webhooks"]["delivered"] == 1
    (req,) = rx.received("site")
    assert Webhook(SECRET).verify(req.body, req.headers)["type"] == "wedding.booked"


def test_big_replay_asks_on_a_terminal_but_never_without_one(cli, setup, rx, monkeypatch):
    from wedsync_cli.cli.context import AppContext

    rx.always("zap", 500)
    for i in range(21):
        setup("client.created", {"id": f"c{i}"})
    cli("webhooks", "flush")
    rx.always("zap", 200)
    monkeypatch.setattr(AppContext, "interactive", property(lambda self: True))
    r = cli("webhook-replay", input="n\n")
    assert r.exit_code == 0 and "Replay 21 deliveries?" in r.stderr and "Nothing was replayed" in r.stderr
    assert len(rx.received("zap")) == 21  # only the first attempts
    monkeypatch.setattr(AppContext, "interactive", property(lambda self: False))
    r = cli("webhook-replay", "--json")  # cron / scripts: no prompt
    assert r.exit_code == 0 and (r.json["replayed"], r.json["succeeded"]) == (21, 21)


def test_flush_without_a_signing_secret_exits_78_and_keeps_deliveries(cli, setup, rx):
    setup("client.created", {"id": "c1"})
    assert cli("auth", "logout", "webhook:zap").exit_code == 0
    r = cli("webhooks", "flush")
    assert r.exit_code == 78 and "auth set webhook:zap" in r.stderr
    assert rx.received("zap") == []
    assert cli("webhooks", "deliveries", "--status", "pending", "--json").json["deliveries"][0]["endpoint"] == "zap"


def test_a_real_import_reaches_the_endpoints(cli, setup, rx, tmp_path):
    csv = tmp_path / "clients.csv"
    csv.write_text("First Name,Last Name,Email,Wedding Date,Venue\n"
                   "Jane,Doe,jane@example.com,2026-09-12,Kew Gardens\n")
    r = cli("import", "csv", str(csv))
    assert r.exit_code == 0, r.stderr
    r = cli("send", "--flush", "--json")
    assert r.exit_code == 0, r.stderr
    zap_types = [json.loads(q.body)["type"] for q in rx.received("zap")]
    site_types = [json.loads(q.body)["type"] for q in rx.received("site")]
    assert zap_types == ["client.created"]          # events = ["client.*"]
    assert "wedding.booked" in site_types and all(t.startswith("wedding.") for t in site_types)
    for q in rx.received():
        Webhook(SECRET).verify(q.body, q.headers)
