"""The sync engine driving the Google and Outlook backends against their stand-ins (core level):
push, pull-back of remote edits, cursor expiry, injected faults, and re-runs without duplicates."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.calendars.helpers import edit_event, event_row, run_sync, seed_wedding
from tests.standins.google_calendar import GoogleCalendarStandin
from tests.standins.graph import GraphStandin
from wedsync_cli.calendars.backend import BackendContext
from wedsync_cli.calendars.google import GoogleBackend
from wedsync_cli.calendars.outlook import OutlookBackend
from wedsync_cli.clock import FixedClock
from wedsync_cli.http.client import CallRecorder


@pytest.fixture(scope="module")
def gstandin():
    g = GoogleCalendarStandin().start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def mstandin():
    g = GraphStandin().start()
    yield g
    g.stop()


class Side:
    """One provider's stand-in + a factory for backends on a fresh calendar."""

    def __init__(self, kind, standin, runtime):
        self.kind, self.standin, self.runtime = kind, standin, runtime
        self.cal = ("c" if kind == "google" else "AAMkC") + secrets.token_hex(4)
        if kind == "google":
            standin.calendars[self.cal] = {}
            runtime.credentials.set("google", standin.oauth.new_credential())
        else:
            standin.add_calendar(self.cal)
            runtime.credentials.set("outlook", standin.oauth.new_credential(client_secret=None))
        self.clock = FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
        self.backends = []

    def backend(self, **settings):
        ctx = BackendContext(name="cal", calendar=self.cal,
                             provider_config={"base_url": self.standin.url, "token_url": self.standin.oauth.token_url,
                                              "backoff_base": 0.01, **settings},
                             credentials=self.runtime.credentials, clock=self.clock, recorder=CallRecorder(),
                             state_dir=self.runtime.paths.state_dir, timezone="Europe/London")
        b = (GoogleBackend if self.kind == "google" else OutlookBackend)(ctx)
        self.backends.append(b)
        return b

    def live(self):
        return self.standin.live_events(self.cal)

    def title(self, ev):
        return ev["summary"] if self.kind == "google" else ev["subject"]

    def edit_title(self, ev, title):
        if self.kind == "google":
            self.standin.put_event(self.cal, {"id": ev["id"], "summary": title})
        else:
            self.standin.put_event(self.cal, {"subject": title}, eid=ev["id"])

    def add_foreign(self):
        if self.kind == "google":
            return self.standin.put_event(self.cal, {"summary": "Dentist", "start": {"date": "2027-06-12"},
                                                     "end": {"date": "2027-06-13"}})["id"]
        return self.standin.put_event(self.cal, {"subject": "Dentist",
                                                 "start": {"dateTime": "2027-06-12T09:00:00", "timeZone": "UTC"},
                                                 "end": {"dateTime": "2027-06-12T10:00:00", "timeZone": "UTC"}})["id"]

    def close(self):
        for b in self.backends:
            b.close()
        self.standin.faults.rate = 0
        self.standin.faults.queue.clear()


@pytest.fixture(params=["google", "outlook"])
def side(request, gstandin, mstandin, runtime):
    s = Side(request.param, gstandin if request.param == "google" else mstandin, runtime)
    yield s
    s.close()


@pytest.fixture
def store(runtime):
    return runtime.store


def seed(store, n, start=datetime(2027, 5, 1, 13, tzinfo=UTC)):
    return [seed_wedding(store, name=f"Couple {i}", day=start + timedelta(days=7 * i)) for i in range(n)]


def test_push_pull_and_rerun_without_duplicates(side, store):
    ids = seed(store, 4)
    foreign = side.add_foreign()
    r = run_sync(store, side.backend(), name="cal")
    assert r["status"] == "ok" and r["pushed"]["created"] == 4
    assert len(side.live()) == 5
    again = run_sync(store, side.backend(), name="cal")
    assert again["pushed"] == {"created": 0, "updated": 0, "deleted": 0} and len(side.live()) == 5

    ours = next(e for e in side.live() if side.title(e) == "Couple 0")
    side.edit_title(ours, "Couple 0 (renamed in the calendar)")
    edit_event(store, ids[1], title="Couple 1 (renamed in wedsync)")
    r = run_sync(store, side.backend(), name="cal")
    assert r["pulled"]["updated"] == 1 and r["pushed"]["updated"] == 1
    assert event_row(store, ids[0])["title"] == "Couple 0 (renamed in the calendar)"
    titles = sorted(side.title(e) for e in side.live())
    assert "Couple 1 (renamed in wedsync)" in titles and "Dentist" in titles and len(titles) == 5
    assert any(e["id"] == foreign for e in side.live())  # never touched

    full = run_sync(store, side.backend(), name="cal", full=True)
    assert full["pushed"]["created"] == 0 and len(side.live()) == 5


def test_expired_cursor_resyncs_fully_without_duplicates(side, store):
    seed(store, 3)
    run_sync(store, side.backend(), name="cal")
    if side.kind == "google":
        side.standin.expire_sync_tokens()
    else:
        side.standin.expire_delta_tokens()
    r = run_sync(store, side.backend(), name="cal")
    assert r["cursor_reset"] and r["pushed"]["created"] == 0
    assert len(side.live()) == 3


def test_thirty_percent_faults_converge_without_duplicates(side, store):
    seed(store, 12)
    f = side.standin.faults
    f.seed = 5
    f.__post_init__()
    f.kinds = ["429", "500", "503", "drop"] + (["403rate"] if side.kind == "google" else [])
    f.retry_after = "0"
    f.rate = 0.3
    b = side.backend(max_attempts=12)
    run_sync(store, b, name="cal")
    run_sync(store, side.backend(max_attempts=12), name="cal")
    f.rate = 0
    assert f.injected > 0
    live = side.live()
    assert len(live) == 12 and len({side.title(e) for e in live}) == 12


def test_requests_per_incremental_sync_track_pages_of_changes(side, store):
    seed(store, 30)
    run_sync(store, side.backend(page_size=50), name="cal")
    idle = run_sync(store, side.backend(page_size=50), name="cal")
    assert idle["requests"] == 1  # one listing call, nothing to write
    for ev in side.live()[:5]:
        side.edit_title(ev, side.title(ev) + "!")
    five = run_sync(store, side.backend(page_size=50), name="cal")
    assert five["pulled"]["updated"] == 5 and five["requests"] == 1


def test_edits_on_both_sides_are_a_conflict_with_both_versions_kept(side, store):
    [eid] = seed(store, 1)
    run_sync(store, side.backend(), name="cal", conflicts="manual")
    [ours] = side.live()
    side.edit_title(ours, "Renamed in the calendar")
    edit_event(store, eid, title="Renamed in wedsync")
    r = run_sync(store, side.backend(), name="cal", conflicts="manual")
    assert r["conflicts"] == 1
    row = store.one("SELECT local, remote FROM conflicts WHERE event_id = ?", [eid])
    assert "Renamed in wedsync" in row["local"] and "Renamed in the calendar" in row["remote"]
    assert side.title(side.live()[0]) == "Renamed in the calendar"  # nothing overwritten until resolved
    assert event_row(store, eid)["title"] == "Renamed in wedsync"
