"""OutlookBackend against the Microsoft Graph stand-in (real httpx, retries, refresh, recording)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.calendars.backend_contract import BackendContract
from tests.standins.graph import GraphStandin
from wedsync_cli.calendars.backend import (
    BackendContext,
    CursorExpired,
    EventFields,
    PreconditionFailed,
    uid_for,
)
from wedsync_cli.calendars.outlook import OutlookBackend
from wedsync_cli.clock import FixedClock
from wedsync_cli.errors import AuthRefused, ConfigError
from wedsync_cli.http.client import CallRecorder

LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def standin():
    g = GraphStandin().start()
    yield g
    g.stop()


@pytest.fixture
def outlook(standin, runtime):
    cal = "AAMkCal" + secrets.token_hex(4) + "="
    standin.add_calendar(cal)
    standin.faults.rate = 0
    standin.faults.queue.clear()
    standin.replay = 0
    standin.repeat_items = False
    runtime.credentials.set("outlook", standin.oauth.new_credential(client_secret=None))
    clock = FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    made = []

    def make(calendar=cal, **settings):
        ctx = BackendContext(
            name="office", calendar=calendar,
            provider_config={"base_url": standin.url, "token_url": standin.oauth.token_url,
                             "backoff_base": 0.01, **settings},
            credentials=runtime.credentials, clock=clock, recorder=CallRecorder(),
            state_dir=runtime.paths.state_dir, timezone="Europe/London")
        b = OutlookBackend(ctx)
        made.append(b)
        return b

    make.cal, make.clock, make.runtime = cal, clock, runtime
    yield make
    for b in made:
        b.close()
    standin.faults.rate = 0
    standin.faults.queue.clear()


def timed(title="Smith & Jones wedding", day=20, hour=14):
    return EventFields(title=title, start=datetime(2026, 6, day, hour, 0, tzinfo=LONDON),
                       end=datetime(2026, 6, day, hour + 6, 0, tzinfo=LONDON), tz="Europe/London",
                       location="The Barn", description="Booked via wedsync")


def all_day(title="Engagement shoot"):
    return EventFields(title=title, start=date(2026, 5, 2), end=date(2026, 5, 3), all_day=True)


def test_create_roundtrips_and_carries_our_marker(outlook, standin):
    b = outlook()
    t = b.create(uid_for("ev1"), timed())
    a = b.create(uid_for("ev2"), all_day())
    assert t.ours and t.event_id == "ev1" and t.etag.startswith('W/"')
    assert t.fields.hash() == timed().hash() and a.fields.hash() == all_day().hash()
    got = b.get(t.remote_id)
    assert got.uid == uid_for("ev1") and got.fields.hash() == timed().hash()
    assert got.fields.tz == "Europe/London"
    assert b.find_by_uid(uid_for("ev2")).remote_id == a.remote_id
    assert b.find_by_uid(uid_for("nope")) is None
    sent = [r for r in standin.server.requests if r.method == "POST" and "/events" in r.path][-1]
    assert sent.json()["transactionId"] == uid_for("ev2")
    assert 'outlook.timezone="UTC"' in sent.headers["prefer"]


def test_retried_create_is_deduplicated_by_transaction_id(outlook, standin):
    b = outlook()
    standin.lose_write_answers = 1  # applied, answer lost (503): the retry carries the same transactionId
    ev = b.create(uid_for("dup"), timed())
    again = b.create(uid_for("dup"), timed())
    assert ev.remote_id == again.remote_id
    assert len(standin.live_events(outlook.cal)) == 1


def test_delta_rounds_follow_next_links_and_store_the_delta_link(outlook, standin):
    b = outlook(page_size=3)
    evs = [b.create(uid_for(f"e{i}"), timed(f"W{i}", day=1 + i)) for i in range(7)]
    standin.put_event(outlook.cal, {"subject": "Dentist", "start": {"dateTime": "2026-07-01T09:00:00", "timeZone": "UTC"},
                                    "end": {"dateTime": "2026-07-01T10:00:00", "timeZone": "UTC"}})
    full = b.changes(None)
    assert full.complete and full.requests == 3
    assert len(full.items) == 8 and sum(1 for i in full.items if i.ours) == 7
    link = full.cursor["delta_link"]
    assert "$deltatoken=" in link and link.startswith(standin.url)
    first = [r for r in standin.server.requests if r.path.endswith("/calendarView/delta")][-3]
    assert first.arg("startDateTime") == "2025-06-01T00:00:00Z" and first.arg("endDateTime") == "2029-05-31T00:00:00Z"

    none = b.changes(full.cursor)
    assert none.items == [] and none.requests == 1 and not none.complete

    b.update(evs[0], timed("Renamed", day=1))
    b.delete(evs[1])
    standin.remove_event(evs[2].remote_id)
    moved = standin.put_event(outlook.cal, {"start": {"dateTime": "2031-01-01T10:00:00", "timeZone": "UTC"},
                                            "end": {"dateTime": "2031-01-01T11:00:00", "timeZone": "UTC"}},
                              eid=evs[3].remote_id)  # moved out of the window: @removed, but not deleted
    standin.replay = 2
    standin.repeat_items = True
    inc = b.changes(none.cursor)
    by_id = {i.remote_id: i for i in inc.items}
    assert len(inc.items) == len(by_id)  # repeats collapsed
    changed = {e.remote_id for e in evs[:4]}
    assert changed <= set(by_id) and len(set(by_id) - changed) <= 2  # + the 2 replayed older changes
    assert by_id[evs[0].remote_id].fields.title == "Renamed"
    assert by_id[evs[1].remote_id].deleted and by_id[evs[2].remote_id].deleted
    out = by_id[moved["id"]]
    assert not out.deleted and out.ours and out.fields.start.year == 2031


def test_expired_delta_link_raises_cursor_expired(outlook, standin):
    b = outlook()
    b.create(uid_for("x"), timed())
    cursor = b.changes(None).cursor
    standin.expire_delta_tokens()
    with pytest.raises(CursorExpired):
        b.changes(cursor)
    standin.expiry_status = 400  # some tenants answer 400 syncStateNotFound
    try:
        cursor = b.changes(None).cursor
        standin.expire_delta_tokens()
        with pytest.raises(CursorExpired):
            b.changes(cursor)
    finally:
        standin.expiry_status = 410


def test_stale_change_key_takes_the_conflict_path(outlook, standin):
    b = outlook()
    ev = b.create(uid_for("c"), timed())
    standin.put_event(outlook.cal, {"subject": "Edited in Outlook"}, eid=ev.remote_id)
    with pytest.raises(PreconditionFailed):
        b.update(ev, timed("Ours"))
    with pytest.raises(PreconditionFailed):
        b.delete(ev)
    fresh = b.get(ev.remote_id)
    assert fresh.fields.title == "Edited in Outlook"
    b.delete(fresh)
    b.delete(fresh)
    assert standin.live_events(outlook.cal) == []


def test_429_waits_exactly_retry_after(outlook, standin):
    b = outlook()
    standin.faults.retry_after = "7"
    standin.faults.queue[:] = ["429", "429"]
    t0 = outlook.clock.now()
    try:
        b.changes(None)
    finally:
        standin.faults.retry_after = "0"
    assert (outlook.clock.now() - t0).total_seconds() == 14


def test_missing_calendar_is_a_config_error_naming_it(outlook):
    b = outlook(calendar="AAMkNoSuchCalendar=")
    with pytest.raises(ConfigError) as exc:
        b.changes(None)
    assert "AAMkNoSuchCalendar=" in exc.value.sentence()
    with pytest.raises(ConfigError):
        b.check()


def test_default_calendar_uses_me_calendar_view(outlook, standin):
    b = outlook(calendar="primary")
    b.check()
    b.create(uid_for("d"), timed())
    assert b.changes(None).items
    assert any(r.path == "/v1.0/me/calendarView/delta" for r in standin.server.requests)


def test_refresh_rotates_the_refresh_token(outlook, standin):
    rt = outlook.runtime
    cred = standin.oauth.new_credential(client_secret=None, expires_at=outlook.clock.now().timestamp() - 1)
    rt.credentials.set("outlook", cred)
    b = outlook()
    b.check()
    stored = rt.credentials.get("outlook")
    assert stored["refresh_token"] != cred["refresh_token"]  # Microsoft rotates on every use
    token_call = [r for r in standin.server.requests if r.path.endswith("/oauth2/v2.0/token")][-1]
    assert b"offline_access" in token_call.body and b"client_secret" not in token_call.body
    standin.oauth.expire_access_tokens()
    b.check()  # 401 -> refresh with the rotated token -> retry
    assert rt.credentials.get("outlook")["refresh_token"] != stored["refresh_token"]


def test_revoked_sign_in_is_auth_refused(outlook, standin):
    standin.oauth.revoke_all()
    with pytest.raises(AuthRefused) as exc:
        outlook().changes(None)
    assert "wedsync auth login outlook" in exc.value.sentence() and exc.value.exit_code == 77


def test_thirty_percent_faults_converge_without_duplicates(outlook, standin):
    b = outlook(max_attempts=12)
    standin.faults.seed = 11
    standin.faults.__post_init__()
    standin.faults.kinds = ["429", "500", "503", "504", "drop"]
    standin.faults.retry_after = "0"
    standin.faults.rate = 0.3
    evs = [b.create(uid_for(f"f{i}"), timed(f"W{i}", day=1 + i)) for i in range(15)]
    for ev in evs[:5]:
        b.update(ev, timed(ev.fields.title + " moved", day=ev.fields.start.day, hour=15))
    listing = b.changes(None)
    standin.faults.rate = 0
    assert standin.faults.injected > 0
    assert len(standin.live_events(outlook.cal)) == 15
    assert sorted(i.event_id for i in listing.items) == sorted(f"f{i}" for i in range(15))
    assert standin.max_in_flight <= 4


class TestOutlookContract(BackendContract):
    """The shared backend contract (vdirsyncer-style) against the Graph stand-in."""

    @pytest.fixture
    def backend(self, outlook):
        return outlook()

    @pytest.fixture
    def add_foreign(self, backend, standin, outlook):
        def add(title: str = "Dentist") -> str:
            return standin.put_event(outlook.cal, {
                "subject": title, "start": {"dateTime": "2027-06-01T09:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2027-06-01T10:00:00", "timeZone": "UTC"}})["id"]

        return add

    @pytest.fixture
    def edit_out_of_band(self, backend, standin, outlook):
        def edit(remote, title: str) -> None:
            standin.put_event(outlook.cal, {"subject": title}, eid=remote.remote_id)

        return edit


def test_timeouts_are_retried_and_creates_stay_single(outlook, standin):
    b = outlook(timeout=0.2)
    standin.faults.timeout_s = 0.6
    standin.faults.queue[:] = ["timeout"]
    ev = b.create(uid_for("slow"), timed())
    assert standin.faults.queue == [] and ev.ours
    assert len(standin.live_events(outlook.cal)) == 1
    calls = b.ctx.recorder.drain()
    assert [c.outcome for c in calls if c.operation == "events.create"] == ["timeout", "ok"]


def test_outlook_device_code_login_stores_the_contract_shape(standin, runtime, monkeypatch, tmp_path):
    """msal's device flow, end to end against the stand-in's identity endpoints (msal insists on an
    https authority, so a requests adapter sends login.microsoftonline.com to the loopback server)."""
    import json

    import requests
    from requests.adapters import HTTPAdapter

    from wedsync_cli.auth_flows import outlook as outlook_flow

    class Loopback(HTTPAdapter):
        def send(self, request, **kw):
            request.url = request.url.replace("https://login.microsoftonline.com", standin.url)
            return super().send(request, **kw)

    session = requests.Session()
    session.mount("https://login.microsoftonline.com", Loopback())
    monkeypatch.setattr(runtime, "provider_settings",
                        lambda p: {"client_id": "11111111-2222-3333-4444-555555555555"} if p == "outlook" else {})
    shown = []
    value = outlook_flow.login(runtime, notify=shown.append, http_client=session)
    assert "microsoft.com/devicelogin" in shown[0]
    stored = runtime.credentials.get("outlook")
    assert stored == value and stored["client_id"] == "11111111-2222-3333-4444-555555555555"
    assert set(stored) == {"access_token", "refresh_token", "expires_at", "client_id", "tenant", "scopes"}
    assert stored["refresh_token"] in standin.oauth.refresh_tokens and len(json.dumps(stored)) < 2560


def test_html_bodies_and_seven_digit_fractions_are_read_as_plain_values():
    from wedsync_cli.calendars.outlook import graph_to_fields

    f = graph_to_fields({
        "subject": "Tasting", "isAllDay": False, "originalStartTimeZone": "Europe/London",
        "body": {"contentType": "html", "content": "<html><body><p>Menu &amp; wine</p><br>at 2pm</body></html>"},
        "start": {"dateTime": "2026-06-20T13:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-06-20T14:30:00.1234567", "timeZone": "UTC"},
        "location": {"displayName": "Kitchen"}})
    assert f.description == "Menu & wine\n\nat 2pm"
    assert f.start == datetime(2026, 6, 20, 14, 0, tzinfo=LONDON) and f.tz == "Europe/London"
    assert f.start.utcoffset().total_seconds() == 3600
