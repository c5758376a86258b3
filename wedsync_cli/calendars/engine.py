"""The one sync algorithm for every calendar backend (local, Google, Outlook, CalDAV).

Per calendar (vdirsyncer-like, all I/O through the backend interface):

1. ``changes(cursor)`` (a full listing with no cursor or ``--full``; ``CursorExpired`` drops the
   cursor and lists fully — matching by our UID, so nothing is duplicated).
2. Safety stop: if the listing says most of the items we put there are gone, stop before deleting
   anything (``max_delete_ratio``).
3. Pull: each changed item carrying our marker is compared with its link (the state of both sides
   at the last sync). Changed only there ⇒ our event is updated (version bumped, so the other
   calendars get it too); changed on both sides ⇒ a conflict, resolved by the calendar's
   ``conflicts`` policy (newest | local | remote | manual) with both versions kept in
   ``conflicts``. Items without our marker are never edited or deleted.
4. The cursor is saved only after every item of the listing was applied.
5. Push: events of weddings in ``statuses`` go out. A new one first gets a 'pending' link row,
   committed BEFORE the create call, so a crash between the provider's write and ours is recovered
   with ``find_by_uid`` (and creates are idempotent by UID) — never a duplicate. Updates and
   deletes carry If-Match; a 412 takes the conflict path. Deletes wait while the wedding-day
   protocol is active ('deferred_delete').

Every applied change is written in the same transaction as its link (and its domain event), so a
``kill -9`` at any point leaves a state a rerun finishes without doubling or losing anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from wedsync_cli.calendars.backend import (
    CalendarBackend,
    CursorExpired,
    EventFields,
    NotFound,
    PreconditionFailed,
    RemoteEvent,
)
from wedsync_cli.calendars.backend import uid_for as default_uid_for
from wedsync_cli.errors import WedsyncError
from wedsync_cli.store.migrations import Migrations  # sqlite-utils own, built on first use

PENDING, SYNCED, CONFLICT, DEFERRED = "pending", "synced", "conflict", "deferred_delete"
# Columns whose hash the importer keeps in events.content_hash (transform engine's EVENT_FIELDS).
EVENT_FIELDS = ("kind", "title", "all_day", "start", "end", "tz", "location", "description")


migrations = Migrations("wedsync.calendars")


@migrations()
def m001_link_base(db):
    # The content both sides agreed on at the last sync: the common ancestor that lets an edit of
    # the title there and of the venue here merge instead of conflicting.
    db.execute("ALTER TABLE calendar_links ADD COLUMN base TEXT")


@migrations()
def m002_foreign_spans(db):
    # When the calendar's other (not ours) timed events are, for double-booking checks only.
    db.executescript(
        """
        CREATE TABLE calendar_foreign (
            calendar TEXT NOT NULL,
            remote_id TEXT NOT NULL,
            title TEXT,
            start TEXT NOT NULL,                -- UTC ISO instants
            end TEXT NOT NULL,
            PRIMARY KEY (calendar, remote_id)
        );
        CREATE INDEX calendar_foreign_start ON calendar_foreign(calendar, start);
        """
    )


# Groups of fields that merge as one: a moved event changes start, end and all-day together.
MERGE_GROUPS = {"title": ("title",), "when": ("start", "end", "all_day", "tz"), "location": ("location",),
                "description": ("description",)}


def _group_values(f: EventFields) -> dict[str, Any]:
    c = f.comparable()
    return {"title": c["title"], "when": (c["start"], c["end"], c["all_day"]), "location": c["location"],
            "description": c["description"]}


def merge3(base: EventFields, ours: EventFields, theirs: EventFields,
           prefer: str | None = None) -> tuple[EventFields, list[str]]:
    """Field-group three-way merge. Returns (merged, clashing groups). A group changed on both
    sides to different values clashes; with ``prefer`` ('local'|'remote') that side takes it."""
    from dataclasses import replace

    b, o, t = _group_values(base), _group_values(ours), _group_values(theirs)
    merged = ours
    clashes: list[str] = []
    for group, names in MERGE_GROUPS.items():
        ours_changed, theirs_changed = o[group] != b[group], t[group] != b[group]
        take_theirs = theirs_changed and not ours_changed
        if ours_changed and theirs_changed and o[group] != t[group]:
            clashes.append(group)
            take_theirs = prefer == "remote"
        if take_theirs:
            merged = replace(merged, **{n: getattr(theirs, n) for n in names})
    return merged, clashes


class SafetyStop(WedsyncError):
    """A listing claims most of our items vanished: refuse to mirror that (exit 1)."""


class _Rollback(Exception):
    pass


def _crash_point(name: str) -> None:
    try:
        from wedsync_cli.crashpoints import crash_point
    except ImportError:  # pragma: no cover - the helper ships with the delivery engine
        return
    crash_point(name)


# -- configuration ----------------------------------------------------------------------------------
@dataclass
class CalendarSpec:
    name: str
    provider: str
    direction: str = "both"          # both | push | pull
    conflicts: str = "newest"        # newest | local | remote | manual
    statuses: tuple[str, ...] = ("booked",)
    max_delete_ratio: float = 0.5

    @classmethod
    def from_config(cls, name: str, cfg) -> CalendarSpec:
        return cls(name=name, provider=cfg.provider, direction=cfg.direction, conflicts=cfg.conflicts,
                   statuses=tuple(cfg.statuses or ("booked",)), max_delete_ratio=cfg.max_delete_ratio)


@dataclass
class _InactiveProtocol:
    active: bool = False
    reason: str = "wedding-day protocol not available"


def wedding_day_state(rt):
    """The wedding-day protocol's state, or 'inactive' where that module is not installed."""
    try:
        from wedsync_cli.wedding_day.policy import WeddingDayPolicy
    except ImportError:
        return _InactiveProtocol()
    return WeddingDayPolicy.from_runtime(rt).state()


