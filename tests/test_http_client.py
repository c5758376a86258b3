"""The shared HTTP layer against a real loopback server: retries, Retry-After, 401 refresh, recording."""

from datetime import UTC, datetime

import pytest

from tests.standins.http import Response, StandinServer
from wedsync_cli.clock import FixedClock
from wedsync_cli.errors import AuthRefused, ProviderUnavailable, RateLimited
from wedsync_cli.http import Auth, CallRecorder, HttpClient, RetryPolicy


@pytest.fixture
def server():
    srv = StandinServer()

    @srv.route("GET", "/ok")
    def ok(req):
        return Response(200, {"ok": True})

    @srv.route("GET", "/private")
    def private(req):
        if req.headers.get("authorization") != "Bearer fresh":
            return Response(401, {"error": "expired"})
        return Response(200, {"ok": True})

    with srv:
        yield srv


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 6, 13, 9, tzinfo=UTC))


def client(server, clock, **kw):
    return HttpClient("demo", server.url, clock=clock, recorder=kw.pop("recorder", CallRecorder()),
                      retry=kw.pop("retry", RetryPolicy(jitter=lambda cap: cap)), **kw)


def test_retries_5xx_then_succeeds_and_backs_off_through_the_clock(server, clock):
    server.faults.queue += ["503", "502"]
    server.faults.retry_after = None
    c = client(server, clock)
    t0 = clock.now()
    r = c.get("/ok")
    assert r.status_code == 200
    assert server.count("GET", "/ok") == 3
    # full-jitter cap with jitter=identity: 0.5 then 1.0 seconds, slept on the injected clock
    assert (clock.now() - t0).total_seconds() == pytest.approx(1.5)


def test_retry_after_is_honoured_exactly(server, clock):
    server.faults.queue.append("429")
    server.faults.retry_after = "7"
    c = client(server, clock)
    t0 = clock.now()
    assert c.get("/ok").status_code == 200
    assert (clock.now() - t0).total_seconds() == pytest.approx(7)


def test_long_retry_after_ends_the_run_with_rate_limited(server, clock):
    server.faults.queue.append("429")
    server.faults.retry_after = "3600"
    with pytest.raises(RateLimited) as exc:
        client(server, clock).get("/ok")
    assert exc.value.exit_code == 75


def test_exhausted_retries_raise_unavailable(server, clock):
    server.faults.rate = 1.0
    server.faults.retry_after = None
    with pytest.raises(ProviderUnavailable) as exc:
        client(server, clock, retry=RetryPolicy(max_attempts=3, jitter=lambda c: 0)).get("/ok")
    assert exc.value.exit_code == 69
    assert server.count() == 3


def test_connection_refused_is_unavailable(clock):
    c = HttpClient("nowhere", "http://127.0.0.1:9", clock=clock, retry=RetryPolicy(max_attempts=2, jitter=lambda c: 0))
    with pytest.raises(ProviderUnavailable):
        c.get("/x")


class RefreshingAuth(Auth):
    def __init__(self, works=True):
        self.token = "stale"
        self.works = works
        self.refreshes = 0

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self):
        self.refreshes += 1
        if self.works:
            self.token = "fresh"
        return self.works


def test_401_refreshes_once_and_retries(server, clock):
    auth = RefreshingAuth()
    assert client(server, clock, auth=auth).get("/private").status_code == 200
    assert auth.refreshes == 1


def test_refused_refresh_is_auth_refused(server, clock):
    auth = RefreshingAuth(works=False)
    with pytest.raises(AuthRefused) as exc:
        client(server, clock, auth=auth).get("/private")
    assert exc.value.exit_code == 77
    assert "auth login demo" in exc.value.sentence()


def test_every_call_is_recorded_and_flushed_to_the_store(server, clock, runtime):
    rec = CallRecorder()
    server.faults.queue.append("503")
    server.faults.retry_after = "0"
    c = client(server, clock, recorder=rec)
    c.get("/ok", operation="list")
    assert rec.requests("demo") == 2
    rec.flush(runtime.store)
    rows = runtime.store.query("SELECT provider, operation, status, outcome FROM http_calls ORDER BY id")
    assert rows == [
        {"provider": "demo", "operation": "list", "status": 503, "outcome": "error"},
        {"provider": "demo", "operation": "list", "status": 200, "outcome": "ok"},
    ]
