"""The wedding-day protocol's window: lead hours, last event, Saturdays, configured days."""

from datetime import UTC, datetime

import pytest

from wedsync_cli.clock import FixedClock
from wedsync_cli.config import Config
from wedsync_cli.store import Store
from wedsync_cli.wedding_day.policy import WeddingDayPolicy


def add_wedding(store, wid, day, events, status="booked", name="Jane & John Smith"):
    now = "2026-01-01T00:00:00+00:00"
    store.execute("INSERT OR IGNORE INTO clients(id, kind, display_name, content_hash, created_at, updated_at) "
                  "VALUES (?, 'couple', ?, 'h', ?, ?)", [f"c_{wid}", name, now, now])
    store.execute("INSERT INTO weddings(id, client_id, date, venue, status, content_hash, created_at, updated_at) "
                  "VALUES (?, ?, ?, 'Hall', ?, 'h', ?, ?)", [wid, f"c_{wid}", day, status, now, now])
    for i, (start, end, kind) in enumerate(events):
        store.execute("INSERT INTO events(id, wedding_id, kind, title, all_day, start, end, content_hash, created_at, updated_at) "
                      "VALUES (?, ?, ?, 't', ?, ?, ?, 'h', ?, ?)",
                      [f"e_{wid}_{i}", wid, kind, 1 if len(start) == 10 else 0, start, end, now, now])


@pytest.fixture
def policy_for(tmp_path):
    stores = []

    def make(**wd):
        cfg = Config.model_validate({"timezone": "Europe/London", "wedding_day": wd})
        store = Store(tmp_path / f"s{len(stores)}.db")
        stores.append(store)
        return WeddingDayPolicy(store, cfg, FixedClock(datetime(2026, 6, 1, tzinfo=UTC))), store

    yield make
    for s in stores:
        s.close()


def at(s):
    return datetime.fromisoformat(s)


def test_weekday_wedding_window_from_lead_hours_to_last_event(policy_for):
    policy, store = policy_for(saturdays=False)
    # Wednesday 2026-06-10, BST (+01:00): ceremony 14:00-16:00, reception until 23:30
    add_wedding(store, "w1", "2026-06-10", [("2026-06-10T14:00:00+01:00", "2026-06-10T16:00:00+01:00", "wedding"),
                                            ("2026-06-10T18:00:00+01:00", "2026-06-10T23:30:00+01:00", "other"),
                                            ("2026-03-01T10:00:00+00:00", "2026-03-01T11:00:00+00:00", "consultation")])
    assert not policy.state(at("2026-06-10T11:59:00+01:00")).active
    st = policy.state(at("2026-06-10T12:00:00+01:00"))
    assert st.active and st.weddings == ["w1"]
    assert st.since == at("2026-06-10T12:00:00+01:00") and st.until == at("2026-06-10T23:30:00+01:00")
    assert "w1" in st.reason and "Jane & John Smith" in st.reason
    assert policy.state(at("2026-06-10T23:29:00+01:00")).active
    assert not policy.state(at("2026-06-10T23:30:00+01:00")).active
    # the consultation months earlier opens no window
    assert not policy.state(at("2026-03-01T10:30:00+00:00")).active
    # inactive state names the next protection
    st = policy.state(at("2026-06-10T09:00:00+01:00"))
    assert st.next_start == at("2026-06-10T12:00:00+01:00")


def test_lead_hours_configurable_and_unbooked_weddings_ignored(policy_for):
    policy, store = policy_for(saturdays=False, lead_hours=4)
    add_wedding(store, "w1", "2026-06-10", [("2026-06-10T14:00:00+01:00", "2026-06-10T16:00:00+01:00", "wedding")])
    add_wedding(store, "w2", "2026-06-11", [("2026-06-11T14:00:00+01:00", "2026-06-11T16:00:00+01:00", "wedding")],
                status="lead")
    assert policy.state(at("2026-06-10T10:00:00+01:00")).active
    assert not policy.state(at("2026-06-11T15:00:00+01:00")).active


def test_saturday_all_day_in_studio_zone(policy_for):
    policy, store = policy_for()
    # Saturday 2026-06-13 in London starts at Friday 23:00 UTC
    assert not policy.state(at("2026-06-12T22:59:00+00:00")).active
    st = policy.state(at("2026-06-12T23:00:00+00:00"))
    assert st.active and "Saturday" in st.reason and st.weddings == []
    assert st.since == at("2026-06-13T00:00:00+01:00") and st.until == at("2026-06-14T00:00:00+01:00")
    assert not policy.state(at("2026-06-14T00:00:00+01:00")).active


def test_wedding_past_midnight_extends_saturday_stretch(policy_for):
    policy, store = policy_for()
    add_wedding(store, "w1", "2026-06-13", [("2026-06-13T15:00:00+01:00", "2026-06-14T01:00:00+01:00", "wedding")])
    st = policy.state(at("2026-06-13T09:00:00+01:00"))
    assert st.active and st.until == at("2026-06-14T01:00:00+01:00")
    st = policy.state(at("2026-06-14T00:30:00+01:00"))
    assert st.active and st.weddings == ["w1"] and "Saturday" not in st.reason


def test_configured_days_and_all_day_events(policy_for):
    policy, store = policy_for(saturdays=False, days=["sunday"])
    assert not policy.state(at("2026-06-13T12:00:00+01:00")).active  # Saturday switched off
    assert policy.state(at("2026-06-14T12:00:00+01:00")).active  # Sunday configured
    add_wedding(store, "w1", "2026-06-17", [("2026-06-17", "2026-06-18", "wedding")])
    st = policy.state(at("2026-06-16T22:30:00+01:00"))  # 2 h before local midnight
    assert st.active and st.weddings == ["w1"]
    assert policy.state(at("2026-06-17T23:59:00+01:00")).active
    assert not policy.state(at("2026-06-18T00:00:00+01:00")).active


def test_day_state(policy_for):
    policy, store = policy_for(saturdays=False)
    add_wedding(store, "w1", "2026-06-10", [("2026-06-10T14:00:00+01:00", "2026-06-10T16:00:00+01:00", "wedding")])
    from datetime import date
    st = policy.day_state(date(2026, 6, 10))
    assert st.active and st.weddings == ["w1"] and st.since == at("2026-06-10T12:00:00+01:00")
    assert not policy.day_state(date(2026, 6, 9)).active


def test_many_weddings_are_summed_up_in_the_reason(policy_for):
    policy, store = policy_for(saturdays=False)
    for i in range(5):
        add_wedding(store, f"w{i}", "2026-06-10", [("2026-06-10T14:00:00+01:00", "2026-06-10T16:00:00+01:00", "wedding")],
                    name=f"[Couple {i}]")
    st = policy.state(at("2026-06-10T15:00:00+01:00"))
    assert st.weddings == [f"w{i}" for i in range(5)]
    assert st.reason.startswith("5 booked weddings: ") and st.reason.count("(") == 3 and len(st.reason) < 250