# -- events <-> EventFields -------------------------------------------------------------------------
def _zone(name: str | None):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def event_fields(row: dict[str, Any], default_tz: str = "UTC") -> EventFields:
    """Our stored event as the content a calendar holds."""
    if row["all_day"]:
        start: date | datetime = date.fromisoformat(row["start"][:10])
        end: date | datetime = date.fromisoformat(row["end"][:10])
        tz = row.get("tz")
    else:
        tz = row.get("tz") or default_tz
        z = _zone(tz)

        def parse(v: str) -> datetime:
            dt = datetime.fromisoformat(v)
            return dt.replace(tzinfo=z) if dt.tzinfo is None else dt.astimezone(z)

        start, end = parse(row["start"]), parse(row["end"])
    return EventFields(title=row["title"] or "", start=start, end=end, all_day=bool(row["all_day"]), tz=tz,
                       location=row.get("location") or None, description=row.get("description") or None)


def fields_to_json(f: EventFields | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"title": f.title, "start": f.start.isoformat(), "end": f.end.isoformat(), "all_day": f.all_day,
            "tz": f.tz, "location": f.location, "description": f.description}


def fields_from_json(d: dict[str, Any] | None) -> EventFields | None:
    if not d:
        return None
    if d.get("all_day"):
        start: date | datetime = date.fromisoformat(d["start"][:10])
        end: date | datetime = date.fromisoformat(d["end"][:10])
    else:
        start, end = datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"])
    return EventFields(title=d.get("title") or "", start=start, end=end, all_day=bool(d.get("all_day")),
                       tz=d.get("tz"), location=d.get("location"), description=d.get("description"))


def _event_columns(f: EventFields, row: dict[str, Any], default_tz: str) -> dict[str, Any]:
    """The events-table columns for content pulled from a calendar."""
    if f.all_day:
        s = f.start.date() if isinstance(f.start, datetime) else f.start
        e = f.end.date() if isinstance(f.end, datetime) else f.end
        tz = row.get("tz") or default_tz
        start, end = s.isoformat(), e.isoformat()
    else:
        # Keep our zone for display unless the calendar named a real one.
        tz = f.tz if f.tz and f.tz != "UTC" and _zone(f.tz).key == f.tz else (row.get("tz") or default_tz)
        z = _zone(tz)
        start = f.start.astimezone(z).isoformat() if isinstance(f.start, datetime) else f.start.isoformat()
        end = f.end.astimezone(z).isoformat() if isinstance(f.end, datetime) else f.end.isoformat()
    return {"title": f.title, "all_day": 1 if f.all_day else 0, "start": start, "end": end, "tz": tz,
            "location": f.location, "description": f.description}


def _instant(value: str, all_day: bool, zone) -> datetime:
    if all_day:
        return datetime.combine(date.fromisoformat(value[:10]), datetime.min.time(), zone).astimezone(UTC)
    dt = datetime.fromisoformat(value)
    return (dt.replace(tzinfo=zone) if dt.tzinfo is None else dt).astimezone(UTC)


def find_double_bookings(store, statuses=("booked",), timezone: str = "UTC",
                         calendar: str | None = None) -> list[dict[str, Any]]:
    """Pairs of events of different weddings (in ``statuses``) that overlap in time; with
    ``calendar``, also our events overlapping that calendar's other timed events
    (``b.foreign`` is true for those).

    The `status` screen and the sync summary both call this.
    """
    statuses = tuple(statuses) or ("booked",)
    zone = _zone(timezone)
    rows = store.query(
        f"""SELECT e.id, e.wedding_id, e.title, e.start, e.end, e.all_day, w.date, c.display_name AS client
            FROM events e JOIN weddings w ON w.id = e.wedding_id LEFT JOIN clients c ON c.id = w.client_id
            WHERE e.deleted = 0 AND w.status IN ({','.join('?' * len(statuses))})""",
        list(statuses),
    )
    spans = []
    for r in rows:
        try:
            s, e = _instant(r["start"], r["all_day"], zone), _instant(r["end"], r["all_day"], zone)
        except ValueError:
            continue
        spans.append((s, e, r))
    spans.sort(key=lambda t: (t[0], t[2]["id"]))
    out: list[dict[str, Any]] = []
    active: list[tuple[datetime, datetime, dict]] = []
    for s, e, r in spans:
        active = [a for a in active if a[1] > s]
        for _as, _ae, other in active:
            if other["wedding_id"] != r["wedding_id"]:
                out.append({
                    "a": {"event_id": other["id"], "wedding_id": other["wedding_id"], "client": other["client"],
                          "title": other["title"], "start": other["start"], "end": other["end"]},
                    "b": {"event_id": r["id"], "wedding_id": r["wedding_id"], "client": r["client"],
                          "title": r["title"], "start": r["start"], "end": r["end"]},
                })
        active.append((s, e, r))
    if calendar is not None:
        out.extend(_foreign_overlaps(store, calendar, spans))
    return out


