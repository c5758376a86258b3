"""Standard Webhooks signing/verification and the SSRF guard (pure logic, checked against the
official `standardwebhooks` library and the spec's test vector)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from wedsync_cli.webhooks import signing
from wedsync_cli.webhooks.ssrf import DestinationRefused, check_destination

VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "ts": 1614265330,
    "body": '{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


def test_spec_test_vector():
    assert signing.sign(VECTOR["secret"], VECTOR["id"], VECTOR["ts"], VECTOR["body"]) == VECTOR["signature"]
    ts = datetime.fromtimestamp(VECTOR["ts"], tz=UTC)
    assert Webhook(VECTOR["secret"]).sign(msg_id=VECTOR["id"], timestamp=ts, data=VECTOR["body"]) == VECTOR["signature"]


def test_our_headers_verify_with_the_official_library():
    now = int(time.time())
    body = b'{"type":"client.created","timestamp":"2026-06-01T09:00:00+00:00","data":{"id":"c1","name":"J\xc3\xa9"}}'
    headers = signing.signed_headers(VECTOR["secret"], "msg_abc", now, body)
    assert Webhook(VECTOR["secret"]).verify(body, headers)["data"]["name"] == "Jé"


def test_verify_accepts_official_signatures_and_rotation_lists():
    now = int(time.time())
    body = b'{"a":1}'
    official = Webhook(VECTOR["secret"]).sign("msg_1", datetime.fromtimestamp(now, tz=UTC), body.decode())
    other = "v1," + base64.b64encode(b"x" * 32).decode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now),
               "webhook-signature": f"v1a,abc {other} {official}"}
    assert signing.verify(VECTOR["secret"], headers, body, now=now) == "msg_1"


@pytest.mark.parametrize("mutate, reason", [
    (lambda h: h.update({"webhook-signature": "v1,bogus= v1,%%%"}), "no matching"),
    (lambda h: h.update({"webhook-signature": "garbage-without-comma"}), "no matching"),
    (lambda h: h.update({"webhook-timestamp": "not-a-number"}), "malformed"),
    (lambda h: h.update({"webhook-timestamp": str(int(time.time()) - 301)}), "seconds away"),
    (lambda h: h.update({"webhook-timestamp": str(int(time.time()) + 301)}), "seconds away"),
    (lambda h: h.pop("webhook-id"), "missing"),
    (lambda h: h.update({"webhook-id": "a.b"}), "malformed"),
])
def test_verify_rejects_bad_headers_with_invalid_signature_only(mutate, reason):
    now = int(time.time())
    body = b'{"a":1}'
    headers = signing.signed_headers(VECTOR["secret"], "msg_1", now, body)
    mutate(headers)
    with pytest.raises(signing.InvalidSignature, match=reason):
        signing.verify(VECTOR["secret"], headers, body, now=now)


def test_tampered_body_is_rejected():
    now = int(time.time())
    headers = signing.signed_headers(VECTOR["secret"], "msg_1", now, b'{"a":1}')
    with pytest.raises(signing.InvalidSignature):
        signing.verify(VECTOR["secret"], headers, b'{"a":2}', now=now)


def test_message_id_is_stable_and_has_no_dots():
    a = signing.message_id_for("webhook:zap:17")
    assert a == signing.message_id_for("webhook:zap:17") != signing.message_id_for("webhook:zap:18")
    assert a.startswith("msg_") and "." not in a


# -- SSRF --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, why", [
    ("http://127.0.0.1:8080/x", "loopback"),
    ("http://10.1.2.3/x", "private"),
    ("http://192.168.1.1/x", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[::1]/x", "loopback"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"),
    ("http://224.0.0.1/x", "multicast"),
    ("http://0.0.0.0/x", "unspecified"),
    ("http://240.0.0.1/x", "reserved"),
])
def test_ssrf_refuses_non_public_addresses(url, why):
    with pytest.raises(DestinationRefused, match=why):
        check_destination(url)


def test_ssrf_checks_every_resolved_address_and_pins_the_checked_one():
    def rebinding(host, port):
        return ["93.184.216.34", "10.0.0.5"]

    with pytest.raises(DestinationRefused, match=r"hooks.example.com \(10.0.0.5\) is a private"):
        check_destination("https://hooks.example.com/x", resolver=rebinding)
    dest = check_destination("https://hooks.example.com:8443/in?a=1", resolver=lambda h, p: ["93.184.216.34"])
    assert dest.url == "https://93.184.216.34:8443/in?a=1"
    assert dest.host == "hooks.example.com" and dest.host_header == "hooks.example.com:8443"


def test_ssrf_allow_private_and_other_refusals():
    assert check_destination("http://127.0.0.1:9/x", allow_private=True).ip == "127.0.0.1"
    with pytest.raises(DestinationRefused, match="scheme"):
        check_destination("file:///etc/passwd")
    with pytest.raises(DestinationRefused, match="user name or password"):
        check_destination("https://u:p@93.184.216.34/")
    with pytest.raises(DestinationRefused, match="does not resolve"):
        check_destination("https://no-such-host.invalid/")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=24, max_size=64), body=st.text(max_size=300),
       msg_id=st.from_regex(r"msg_[A-Za-z0-9_-]{1,40}", fullmatch=True),
       ts=st.integers(min_value=1_000_000_000, max_value=4_000_000_000))
def test_sign_matches_the_official_library_for_any_input(key, body, msg_id, ts):
    secret = "whsec_" + base64.b64encode(key).decode()
    official = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body)
    assert signing.sign(secret, msg_id, ts, body) == official
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": official}
    assert signing.verify(secret, headers, body.encode(), now=ts) == msg_id
