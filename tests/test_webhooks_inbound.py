"""The inbound receiver over real HTTP (werkzeug server on 127.0.0.1, httpx client), attacked with
bad, stale and malformed signatures; Resend/SendGrid bounces; duplicates processed once."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from standardwebhooks.webhooks import Webhook

from wedsync_cli.clock import FixedClock
from wedsync_cli.webhooks import inbound

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SG_KEY = ec.generate_private_key(ec.SECP256R1())
SG_PUBLIC = base64.b64encode(SG_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def start_server(runtime):
    runtime._config = None
    runtime._clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    for src in ("resend", "zapier"):
        runtime.credentials.set(f"inbound:{src}", {"secret": SECRET})
    runtime.credentials.set("inbound:sendgrid", {"public_key": SG_PUBLIC})
    runtime.credentials.set("inbound:tave", {"secret": "tave-token-123456"})
    srv = inbound.make_server(runtime, "127.0.0.1", 0, max_body=4096)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{srv.server_port}", timeout=10)
    client.rt = runtime

    def stop():
        client.close()
        srv.shutdown()
        t.join()

    return client, stop


@pytest.fixture
def server(runtime):
    client, stop = start_server(runtime)
    yield client
    stop()


def sw_headers(body: str, msg_id: str = "msg_1", prefix: str = "webhook", ts: int | None = None,
               secret: str = SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    sig = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body)
    return {f"{prefix}-id": msg_id, f"{prefix}-timestamp": str(ts), f"{prefix}-signature": sig,
            "content-type": "application/json"}


def sg_headers(body: bytes, ts: int | None = None) -> dict[str, str]:
    ts_s = str(int(time.time()) if ts is None else ts)
    sig = SG_KEY.sign(ts_s.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {inbound.SENDGRID_SIG: base64.b64encode(sig).decode(), inbound.SENDGRID_TS: ts_s}


def rows(rt):
    return rt.store.query("SELECT source, message_id, status, event_type FROM inbound_events ORDER BY id")


def test_standard_webhooks_sender_accepted_and_duplicate_processed_once(server):
    body = json.dumps({"type": "order.paid", "data": {"id": 1}})
    r = server.post("/webhooks/zapier", content=body, headers=sw_headers(body, "msg_dup"))
    assert r.status_code == 200 and r.json()["status"] == "stored"
    again = server.post("/webhooks/zapier", content=body, headers=sw_headers(body, "msg_dup"))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert rows(server.rt) == [{"source": "zapier", "message_id": "msg_dup", "status": "processed",
                                "event_type": "order.paid"}]
    assert server.rt.store.scalar("SELECT attempts FROM inbound_events") == 1


@pytest.mark.parametrize("headers", [
    lambda b: {**sw_headers(b), "webhook-signature": "v1,AAAA"},                      # wrong
    lambda b: sw_headers(b, ts=int(time.time()) - 400),                                # stale
    lambda b: sw_headers(b, ts=int(time.time()) + 400),                                # from the future
    lambda b: {**sw_headers(b), "webhook-signature": "v1,bogus= v1,%%%"},              # library crashes on it
    lambda b: {**sw_headers(b), "webhook-signature": "no-comma-at-all"},               # ValueError in libs
    lambda b: {**sw_headers(b), "webhook-timestamp": "soon"},                          # not a number
    lambda b: {**sw_headers(b), "webhook-timestamp": "1e400"},
    lambda b: {k: v for k, v in sw_headers(b).items() if k != "webhook-id"},           # missing
    lambda b: sw_headers(b, secret="whsec_" + base64.b64encode(b"another-secret-123456789").decode()),
])
def test_bad_signatures_get_401_never_500_and_nothing_stored(server, headers):
    body = json.dumps({"type": "x"})
    r = server.post("/webhooks/zapier", content=body, headers=headers(body))
    assert r.status_code == 401, r.text
    assert rows(server.rt) == []


def test_tampered_body_401(server):
    body = json.dumps({"amount": 1})
    r = server.post("/webhooks/zapier", content=json.dumps({"amount": 1000}), headers=sw_headers(body))
    assert r.status_code == 401


def test_unknown_source_404_oversized_413_wrong_method_405(server):
    body = json.dumps({"type": "x"})
    assert server.post("/webhooks/stripe", content=body, headers=sw_headers(body)).status_code == 404
    server.rt.credentials.delete("inbound:resend")  # known but not set up: cannot verify -> 401
    assert server.post("/webhooks/resend", content=body, headers=sw_headers(body, prefix="svix")).status_code == 401
    assert server.post("/webhooks/..%2Fetc", content=body).status_code == 404
    big = json.dumps({"pad": "x" * 5000})
    assert server.post("/webhooks/zapier", content=big, headers=sw_headers(big)).status_code == 413
    assert server.get("/webhooks/zapier").status_code == 405
    assert rows(server.rt) == []


def queue_email(rt, key, provider_message_id):
    from wedsync_cli.delivery.outbox import Outbox

    box = Outbox(rt.store, rt.clock)
    item_id, _ = box.enqueue("email", key, "jane@example.com", {"subject": "hi"})
    rt.store.execute("UPDATE outbox SET status='sent', provider_message_id=? WHERE id=?",
                     [provider_message_id, item_id])
    return item_id


def test_resend_bounce_marks_message_and_address_and_emits_event(server):
    rt = server.rt
    item_id = queue_email(rt, "booking/1", "49a3999c-0ce1")
    body = json.dumps({"type": "email.bounced", "created_at": "2026-06-01T09:00:00Z",
                       "data": {"email_id": "49a3999c-0ce1", "to": ["Jane@Example.com"],
                                "bounce": {"message": "mailbox does not exist"}}})
    r = server.post("/webhooks/resend", content=body, headers=sw_headers(body, "msg_b1", prefix="svix"))
    assert r.status_code == 200 and r.json()["processing"] == "processed"
    assert rt.store.scalar("SELECT status FROM outbox WHERE id=?", [item_id]) == "bounced"
    assert rt.store.one("SELECT address, reason FROM email_suppressions") == {"address": "jane@example.com",
                                                                               "reason": "bounce"}
    ev = rt.store.one("SELECT type, data FROM domain_events")
    assert ev["type"] == "email.bounced" and json.loads(ev["data"])["message_id"] == item_id
    # a redelivery by Svix of the same message is acknowledged but not processed again
    server.post("/webhooks/resend", content=body, headers=sw_headers(body, "msg_b1", prefix="svix"))
    assert rt.store.scalar("SELECT COUNT(*) FROM domain_events") == 1


def test_sendgrid_signed_event_webhook(server):
    rt = server.rt
    item_id = queue_email(rt, "reminder/7", "Xmsgid123")
    body = json.dumps([
        {"email": "jane@example.com", "event": "bounce", "sg_message_id": "Xmsgid123.filter0001.1",
         "wedsync_id": "reminder/7", "reason": "550 5.1.1 unknown user"},
        {"email": "john@example.com", "event": "delivered", "sg_message_id": "Xother.f"},
    ]).encode()
    r = server.post("/webhooks/sendgrid", content=body, headers=sg_headers(body))
    assert r.status_code == 200 and r.json()["processing"] == "processed"
    assert rt.store.scalar("SELECT status FROM outbox WHERE id=?", [item_id]) == "bounced"
    assert rt.store.scalar("SELECT COUNT(*) FROM email_suppressions") == 1
    # bad / stale / malformed SendGrid signatures
    assert server.post("/webhooks/sendgrid", content=body + b" ", headers=sg_headers(body)).status_code == 401
    assert server.post("/webhooks/sendgrid", content=body,
                       headers=sg_headers(body, ts=int(time.time()) - 600)).status_code == 401
    assert server.post("/webhooks/sendgrid", content=body,
                       headers={**sg_headers(body), inbound.SENDGRID_SIG: "!!notbase64"}).status_code == 401
    assert server.post("/webhooks/sendgrid", content=body,
                       headers={**sg_headers(body), inbound.SENDGRID_SIG: "AAAA"}).status_code == 401


def test_tave_hook_needs_token_and_waits_for_import(server):
    body = json.dumps({"event": "contact.created", "targetId": "01h35ccwymj5ctckp8px1azhg6"})
    assert server.post("/webhooks/tave", content=body).status_code == 401
    assert server.post("/webhooks/tave?token=wrong", content=body).status_code == 401
    r = server.post("/webhooks/tave?token=tave-token-123456", content=body)
    assert r.status_code == 200
    assert r.json()["processing"] == "pending"  # no Táve source configured: kept for replay
    assert rows(server.rt)[0]["event_type"] == "contact.created"


def test_processing_failure_is_kept_for_replay(server):
    rt = server.rt
    body = json.dumps({"event": "job.created"})  # no targetId: processing fails, storage does not
    r = server.post("/webhooks/tave?token=tave-token-123456", content=body)
    assert r.status_code == 200 and r.json()["processing"] == "failed"
    row = rt.store.one("SELECT id, status, error FROM inbound_events")
    assert row["status"] == "failed" and "targetId" in row["error"]
    assert [r["id"] for r in inbound.select_inbound(rt.store)] == [row["id"]]


@pytest.fixture
def tave():
    from tests.standins.tave import TaveStandin

    s = TaveStandin().start()
    yield s
    s.stop()


def test_tave_job_created_fetches_and_imports_it(tave, runtime, config_file):
    config_file.write_text('timezone = "Europe/London"\n[sources.studio]\nprovider = "tave"\n'
                           f'[providers.tave]\nbase_url = "{tave.base_url}"\n')
    runtime.credentials.set("tave", {"api_key": tave.api_key})
    w = tave.add_wedding(("Jane", "Doe", "jane@example.com"), ("John", "Roe", "john@example.com"), "2026-09-12")
    client, stop = start_server(runtime)
    try:
        body = json.dumps({"event": "job.created", "targetId": w["job"]["id"]})
        r = client.post("/webhooks/tave?token=tave-token-123456", content=body)
        assert r.status_code == 200 and r.json()["processing"] == "processed", r.text
        assert runtime.store.scalar("SELECT COUNT(*) FROM weddings WHERE external_id = ?", [w["job"]["id"]]) == 1
        assert runtime.store.scalar("SELECT COUNT(*) FROM clients") == 1
        assert runtime.store.scalar("SELECT outcome FROM job_runs WHERE job = 'sync:studio'") == "ok"
        # a hook for something Táve does not list (yet) stays pending for replay
        body = json.dumps({"event": "contact.created", "targetId": "01h000000000000000000nope0"})
        r = client.post("/webhooks/tave?token=tave-token-123456", content=body)
        assert r.json()["processing"] == "pending"
    finally:
        stop()