def _foreign_overlaps(store, calendar: str, spans) -> list[dict[str, Any]]:
    rows = store.query("SELECT remote_id, title, start, end FROM calendar_foreign WHERE calendar = ? ORDER BY start",
                       [calendar])
    out = []
    for f in rows:
        fs, fe = datetime.fromisoformat(f["start"]), datetime.fromisoformat(f["end"])
        for s, e, r in spans:
            if s < fe and fs < e:
                out.append({
                    "a": {"event_id": r["id"], "wedding_id": r["wedding_id"], "client": r["client"],
                          "title": r["title"], "start": r["start"], "end": r["end"]},
                    "b": {"foreign": True, "remote_id": f["remote_id"], "client": None, "title": f["title"],
                          "start": f["start"], "end": f["end"]},
                })
    return out


# -- dry run: a backend whose writes only record the plan -----------------------------------------
class _PlanningBackend:
    def __init__(self, inner: CalendarBackend):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def create(self, uid: str, fields: EventFields) -> RemoteEvent:
        return RemoteEvent(remote_id=f"(new){uid}", etag="dry-run", uid=uid, fields=fields)

    def update(self, remote: RemoteEvent, fields: EventFields) -> RemoteEvent:
        return RemoteEvent(remote_id=remote.remote_id, etag="dry-run", uid=remote.uid, fields=fields)

    def delete(self, remote: RemoteEvent) -> None:
        return None

    def advance_cursor(self, cursor):
        return cursor


