"""CalDAVBackend against a real Radicale (in-thread, temp storage): the core, driven directly."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.standins.radicale_server import vevent_ics
from wedsync_cli.calendars.backend import (
    BackendContext,
    CursorExpired,
    EventFields,
    PreconditionFailed,
    uid_for,
)
from wedsync_cli.calendars.caldav_backend import CalDAVBackend
from wedsync_cli.clock import FixedClock
from wedsync_cli.errors import AuthRefused, ConfigError, ProviderUnavailable, RateLimited
from wedsync_cli.http.client import CallRecorder, RetryPolicy

pytest_plugins = ["tests.standins.radicale_fixtures"]  # the radicale / fresh_radicale fixtures


class Creds:
    def __init__(self, username="alice", password="x"):
        self.value = {"username": username, "password": password}

    def require(self, provider, login_hint=None):
        assert provider == "caldav"
        return self.value


def make_backend(calendar, *, password="x", provider_config=None, **options) -> CalDAVBackend:
    ctx = BackendContext(
        name="weddings", calendar=calendar, provider_config=provider_config or {},
        credentials=Creds(password=password), clock=FixedClock(datetime(2026, 6, 1, 9, tzinfo=UTC)),
        recorder=CallRecorder(), state_dir=Path("/nonexistent"), timezone="Europe/London",
        options={"retry": RetryPolicy(max_attempts=4, jitter=lambda cap: cap), **options},
    )
    return CalDAVBackend(ctx)


def fields(title="Smith & Jones wedding", day=20, **kw) -> EventFields:
    base = dict(title=title, start=datetime(2026, 6, day, 13, 0, tzinfo=UTC),
                end=datetime(2026, 6, day, 20, 0, tzinfo=UTC), tz="Europe/London", location="The Barn")
    base.update(kw)
    return EventFields(**base)


@pytest.fixture
def cal_url(fresh_radicale):
    return fresh_radicale.make_calendar("alice", f"w{uuid.uuid4().hex[:8]}")


def test_create_lists_back_with_our_marker_and_fields(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    first = b.changes(None)
    assert first.complete and first.items == [] and first.cursor["sync_token"]
    created = b.create(uid_for("evt1"), fields())
    assert created.etag and created.remote_id.endswith("/evt1-wedsync.ics")

    delta = b.changes(first.cursor)
    assert not delta.complete
    [item] = delta.items
    assert item.ours and item.event_id == "evt1" and item.etag == created.etag
    assert item.fields.comparable() == fields().comparable()
    assert item.fields.tz == "Europe/London"  # written with TZID, not flattened to UTC


def test_all_day_event_round_trips(cal_url):
    b = make_backend(cal_url)
    f = EventFields(title="Engagement shoot", start=date(2026, 7, 1), end=date(2026, 7, 2), all_day=True)
    created = b.create(uid_for("allday"), f)
    got = b.get(created.remote_id)
    assert got.fields.all_day and got.fields.start == date(2026, 7, 1) and got.fields.end == date(2026, 7, 2)


def test_retried_create_returns_the_existing_item_and_never_duplicates(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    one = b.create(uid_for("evt2"), fields())
    again = make_backend(cal_url).create(uid_for("evt2"), fields(title="changed meanwhile"))
    assert again.remote_id == one.remote_id and again.etag == one.etag
    listing = make_backend(cal_url).changes(None)
    assert [i.event_id for i in listing.items] == ["evt2"]
    assert make_backend(cal_url).find_by_uid(uid_for("evt2")).remote_id == one.remote_id
    assert make_backend(cal_url).find_by_uid(uid_for("never-made")) is None


def test_foreign_events_are_listed_as_not_ours(fresh_radicale, cal_url):
    other = fresh_radicale.calendar(cal_url)
    other.add_event(vevent_ics("dentist-1", "Dentist"))
    listing = make_backend(cal_url).changes(None)
    [item] = listing.items
    assert item.fields.title == "Dentist" and not item.ours


def test_remote_edit_flows_back_with_a_new_etag(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    base = b.changes(None)
    created = b.create(uid_for("evt3"), fields())
    cursor = b.changes(base.cursor).cursor

    obj = fresh_radicale.calendar(cal_url).event_by_url(cal_url + "evt3-wedsync.ics")
    obj.load()
    obj.icalendar_component["SUMMARY"] = "Smith & Jones wedding (moved)"
    obj.save(precondition="etag", increase_seqno=False)

    delta = make_backend(cal_url).changes(cursor)
    [item] = delta.items
    assert item.fields.title == "Smith & Jones wedding (moved)" and item.etag != created.etag and item.ours


def test_update_and_delete_use_if_match_and_412_is_a_conflict(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    created = b.create(uid_for("evt4"), fields())
    updated = b.update(created, fields(title="v2"))
    assert updated.etag != created.etag
    with pytest.raises(PreconditionFailed):
        b.update(created, fields(title="v3 from a stale read"))
    with pytest.raises(PreconditionFailed):
        b.delete(created)
    assert b.get(created.remote_id).fields.title == "v2"

    # Our own update that reached the server but whose answer was lost: the retry is not a conflict.
    again = b.update(created, fields(title="v2"))
    assert again.etag == updated.etag

    b.delete(updated)
    assert b.get(created.remote_id) is None
    b.delete(updated)  # already gone counts as done


def test_no_change_sync_is_one_request_whatever_the_size(fresh_radicale):
    counts = {}
    for size in (5, 80):
        url = fresh_radicale.make_calendar("alice", f"size{size}-{uuid.uuid4().hex[:6]}")
        cal_id = url.rstrip("/").rsplit("/", 1)[-1]
        fresh_radicale.seed_events("alice", cal_id, {f"s{i}.ics": vevent_ics(f"s{i}", f"ev {i}")
                                                     for i in range(size)})
        b = make_backend(url)
        full = b.changes(None)
        assert len(full.items) == size
        fresh_radicale.reset_requests()
        again = make_backend(url).changes(full.cursor)
        assert again.items == []
        counts[size] = (again.requests, fresh_radicale.count())
    assert counts[5] == counts[80] == (1, 1)


def test_changed_items_come_in_multiget_reports_not_one_get_each(fresh_radicale, cal_url):
    b = make_backend(cal_url, multiget_chunk=10)
    base = b.changes(None)
    other = fresh_radicale.calendar(cal_url)
    for i in range(25):
        other.add_event(vevent_ics(f"m{i}", f"ev {i}"))
    fresh_radicale.reset_requests()
    delta = make_backend(cal_url, multiget_chunk=10).changes(base.cursor)
    assert len(delta.items) == 25
    assert fresh_radicale.count("GET") == 0
    assert fresh_radicale.count("REPORT") == 1 + 3  # one sync-collection, ceil(25 / 10) multigets
    assert delta.requests == 4


def test_deletions_arrive_as_tombstones(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    created = b.create(uid_for("evt5"), fields())
    cursor = b.changes(None).cursor
    fresh_radicale.calendar(cal_url).event_by_url(cal_url + "evt5-wedsync.ics").delete()
    [tomb] = make_backend(cal_url).changes(cursor).items
    assert tomb.deleted and tomb.remote_id == created.remote_id


def test_rejected_sync_token_raises_cursor_expired_then_full_listing_has_no_duplicates(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    b.create(uid_for("evt6"), fields())
    cursor = b.changes(None).cursor
    stale = {**cursor, "sync_token": "http://radicale.org/ns/sync/" + "0" * 64}
    with pytest.raises(CursorExpired):
        make_backend(cal_url).changes(stale)
    full = make_backend(cal_url).changes(None)
    assert full.complete and [i.event_id for i in full.items] == ["evt6"]


def test_wrong_password_is_auth_refused(radicale_auth):
    url = radicale_auth.make_calendar("alice", "private")
    with pytest.raises(AuthRefused) as err:
        make_backend(url, password="wrong").changes(None)
    assert err.value.exit_code == 77 and "wedsync auth set caldav" in err.value.sentence()
    assert "wrong" not in err.value.sentence()
    assert make_backend(url, password="right-password").changes(None).complete


def test_missing_collection_is_a_config_error_naming_it(fresh_radicale):
    url = fresh_radicale.url + "alice/no-such-calendar/"
    fresh_radicale.make_calendar("alice", "exists")  # the principal exists, the collection does not
    with pytest.raises(ConfigError) as err:
        make_backend(url).changes(None)
    assert err.value.exit_code == 78 and "no-such-calendar" in err.value.sentence()


def test_discovery_by_name_and_a_wrong_name_lists_the_calendars(fresh_radicale):
    fresh_radicale.make_calendar("bob", "bob-weddings", name="Weddings")
    pc = {"url": fresh_radicale.url}
    b = make_backend("Weddings", provider_config=pc)
    b.ctx.credentials.value["username"] = "bob"
    first = b.changes(None)
    assert first.cursor["url"].endswith("/bob/bob-weddings/")
    # With the cursor, the next run skips discovery: one request.
    b2 = make_backend("Weddings", provider_config=pc)
    b2.ctx.credentials.value["username"] = "bob"
    assert b2.changes(first.cursor).requests == 1

    b3 = make_backend("Shoots", provider_config=pc)
    b3.ctx.credentials.value["username"] = "bob"
    with pytest.raises(ConfigError) as err:
        b3.changes(None)
    assert "'Shoots'" in err.value.sentence() and "'Weddings'" in err.value.sentence()


def test_503_with_retry_after_is_retried_through_the_clock_and_recorded(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    t0 = b.ctx.clock.now()
    fresh_radicale.reset_requests()
    fresh_radicale.faults.retry_after = "7"
    fresh_radicale.faults.queue += ["503", "500"]
    listing = b.changes(None)
    assert listing.complete
    assert (b.ctx.clock.now() - t0).total_seconds() == 7 + 1.0  # Retry-After, then backoff(2) = 0.5 * 2
    statuses = [r.status for r in b.ctx.recorder.drain()]
    assert statuses == [503, 500, 207]
    assert fresh_radicale.count() == 3


def test_long_retry_after_ends_the_run_as_rate_limited(fresh_radicale, cal_url):
    fresh_radicale.faults.retry_after = "3600"
    fresh_radicale.faults.queue.append("429")
    with pytest.raises(RateLimited) as err:
        make_backend(cal_url).changes(None)
    assert err.value.exit_code == 75


def test_persistent_5xx_is_provider_unavailable(fresh_radicale, cal_url):
    fresh_radicale.faults.queue += ["500"] * 4
    with pytest.raises(ProviderUnavailable) as err:
        make_backend(cal_url).changes(None)
    assert err.value.exit_code == 69


def test_creates_survive_injected_faults_without_duplicates(fresh_radicale, cal_url):
    """30% of PUT answers are 5xx/429: retried creates land exactly once each."""
    fresh_radicale.faults.rate = 0.3
    fresh_radicale.faults.kinds = ["503", "500", "429"]
    fresh_radicale.faults.retry_after = "0"
    fresh_radicale.faults.method_filter = "PUT"
    b = make_backend(cal_url, retry=RetryPolicy(max_attempts=12, jitter=lambda cap: 0))
    for i in range(15):
        b.create(uid_for(f"f{i}"), fields(title=f"wedding {i}", day=1 + i))
    fresh_radicale.faults.rate = 0
    assert fresh_radicale.faults.injected > 0
    ids = sorted(i.event_id for i in make_backend(cal_url).changes(None).items)
    assert ids == sorted(f"f{i}" for i in range(15))


def test_every_request_is_recorded(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    fresh_radicale.reset_requests()
    c = b.changes(None)
    created = b.create(uid_for("r1"), fields())
    b.update(created, fields(title="r1 v2"))
    b.changes(c.cursor)
    b.check()
    recs = b.ctx.recorder.drain()
    assert len(recs) == fresh_radicale.count() and all(r.provider == "caldav" for r in recs)
    assert {"REPORT sync-collection", "PUT", "PROPFIND"} <= {r.operation for r in recs}


def test_icloud_uid_is_scoped_per_calendar_and_marker_read_back():
    b = make_backend("https://p42-caldav.icloud.com/123/calendars/weddings/")
    b._collection_url = "https://p42-caldav.icloud.com/123/calendars/weddings/"
    body = b._body(uid_for("evtX"), fields()).decode()
    assert "\r\nUID:evtX-" in body and "\r\nUID:evtX@wedsync" not in body
    assert "X-WEDSYNC-UID:evtX@wedsync" in body and "DTEND" in body
    ev = b._remote_event("/123/calendars/weddings/evtX-wedsync.ics", '"e1"', body)
    assert ev.ours and ev.event_id == "evtX"


def test_incremental_sync_retries_429_through_the_clock(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    cursor = b.changes(None).cursor
    fresh_radicale.calendar(cal_url).add_event(vevent_ics("late-1", "Added elsewhere"))
    fresh_radicale.faults.retry_after = "2"
    fresh_radicale.faults.queue.append("429")
    b2 = make_backend(cal_url)
    t0 = b2.ctx.clock.now()
    [item] = b2.changes(cursor).items
    assert item.fields.title == "Added elsewhere"
    assert (b2.ctx.clock.now() - t0).total_seconds() == 2
    assert [r.status for r in b2.ctx.recorder.drain()][:2] == [429, 207]


def test_a_run_with_nothing_to_do_does_not_load_the_caldav_library(fresh_radicale, cal_url, tmp_path):
    """The no-change path is one stdlib REPORT: caldav (niquests, lxml) stays unimported."""
    import json
    import os
    import subprocess
    import sys

    b = make_backend(cal_url)
    b.create(uid_for("imp1"), fields())
    cursor = b.changes(None).cursor
    script = (
        "import json, sys\n"
        "from datetime import datetime, UTC\n"
        "from pathlib import Path\n"
        "from wedsync_cli.calendars.backend import BackendContext\n"
        "from wedsync_cli.calendars.caldav_backend import CalDAVBackend\n"
        "from wedsync_cli.clock import FixedClock\n"
        "from wedsync_cli.http.client import CallRecorder\n"
        "class C:\n"
        "    def require(self, p, login_hint=None): return {'username': 'alice', 'password': 'x'}\n"
        "url, cursor = sys.argv[1], json.loads(sys.argv[2])\n"
        "ctx = BackendContext(name='w', calendar=url, provider_config={}, credentials=C(),\n"
        "    clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)), recorder=CallRecorder(), state_dir=Path('.'))\n"
        "ch = CalDAVBackend(ctx).changes(cursor)\n"
        "print(json.dumps({'items': len(ch.items), 'requests': ch.requests,\n"
        "                  'caldav_loaded': 'caldav' in sys.modules, 'niquests_loaded': 'niquests' in sys.modules}))\n"
    )
    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-c", script, cal_url, json.dumps(cursor)], capture_output=True,
                       text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)})
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out == {"items": 0, "requests": 1, "caldav_loaded": False, "niquests_loaded": False}


def test_advance_cursor_skips_our_own_writes_but_never_someone_elses(fresh_radicale, cal_url):
    b = make_backend(cal_url)
    listing = b.changes(None)
    b.create(uid_for("adv1"), fields())
    b.create(uid_for("adv2"), fields(day=21))
    advanced = b.advance_cursor(listing.cursor)
    assert advanced["sync_token"] != listing.cursor["sync_token"]
    nothing = make_backend(cal_url).changes(advanced)
    assert nothing.items == [] and nothing.requests == 1

    # Someone else edits between our write and the advance: the token stays, their edit is seen.
    b2 = make_backend(cal_url)
    cursor = b2.changes(advanced).cursor
    created = b2.create(uid_for("adv3"), fields(day=22))
    fresh_radicale.calendar(cal_url).add_event(vevent_ics("theirs-1", "Theirs"))
    assert b2.advance_cursor(cursor) == cursor
    seen = make_backend(cal_url).changes(cursor).items
    assert {i.fields.title for i in seen} == {"Theirs", created.fields.title}

    # An update of ours that someone overwrote before the advance is not swallowed either.
    b3 = make_backend(cal_url)
    cursor = b3.changes(None).cursor
    mine = b3.get(created.remote_id)
    b3.update(mine, fields(title="mine v2", day=22))
    obj = fresh_radicale.calendar(cal_url).event_by_url(cal_url + "adv3-wedsync.ics")
    obj.load()
    obj.icalendar_component["SUMMARY"] = "theirs v3"
    obj.save(precondition="etag", increase_seqno=False)
    assert b3.advance_cursor(cursor) == cursor


def test_create_finds_our_event_stored_at_another_href_instead_of_duplicating(fresh_radicale, cal_url):
    """Radicale answers 409 no-uid-conflict when our UID already lives at another href."""
    other = fresh_radicale.calendar(cal_url)
    other.save_event(vevent_ics(uid_for("moved1"), "Ours, filed elsewhere"), no_overwrite=True)
    made = make_backend(cal_url).create(uid_for("moved1"), fields())
    assert made.ours and made.event_id == "moved1" and not made.remote_id.endswith("/moved1-wedsync.ics")
    listing = make_backend(cal_url).changes(None)
    assert [i.event_id for i in listing.items] == ["moved1"]


def test_check_without_a_calendar_discovers_the_principal(fresh_radicale, runtime, memory_keyring):
    from wedsync_cli.calendars.caldav_backend import check

    runtime.paths.config_file.write_text(f'[providers.caldav]\nurl = "{fresh_radicale.url}"\n')
    runtime.credentials.set("caldav", {"username": "alice", "password": "x-123456"})
    assert check(runtime, "caldav") == f"CalDAV principal at {fresh_radicale.url}"

    runtime._config = None
    runtime.paths.config_file.write_text(f'[providers.caldav]\nurl = "{fresh_radicale.url}nowhere/deeper/"\n')
    with pytest.raises(ConfigError):
        check(runtime, "caldav")
