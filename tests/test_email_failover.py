"""Failover without double sends: every row of the research table, against the Resend and SendGrid
stand-ins with the real httpx client, retries and the SQLite outbox (time is a FixedClock)."""

from __future__ import annotations

import socket

import pytest

from tests.standins.resend import ResendStandin
from tests.standins.sendgrid import SendGridStandin
from wedsync_cli.delivery.outbox import Outbox
from wedsync_cli.email.deliver import flush_email
from wedsync_cli.email.providers import OutgoingEmail

RESEND_KEY, SENDGRID_KEY = "re_test_key_123", "SG.test_key_456"


@pytest.fixture(scope="module")
def resend():
    srv = ResendStandin(RESEND_KEY).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def sendgrid():
    srv = SendGridStandin(SENDGRID_KEY).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def clean(resend, sendgrid):
    for srv in (resend, sendgrid):
        srv.reset_requests()
        srv.faults.queue.clear()
        srv.faults.rate = 0
        srv.accepted.clear()
    resend.idem.clear()
    resend.slow_accept = 0
    resend.daily_quota = None
    resend.rate_per_s = None
    resend.api_key = RESEND_KEY
    resend.unverified_domains.clear()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def configure(runtime, config_file, resend_url: str, sendgrid_url: str, providers=("resend", "sendgrid"),
              timeout: float = 0.4):
    config_file.write_text(
        f'[email]\nfrom = "Studio <studio@example.com>"\nproviders = {list(providers)!r}\n'
        f'[providers.resend]\nbase_url = "{resend_url}"\ntimeout = {timeout}\n'
        f'[providers.sendgrid]\nbase_url = "{sendgrid_url}"\ntimeout = {timeout}\n'.replace("'", '"'))
    runtime.credentials.set("resend", {"api_key": RESEND_KEY})
    runtime.credentials.set("sendgrid", {"api_key": SENDGRID_KEY})


def queue(runtime, n: int = 1, prefix: str = "m", **overrides) -> list[int]:
    ob = Outbox(runtime.store, runtime.clock)
    ids = []
    for i in range(n):
        msg = OutgoingEmail(from_="Studio <studio@example.com>", to=[f"couple{i}@example.com"],
                            subject=f"{prefix}-{i}", text="hello")
        payload = {**msg.to_payload(), **overrides}
        ids.append(ob.enqueue("email", f"test/{prefix}/{i}", payload["to"][0], payload, meta={"template": "test"})[0])
    return ids


def row(runtime, item_id):
    return Outbox(runtime.store, runtime.clock).get(item_id)