# -- the engine ---------------------------------------------------------------------------------------
class SyncEngine:
    def __init__(self, store, backend: CalendarBackend, spec: CalendarSpec, *, timezone: str = "UTC",
                 wedding_day=None, dry_run: bool = False, full: bool = False, source_label: str | None = None):
        self.store = store
        self.real_backend = backend
        self.backend = _PlanningBackend(backend) if dry_run else backend
        self.spec = spec
        self.timezone = timezone
        self._wedding_day = wedding_day  # callable -> state with .active/.reason, or None
        self._protocol = None
        self.dry_run = dry_run
        self.full = full
        self.source = source_label or f"calendar:{spec.name}"
        self.cursor_key = f"calendar:{spec.name}"
        self.result: dict[str, Any] = {
            "name": spec.name, "provider": spec.provider, "status": "ok",
            "pulled": {"created": 0, "updated": 0, "deleted": 0},
            "pushed": {"created": 0, "updated": 0, "deleted": 0},
            "conflicts": 0, "requests": 0, "error": None,
            "deferred": [], "double_bookings": [], "dry_run": dry_run, "cursor_reset": False, "plan": [],
        }
        self._links: dict[str, dict[str, Any]] = {}

    # -- public -----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        before = self._requests()
        try:
            if self.dry_run:
                try:
                    with self.store.transaction():
                        self._run()
                        raise _Rollback
                except _Rollback:
                    pass
            else:
                self._run()
        finally:
            self.result["requests"] = self._requests() - before
        self.result["double_bookings"] = find_double_bookings(self.store, self.spec.statuses, self.timezone,
                                                              calendar=self.spec.name)
        return self.result

    # -- helpers ----------------------------------------------------------------------------------
    def _requests(self) -> int:
        try:
            return int(self.real_backend.requests)
        except Exception:  # noqa: BLE001 - a count is informative only
            return 0

    def _uid(self, event_id: str) -> str:
        fn = getattr(self.real_backend, "uid_for", None)
        return fn(event_id) if callable(fn) else default_uid_for(event_id)

    def _plan(self, action: str, event_id: str | None, title: str | None = None, **extra) -> None:
        self.result["plan"].append({"action": action, "event_id": event_id, "title": title, **extra})

    def _now(self) -> str:
        return self.store.now()

    def _load_links(self) -> None:
        rows = self.store.query("SELECT * FROM calendar_links WHERE calendar = ?", [self.spec.name])
        self._links = {r["event_id"]: r for r in rows}

    def _by_remote(self) -> dict[str, dict[str, Any]]:
        return {r["remote_id"]: r for r in self._links.values() if r["remote_id"]}

    def _event(self, event_id: str | None) -> dict[str, Any] | None:
        if not event_id:
            return None
        return self.store.one(
            "SELECT e.*, w.status AS wedding_status, w.client_id FROM events e "
            "JOIN weddings w ON w.id = e.wedding_id WHERE e.id = ?", [event_id])

    def _in_scope(self, ev: dict[str, Any] | None) -> bool:
        return bool(ev) and not ev["deleted"] and ev["wedding_status"] in self.spec.statuses

    def _fields(self, ev: dict[str, Any]) -> EventFields:
        return event_fields(ev, self.timezone)

    def _save_link(self, link: dict[str, Any]) -> None:
        link = {**link, "calendar": self.spec.name, "last_synced_at": self._now()}
        cols = ("calendar", "event_id", "uid", "remote_id", "etag", "local_version", "local_hash",
                "remote_hash", "state", "created_by_us", "last_synced_at", "base")
        link.setdefault("created_by_us", 1)
        for c in cols:
            link.setdefault(c, None)
        self.store.execute(
            f"INSERT INTO calendar_links({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            "ON CONFLICT(calendar, event_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in cols[2:]),
            [link[c] for c in cols],
        )
        self._links[link["event_id"]] = link

    def _drop_link(self, event_id: str) -> None:
        self.store.execute("DELETE FROM calendar_links WHERE calendar = ? AND event_id = ?",
                           [self.spec.name, event_id])
        self._links.pop(event_id, None)

    def _local_changed(self, link: dict[str, Any], ev: dict[str, Any], lhash: str) -> bool:
        if not link.get("local_version"):
            return True  # 0/NULL: our side must be pushed (a 'local' resolution, an adopted copy)
        return ev["version"] != link["local_version"] and lhash != link["local_hash"]

    def _emit(self, type_: str, data: dict[str, Any]) -> None:
        from wedsync_cli.notify import emit

        emit(self.store, type_, data)

    # -- the run ----------------------------------------------------------------------------------
    def _run(self) -> None:
        cursor = None if self.full else self.store.get_cursor(self.cursor_key)
        try:
            changes = self.backend.changes(cursor)
        except CursorExpired:
            self.result["cursor_reset"] = True
            with self.store.transaction():
                self.store.set_cursor(self.cursor_key, None)
            changes = self.backend.changes(None)
        self._load_links()
        self._safety_check(changes)

        seen: set[str] = set(changes.unreadable or [])
        for item in changes.items:
            seen.add(item.remote_id)
            self._apply_remote(item)
        if changes.complete:
            # A full listing: a linked item it does not show was deleted there.
            for link in list(self._links.values()):
                if link["remote_id"] and link["remote_id"] not in seen and link["state"] != PENDING:
                    self._apply_remote(RemoteEvent(remote_id=link["remote_id"], uid=link["uid"], fields=None))
        with self.store.transaction():
            self._remember_foreign(changes)
            self.store.set_cursor(self.cursor_key, changes.cursor)

        if self.spec.direction in ("both", "push"):
            self._push()
            advanced = self.backend.advance_cursor(changes.cursor)
            if advanced != changes.cursor:
                with self.store.transaction():
                    self.store.set_cursor(self.cursor_key, advanced)
        self.result["deferred"] = [
            {"event_id": r["event_id"], "remote_id": r["remote_id"]}
            for r in self.store.query("SELECT event_id, remote_id FROM calendar_links WHERE calendar = ? AND state = ?",
                                      [self.spec.name, DEFERRED])
        ]

    def _remember_foreign(self, changes) -> None:
        """Keep the spans of the calendar's other timed events (inside the cursor's transaction)."""
        cal = self.spec.name
        if changes.complete:
            self.store.execute("DELETE FROM calendar_foreign WHERE calendar = ?", [cal])
        linked = self._by_remote()
        rows = []
        for item in changes.items:
            if item.ours or item.remote_id in linked:
                continue
            f = item.fields
            if item.deleted or f is None or f.all_day or not isinstance(f.start, datetime):
                # gone, or all-day (birthdays, holidays: usually free time, not a booking)
                self.store.execute("DELETE FROM calendar_foreign WHERE calendar = ? AND remote_id = ?",
                                   [cal, item.remote_id])
                continue
            rows.append((cal, item.remote_id, f.title, f.start.astimezone(UTC).isoformat(),
                         f.end.astimezone(UTC).isoformat()))
        if rows:
            self.store.db.conn.executemany(
                "INSERT INTO calendar_foreign(calendar, remote_id, title, start, end) VALUES (?,?,?,?,?) "
                "ON CONFLICT(calendar, remote_id) DO UPDATE SET title = excluded.title, start = excluded.start, "
                "end = excluded.end", rows)

    def _safety_check(self, changes) -> None:
        tracked = [r for r in self._links.values() if r["remote_id"] and r["state"] != PENDING]
        if not tracked:
            return
        if changes.complete:
            present = {i.remote_id for i in changes.items if not i.deleted} | set(changes.unreadable or [])
            gone = sum(1 for r in tracked if r["remote_id"] not in present)
        else:
            ids = {r["remote_id"] for r in tracked}
            gone = len({i.remote_id for i in changes.items if i.deleted and i.remote_id in ids})
        ratio = self.spec.max_delete_ratio
        # A single deletion is always a person's doing; a mass one is checked against the ratio.
        if gone >= 2 and gone > ratio * len(tracked):
            raise SafetyStop(
                f"Calendar '{self.spec.name}' now shows only {len(tracked) - gone} of the {len(tracked)} events "
                f"wedsync put there, so nothing was deleted or changed",
                fix=(f"if the listing was wrong, rerun `wedsync sync --full {self.spec.name}`; if those events were "
                     f"really deleted, raise `max_delete_ratio` in [calendars.{self.spec.name}] (1.0 allows it) and rerun"),
            )

    # -- pull -------------------------------------------------------------------------------------
    def _apply_remote(self, item: RemoteEvent) -> None:
        by_remote = self._by_remote()
        link = by_remote.get(item.remote_id)
        if link is None and item.ours:
            link = self._links.get(item.event_id)
        if link is None and not item.ours:
            return  # not ours: never edited or deleted (kept only for double-booking checks)
        if link is None:
            if not item.deleted:
                self._adopt(item)
            return
        if link["remote_id"] and link["remote_id"] != item.remote_id:
            return  # a copy of our item (a duplicated file/event): we track the original only
        if link["state"] == PENDING or not link["remote_id"]:
            if not item.deleted:
                self._adopt(item, link)
            return
        ev = self._event(link["event_id"])
        if item.deleted:
            self._remote_deleted(link, ev)
            return
        rhash = item.fields.hash()
        if rhash == link["remote_hash"]:
            if item.etag != link["etag"]:
                with self.store.transaction():
                    self._save_link({**link, "etag": item.etag})
            return
        if link["state"] == CONFLICT:
            self._refresh_open_conflict(link, item)
            return
        if not self._in_scope(ev):
            return  # we are about to delete it: the push phase's If-Match decides
        lfields = self._fields(ev)
        lhash = lfields.hash()
        if lhash == rhash:  # both sides hold the same content (e.g. our own write coming back)
            with self.store.transaction():
                self._save_link({**link, "etag": item.etag, "remote_hash": rhash, "local_hash": lhash,
                                 "local_version": ev["version"], "state": SYNCED,
                                 "base": json.dumps(fields_to_json(lfields))})
            return
        if self.spec.direction == "push":
            with self.store.transaction():  # ours is the truth: overwrite theirs on the push below
                self._save_link({**link, "etag": item.etag, "remote_hash": rhash, "local_version": 0})
            return
        if not self._local_changed(link, ev, lhash):
            with self.store.transaction():
                self._pull_update(link, ev, item)
            return
        self._reconcile(link, ev, item, "changed in wedsync and in the calendar since the last sync")

    def _adopt(self, item: RemoteEvent, link: dict[str, Any] | None = None) -> None:
        """An item with our marker we have no confirmed link for: a create that landed before a
        crash (pending link), or a link lost. Track it; push ours over it if they differ."""
        ev = self._event(item.event_id)
        if not self._in_scope(ev):
            if link is not None and link["state"] == PENDING:
                with self.store.transaction():
                    self._save_link({**link, "remote_id": item.remote_id, "etag": item.etag,
                                     "remote_hash": item.fields.hash(), "local_version": 0, "state": SYNCED})
            return
        lhash = self._fields(ev).hash()
        rhash = item.fields.hash()
        with self.store.transaction():
            self._save_link({
                "event_id": ev["id"], "uid": (link or {}).get("uid") or item.uid, "remote_id": item.remote_id,
                "etag": item.etag, "local_version": ev["version"] if lhash == rhash else 0,
                "local_hash": rhash, "remote_hash": rhash, "state": SYNCED,
                "base": json.dumps(fields_to_json(item.fields)),
            })

    def _pull_update(self, link: dict[str, Any], ev: dict[str, Any], item: RemoteEvent,
                     fields: EventFields | None = None) -> None:
        """Apply their content (or ``fields``, a merge of both sides, then pushed back) to our
        event, inside the caller's transaction."""
        merged = fields is not None and fields.hash() != item.fields.hash()
        fields = fields or item.fields
        cols = _event_columns(fields, ev, self.timezone)
        changed = {k: v for k, v in cols.items() if ev.get(k) != v}
        new = {**ev, **cols}
        from wedsync_cli.domain.hashing import content_hash

        chash = content_hash([new[f] for f in EVENT_FIELDS])
        version = ev["version"] + 1
        cur = self.store.execute(
            "UPDATE events SET title = ?, all_day = ?, start = ?, end = ?, tz = ?, location = ?, description = ?, "
            "deleted = 0, version = ?, content_hash = ?, updated_at = ? WHERE id = ? AND version = ?",
            [cols["title"], cols["all_day"], cols["start"], cols["end"], cols["tz"], cols["location"],
             cols["description"], version, chash, self._now(), ev["id"], ev["version"]],
        )
        if cur.rowcount == 0:
            return  # an import changed it since we read it: the next run sees both changes
        if ev.get("kind") == "wedding" and "start" in changed:
            self.store.execute("UPDATE weddings SET date = ?, updated_at = ? WHERE id = ? AND date IS NOT ?",
                               [cols["start"][:10], self._now(), ev["wedding_id"], cols["start"][:10]])
        lfields = self._fields({**new, "version": version})
        self._save_link({**link, "remote_id": item.remote_id, "etag": item.etag, "remote_hash": item.fields.hash(),
                         "local_hash": lfields.hash(), "local_version": 0 if merged else version, "state": SYNCED,
                         "base": link.get("base") if merged else json.dumps(fields_to_json(lfields))})
        self._emit("event.updated", {"event_id": ev["id"], "wedding_id": ev["wedding_id"],
                                     "client_id": ev.get("client_id"), "source": self.source, "changed": changed})
        self.result["pulled"]["updated"] += 1
        self._plan("pull-update", ev["id"], cols["title"])

    def _pull_delete(self, link: dict[str, Any], ev: dict[str, Any]) -> None:
        cur = self.store.execute("UPDATE events SET deleted = 1, version = version + 1, updated_at = ? "
                                 "WHERE id = ? AND version = ?", [self._now(), ev["id"], ev["version"]])
        if cur.rowcount == 0:
            return  # changed here since we read it: not ours to delete now; the next run decides
        self._drop_link(ev["id"])
        self._emit("event.deleted", {"event_id": ev["id"], "wedding_id": ev["wedding_id"],
                                     "client_id": ev.get("client_id"), "source": self.source})
        self.result["pulled"]["deleted"] += 1
        self._plan("pull-delete", ev["id"], ev["title"])

    def _remote_deleted(self, link: dict[str, Any], ev: dict[str, Any] | None) -> None:
        if link["state"] == CONFLICT:
            self._refresh_open_conflict(link, None)
            return
        if not self._in_scope(ev):
            with self.store.transaction():
                self._drop_link(link["event_id"])  # gone on both sides (or about to be): done
            return
        lhash = self._fields(ev).hash()
        if self.spec.direction == "push":
            with self.store.transaction():  # ours is the truth: put it back
                self._save_link({**link, "remote_id": None, "etag": None, "remote_hash": None, "state": PENDING})
            return
        if not self._local_changed(link, ev, lhash):
            with self.store.transaction():
                self._pull_delete(link, ev)
            return
        self._conflict(link, ev, None, "deleted in the calendar but changed in wedsync since the last sync")

    # -- conflicts ----------------------------------------------------------------------------------
    def _reconcile(self, link: dict[str, Any], ev: dict[str, Any], item: RemoteEvent, reason: str) -> str | None:
        """Both sides edited the event. Edits to different fields merge (no conflict); edits to
        the same field are a conflict for the policy, the other fields still merge.
        Returns 'merged', the winning side, or None (manual: left alone)."""
        base = fields_from_json(json.loads(link["base"])) if link.get("base") else None
        local = self._fields(ev)
        if base is not None:
            merged, clashes = merge3(base, local, item.fields)
            if not clashes:
                self._apply_merge(link, ev, item, merged, local)
                return "merged"
        return self._conflict(link, ev, item, reason, base=base)

    def _apply_merge(self, link: dict[str, Any], ev: dict[str, Any], item: RemoteEvent, merged: EventFields,
                     local: EventFields) -> None:
        with self.store.transaction():
            if merged.hash() != local.hash():
                self._pull_update(link, ev, item, merged)
            else:  # ours already holds the merge: only theirs needs it
                self._save_link({**link, "remote_id": item.remote_id, "etag": item.etag,
                                 "remote_hash": item.fields.hash(), "local_version": 0, "state": SYNCED})
        self._plan("merge", ev["id"], merged.title)

    def _winner(self, ev: dict[str, Any], remote: RemoteEvent | None) -> str | None:
        policy = self.spec.conflicts
        if policy in ("local", "remote"):
            return policy
        if policy == "manual":
            return None
        # newest: their modification time against our updated_at; a deletion loses to an edit.
        if remote is None or remote.modified is None:
            return "local"
        try:
            ours = datetime.fromisoformat(ev["updated_at"])
        except (TypeError, ValueError):
            return "remote"
        theirs = remote.modified if remote.modified.tzinfo else remote.modified.replace(tzinfo=UTC)
        return "remote" if theirs > ours else "local"

    def _conflict(self, link: dict[str, Any], ev: dict[str, Any], remote: RemoteEvent | None, reason: str,
                  local_deleted: bool = False, force: str | None = None,
                  base: EventFields | None = None) -> str | None:
        """Record a conflict (both versions) and resolve it per policy. Returns the winner."""
        winner = force or self._winner(ev, remote)
        local_doc = {"fields": None if local_deleted else fields_to_json(self._fields(ev)),
                     "deleted": local_deleted, "version": ev["version"], "updated_at": ev["updated_at"]}
        remote_doc = {"fields": fields_to_json(remote.fields) if remote else None, "deleted": remote is None,
                      "remote_id": remote.remote_id if remote else link["remote_id"],
                      "etag": remote.etag if remote else None,
                      "modified": remote.modified.isoformat() if remote and remote.modified else None}
        with self.store.transaction():
            cur = self.store.execute(
                "INSERT INTO conflicts(calendar, event_id, local, remote, reason, detected_at, resolved_at, resolution) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [self.spec.name, ev["id"], json.dumps(local_doc, default=str), json.dumps(remote_doc, default=str),
                 reason, self._now(), self._now() if winner else None, winner],
            )
            cid = cur.lastrowid
            self._emit("sync.conflict", {"calendar": self.spec.name, "conflict_id": cid, "event_id": ev["id"],
                                         "wedding_id": ev["wedding_id"], "reason": reason,
                                         "resolution": winner or "manual"})
            if winner is None:
                self._save_link({**link, "state": CONFLICT})
            elif base is not None and remote is not None and not local_deleted:
                # The clashing fields go to the winner; fields only one side changed are kept.
                merged, _ = merge3(base, self._fields(ev), remote.fields, prefer=winner)
                self._apply_merge(link, ev, remote, merged, self._fields(ev))
            else:
                apply_resolution(self, link, ev, remote_doc, winner)
        self.result["conflicts"] += 1
        self._plan("conflict", ev["id"], ev["title"], resolution=winner or "manual", reason=reason)
        return winner

    def _refresh_open_conflict(self, link: dict[str, Any], item: RemoteEvent | None) -> None:
        """Their side changed again while a manual conflict is open: keep the newest of theirs."""
        remote_doc = {"fields": fields_to_json(item.fields) if item else None, "deleted": item is None,
                      "remote_id": item.remote_id if item else link["remote_id"],
                      "etag": item.etag if item else None,
                      "modified": item.modified.isoformat() if item and item.modified else None}
        with self.store.transaction():
            self.store.execute(
                "UPDATE conflicts SET remote = ? WHERE id = (SELECT MAX(id) FROM conflicts WHERE calendar = ? "
                "AND event_id = ? AND resolved_at IS NULL)",
                [json.dumps(remote_doc, default=str), self.spec.name, link["event_id"]])

    # -- push -------------------------------------------------------------------------------------
    def _push(self) -> None:
        self._load_links()
        statuses = list(self.spec.statuses)
        rows = self.store.query(
            f"SELECT e.*, w.status AS wedding_status, w.client_id FROM events e JOIN weddings w ON w.id = e.wedding_id "
            f"WHERE e.deleted = 0 AND w.status IN ({','.join('?' * len(statuses))}) ORDER BY e.start, e.id",
            statuses,
        )
        in_scope = {r["id"]: r for r in rows}
        for ev_id, ev in in_scope.items():
            link = self._links.get(ev_id)
            if link is None or link["state"] == PENDING or not link["remote_id"]:
                self._create(ev, link)
            elif link["state"] == CONFLICT:
                continue
            else:
                if link["state"] == DEFERRED:  # back in scope before the deferred delete ran
                    link = {**link, "state": SYNCED}
                    with self.store.transaction():
                        self._save_link(link)
                self._maybe_update(ev, link)
        for ev_id, link in list(self._links.items()):
            if ev_id in in_scope or link["state"] == CONFLICT:
                continue
            self._delete(link)

    def _create(self, ev: dict[str, Any], link: dict[str, Any] | None) -> None:
        fields = self._fields(ev)
        remote: RemoteEvent | None = None
        if link is None:
            uid = self._uid(ev["id"])
            with self.store.transaction():  # committed BEFORE the create: a crash is recovered by UID
                self._save_link({"event_id": ev["id"], "uid": uid, "state": PENDING})
            _crash_point("sync.before_create")
        else:
            uid = link["uid"]
            remote = self.backend.find_by_uid(uid)
        if remote is None or remote.deleted:
            remote = self.backend.create(uid, fields)
            self.result["pushed"]["created"] += 1
            self._plan("create", ev["id"], fields.title)
        _crash_point("sync.after_create")
        if remote.fields is not None and remote.fields.hash() != fields.hash():
            try:  # an older copy (created before a crash, edited since): bring it up to date
                remote = self.backend.update(remote, fields)
            except (PreconditionFailed, NotFound):
                pass  # the next run sees it as changed there and takes the normal path
        with self.store.transaction():
            self._save_link({"event_id": ev["id"], "uid": uid, "remote_id": remote.remote_id, "etag": remote.etag,
                             "local_version": ev["version"], "local_hash": fields.hash(),
                             "remote_hash": remote.fields.hash() if remote.fields else fields.hash(),
                             "state": SYNCED, "base": json.dumps(fields_to_json(fields))})

    def _maybe_update(self, ev: dict[str, Any], link: dict[str, Any], retry: bool = True) -> None:
        fields = self._fields(ev)
        lhash = fields.hash()
        if link.get("local_version") and ev["version"] == link["local_version"] and link["state"] == SYNCED:
            return
        if link.get("local_version") and lhash == link["local_hash"]:
            with self.store.transaction():  # a version bump without a content change: nothing to send
                self._save_link({**link, "local_version": ev["version"], "state": SYNCED})
            return
        ref = RemoteEvent(remote_id=link["remote_id"], etag=link["etag"], uid=link["uid"])
        try:
            new = self.backend.update(ref, fields)
        except PreconditionFailed:
            cur = self.backend.get(link["remote_id"])
            if cur is None or cur.deleted:
                self._remote_deleted(link, ev)
                if self._links.get(ev["id"], {}).get("state") == PENDING:
                    self._create(ev, self._links[ev["id"]])
                return
            rhash = cur.fields.hash()
            if rhash == lhash or rhash == link["remote_hash"]:
                # Our own earlier write (crash before we recorded it) or etag churn: same content.
                link = {**link, "etag": cur.etag, "remote_hash": rhash}
                if rhash == lhash:
                    with self.store.transaction():
                        self._save_link({**link, "local_version": ev["version"], "local_hash": lhash, "state": SYNCED})
                    return
                if retry:
                    self._maybe_update(ev, {**link, "local_version": 0}, retry=False)
                return
            if self.spec.direction == "push":
                winner = "local"
                link = {**link, "etag": cur.etag, "remote_hash": rhash, "local_version": 0}
            else:
                winner = self._reconcile(link, ev, cur, "changed in the calendar while wedsync was updating it")
                link = self._links.get(ev["id"], link)
            if winner in ("local", "merged", "remote") and retry and not link.get("local_version"):
                self._maybe_update(self._event(ev["id"]) or ev, {**link, "local_version": 0}, retry=False)
            return
        except NotFound:
            with self.store.transaction():
                self._save_link({**link, "remote_id": None, "etag": None, "remote_hash": None, "state": PENDING})
            self._create(ev, self._links[ev["id"]])
            return
        _crash_point("sync.after_update")
        with self.store.transaction():
            self._save_link({**link, "etag": new.etag, "local_version": ev["version"], "local_hash": lhash,
                             "remote_hash": new.fields.hash() if new.fields else lhash, "state": SYNCED,
                             "base": json.dumps(fields_to_json(fields))})
        self.result["pushed"]["updated"] += 1
        self._plan("update", ev["id"], fields.title)

    def _protocol_state(self):
        if self._protocol is None:
            self._protocol = self._wedding_day() if self._wedding_day else _InactiveProtocol(reason="not checked")
        return self._protocol

    def _delete(self, link: dict[str, Any], retry: bool = True) -> None:
        ev = self._event(link["event_id"])
        title = ev["title"] if ev else None
        if not link["remote_id"]:  # a create that may have landed before a crash
            found = self.real_backend.find_by_uid(link["uid"])
            if found is None or found.deleted:
                with self.store.transaction():
                    self._drop_link(link["event_id"])
                return
            link = {**link, "remote_id": found.remote_id, "etag": found.etag}
        state = self._protocol_state()
        if getattr(state, "active", False):
            if link["state"] != DEFERRED:
                from wedsync_cli.wedding_day.decisions import record

                with self.store.transaction():  # the deferral and its logged reason land together
                    self._save_link({**link, "state": DEFERRED})
                    record(self.store, "defer_delete", link["event_id"],
                           f"remote delete in calendar {self.spec.name} waits: "
                           f"{getattr(state, 'reason', '') or 'wedding-day protocol active'}")
            self._plan("defer-delete", link["event_id"], title, reason=getattr(state, "reason", ""))
            return
        ref = RemoteEvent(remote_id=link["remote_id"], etag=link["etag"], uid=link["uid"])
        try:
            self.backend.delete(ref)
        except NotFound:
            pass
        except PreconditionFailed:
            cur = self.backend.get(link["remote_id"])
            if cur is not None and not cur.deleted:
                if cur.fields.hash() == link["remote_hash"] or ev is None or self.spec.direction == "push":
                    if retry:  # etag churn only (or ours is the truth): delete what is there now
                        self._delete({**link, "etag": cur.etag}, retry=False)
                    return
                if not ev["deleted"]:
                    # The wedding left the calendar's statuses (a CRM fact, not an edit): it goes;
                    # their edit is kept in the conflict record.
                    self._conflict(link, ev, cur, "the wedding is no longer "
                                   f"{'/'.join(self.spec.statuses)} but its event was changed in the calendar",
                                   local_deleted=True, force="local")
                else:
                    self._conflict(link, ev, cur, "deleted in wedsync but changed in the calendar", local_deleted=True)
                fresh, now = self._event(link["event_id"]), self._links.get(link["event_id"])
                if retry and now is not None and now["state"] != CONFLICT and not self._in_scope(fresh):
                    # ours won, or theirs was kept for an unbooked wedding: it still leaves this calendar
                    self._delete(now, retry=False)
                return
        _crash_point("sync.after_delete")
        with self.store.transaction():
            self._drop_link(link["event_id"])
        self.result["pushed"]["deleted"] += 1
        self._plan("delete", link["event_id"], title)


