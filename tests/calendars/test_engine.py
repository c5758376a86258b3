"""The sync engine, run directly against the local (vdir) backend and an in-memory backend."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.calendars.helpers import (
    LONDON,
    MemoryBackend,
    SimulatedCrash,
    edit_event,
    event_row,
    run_sync,
    seed_wedding,
    set_status,
)
from wedsync_cli.calendars.backend import BackendContext
from wedsync_cli.calendars.engine import SafetyStop, open_conflicts, resolve_conflict
from wedsync_cli.calendars.local import LocalBackend


@pytest.fixture
def store(runtime):
    return runtime.store


@pytest.fixture
def folder(tmp_path) -> Path:
    f = tmp_path / "cal"
    f.mkdir()
    return f


@pytest.fixture
def local(runtime, folder):
    return LocalBackend(BackendContext(name="studio", calendar=str(folder), provider_config={}, credentials=None,
                                       clock=runtime.clock, recorder=None, state_dir=runtime.paths.state_dir,
                                       timezone="Europe/London"))


@pytest.fixture
def mem(runtime):
    return MemoryBackend(clock=runtime.clock)


def ics_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.ics"))


def rewrite(path: Path, old: str, new: str) -> None:
    """Edit a file as a person with a text editor would (then make its mtime plainly newer)."""
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def domain_events(store, type_: str) -> list[dict]:
    return [json.loads(r["data"]) for r in store.query("SELECT data FROM domain_events WHERE type = ?", [type_])]


# -- push ----------------------------------------------------------------------------------------------
def test_push_creates_one_file_per_booked_event_and_rerun_changes_nothing(store, local, folder):
    booked = seed_wedding(store, name="Jane & John Smith")
    seed_wedding(store, name="Lead Couple", status="lead")
    r = run_sync(store, local, name="studio")
    assert r["status"] == "ok" and r["pushed"] == {"created": 1, "updated": 0, "deleted": 0}
    assert ics_files(folder) == [f"{booked}@wedsync.ics"]
    text = (folder / f"{booked}@wedsync.ics").read_text()
    assert "SUMMARY:Jane & John Smith" in text and "DTSTART;TZID=Europe/London:20270612T140000" in text
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    r2 = run_sync(store, local, name="studio")
    assert r2["pushed"] == {"created": 0, "updated": 0, "deleted": 0} and r2["pulled"]["updated"] == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_statuses_setting_pushes_leads_too(store, local, folder):
    lead = seed_wedding(store, name="Lead Couple", status="lead")
    run_sync(store, local, name="studio", statuses=("booked", "lead"))
    assert ics_files(folder) == [f"{lead}@wedsync.ics"]


def test_local_edit_is_pushed_with_a_higher_sequence(store, local, folder):
    ev = seed_wedding(store)
    run_sync(store, local, name="studio")
    edit_event(store, ev, title="Jane & John Smith (ceremony moved)")
    r = run_sync(store, local, name="studio")
    assert r["pushed"]["updated"] == 1
    text = (folder / f"{ev}@wedsync.ics").read_text()
    assert "SUMMARY:Jane & John Smith (ceremony moved)" in text and "SEQUENCE:1" in text


def test_unbooked_wedding_is_deleted_from_the_calendar(store, local, folder):
    ev = seed_wedding(store)
    run_sync(store, local, name="studio")
    set_status(store, ev, "cancelled")
    r = run_sync(store, local, name="studio")
    assert r["pushed"]["deleted"] == 1 and ics_files(folder) == []
    assert store.scalar("SELECT COUNT(*) FROM calendar_links") == 0


def test_deletes_wait_while_the_wedding_day_protocol_is_active(store, local, folder):
    class State:
        def __init__(self, active):
            self.active, self.reason = active, "Saturday: wedding day"

    ev = seed_wedding(store)
    run_sync(store, local, name="studio")
    set_status(store, ev, "cancelled")
    r = run_sync(store, local, name="studio", wedding_day=lambda: State(True))
    assert r["pushed"]["deleted"] == 0 and r["deferred"] == [{"event_id": ev, "remote_id": f"{ev}@wedsync.ics"}]
    assert ics_files(folder) == [f"{ev}@wedsync.ics"]
    r = run_sync(store, local, name="studio", wedding_day=lambda: State(False))
    assert r["pushed"]["deleted"] == 1 and r["deferred"] == [] and ics_files(folder) == []


# -- pull ----------------------------------------------------------------------------------------------
def test_edit_in_the_file_flows_back_with_a_version_bump_and_event(store, local, folder):
    ev = seed_wedding(store)
    run_sync(store, local, name="studio")
    rewrite(folder / f"{ev}@wedsync.ics", "DTSTART;TZID=Europe/London:20270612T140000",
            "DTSTART;TZID=Europe/London:20270612T130000")
    r = run_sync(store, local, name="studio")
    assert r["pulled"]["updated"] == 1 and r["pushed"]["updated"] == 0
    row = event_row(store, ev)
    assert row["version"] == 2 and datetime.fromisoformat(row["start"]) == datetime(2027, 6, 12, 13, tzinfo=LONDON)
    assert [e["event_id"] for e in domain_events(store, "event.updated")] == [ev]
    # Another calendar gets the moved event: its link is behind the bumped version.
    other = MemoryBackend(clock=store.clock)
    run_sync(store, other, name="second")
    assert other.items[f"{ev}@wedsync"].fields.start == datetime(2027, 6, 12, 13, tzinfo=LONDON)


def test_file_deleted_by_hand_deletes_our_event(store, local, folder):
    ev, keep = seed_wedding(store), seed_wedding(store, name="Other Couple", day=datetime(2027, 7, 3, 12, tzinfo=LONDON))
    run_sync(store, local, name="studio")
    (folder / f"{ev}@wedsync.ics").unlink()
    r = run_sync(store, local, name="studio")
    assert r["pulled"]["deleted"] == 1
    assert event_row(store, ev)["deleted"] == 1 and event_row(store, keep)["deleted"] == 0
    assert [e["event_id"] for e in domain_events(store, "event.deleted")] == [ev]


def test_foreign_files_are_never_touched(store, local, folder):
    foreign = folder / "dentist.ics"
    foreign.write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:dentist-1\r\n"
                        b"DTSTART:20270612T100000Z\r\nDTEND:20270612T110000Z\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    broken = folder / "notes.ics"
    broken.write_bytes(b"not a calendar")
    seed_wedding(store)
    for full in (False, True, False):
        r = run_sync(store, local, name="studio", full=full)
        assert r["status"] == "ok"
    assert foreign.read_bytes().startswith(b"BEGIN:VCALENDAR") and broken.read_bytes() == b"not a calendar"
    foreign.write_bytes(foreign.read_bytes().replace(b"Dentist", b"Dentist (moved)"))
    r = run_sync(store, local, name="studio")
    assert r["pulled"] == {"created": 0, "updated": 0, "deleted": 0}
    foreign.unlink()
    r = run_sync(store, local, name="studio")
    assert r["pulled"]["deleted"] == 0 and store.scalar("SELECT COUNT(*) FROM events WHERE deleted = 0") == 1


# -- conflicts -----------------------------------------------------------------------------------------
def _both_edited(store, mem, clock, remote_first: bool):
    ev = seed_wedding(store)
    run_sync(store, mem)
    rid = f"{ev}@wedsync"
    if remote_first:
        mem.edit(rid, title="Their title")
        clock.advance(60)
        edit_event(store, ev, title="Our title")
    else:
        edit_event(store, ev, title="Our title")
        clock.advance(60)
        mem.edit(rid, title="Their title")
    clock.advance(60)
    return ev, rid


@pytest.mark.parametrize("policy,remote_first,expected", [
    ("local", False, "Our title"), ("local", True, "Our title"),
    ("remote", False, "Their title"), ("remote", True, "Their title"),
    ("newest", True, "Our title"), ("newest", False, "Their title"),
])
def test_conflict_policies_converge_and_keep_both_versions(store, mem, runtime, policy, remote_first, expected):
    ev, rid = _both_edited(store, mem, runtime.clock, remote_first)
    r = run_sync(store, mem, conflicts=policy)
    assert r["conflicts"] == 1
    assert event_row(store, ev)["title"] == expected and mem.items[rid].fields.title == expected
    [c] = open_conflicts(store, include_resolved=True)
    assert {c["local"]["fields"]["title"], c["remote"]["fields"]["title"]} == {"Our title", "Their title"}
    assert c["resolved_at"] is not None and c["resolution"] in ("local", "remote")
    assert len(domain_events(store, "sync.conflict")) == 1
    again = run_sync(store, mem, conflicts=policy)
    assert again["conflicts"] == 0 and again["pushed"]["updated"] == 0 and len(mem.ours()) == 1


@pytest.mark.parametrize("keep,expected", [("local", "Our title"), ("remote", "Their title")])
def test_manual_conflict_leaves_both_sides_until_resolved(store, mem, runtime, keep, expected):
    ev, rid = _both_edited(store, mem, runtime.clock, remote_first=True)
    r = run_sync(store, mem, conflicts="manual")
    assert r["conflicts"] == 1
    assert event_row(store, ev)["title"] == "Our title" and mem.items[rid].fields.title == "Their title"
    [c] = open_conflicts(store)
    assert c["resolved_at"] is None
    r = run_sync(store, mem, conflicts="manual")  # still open: nothing changes, no new conflict
    assert r["conflicts"] == 0 and mem.items[rid].fields.title == "Their title"
    resolve_conflict(store, c["id"], keep, timezone="Europe/London")
    assert open_conflicts(store) == []
    run_sync(store, mem, conflicts="manual")
    assert event_row(store, ev)["title"] == expected and mem.items[rid].fields.title == expected
    assert len(mem.ours()) == 1


def test_remote_delete_of_a_locally_edited_event_is_a_conflict_modification_wins(store, mem):
    ev = seed_wedding(store)
    run_sync(store, mem)
    edit_event(store, ev, title="Our title")
    mem.remove(f"{ev}@wedsync")
    r = run_sync(store, mem, conflicts="newest")
    assert r["conflicts"] == 1 and event_row(store, ev)["deleted"] == 0
    assert [e.fields.title for e in mem.ours()] == ["Our title"]


def test_412_during_update_takes_the_conflict_path(store, mem):
    ev = seed_wedding(store)
    run_sync(store, mem)
    rid = f"{ev}@wedsync"
    edit_event(store, ev, title="Our title")
    # Their edit lands after our listing but before our write: the update's If-Match fails.
    real_changes = mem.changes

    def changes_then_edit(cursor):
        out = real_changes(cursor)
        mem.edit(rid, title="Their title")
        return out

    mem.changes = changes_then_edit
    r = run_sync(store, mem, conflicts="remote")
    assert r["conflicts"] == 1 and event_row(store, ev)["title"] == "Their title"
    mem.changes = real_changes
    assert mem.items[rid].fields.title == "Their title"


# -- safety, cursors, dry run --------------------------------------------------------------------------
def test_safety_stop_when_the_calendar_suddenly_looks_empty(store, local, folder):
    ids = [seed_wedding(store, name=f"Couple {i}", day=datetime(2027, 6, 1 + i, 12, tzinfo=LONDON)) for i in range(4)]
    run_sync(store, local, name="studio")
    for p in folder.glob("*.ics"):
        p.unlink()
    with pytest.raises(SafetyStop) as exc:
        run_sync(store, local, name="studio")
    assert "--full" in exc.value.sentence() and "max_delete_ratio" in exc.value.sentence()
    assert store.scalar("SELECT COUNT(*) FROM events WHERE deleted = 1") == 0
    assert store.scalar("SELECT COUNT(*) FROM calendar_links") == 4
    # A full listing says the same; allowing it applies the deletions.
    with pytest.raises(SafetyStop):
        run_sync(store, local, name="studio", full=True)
    r = run_sync(store, local, name="studio", max_delete_ratio=1.0)
    assert r["pulled"]["deleted"] == 4 and all(event_row(store, i)["deleted"] for i in ids)


def test_expired_cursor_means_a_full_listing_without_duplicates(store, mem):
    a = seed_wedding(store)
    run_sync(store, mem)
    b = seed_wedding(store, name="Second Couple", day=datetime(2027, 8, 1, 12, tzinfo=LONDON))
    mem.epoch += 1
    r = run_sync(store, mem)
    assert r["cursor_reset"] is True and r["pushed"]["created"] == 1
    assert sorted(e.uid for e in mem.ours()) == sorted([f"{a}@wedsync", f"{b}@wedsync"])


def test_dry_run_reports_the_plan_and_writes_nothing(store, local, folder, runtime):
    ev = seed_wedding(store)
    db = runtime.paths.db_file

    def snapshot():
        return {t: store.query(f"SELECT * FROM {t}") for t in
                ("events", "calendar_links", "cursors", "conflicts", "domain_events")}

    before = snapshot()
    r = run_sync(store, local, name="studio", dry_run=True)
    assert r["dry_run"] is True and r["pushed"]["created"] == 1
    assert [p["action"] for p in r["plan"]] == ["create"] and r["plan"][0]["event_id"] == ev
    assert snapshot() == before and ics_files(folder) == [] and db.exists()
    run_sync(store, local, name="studio")
    rewrite(folder / f"{ev}@wedsync.ics", "SUMMARY:Jane & John Smith", "SUMMARY:Retitled")
    before, files = snapshot(), {p.name: p.read_bytes() for p in folder.iterdir()}
    r = run_sync(store, local, name="studio", dry_run=True)
    assert r["pulled"]["updated"] == 1 and snapshot() == before
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files


def test_double_bookings_are_reported(store, mem):
    a = seed_wedding(store, name="First Couple", day=datetime(2027, 6, 12, 12, tzinfo=LONDON))
    b = seed_wedding(store, name="Second Couple", day=datetime(2027, 6, 12, 18, tzinfo=LONDON))
    seed_wedding(store, name="Next Day", day=datetime(2027, 6, 13, 12, tzinfo=LONDON), hours=4)
    r = run_sync(store, mem)
    assert [(d["a"]["event_id"], d["b"]["event_id"]) for d in r["double_bookings"]] == [(a, b)]


# -- crash recovery (in process; the kill -9 version is in test_sync_crash.py) -----------------------------
@pytest.mark.parametrize("op,when", [("create", "before"), ("create", "after"), ("update", "after"),
                                     ("delete", "after")])
def test_crash_around_a_write_then_rerun_converges_without_duplicates(store, mem, op, when):
    a = seed_wedding(store)
    b = seed_wedding(store, name="Second Couple", day=datetime(2027, 8, 1, 12, tzinfo=LONDON))
    if op != "create":
        run_sync(store, mem)
        edit_event(store, a, title="Renamed")
        set_status(store, b, "cancelled")
    mem.crash_on = (op, when, 1)
    with pytest.raises(SimulatedCrash):
        run_sync(store, mem)
    run_sync(store, mem)
    uids = sorted(e.uid for e in mem.ours())
    if op == "create":
        assert uids == sorted([f"{a}@wedsync", f"{b}@wedsync"])
    else:
        assert uids == [f"{a}@wedsync"] and mem.items[f"{a}@wedsync"].fields.title == "Renamed"
    r = run_sync(store, mem)
    assert r["pushed"] == {"created": 0, "updated": 0, "deleted": 0} and r["conflicts"] == 0


def test_pending_link_recovers_a_create_the_listing_does_not_show_yet(store, runtime):
    """A provider whose change feed lags: the item created just before the crash is not listed on
    the rerun. The pending link (committed before the create) makes the engine look it up by UID."""
    mem = MemoryBackend(clock=runtime.clock, idempotent_create=False)
    ev = seed_wedding(store)
    mem.crash_on = ("create", "after", 1)
    with pytest.raises(SimulatedCrash):
        run_sync(store, mem)
    real_changes = mem.changes

    def lagging(cursor):
        out = real_changes(cursor)
        out.items = [i for i in out.items if not i.ours]
        return out

    mem.changes = lagging
    run_sync(store, mem)
    assert [e.uid for e in mem.ours()] == [f"{ev}@wedsync"]
    assert store.one("SELECT state, remote_id FROM calendar_links")["state"] == "synced"


def test_a_deferred_delete_is_cancelled_when_the_wedding_is_booked_again(store, local, folder):
    class Active:
        active, reason = True, "Saturday"

    ev = seed_wedding(store)
    run_sync(store, local, name="studio")
    set_status(store, ev, "cancelled")
    assert run_sync(store, local, name="studio", wedding_day=Active)["deferred"]
    set_status(store, ev, "booked")
    r = run_sync(store, local, name="studio", wedding_day=Active)
    assert r["deferred"] == [] and ics_files(folder) == [f"{ev}@wedsync.ics"]
    assert store.scalar("SELECT state FROM calendar_links") == "synced"


def test_edits_to_different_fields_on_each_side_merge_without_a_conflict(store, local, folder):
    ev = seed_wedding(store)
    run_sync(store, local, name="studio", conflicts="manual")
    rewrite(folder / f"{ev}@wedsync.ics", "SUMMARY:Jane & John Smith", "SUMMARY:Jane & John (retitled there)")
    edit_event(store, ev, location="New Barn")
    r = run_sync(store, local, name="studio", conflicts="manual")
    assert r["conflicts"] == 0 and open_conflicts(store, include_resolved=True) == []
    row = event_row(store, ev)
    assert row["title"] == "Jane & John (retitled there)" and row["location"] == "New Barn"
    text = (folder / f"{ev}@wedsync.ics").read_text()
    assert "SUMMARY:Jane & John (retitled there)" in text and "LOCATION:New Barn" in text
    assert run_sync(store, local, name="studio")["pushed"]["updated"] == 0


def test_foreign_timed_events_overlapping_a_booked_wedding_are_double_bookings(store, local, folder):
    ev = seed_wedding(store, day=datetime(2027, 6, 12, 14, tzinfo=LONDON), hours=9)
    clash = folder / "studio-shoot.ics"
    clash.write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:shoot-1\r\n"
                      b"DTSTART:20270612T150000Z\r\nDTEND:20270612T160000Z\r\nSUMMARY:Portrait shoot\r\nEND:VEVENT\r\n"
                      b"END:VCALENDAR\r\n")
    (folder / "birthday.ics").write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:bday\r\nDTSTART;VALUE=DATE:20270612\r\n"
        b"SUMMARY:Birthday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    r = run_sync(store, local, name="studio")
    [d] = r["double_bookings"]
    assert d["a"]["event_id"] == ev and d["b"]["foreign"] and d["b"]["title"] == "Portrait shoot"
    # Remembered between incremental runs, forgotten once it moves away.
    assert len(run_sync(store, local, name="studio")["double_bookings"]) == 1
    clash.write_bytes(clash.read_bytes().replace(b"20270612T15", b"20270613T15").replace(b"20270612T16", b"20270613T16"))
    assert run_sync(store, local, name="studio")["double_bookings"] == []
    assert clash.read_bytes().startswith(b"BEGIN:VCALENDAR")


def test_a_pull_never_overwrites_an_import_that_landed_mid_run(store, mem, monkeypatch):
    from wedsync_cli.calendars.engine import SyncEngine

    ev = seed_wedding(store)
    run_sync(store, mem)
    mem.edit(f"{ev}@wedsync", title="Their title")
    real = SyncEngine._pull_update

    def import_lands_first(self, link, row, item, fields=None):
        edit_event(store, ev, location="Imported venue")  # another process commits in between
        monkeypatch.setattr(SyncEngine, "_pull_update", real)
        return real(self, link, row, item, fields)

    monkeypatch.setattr(SyncEngine, "_pull_update", import_lands_first)
    run_sync(store, mem)
    assert event_row(store, ev)["location"] == "Imported venue"
    run_sync(store, mem)  # the next run sees both changes: different fields, so they merge
    row = event_row(store, ev)
    assert row["title"] == "Their title" and row["location"] == "Imported venue"
    assert mem.items[f"{ev}@wedsync"].fields.location == "Imported venue"
