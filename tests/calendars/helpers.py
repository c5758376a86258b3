"""Helpers for the sync engine tests: seed the state directly, an in-memory backend, a runner."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wedsync_cli.calendars.backend import (
    BackendContext,
    CalendarBackend,
    Changes,
    CursorExpired,
    EventFields,
    NotFound,
    PreconditionFailed,
    RemoteEvent,
)
from wedsync_cli.calendars.engine import CalendarSpec, SyncEngine
from wedsync_cli.domain.models import content_hash, new_id

LONDON = ZoneInfo("Europe/London")
EVENT_FIELDS = ("kind", "title", "all_day", "start", "end", "tz", "location", "description")


def seed_wedding(store, *, name: str = "Jane & John Smith", day: datetime | None = None, hours: float = 9,
                 status: str = "booked", venue: str = "Old Barn", all_day: bool = False) -> str:
    """One client, one wedding and its wedding-day event; returns the event id."""
    day = day or datetime(2027, 6, 12, 14, tzinfo=LONDON)
    now = store.now()
    cid, wid, eid = new_id("cl_"), new_id("wd_"), new_id("ev_")
    if all_day:
        start, end = day.date().isoformat(), (day.date() + timedelta(days=1)).isoformat()
    else:
        start, end = day.isoformat(), (day + timedelta(hours=hours)).isoformat()
    row = {"kind": "wedding", "title": name, "all_day": int(all_day), "start": start, "end": end,
           "tz": "Europe/London", "location": venue, "description": None}
    with store.transaction():
        store.execute("INSERT INTO clients(id, kind, display_name, p1_first, content_hash, created_at, updated_at) "
                      "VALUES (?, 'couple', ?, ?, 'x', ?, ?)", [cid, name, name.split()[0], now, now])
        store.execute("INSERT INTO weddings(id, client_id, date, venue, status, content_hash, created_at, updated_at) "
                      "VALUES (?, ?, ?, ?, ?, 'x', ?, ?)", [wid, cid, day.date().isoformat(), venue, status, now, now])
        store.execute(
            "INSERT INTO events(id, wedding_id, kind, title, all_day, start, end, tz, location, description, version, "
            "deleted, content_hash, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,1,0,?,?,?)",
            [eid, wid, row["kind"], row["title"], row["all_day"], row["start"], row["end"], row["tz"],
             row["location"], row["description"], content_hash([row[f] for f in EVENT_FIELDS]), now, now])
    return eid


def edit_event(store, event_id: str, **cols: Any) -> None:
    """A local edit as the importer makes it: columns changed, version bumped."""
    sets = ", ".join(f"{k} = ?" for k in cols)
    with store.transaction():
        store.execute(f"UPDATE events SET {sets}, version = version + 1, updated_at = ? WHERE id = ?",
                      [*cols.values(), store.now(), event_id])


def set_status(store, event_id: str, status: str) -> None:
    with store.transaction():
        store.execute("UPDATE weddings SET status = ? WHERE id = (SELECT wedding_id FROM events WHERE id = ?)",
                      [status, event_id])


def event_row(store, event_id: str) -> dict[str, Any]:
    return store.one("SELECT * FROM events WHERE id = ?", [event_id])


class MemoryBackend(CalendarBackend):
    """A calendar held in a dict: etags, a change log for cursors, tombstones, foreign items.

    ``crash_on`` = (operation, "before"|"after", n): raise SimulatedCrash on the n-th such write,
    before or after it took effect (a kill -9 between the provider's write and ours).
    """

    provider = "memory"

    def __init__(self, ctx: BackendContext | None = None, clock=None, idempotent_create: bool = True):
        super().__init__(ctx or BackendContext(name="mem", calendar=None, provider_config={}, credentials=None,
                                               clock=clock, recorder=None, state_dir=None))
        self.items: dict[str, RemoteEvent] = {}
        self.log: list[str] = []          # remote ids in change order; cursor = position
        self.epoch = 0                    # bump to expire every cursor
        self._etags = itertools.count(1)
        self.calls = 0
        self.crash_on: tuple[str, str, int] | None = None
        self._writes: dict[str, int] = {}
        self.clock = clock
        # False: the server picks ids and a repeated create makes a second item (only the
        # engine's pending links + find_by_uid stand between a crash and a duplicate).
        self.idempotent_create = idempotent_create
        self._ids = itertools.count(1)

    # -- test-side edits --------------------------------------------------------------------------
    def _now(self):
        return self.clock.now() if self.clock else datetime.now(UTC)

    def _put(self, rid: str, uid: str | None, fields: EventFields | None) -> RemoteEvent:
        ev = RemoteEvent(remote_id=rid, etag=f'"{next(self._etags)}"', uid=uid, fields=fields, modified=self._now())
        if fields is None:
            self.items.pop(rid, None)
        else:
            self.items[rid] = ev
        self.log.append(rid)
        return ev

    def edit(self, rid: str, **changes) -> RemoteEvent:
        from dataclasses import replace

        cur = self.items[rid]
        return self._put(rid, cur.uid, replace(cur.fields, **changes))

    def remove(self, rid: str) -> None:
        self._put(rid, self.items[rid].uid, None)

    def add_foreign(self, title: str = "Dentist") -> str:
        rid = f"foreign-{len(self.log)}"
        start = datetime(2027, 6, 12, 10, tzinfo=LONDON)
        self._put(rid, f"{rid}@other-app", EventFields(title=title, start=start, end=start + timedelta(hours=1)))
        return rid

    def ours(self) -> list[RemoteEvent]:
        return [e for e in self.items.values() if e.ours]

    def _maybe_crash(self, op: str, when: str) -> None:
        if self.crash_on and self.crash_on[0] == op and self.crash_on[1] == when:
            key = f"{op}:{when}"
            self._writes[key] = self._writes.get(key, 0) + 1
            if self._writes[key] == self.crash_on[2]:
                self.crash_on = None
                raise SimulatedCrash(key)

    # -- backend interface ------------------------------------------------------------------------
    def changes(self, cursor):
        self.calls += 1
        if cursor is None:
            return Changes(items=list(self.items.values()), cursor={"pos": len(self.log), "epoch": self.epoch},
                           complete=True, requests=1)
        if cursor.get("epoch") != self.epoch:
            raise CursorExpired("sync token expired")
        changed = dict.fromkeys(self.log[cursor["pos"]:])
        items = [self.items.get(rid) or RemoteEvent(remote_id=rid, uid=None, fields=None) for rid in changed]
        return Changes(items=items, cursor={"pos": len(self.log), "epoch": self.epoch}, complete=False, requests=1)

    def get(self, remote_id):
        self.calls += 1
        return self.items.get(remote_id)

    def find_by_uid(self, uid):
        self.calls += 1
        return next((e for e in self.items.values() if e.uid == uid), None)

    def create(self, uid, fields):
        self.calls += 1
        self._maybe_crash("create", "before")
        if self.idempotent_create:
            if uid in self.items:
                return self.items[uid]
            rid = uid
        else:
            rid = f"srv-{next(self._ids)}"
        ev = self._put(rid, uid, fields)
        self._maybe_crash("create", "after")
        return ev

    def update(self, remote, fields):
        self.calls += 1
        self._maybe_crash("update", "before")
        cur = self.items.get(remote.remote_id)
        if cur is None:
            raise NotFound(remote.remote_id)
        if remote.etag is not None and cur.etag != remote.etag:
            raise PreconditionFailed(remote.remote_id)
        ev = self._put(remote.remote_id, cur.uid, fields)
        self._maybe_crash("update", "after")
        return ev

    def delete(self, remote):
        self.calls += 1
        self._maybe_crash("delete", "before")
        cur = self.items.get(remote.remote_id)
        if cur is None:
            return
        if remote.etag is not None and cur.etag != remote.etag:
            raise PreconditionFailed(remote.remote_id)
        self._put(remote.remote_id, cur.uid, None)
        self._maybe_crash("delete", "after")

    @property
    def requests(self):
        return self.calls


class SimulatedCrash(BaseException):
    """Stands in for kill -9 in the in-process property test (BaseException: nothing catches it)."""


def run_sync(store, backend, *, name: str = "mem", direction: str = "both", conflicts: str = "newest",
             statuses=("booked",), max_delete_ratio: float = 0.5, dry_run: bool = False, full: bool = False,
             wedding_day=None) -> dict[str, Any]:
    spec = CalendarSpec(name=name, provider=backend.provider, direction=direction, conflicts=conflicts,
                        statuses=tuple(statuses), max_delete_ratio=max_delete_ratio)
    return SyncEngine(store, backend, spec, timezone="Europe/London", wedding_day=wedding_day,
                      dry_run=dry_run, full=full).run()