# -- resolutions (used by the policies above and by `wedsync conflicts resolve`) ----------------------
def apply_resolution(engine_or_ctx, link: dict[str, Any], ev: dict[str, Any], remote_doc: dict[str, Any],
                     keep: str) -> None:
    """Make the local state reflect the chosen side; the next push carries ours out.

    Runs inside the caller's transaction. ``keep='local'``: the link takes their current etag and
    is marked for push (or re-create, or delete, as our side says). ``keep='remote'``: their
    content (or their deletion) becomes ours.
    """
    store = engine_or_ctx.store
    save = engine_or_ctx._save_link
    remote_fields = fields_from_json(remote_doc.get("fields"))
    if keep == "local":
        if remote_doc.get("deleted"):
            save({**link, "remote_id": None, "etag": None, "remote_hash": None, "local_version": 0, "state": PENDING})
        else:
            save({**link, "remote_id": remote_doc.get("remote_id") or link["remote_id"], "etag": remote_doc.get("etag"),
                  "remote_hash": remote_fields.hash() if remote_fields else None, "local_version": 0,
                  "state": SYNCED})
        return
    # keep remote
    if remote_doc.get("deleted") or remote_fields is None:
        if ev and not ev["deleted"]:
            engine_or_ctx._pull_delete(link, ev)
        else:
            engine_or_ctx._drop_link(link["event_id"])
        return
    if ev is None:
        engine_or_ctx._drop_link(link["event_id"])
        return
    if ev["deleted"]:
        store.execute("UPDATE events SET deleted = 0 WHERE id = ?", [ev["id"]])
        ev = {**ev, "deleted": 0}
    item = RemoteEvent(remote_id=remote_doc.get("remote_id") or link["remote_id"], etag=remote_doc.get("etag"),
                       uid=link["uid"], fields=remote_fields)
    engine_or_ctx._pull_update(link, ev, item)
    # An unbooked wedding's event keeps their content here, and the next push removes it there.


