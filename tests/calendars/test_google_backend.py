"""GoogleBackend against the Google Calendar stand-in (real httpx, retries, refresh, recording)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.calendars.backend_contract import BackendContract
from tests.standins.google_calendar import GoogleCalendarStandin
from wedsync_cli.calendars.backend import (
    BackendContext,
    CursorExpired,
    EventFields,
    PreconditionFailed,
    uid_for,
)
from wedsync_cli.calendars.google import GoogleBackend, google_id_for, uid_from_google_id
from wedsync_cli.clock import FixedClock
from wedsync_cli.errors import AuthRefused, ConfigError
from wedsync_cli.http.client import CallRecorder

LONDON = ZoneInfo("Europe/London")
DISCOVERY = Path("/work/shared/research/google-calendar-v3-discovery.json")


@pytest.fixture(scope="module")
def standin():
    g = GoogleCalendarStandin(calendars=("primary", "work")).start()
    yield g
    g.stop()


@pytest.fixture
def google(standin, runtime):
    """A fresh calendar on the shared stand-in, a stored credential and a backend factory."""
    import secrets

    cal = "cal" + secrets.token_hex(4)
    standin.calendars[cal] = {}
    standin.faults.rate = 0
    standin.faults.queue.clear()
    standin.oauth.refuse_all = False
    runtime.credentials.set("google", standin.oauth.new_credential())
    clock = FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    made = []

    def make(calendar=cal, **settings):
        ctx = BackendContext(
            name="studio", calendar=calendar,
            provider_config={"base_url": standin.url, "token_url": standin.oauth.token_url,
                             "backoff_base": 0.01, **settings},
            credentials=runtime.credentials, clock=clock, recorder=CallRecorder(),
            state_dir=runtime.paths.state_dir, timezone="Europe/London")
        b = GoogleBackend(ctx)
        made.append(b)
        return b

    make.cal = cal
    make.clock = clock
    make.runtime = runtime
    yield make
    for b in made:
        b.close()
    standin.faults.rate = 0
    standin.faults.queue.clear()


def timed(title="Smith & Jones wedding", hour=14):
    return EventFields(title=title, start=datetime(2026, 6, 20, hour, 0, tzinfo=LONDON),
                       end=datetime(2026, 6, 20, hour + 6, 0, tzinfo=LONDON), tz="Europe/London",
                       location="The Barn", description="Booked via wedsync")


def all_day(title="Engagement shoot"):
    return EventFields(title=title, start=date(2026, 5, 2), end=date(2026, 5, 3), all_day=True)


def test_client_chosen_id_is_base32hex_and_encodes_the_uid():
    uid = uid_for("ev_0123456789abcdef0123")
    gid = google_id_for(uid)
    assert set(gid) <= set("abcdefghijklmnopqrstuv0123456789") and 5 <= len(gid) <= 1024
    assert uid_from_google_id(gid) == uid
    assert uid_from_google_id("someforeignid_20260101T100000Z") is None


def test_create_roundtrips_timed_and_all_day_fields(google, standin):
    b = google()
    t = b.create(uid_for("ev1"), timed())
    a = b.create(uid_for("ev2"), all_day())
    assert t.ours and t.event_id == "ev1" and t.etag
    assert t.fields.hash() == timed().hash()
    assert a.fields.hash() == all_day().hash() and a.fields.all_day
    stored = {e["id"]: e for e in standin.live_events(google.cal)}
    assert stored[t.remote_id]["start"] == {"dateTime": "2026-06-20T14:00:00+01:00", "timeZone": "Europe/London"}
    assert stored[a.remote_id]["start"] == {"date": "2026-05-02"}
    assert stored[t.remote_id]["extendedProperties"]["private"]["wedsyncUid"] == uid_for("ev1")
    assert b.get(t.remote_id).fields.hash() == timed().hash()


def test_retried_create_never_duplicates(google, standin):
    b = google()
    standin.lose_write_answers = 1  # applied, but the answer is a 503: HttpClient retries -> 409 -> GET
    ev = b.create(uid_for("ev-dup"), timed())
    again = b.create(uid_for("ev-dup"), timed())  # a rerun after a crash
    assert ev.remote_id == again.remote_id
    assert len(standin.live_events(google.cal)) == 1
    assert b.find_by_uid(uid_for("ev-dup")).remote_id == ev.remote_id
    assert b.find_by_uid(uid_for("never-created")) is None


def test_create_after_remote_delete_restores_the_same_id(google, standin):
    b = google()
    ev = b.create(uid_for("ev-back"), timed())
    b.delete(ev)
    again = b.create(uid_for("ev-back"), timed("Moved back"))
    assert again.remote_id == ev.remote_id and not again.deleted
    assert [e["summary"] for e in standin.live_events(google.cal)] == ["Moved back"]


def test_full_listing_pages_then_incremental_sees_only_changes(google, standin):
    b = google(page_size=3)
    created = [b.create(uid_for(f"ev{i}"), timed(f"Wedding {i}")) for i in range(7)]
    standin.put_event(google.cal, {"summary": "Dentist", "start": {"date": "2026-07-01"},
                                   "end": {"date": "2026-07-02"}})
    full = b.changes(None)
    assert full.complete and full.requests == 3  # 8 items, pages of 3
    assert len(full.items) == 8 and sum(1 for i in full.items if i.ours) == 7
    assert full.cursor and full.cursor["sync_token"]

    nothing = b.changes(full.cursor)
    assert nothing.items == [] and not nothing.complete and nothing.requests == 1

    b.update(created[0], timed("Renamed"))
    b.delete(created[1])
    standin.cancel_event(google.cal, created[2].remote_id)  # deleted in Google's UI
    inc = b.changes(nothing.cursor)
    by_id = {i.remote_id: i for i in inc.items}
    assert set(by_id) == {c.remote_id for c in created[:3]}
    assert by_id[created[0].remote_id].fields.title == "Renamed"
    tomb = by_id[created[2].remote_id]
    assert tomb.deleted and tomb.ours and tomb.event_id == "ev2"  # tombstone carries only the id
    sent = [r for r in standin.server.requests if r.arg("syncToken")]
    assert all(r.arg("showDeleted") == "true" for r in sent)


def test_expired_sync_token_raises_cursor_expired(google, standin):
    b = google()
    b.create(uid_for("ev"), timed())
    cursor = b.changes(None).cursor
    standin.expire_sync_tokens()
    with pytest.raises(CursorExpired):
        b.changes(cursor)
    again = b.changes(None)
    assert again.complete and len(again.items) == 1


def test_stale_etag_takes_the_conflict_path(google, standin):
    b = google()
    ev = b.create(uid_for("ev"), timed())
    standin.put_event(google.cal, {"id": ev.remote_id, "summary": "Edited in Google"})
    with pytest.raises(PreconditionFailed):
        b.update(ev, timed("Ours"))
    with pytest.raises(PreconditionFailed):
        b.delete(ev)
    fresh = b.get(ev.remote_id)
    assert fresh.fields.title == "Edited in Google"
    b.delete(fresh)
    b.delete(fresh)  # already gone: done
    assert standin.live_events(google.cal) == []


def test_missing_calendar_is_a_config_error_naming_it(google):
    b = google(calendar="no-such-calendar")
    with pytest.raises(ConfigError) as exc:
        b.changes(None)
    assert "no-such-calendar" in exc.value.sentence() and exc.value.exit_code == 78


def test_forbidden_is_auth_refused_but_rate_limits_are_retried(google, standin):
    b = google()
    standin.faults.queue[:] = ["403rate", "429", "500", "503"]
    assert b.changes(None).complete
    assert standin.faults.queue == []
    standin.faults.queue[:] = ["403forbidden"]
    with pytest.raises(AuthRefused) as exc:
        b.changes(None)
    assert exc.value.exit_code == 77


def test_refreshes_before_expiry_and_after_401(google, standin):
    rt = google.runtime
    cred = standin.oauth.new_credential(expires_at=google.clock.now().timestamp() - 10)
    rt.credentials.set("google", cred)
    calls = standin.oauth.refresh_calls
    b = google()
    b.check()
    assert standin.oauth.refresh_calls == calls + 1
    stored = rt.credentials.get("google")
    assert stored["access_token"] != cred["access_token"] and stored["refresh_token"] == cred["refresh_token"]
    assert stored["expires_at"] > google.clock.now().timestamp()
    assert len(json.dumps(stored)) < 2560

    standin.oauth.expire_access_tokens()  # server-side expiry: 401 authError -> refresh -> retry
    b.check()
    assert standin.oauth.refresh_calls == calls + 2


def test_revoked_token_is_auth_refused_with_the_fix(google, standin):
    standin.oauth.revoke_all()
    b = google()
    with pytest.raises(AuthRefused) as exc:
        b.changes(None)
    assert "wedsync auth login google" in exc.value.sentence()


def test_thirty_percent_faults_still_converge_without_duplicates(google, standin):
    b = google(max_attempts=12)
    standin.faults.seed = 7
    standin.faults.__post_init__()
    standin.faults.kinds = ["429", "500", "503", "403rate", "drop"]
    standin.faults.rate = 0.3
    standin.faults.retry_after = "0"
    evs = [b.create(uid_for(f"f{i}"), timed(f"W{i}")) for i in range(15)]
    for ev in evs[:5]:
        b.update(ev, timed(ev.fields.title + " (moved)", hour=15))
    listing = b.changes(None)
    standin.faults.rate = 0
    assert standin.faults.injected > 0
    assert len(standin.live_events(google.cal)) == 15
    assert sorted(i.event_id for i in listing.items) == sorted(f"f{i}" for i in range(15))


def _discovery_schema():
    doc = json.loads(DISCOVERY.read_text())

    def conv(s):
        if "$ref" in s:
            return {"$ref": f"#/definitions/{s['$ref']}"}
        out = {}
        t = s.get("type")
        if t and t != "any":  # discovery's "any" means no constraint
            out["type"] = t
        if "properties" in s:
            out["properties"] = {k: conv(v) for k, v in s["properties"].items()}
            out["additionalProperties"] = False
        elif isinstance(s.get("additionalProperties"), dict):
            out["additionalProperties"] = conv(s["additionalProperties"])
        if "items" in s:
            out["items"] = conv(s["items"])
        if "enum" in s:
            out["enum"] = s["enum"]
        return out

    return {"definitions": {k: conv(v) for k, v in doc["schemas"].items()}}


def test_standin_events_match_the_discovery_document(google, standin):
    import jsonschema

    schema = _discovery_schema()
    b = google()
    b.create(uid_for("ev1"), timed())
    b.create(uid_for("ev2"), all_day())
    gone = b.create(uid_for("ev3"), timed())
    b.delete(gone)
    resp = b.http.get(f"/calendar/v3/calendars/{google.cal}/events", params={"showDeleted": "true"})
    listing = resp.json()
    assert len(listing["items"]) == 3
    events = {**schema, "$ref": "#/definitions/Events"}
    jsonschema.validate(listing, events)
    event = {**schema, "$ref": "#/definitions/Event"}
    for item in listing["items"]:
        jsonschema.validate(item, event)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", "notAnEventField": 1}, event)


class TestGoogleContract(BackendContract):
    """The shared backend contract (vdirsyncer-style) against the Google stand-in."""

    @pytest.fixture
    def backend(self, google):
        return google()

    @pytest.fixture
    def add_foreign(self, backend, standin, google):
        def add(title: str = "Dentist") -> str:
            return standin.put_event(google.cal, {"summary": title, "start": {"date": "2027-06-01"},
                                                  "end": {"date": "2027-06-02"}})["id"]

        return add

    @pytest.fixture
    def edit_out_of_band(self, backend, standin, google):
        def edit(remote, title: str) -> None:
            standin.put_event(google.cal, {"id": remote.remote_id, "summary": title})

        return edit


def test_timeouts_are_retried_and_creates_stay_single(google, standin):
    b = google(timeout=0.2)
    standin.faults.timeout_s = 0.6  # the stand-in holds the request past our timeout, then drops it
    standin.faults.queue[:] = ["timeout"]
    ev = b.create(uid_for("slow"), timed())
    assert standin.faults.queue == [] and ev.ours
    assert len(standin.live_events(google.cal)) == 1
    calls = b.ctx.recorder.drain()
    assert [c.outcome for c in calls if c.operation == "events.insert"] == ["timeout", "ok"]


def test_standin_refuses_sync_token_with_forbidden_parameters(google, standin):
    b = google()
    cursor = b.changes(None).cursor
    resp = b.http.get(f"/calendar/v3/calendars/{google.cal}/events",
                      params={"syncToken": cursor["sync_token"], "timeMin": "2026-01-01T00:00:00Z"})
    assert resp.status_code == 400 and "timeMin" in resp.json()["error"]["message"]


def test_update_patches_and_keeps_what_others_added(google, standin):
    b = google()
    ev = b.create(uid_for("keep"), timed())
    standin.put_event(google.cal, {"id": ev.remote_id, "attendees": [{"email": "second-shooter@example.com"}],
                                   "colorId": "5"})
    fresh = b.get(ev.remote_id)
    moved = b.update(fresh, all_day("Now all day"))  # timed -> all-day: dateTime must go
    assert moved.fields.all_day and moved.fields.hash() == all_day("Now all day").hash()
    [stored] = standin.live_events(google.cal)
    assert stored["attendees"] == [{"email": "second-shooter@example.com"}] and stored["colorId"] == "5"
    assert stored["start"] == {"date": "2026-05-02"}
    back = b.update(moved, timed("Timed again"))
    assert back.fields.hash() == timed("Timed again").hash()
    assert standin.live_events(google.cal)[0]["start"] == {"dateTime": "2026-06-20T14:00:00+01:00",
                                                           "timeZone": "Europe/London"}
