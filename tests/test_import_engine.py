"""The transformation engine, driven directly (no CSV): matching, merging, counting, events."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import pytest

from wedsync_cli.clock import FixedClock
from wedsync_cli.domain.models import ClientData, ImportRecord, Person, Rejected, WeddingData
from wedsync_cli.store import Store
from wedsync_cli.transform import ImportEngine, wedding_day_event

SRC = "test:crm"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db", FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC)))
    yield s
    s.close()


def rec(email="jane@example.com", first="Jane", last="Smith", p2=("John", "Smith"), day=date(2027, 6, 5),
        venue="Hengrave Hall", status="booked", ext=None, events=(), raw=None, phone=None, extra=None):
    return ImportRecord(
        source=SRC, external_id=ext,
        client=ClientData(partner1=Person(first=first, last=last, email=email, phone=phone),
                          partner2=Person(first=p2[0], last=p2[1]) if p2 else None, extra=extra or {}),
        wedding=WeddingData(date=day, venue=venue, status=status, external_id=ext) if (day or venue) else None,
        events=list(events), raw=raw if raw is not None else {"email": email, "venue": venue, "status": status})


def apply(store, items, dry_run=False):
    return ImportEngine(store, source=SRC, timezone="Europe/London", dry_run=dry_run).apply(items)


def counts(store):
    return {t: store.scalar(f"SELECT COUNT(*) FROM {t}") for t in
            ("clients", "weddings", "events", "client_keys", "source_records", "domain_events")}


def test_new_couple_gets_client_wedding_and_all_day_wedding_event(store):
    r = apply(store, [rec()])
    assert (r.read, r.created, r.updated, r.unchanged, r.rejected) == (1, 1, 0, 0, 0)
    ev = store.one("SELECT * FROM events")
    assert ev["title"] == "Wedding: Jane & John Smith"
    assert (ev["all_day"], ev["start"], ev["end"], ev["location"]) == (1, "2027-06-05", "2027-06-06", "Hengrave Hall")
    assert ev["tz"] == "Europe/London" and ev["version"] == 1
    types = [row["type"] for row in store.query("SELECT type FROM domain_events ORDER BY id")]
    assert types == ["client.created", "wedding.booked", "event.created"]
    keys = {row["key"] for row in store.query("SELECT key FROM client_keys")}
    assert keys == {"email:jane@example.com", "name:janesmith&johnsmith|2027-06-05"}


def test_reapplying_the_same_records_is_unchanged_and_writes_nothing(store):
    items = [rec(), rec(email="amy@example.com", first="Amy", p2=None)]
    apply(store, items)
    before = counts(store)
    changes = store.db.conn.total_changes
    r = apply(store, [rec(), rec(email="amy@example.com", first="Amy", p2=None)])
    assert (r.created, r.updated, r.unchanged) == (0, 0, 2)
    assert counts(store) == before
    assert store.db.conn.total_changes == changes


def test_email_matches_case_insensitively_and_the_row_counts_as_a_merge(store):
    r = apply(store, [rec(email="Jane@Example.com", raw={"row": 1}), rec(email="jane@example.COM ", raw={"row": 2})])
    assert (r.created, r.unchanged + r.updated, r.merged) == (1, 1, 1)
    assert store.scalar("SELECT COUNT(*) FROM clients") == 1
    assert store.scalar("SELECT p1_email FROM clients") == "jane@example.com"


def test_external_id_wins_and_changes_update_with_a_version_bump(store):
    apply(store, [rec(ext="J1")])
    ev_id = store.scalar("SELECT id FROM events")
    r = apply(store, [rec(ext="J1", email="new@example.com", venue="Kew Gardens", raw={"v": 2})])
    assert (r.created, r.updated) == (0, 1)
    assert store.scalar("SELECT COUNT(*) FROM clients") == 1
    ev = store.one("SELECT * FROM events")
    assert ev["id"] == ev_id and ev["location"] == "Kew Gardens" and ev["version"] == 2
    updated = store.query("SELECT data FROM domain_events WHERE type = 'event.updated'")
    assert json.loads(updated[0]["data"])["changed"] == {"location": "Kew Gardens"}


def test_empty_incoming_values_never_erase(store):
    apply(store, [rec(phone="+447700900123", extra={"Package": "Full day"})])
    apply(store, [rec(phone=None, venue=None, extra={"Package": ""}, raw={"again": 1})])
    c = store.one("SELECT * FROM clients")
    assert c["p1_phone"] == "+447700900123"
    assert json.loads(c["extra"]) == {"Package": "Full day"}
    assert store.scalar("SELECT venue FROM weddings") == "Hengrave Hall"
    assert store.scalar("SELECT location FROM events") == "Hengrave Hall"


def test_timed_event_in_studio_zone_and_kept_when_a_later_row_has_no_times(store):
    ev = wedding_day_event(date(2027, 6, 5), "Europe/London", time(14, 0), time(0, 30), location="Barn")
    apply(store, [rec(events=[ev], raw={"timed": 1}), rec(raw={"untimed": 1})])
    row = store.one("SELECT * FROM events")
    assert (row["all_day"], row["start"], row["end"]) == (0, "2027-06-05T14:00:00+01:00", "2027-06-06T00:30:00+01:00")


def test_status_change_to_booked_emits_wedding_booked(store):
    apply(store, [rec(ext="J9", status="lead")])
    assert store.scalar("SELECT COUNT(*) FROM domain_events WHERE type = 'wedding.booked'") == 0
    r = apply(store, [rec(ext="J9", status="booked", raw={"s": "booked"})])
    assert r.updated == 1
    assert store.scalar("SELECT status FROM weddings") == "booked"
    assert store.scalar("SELECT COUNT(*) FROM domain_events WHERE type = 'wedding.booked'") == 1


def test_rejected_items_are_counted_and_kept_with_their_reason(store):
    r = apply(store, [rec(), Rejected(source=SRC, reason="invalid email 'x'", raw={"email": "x"}, row_number=3)])
    assert (r.read, r.created, r.rejected) == (2, 1, 1)
    assert r.rejects[0].reason == "invalid email 'x'" and r.rejects[0].raw == {"email": "x"}
    assert r.as_json()["rejected"] == 1


def test_dry_run_counts_but_writes_nothing(store):
    before = counts(store)
    r = apply(store, [rec(), rec(email="amy@example.com", first="Amy", p2=None)], dry_run=True)
    assert (r.created, r.dry_run) == (2, True)
    assert counts(store) == before


def test_raw_rows_and_unmapped_fields_are_kept(store):
    apply(store, [rec(extra={"Favourite colour": "teal"}, raw={"email": "jane@example.com", "Favourite colour": "teal"})])
    raw = json.loads(store.scalar("SELECT raw FROM source_records"))
    assert raw["Favourite colour"] == "teal"
    assert json.loads(store.scalar("SELECT extra FROM clients")) == {"Favourite colour": "teal"}


def test_an_error_mid_batch_rolls_everything_back(store):
    def items():
        yield rec()
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError):
        apply(store, items())
    assert store.scalar("SELECT COUNT(*) FROM clients") == 0


def test_many_records_in_several_chunks_match_across_chunks(store):
    from wedsync_cli.transform import engine

    many = [rec(email=f"c{i}@example.com", first=f"C{i}", p2=None, raw={"i": i}) for i in range(engine.CHUNK + 10)]
    again = [rec(email=f"C{i}@EXAMPLE.com", first=f"C{i}", p2=None, raw={"i": i, "again": 1}) for i in range(5)]
    r = apply(store, many + again)
    assert r.created == engine.CHUNK + 10 and r.merged == 5
    assert store.scalar("SELECT COUNT(*) FROM clients") == engine.CHUNK + 10