def resolve_conflict(rt_store, conflict_id: int, keep: str, timezone: str = "UTC", statuses=None) -> dict[str, Any]:
    """`wedsync conflicts resolve ID --keep local|remote`: applied to the state now; the next
    `wedsync sync` pushes our side out (If-Match their etag, so a newer edit there is a new conflict)."""
    from wedsync_cli.errors import UsageError

    store = rt_store
    row = store.one("SELECT * FROM conflicts WHERE id = ?", [conflict_id])
    if row is None:
        raise UsageError(f"There is no conflict {conflict_id}", fix="see `wedsync conflicts list`")
    if row["resolved_at"]:
        raise UsageError(f"Conflict {conflict_id} was already resolved ({row['resolution']})",
                         fix="see `wedsync conflicts list` for the open ones")
    spec = CalendarSpec(name=row["calendar"], provider="", statuses=tuple(statuses or ("booked",)))
    engine = SyncEngine(store, _NoBackend(), spec, timezone=timezone)
    with store.transaction():
        engine._load_links()
        link = engine._links.get(row["event_id"])
        ev = engine._event(row["event_id"])
        remote_doc = json.loads(row["remote"])
        if link is not None:
            apply_resolution(engine, {**link, "state": SYNCED}, ev, remote_doc, keep)
        store.execute("UPDATE conflicts SET resolved_at = ?, resolution = ? WHERE id = ?",
                      [store.now(), keep, conflict_id])
    return {"id": conflict_id, "calendar": row["calendar"], "event_id": row["event_id"], "kept": keep}


class _NoBackend:
    requests = 0


def open_conflicts(store, include_resolved: bool = False) -> list[dict[str, Any]]:
    sql = "SELECT * FROM conflicts" + ("" if include_resolved else " WHERE resolved_at IS NULL") + " ORDER BY id"
    out = []
    for r in store.query(sql):
        r["local"] = json.loads(r["local"])
        r["remote"] = json.loads(r["remote"])
        out.append(r)
    return out


__all__ = ["CalendarSpec", "SyncEngine", "SafetyStop", "find_double_bookings", "resolve_conflict",
           "open_conflicts", "event_fields", "wedding_day_state"]
