"""One contract every calendar backend meets, in the style of vdirsyncer's ``StorageTests``.

Subclass ``BackendContract`` in a ``test_*.py`` module and override the ``backend`` fixture
(a fresh, empty calendar per test). Optionally override ``add_foreign`` (put an item without our
marker there, out of band; returns its remote id) and ``edit_out_of_band`` (change an item as
another client would); without them the tests that need them are skipped with that reason.

    class TestLocal(BackendContract):
        @pytest.fixture
        def backend(self, tmp_path): ...
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from wedsync_cli.calendars.backend import EventFields, PreconditionFailed, RemoteEvent, uid_for
from wedsync_cli.domain.models import new_id


def _fields(title: str = "Jane & John Smith", day: int = 12, hours: int = 9) -> EventFields:
    start = datetime(2027, 6, day, 13, tzinfo=UTC)
    return EventFields(title=title, start=start, end=start + timedelta(hours=hours), tz="UTC",
                       location="Old Barn", description="Ceremony at 2pm")


def _uid() -> str:
    return uid_for(new_id("ev_"))


def _ours(changes_items: list[RemoteEvent], uid: str) -> list[RemoteEvent]:
    return [i for i in changes_items if i.uid == uid and not i.deleted]


def _same(a: EventFields, b: EventFields) -> bool:
    keys = ("title", "start", "end", "all_day", "location")
    ca, cb = a.comparable(), b.comparable()
    return all(ca[k] == cb[k] for k in keys)


def _drain(backend, cursor, rounds: int = 5):
    """Follow a cursor to the end (some providers hand out changes in pages)."""
    items: list[RemoteEvent] = []
    for _ in range(rounds):
        ch = backend.changes(cursor)
        items.extend(ch.items)
        if ch.cursor == cursor or not ch.items:
            return items, ch.cursor
        cursor = ch.cursor
    return items, cursor


class BackendContract:
    @pytest.fixture
    def backend(self):
        raise NotImplementedError("override the `backend` fixture: a fresh, empty calendar")

    @pytest.fixture
    def add_foreign(self, backend):
        def add(title: str = "Dentist") -> str:
            pytest.skip("this backend's test gives no way to add a foreign item out of band")

        return add

    @pytest.fixture
    def edit_out_of_band(self, backend):
        def edit(remote: RemoteEvent, title: str) -> None:
            pytest.skip("this backend's test gives no way to edit an item out of band")

        return edit

    # -- create / get -------------------------------------------------------------------------------
    def test_create_then_get_round_trips(self, backend):
        uid, f = _uid(), _fields()
        made = backend.create(uid, f)
        assert made.remote_id and made.etag and made.uid == uid and made.ours
        got = backend.get(made.remote_id)
        assert got is not None and got.uid == uid and got.ours and not got.deleted
        assert _same(got.fields, f)
        assert got.fields.description == "Ceremony at 2pm"

    def test_all_day_event_round_trips(self, backend):
        uid = _uid()
        f = EventFields(title="Wedding", start=date(2027, 6, 12), end=date(2027, 6, 13), all_day=True)
        got = backend.get(backend.create(uid, f).remote_id)
        assert got.fields.all_day and got.fields.start == date(2027, 6, 12) and got.fields.end == date(2027, 6, 13)

    def test_get_missing_is_none(self, backend):
        made = backend.create(_uid(), _fields())
        backend.delete(made)
        assert backend.get(made.remote_id) is None or backend.get(made.remote_id).deleted

    def test_create_is_idempotent_by_uid(self, backend):
        uid = _uid()
        first = backend.create(uid, _fields())
        second = backend.create(uid, _fields())
        assert second.remote_id == first.remote_id
        listing = backend.changes(None)
        assert listing.complete and len(_ours(listing.items, uid)) == 1

    def test_find_by_uid(self, backend):
        uid = _uid()
        made = backend.create(uid, _fields())
        found = backend.find_by_uid(uid)
        assert found is not None and found.remote_id == made.remote_id
        assert backend.find_by_uid(_uid()) is None

    # -- update / delete with etags -----------------------------------------------------------------
    def test_update_with_current_etag(self, backend):
        made = backend.create(_uid(), _fields())
        new = backend.update(made, _fields(title="Moved"))
        assert new.etag != made.etag and new.remote_id == made.remote_id
        assert backend.get(made.remote_id).fields.title == "Moved"

    def test_update_with_stale_etag_is_a_precondition_failure(self, backend):
        made = backend.create(_uid(), _fields())
        backend.update(made, _fields(title="First"))
        with pytest.raises(PreconditionFailed):
            backend.update(made, _fields(title="Second"))
        assert backend.get(made.remote_id).fields.title == "First"

    def test_delete_with_stale_etag_is_a_precondition_failure_then_current_deletes(self, backend):
        made = backend.create(_uid(), _fields())
        fresh = backend.update(made, _fields(title="Changed"))
        with pytest.raises(PreconditionFailed):
            backend.delete(made)
        assert backend.get(made.remote_id) is not None
        backend.delete(fresh)
        gone = backend.get(made.remote_id)
        assert gone is None or gone.deleted
        backend.delete(fresh)  # already gone: done, not an error

    def test_out_of_band_edit_changes_the_etag(self, backend, edit_out_of_band):
        made = backend.create(_uid(), _fields())
        edit_out_of_band(made, "Edited elsewhere")
        got = backend.get(made.remote_id)
        assert got.etag != made.etag and got.fields.title == "Edited elsewhere"
        with pytest.raises(PreconditionFailed):
            backend.update(made, _fields(title="Ours"))

    # -- listing -------------------------------------------------------------------------------------
    def test_full_then_incremental_changes(self, backend):
        keep, change, drop = (backend.create(_uid(), _fields(title=t, day=d)) for t, d in
                              (("Keep", 10), ("Change", 11), ("Drop", 12)))
        full = backend.changes(None)
        assert full.complete and full.cursor
        assert {i.uid for i in full.items if i.ours and not i.deleted} >= {keep.uid, change.uid, drop.uid}
        cursor = full.cursor
        _, cursor = _drain(backend, cursor)  # settle: nothing of ours pending
        added = backend.create(_uid(), _fields(title="Added", day=13))
        backend.update(backend.get(change.remote_id), _fields(title="Changed", day=11))
        backend.delete(backend.get(drop.remote_id))
        items, cursor = _drain(backend, cursor)
        live = {i.remote_id: i for i in items if not i.deleted}
        dead = {i.remote_id for i in items if i.deleted}
        assert added.remote_id in live and live[added.remote_id].uid == added.uid
        assert change.remote_id in live and live[change.remote_id].fields.title == "Changed"
        assert drop.remote_id in dead
        assert keep.remote_id not in live and keep.remote_id not in dead
        after, _ = _drain(backend, cursor)
        assert not [i for i in after if i.remote_id in (added.remote_id, change.remote_id, drop.remote_id)
                    and not i.deleted]

    def test_foreign_items_are_listed_but_not_ours(self, backend, add_foreign):
        rid = add_foreign("Dentist")
        full = backend.changes(None)
        [item] = [i for i in full.items if i.remote_id == rid]
        assert not item.ours and item.event_id is None and item.fields.title == "Dentist"

    def test_replace_fields_keeps_identity(self, backend):
        uid = _uid()
        made = backend.create(uid, _fields())
        new = backend.update(made, replace(_fields(), location="New Venue"))
        got = backend.get(new.remote_id)
        assert got.uid == uid and got.fields.location == "New Venue"
