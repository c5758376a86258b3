"""Outbound delivery against a real loopback receiver: the real httpx client, the shared outbox,
signatures checked with the official `standardwebhooks` library. Time is a FixedClock."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from tests.standins.webhook_receiver import WebhookReceiver
from wedsync_cli import notify
from wedsync_cli.clock import FixedClock
from wedsync_cli.webhooks import dispatch, state

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(scope="module")
def rx():
    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def hooks(runtime, config_file, rx):
    """Configure endpoints: hooks({"zap": {"events": [...]}, ...}) -> runtime."""
    rx.reset()
    # Real "now", so the official library's ±5 min check passes on what we signed.
    runtime._clock = FixedClock(datetime.now(UTC).replace(microsecond=0))

    def configure(endpoints: dict[str, dict]) -> object:
        lines = []
        for name, opts in endpoints.items():
            lines.append(f"[webhooks.{name}]")
            opts = {"url": rx.url(name), "allow_private": True, **opts}
            for k, v in opts.items():
                lines.append(f"{k} = {json.dumps(v)}")
            runtime.credentials.set(f"webhook:{name}", {"secret": SECRET})
        config_file.write_text("\n".join(lines) + "\n")
        runtime._config = None
        return runtime

    return configure


def emit(rt, type_, data):
    with rt.store.transaction():
        return notify.emit(rt.store, type_, data)


def flush(rt, **kw):
    return dispatch.flush(rt, rng=random.Random(1), **kw)


def status_of(rt, endpoint):
    return [r["status"] for r in rt.store.query(
        "SELECT status FROM outbox WHERE kind='webhook' AND target=? ORDER BY id", [endpoint])]


def test_events_fan_out_by_glob_and_arrive_signed(hooks, rx):
    rt = hooks({"zap": {"events": ["client.*"]}, "site": {"events": ["wedding.booked", "event.*"]}})
    emit(rt, "client.created", {"id": "c1", "name": "Jane & John"})
    emit(rt, "wedding.booked", {"id": "w1"})
    emit(rt, "sync.failed", {"calendar": "g"})  # nobody subscribed
    res = flush(rt)
    assert res["delivered"] == 2 and res["queued"] == 2
    (zap,), (site,) = rx.received("zap"), rx.received("site")
    parsed = Webhook(SECRET).verify(zap.body, zap.headers)
    assert parsed["type"] == "client.created" and parsed["data"] == {"id": "c1", "name": "Jane & John"}
    assert set(parsed) == {"type", "timestamp", "data"}
    assert Webhook(SECRET).verify(site.body, site.headers)["type"] == "wedding.booked"
    # the cursor moved with the enqueue: a second flush sends nothing again
    assert flush(rt)["attempted"] == 0 and len(rx.received()) == 2
    assert dispatch.webhook_counts(rt.store) == {"pending": 0, "failed": 0, "delivered": 2, "dead": 0}


def test_retry_keeps_webhook_id_with_fresh_timestamp_and_signature(hooks, rx):
    rt = hooks({"zap": {"events": ["*"]}})
    rx.then("zap", 500)
    emit(rt, "client.updated", {"id": "c1"})
    assert flush(rt)["retry"] == 1
    assert dispatch.webhook_counts(rt.store)["failed"] == 1  # waiting for a retry counts as failed
    assert flush(rt)["attempted"] == 0  # not due yet (5 s schedule)
    rt.clock.advance(10)
    assert flush(rt)["delivered"] == 1
    first, second = rx.received("zap")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 10
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert first.body == second.body
    Webhook(SECRET).verify(second.body, second.headers)
    item_id = rt.store.scalar("SELECT id FROM outbox WHERE kind='webhook'")
    attempts = dispatch.outbox(rt).attempts(item_id)
    assert [a["status_code"] for a in attempts] == [500, 200]
    assert "webhook-signature" in attempts[0]["request"] and '"status": 500' in attempts[0]["response"]


def test_retry_after_is_honoured(hooks, rx):
    rt = hooks({"zap": {"events": ["*"]}})
    rx.then("zap", 429, {"Retry-After": "120"})
    emit(rt, "client.updated", {"id": "c1"})
    flush(rt)
    rt.clock.advance(60)  # past the 5 s schedule step, but not past Retry-After
    assert flush(rt)["attempted"] == 0
    rt.clock.advance(61)
    assert flush(rt)["delivered"] == 1


def test_only_2xx_succeeds_and_redirects_are_not_followed(hooks, rx):
    rt = hooks({"zap": {"events": ["*"]}})
    rx.redirect("zap", rx.url("elsewhere"))
    emit(rt, "client.updated", {"id": "c1"})
    res = flush(rt)
    assert res["retry"] == 1 and res["delivered"] == 0
    assert rx.received("elsewhere") == []
    err = rt.store.scalar("SELECT last_error FROM outbox WHERE kind='webhook'")
    assert "redirect" in err and "not followed" in err


def test_410_disables_endpoint_and_raises_alert(hooks, rx):
    rt = hooks({"zap": {"events": ["client.*"]}, "ops": {"events": ["provider.*"]}})
    rx.always("zap", 410)
    for i in range(3):
        emit(rt, "client.updated", {"id": f"c{i}"})
    res = flush(rt, only=["zap"])
    assert "zap" in res["disabled"]
    assert len(rx.received("zap")) <= 4  # the lane stops; at most what was already in flight
    assert state.is_disabled(rt.store, "zap")
    assert "410" in state.endpoint_state(rt.store, "zap")["disabled_reason"]
    # the unsent ones wait (not lost) and nothing more goes out while disabled
    before = len(rx.received("zap"))
    assert "zap" in flush(rt)["skipped"] and len(rx.received("zap")) == before
    # the alert went out to the endpoint that subscribed to provider events
    (alert,) = rx.received("ops")
    assert json.loads(alert.body)["data"]["provider"] == "webhook:zap"
    # re-enabling delivers the waiting ones
    rx.always("zap", 200)
    state.set_disabled(rt.store, "zap", None)
    rt.clock.advance(3600)
    flush(rt)
    assert "pending" not in status_of(rt, "zap") and "retry" not in status_of(rt, "zap")


def test_ssrf_guard_refuses_loopback_without_allow_private(hooks, rx):
    rt = hooks({"zap": {"events": ["*"], "allow_private": False}})
    emit(rt, "client.created", {"id": "c1"})
    res = flush(rt)
    assert res["failed"] == 1 and rx.received() == []
    err = rt.store.scalar("SELECT last_error FROM outbox WHERE kind='webhook'")
    assert "127.0.0.1 is a loopback address" in err and "allow_private" in err


def test_schedule_exhausted_goes_dead(hooks, rx):
    rt = hooks({"zap": {"events": ["*"], "retry_schedule": [1, 1]}})
    rx.always("zap", 503)
    emit(rt, "client.created", {"id": "c1"})
    for _ in range(5):
        flush(rt)
        rt.clock.advance(2)
    assert status_of(rt, "zap") == ["dead"] and len(rx.received("zap")) == 3
    assert dispatch.webhook_counts(rt.store)["dead"] == 1


def test_endpoint_failing_for_days_is_disabled(hooks, rx):
    rt = hooks({"zap": {"events": ["*"], "disable_after_days": 1}})
    rx.always("zap", 500)
    emit(rt, "client.created", {"id": "c1"})
    flush(rt)
    assert not state.is_disabled(rt.store, "zap")
    for _ in range(6):  # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h ... > 1 day in total
        rt.clock.advance(40000)
        flush(rt)
    assert state.is_disabled(rt.store, "zap")
    assert "failed since" in state.endpoint_state(rt.store, "zap")["disabled_reason"]
    assert rt.store.scalar("SELECT COUNT(*) FROM domain_events WHERE type='provider.degraded'") == 1


def test_missing_secret_skips_endpoint_and_keeps_items(hooks, rx):
    rt = hooks({"zap": {"events": ["*"]}})
    rt.credentials.delete("webhook:zap")
    emit(rt, "client.created", {"id": "c1"})
    res = flush(rt)
    assert "auth set webhook:zap" in res["skipped"]["zap"]
    assert status_of(rt, "zap") == ["pending"] and rx.received() == []


def test_per_endpoint_concurrency_is_bounded(hooks, rx):
    rt = hooks({"zap": {"events": ["*"], "concurrency": 3}})
    rx.always("zap", 200, delay=0.02)
    for i in range(30):
        emit(rt, "client.created", {"id": f"c{i}"})
    assert flush(rt)["delivered"] == 30
    assert 1 <= rx.max_inflight <= 3
    assert len(set(rx.ids("zap"))) == 30


def test_https_delivery_goes_to_the_checked_ip_with_the_name_for_tls_and_host(tmp_path):
    """The SSRF guard pins the resolved address; TLS still verifies the certificate for the name."""
    import datetime as dt
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["host"] = self.headers["Host"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    httpd.socket = sctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    port = httpd.server_address[1]
    try:
        ep = dispatch.Endpoint(name="tls", url=f"https://hooks.test:{port}/in", events=["*"], allow_private=True)
        client = httpx.Client(verify=ssl.create_default_context(cadata=cert_pem.decode()), follow_redirects=False)
        att = dispatch.send_once(client, ep, SECRET, "msg_tls", {"type": "t", "timestamp": "x", "data": {}},
                                 FixedClock(datetime.now(UTC)), resolver=lambda host, p: ["127.0.0.1"])
        client.close()
        assert att.outcome == "ok", att.error
        assert seen["host"] == f"hooks.test:{port}" and json.loads(seen["body"])["type"] == "t"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_deliveries_for_a_removed_endpoint_fail_instead_of_waiting_forever(hooks, rx):
    rt = hooks({"zap": {"events": ["*"]}, "old": {"events": ["*"]}})
    rx.always("old", 500)
    emit(rt, "client.created", {"id": "c1"})
    flush(rt)
    assert status_of(rt, "old") == ["retry"]
    hooks({"zap": {"events": ["*"]}})  # "old" removed from the config
    rt.clock.advance(3600)
    res = flush(rt)
    assert res["failed"] == 1 and status_of(rt, "old") == ["failed"]
    assert "no longer in the config" in rt.store.scalar("SELECT last_error FROM outbox WHERE target='old'")