# outcome at Resend -> (expected status, provider that has it, resend accepted, sendgrid accepted)
MATRIX = {
    "connect_refused": ("sent", "sendgrid", 0, 1),
    "5xx": ("sent", "sendgrid", 0, 1),
    "5xx_non_json": ("sent", "sendgrid", 0, 1),
    "daily_quota": ("sent", "sendgrid", 0, 1),
    "rate_limited_429": ("sent", "resend", 1, 0),
    "concurrent_idempotent_409": ("sent", "resend", 1, 0),
    "dropped_connection": ("sent", "resend", 1, 0),
    "read_timeout_then_answer": ("sent", "resend", 1, 0),
    "validation_422": ("failed", None, 0, 0),
    "unverified_domain_403": ("failed", None, 0, 0),
    "invalid_idempotent_409": ("failed", None, 0, 0),
    "auth_401": ("retry", None, 0, 0),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_failover_matrix(case, runtime, config_file, resend, sendgrid):
    resend_url = f"http://127.0.0.1:{closed_port()}" if case == "connect_refused" else resend.url
    configure(runtime, config_file, resend_url, sendgrid.url)
    (item_id,) = queue(runtime)
    if case == "invalid_idempotent_409":
        # The same key was used earlier with a different body (e.g. a template edited in between).
        resend.idem["/emails test/m/0"] = {"hash": "other", "response": object()}
    fault = {"5xx": "500", "5xx_non_json": "502html", "daily_quota": "quota", "rate_limited_429": "429",
             "concurrent_idempotent_409": "409concurrent", "dropped_connection": "drop", "validation_422": "422",
             "auth_401": "401"}.get(case)
    if fault:
        resend.faults.queue.append(fault)
    if case == "unverified_domain_403":
        resend.unverified_domains.add("example.com")
    if case == "read_timeout_then_answer":
        resend.slow_accept = 1  # accepted, but the first answer arrives after our timeout
    result = flush_email(runtime)
    status, provider, n_resend, n_sendgrid = MATRIX[case]
    item = row(runtime, item_id)
    assert (item.status, item.provider) == (status, provider)
    assert len(resend.accepted) == n_resend and len(sendgrid.accepted) == n_sendgrid
    if provider == "sendgrid":
        assert item.provider_message_id == sendgrid.accepted[0]["message_id"]
        assert sendgrid.accepted[0]["body"]["personalizations"][0]["custom_args"] == {"wedsync_id": "test/m/0"}
    if provider == "resend":
        assert item.provider_message_id == resend.accepted[0]["id"]
        keys = {r.headers.get("idempotency-key") for r in resend.requests}
        assert keys == {"test/m/0"}  # every retry carried the same key
    if status == "failed":
        assert item.last_error and "Resend HTTP" in item.last_error
        assert sendgrid.count() == 0  # no failover for a message the provider refused
        assert result.failed == 1
    if case == "auth_401":
        assert result.auth_error and sendgrid.count() == 0
    log = Outbox(runtime.store, runtime.clock).attempts(item_id)
    assert log and all(a["latency_ms"] is not None or a["outcome"] == "lease_expired" for a in log)


def test_ambiguous_timeout_pins_to_the_same_provider(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url, timeout=0.3)
    (item_id,) = queue(runtime)
    resend.slow_accept, resend.slow_accept_s = 3, 0.8  # every in-run retry times out too
    result = flush_email(runtime)
    item = row(runtime, item_id)
    assert item.status == "retry" and item.meta.get("sticky_provider") == "resend"
    assert result.retry == 1 and sendgrid.count() == 0  # never re-sent through SendGrid
    assert len(resend.accepted) == 1  # Resend did accept it
    assert Outbox(runtime.store, runtime.clock).attempts(item_id)[-1]["outcome"] == "unknown"
    runtime.clock.advance(3600)
    flush_email(runtime)
    item = row(runtime, item_id)
    assert (item.status, item.provider) == ("sent", "resend")
    assert item.provider_message_id == resend.accepted[0]["id"]
    assert len(resend.accepted) == 1 and sendgrid.count() == 0


def test_batches_of_100_and_ids_per_message(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url)
    ids = queue(runtime, 150)
    result = flush_email(runtime)
    assert result.sent == 150
    assert resend.count("POST", "/emails/batch") == 2 and resend.count("POST", "^/emails$") == 0
    mids = {row(runtime, i).provider_message_id for i in ids}
    assert len(mids) == 150 and mids == {a["id"] for a in resend.accepted}


def test_ambiguous_batch_is_resent_whole_with_the_same_key(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url, timeout=0.3)
    ids = queue(runtime, 5)
    resend.slow_accept, resend.slow_accept_s = 3, 0.8
    flush_email(runtime)
    assert {row(runtime, i).status for i in ids} == {"retry"}
    runtime.clock.advance(3600)
    queue(runtime, 2, prefix="later")  # new mail must not join the pinned batch
    flush_email(runtime)
    assert {row(runtime, i).status for i in ids} == {"sent"}
    subjects = resend.subjects()
    assert sorted(subjects) == sorted({*subjects}) and len(subjects) == 7
    batch_keys = [r.headers["idempotency-key"] for r in resend.requests if r.path == "/emails/batch"]
    assert batch_keys[0] == batch_keys[-2] or batch_keys.count(batch_keys[0]) >= 2


def test_strict_batch_with_one_bad_message_sends_the_rest(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url)
    good = queue(runtime, 3)
    (bad,) = queue(runtime, 1, prefix="bad", to=["not-an-address"])
    flush_email(runtime)
    assert {row(runtime, i).status for i in good} == {"sent"}
    assert row(runtime, bad).status == "failed" and "validation_error" in row(runtime, bad).last_error
    assert len(resend.accepted) == 3 and sendgrid.count() == 0


def test_breaker_opens_then_half_open_probe(runtime, config_file, resend, sendgrid):
    from wedsync_cli.delivery.breaker import Breaker

    configure(runtime, config_file, resend.url, sendgrid.url, providers=("resend", "sendgrid"))
    runtime.config  # noqa: B018 - load it before patching anything
    resend.faults.rate, resend.faults.kinds = 1.0, ["500"]
    for i in range(7):  # one message per run: each run makes at most one Resend request
        queue(runtime, 1, prefix=f"run{i}")
        flush_email(runtime)
    assert resend.count("POST") == 5  # after 5 consecutive failures the breaker stops asking
    assert len(sendgrid.accepted) == 7
    assert Breaker(runtime.store, runtime.clock).state("resend") == "open"
    degraded = runtime.store.query("SELECT * FROM domain_events WHERE type = 'provider.degraded'")
    assert len(degraded) == 1
    resend.faults.rate = 0
    runtime.clock.advance(61)  # cooldown over: one probe
    queue(runtime, 1, prefix="probe")
    flush_email(runtime)
    assert len(resend.accepted) == 1
    assert Breaker(runtime.store, runtime.clock).state("resend") == "closed"
    assert runtime.store.scalar("SELECT COUNT(*) FROM domain_events WHERE type = 'provider.recovered'") == 1


def test_wedding_day_trips_the_breaker_sooner(runtime, config_file, resend, sendgrid, monkeypatch):
    import wedsync_cli.email.deliver as deliver

    configure(runtime, config_file, resend.url, sendgrid.url)
    monkeypatch.setattr(deliver, "wedding_day_active", lambda rt: True)
    resend.faults.rate, resend.faults.kinds = 1.0, ["503"]
    for i in range(4):
        queue(runtime, 1, prefix=f"run{i}")
        flush_email(runtime)
    assert resend.count("POST") == 2 and len(sendgrid.accepted) == 4  # open after 2, not 5


def test_auth_refused_pages_once_and_keeps_mail(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url)
    resend.api_key = "re_rotated"  # our stored key no longer works
    ids = queue(runtime, 2)
    r1 = flush_email(runtime)
    r2 = flush_email(runtime)
    assert r1.auth_error and r2.auth_error
    assert {row(runtime, i).status for i in ids} == {"retry"}
    assert sendgrid.count() == 0 and len(resend.accepted) == 0
    events = runtime.store.query("SELECT data FROM domain_events WHERE type = 'provider.degraded'")
    assert len(events) == 1 and "credential" in events[0]["data"]
    resend.api_key = RESEND_KEY
    flush_email(runtime)
    assert {row(runtime, i).status for i in ids} == {"sent"}


def test_rate_limit_pacing_from_headers(runtime, config_file, resend, sendgrid):
    from wedsync_cli.email.resend import ResendProvider

    configure(runtime, config_file, resend.url, sendgrid.url)
    resend.rate_per_s = 1
    p = ResendProvider(runtime, runtime.provider_settings("resend"))
    slept: list[float] = []

    def sleep(s):  # the injected clock's sleep: record the wait and let the stand-in's window pass
        slept.append(s)
        resend._window_start = 0

    runtime.clock.sleep = sleep
    for i in range(3):
        p.send(OutgoingEmail(from_="s@example.com", to=["x@example.com"], subject=f"p{i}", text="t"), f"pace/{i}")
    p.close()
    assert slept == [1.0, 1.0]  # waited out ratelimit-reset before each next request ...
    assert resend.rate_limited == 0 and len(resend.accepted) == 3  # ... so no request was refused


def test_quota_exceeded_moves_the_rest_to_sendgrid(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url)
    resend.daily_quota = 0
    ids = queue(runtime, 3)
    flush_email(runtime)
    assert {row(runtime, i).provider for i in ids} == {"sendgrid"}
    assert len(sendgrid.accepted) == 3


def test_both_providers_down_stays_queued(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url)
    resend.faults.rate = sendgrid.faults.rate = 1.0
    resend.faults.kinds = sendgrid.faults.kinds = ["500"]
    (item_id,) = queue(runtime)
    result = flush_email(runtime)
    assert result.unavailable == 1 and row(runtime, item_id).status == "retry"
    outcomes = [a["outcome"] for a in Outbox(runtime.store, runtime.clock).attempts(item_id)]
    assert outcomes == ["failover", "failover", "unavailable"]


def test_sendgrid_validation_error_is_permanent(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url, providers=("sendgrid",))
    (item_id,) = queue(runtime, to=["bad-address"])
    flush_email(runtime)
    item = row(runtime, item_id)
    assert item.status == "failed" and "SendGrid HTTP 400" in item.last_error


def test_sendgrid_check_uses_sandbox(runtime, config_file, resend, sendgrid):
    from wedsync_cli.registry import load

    configure(runtime, config_file, resend.url, sendgrid.url)
    assert "sandbox" in load("check", "sendgrid")(runtime, "sendgrid")
    assert len(sendgrid.sandboxed) == 1 and not sendgrid.accepted
    assert "resend" in load("check", "resend")(runtime, "resend")


def test_pinned_single_messages_are_retried_one_by_one(runtime, config_file, resend, sendgrid):
    configure(runtime, config_file, resend.url, sendgrid.url, timeout=0.3)
    a = queue(runtime, 1, prefix="a")
    resend.slow_accept, resend.slow_accept_s = 3, 0.8
    flush_email(runtime)  # a: ambiguous, pinned to Resend
    b = queue(runtime, 1, prefix="b")
    resend.slow_accept = 3
    flush_email(runtime)  # a is not due yet; b times out too and is pinned to Resend
    runtime.clock.advance(7200)
    flush_email(runtime)
    assert {row(runtime, i).status for i in a + b} == {"sent"}
    assert sorted(resend.subjects()) == ["a-0", "b-0"]
    assert resend.count("POST", "/emails/batch") == 0  # pinned singles never merged into a batch


def test_sendgrid_429_waits_for_the_reset_epoch(runtime, config_file, resend, sendgrid):
    from wedsync_cli.clock import parse_instant

    configure(runtime, config_file, resend.url, sendgrid.url, providers=("sendgrid",))
    sendgrid.faults.retry_after = "120"
    sendgrid.faults.queue.append("429")
    sendgrid.now = lambda: runtime.clock.now().timestamp()
    try:
        (item_id,) = queue(runtime)
        result = flush_email(runtime)
    finally:
        sendgrid.faults.retry_after = "0"
        sendgrid.now = __import__("time").time
    item = row(runtime, item_id)
    assert item.status == "retry" and result.rate_limited == 1 and item.attempts == 0
    # X-RateLimit-Reset is an epoch: the wait is the distance to it
    wait = (parse_instant(item.not_before) - runtime.clock.now()).total_seconds()
    assert 119 <= wait <= 121


def test_out_of_attempts_is_dead_and_announced(runtime, config_file, resend, sendgrid):
    import json

    configure(runtime, config_file, resend.url, sendgrid.url, providers=("resend",))
    resend.faults.rate, resend.faults.kinds = 1.0, ["500"]
    (item_id,) = queue(runtime)
    for _ in range(8):  # the email policy's max attempts
        flush_email(runtime)
        runtime.clock.advance(86400)  # past any backoff and breaker cooldown
    item = row(runtime, item_id)
    assert item.status == "dead" and item.attempts == 8
    (ev,) = runtime.store.query("SELECT data FROM domain_events WHERE type = 'email.failed'")
    assert json.loads(ev["data"])["status"] == "dead"
    assert flush_email(runtime).ids == []  # dead stays dead until replayed
