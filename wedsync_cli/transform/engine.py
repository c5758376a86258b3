"""The transformation engine: the ONE place where any source's records become clients, weddings
and events in the state.

Every source (CSV, Táve, HoneyBook) hands ``ImportEngine.apply`` an iterable of ``ImportRecord``
(or ``Rejected``). The whole batch runs in one ``store.transaction()``, so a crash or an error
leaves the state as it was; ``dry_run`` rolls the transaction back at the end.

Speed matters (100k-row files): records are taken in chunks, every key of a chunk is looked up
with a handful of ``IN (...)`` queries, the state of touched clients is kept in memory, and new
rows are written with ``executemany`` at the end of each chunk. Unchanged records write nothing.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import re
import secrets
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from functools import lru_cache
from typing import Any

from pydantic_core import to_json

from wedsync_cli.crashpoints import crash_point
from wedsync_cli.domain.models import (
    ClientData,
    EventData,
    ImportRecord,
    Person,
    Rejected,
    WeddingData,
    content_hash,
    couple_name,
)

CHUNK = 2000
SQL_VARS = 900  # stay under SQLite's host-parameter limit in IN (...) lists
CLIENT_FIELDS = ("kind", "display_name", "p1_first", "p1_last", "p1_email", "p1_phone",
                 "p2_first", "p2_last", "p2_email", "p2_phone", "notes", "extra")
WEDDING_FIELDS = ("date", "venue", "status", "extra")
EVENT_FIELDS = ("kind", "title", "all_day", "start", "end", "tz", "location", "description")
CALENDAR_STATUSES = ("booked",)


@dataclass
class ImportReport:
    source: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    dry_run: bool = False
    rejects: list[Rejected] = field(default_factory=list)
    merged: int = 0  # rows that landed on a client an earlier row of this batch created or touched
    unmapped_fields: set[str] = field(default_factory=set)
    clients_created: int = 0
    weddings_created: int = 0
    events_created: int = 0
    events_updated: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source, "read": self.read, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "rejected": self.rejected, "dry_run": self.dry_run,
            "merged": self.merged, "unmapped_fields": sorted(self.unmapped_fields),
            "clients_created": self.clients_created, "weddings_created": self.weddings_created,
            "events_created": self.events_created, "events_updated": self.events_updated,
            "rejects": [{"row": r.row_number, "reason": r.reason} for r in self.rejects],
        }


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection during a bulk import: the records and the in-memory state are
    acyclic (freed by reference counting), and with 100k live rows every collection re-scans them
    all, which made the import ~40% slower."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class PreparedRecord:
    """A source row whose identity and content hash are known before it is converted (the CSV
    source hashes the raw cells and the file's settings). The engine calls ``build()`` only when
    the hash differs from what the source gave last time, so an unchanged row of a re-import
    costs a dict lookup instead of normalising and validating it."""

    __slots__ = ("key", "build")

    def __init__(self, key: tuple[str, str, str, str], build: Callable[[], ImportRecord | Rejected]):
        self.key = key  # (source, external id, entity, content hash), as _source_key
        self.build = build


class _DryRun(Exception):
    """Raised at the end of a dry run to roll the transaction back."""


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case, accents stripped, only letters and digits: the form names are matched in."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return _NON_ALNUM.sub("", text.lower())


def name_key(client: ClientData, wedding_date: date | None) -> str | None:
    """``name:<couple names, folded, sorted>|<wedding date>``: same couple, same day = same client."""
    if wedding_date is None:
        return None
    names = []
    for p in (client.partner1, client.partner2):
        if p is not None and (p.first or p.last):
            names.append(fold(f"{p.first or ''}{p.last or ''}"))
    names = [n for n in names if n]
    if not names:
        return None
    return f"name:{'&'.join(sorted(names))}|{wedding_date.isoformat()}"


def record_keys(rec: ImportRecord) -> list[str]:
    """Match keys in priority order: external id, partner emails, couple name + date."""
    keys = []
    if rec.external_id:
        keys.append(f"ext:{rec.source}:{rec.external_id}")
    for email in rec.client.emails():
        keys.append(f"email:{email.strip().lower()}")
    nk = name_key(rec.client, rec.wedding.date if rec.wedding else None)
    if nk:
        keys.append(nk)
    return keys


def event_title(client_row: dict[str, Any], kind: str) -> str:
    label = {"wedding": "Wedding", "consultation": "Consultation", "engagement": "Engagement shoot",
             "rehearsal": "Rehearsal", "meeting": "Meeting"}.get(kind, "Event")
    return f"{label}: {client_row['display_name']}"


def _iso(v: date | datetime) -> str:
    return v.isoformat()


@lru_cache(maxsize=64)
def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def wedding_day_event(day: date, tz: str, start_time=None, end_time=None, location: str | None = None,
                      title: str | None = None, external_id: str | None = None) -> EventData:
    """The wedding-day event: timed in the studio zone when times are known, else all-day
    (end = next day, exclusive). An end time at or before the start means it runs past midnight
    (sources first reject an earlier end outside the small hours: ``time_order_problem``)."""
    return EventData(**wedding_day_fields(day, tz, start_time, end_time, location, title, external_id))


@lru_cache(maxsize=4096)
def _all_day_event(day: date, tz: str, location: str | None) -> EventData:
    """The engine's default all-day wedding event, validated once per (day, zone, venue): half the
    rows of a typical file need one, and the engine only reads it."""
    return wedding_day_event(day, tz, location=location)


def wedding_day_fields(day: date, tz: str, start_time=None, end_time=None, location: str | None = None,
                       title: str | None = None, external_id: str | None = None) -> dict[str, Any]:
    """``wedding_day_event`` as a plain dict (for sources that validate a whole record in one call)."""
    base = {"kind": "wedding", "tz": tz, "location": location, "title": title, "external_id": external_id}
    all_day, start, end = _day_span(day, tz, start_time, end_time)
    return {**base, "all_day": all_day, "start": start, "end": end}


SMALL_HOURS_END = clock_time(6, 0)  # an end at or before this, earlier than the start, is the next day


def time_order_problem(start_time, end_time) -> str | None:
    """Why a (start, end) pair of clock times cannot be one event, or None. An end earlier than the
    start is the next day only in the small hours (a reception running past midnight, 18:00-01:30);
    "18:00, 14:00" is a typo, not a 20-hour wedding."""
    if start_time is None or end_time is None or end_time >= start_time or end_time <= SMALL_HOURS_END:
        return None
    return f"the end time {end_time:%H:%M} is before the start time {start_time:%H:%M}"


@lru_cache(maxsize=8192)  # a 100k-row file has a few thousand distinct (day, times)
def _day_span(day: date, tz: str, start_time, end_time) -> tuple[bool, date | datetime, date | datetime]:
    if start_time is None:
        return True, day, day + timedelta(days=1)
    zone = _zone(tz)
    start = datetime.combine(day, start_time, tzinfo=zone)
    if end_time is None:
        end = start + timedelta(hours=1)
    else:
        end = datetime.combine(day, end_time, tzinfo=zone)
        if end <= start:
            end = datetime.combine(day + timedelta(days=1), end_time, tzinfo=zone)
    return False, start, end


class ImportEngine:
    """``ImportEngine(store, source="csv:clients", timezone="Europe/London").apply(records)``."""

    def __init__(self, store, *, source: str, timezone: str, dry_run: bool = False):
        self.store = store
        self.source = source
        self.timezone = timezone
        self.dry_run = dry_run

    # -- public --------------------------------------------------------------------------------
    def apply(self, items: Iterable[ImportRecord | Rejected | PreparedRecord],
              progress: Callable[[int], None] | None = None,
              before_commit: Callable[[ImportReport], None] | None = None) -> ImportReport:
        """``before_commit(report)`` may raise to roll the whole batch back (e.g. "no usable rows")."""
        report = ImportReport(source=self.source, dry_run=self.dry_run)
        self._reset()
        # A bigger page cache for this connection: random-id inserts into six tables and their
        # indexes otherwise spill pages to the WAL mid-transaction (measured: ~2x slower at 100k
        # with the 2 MB default). 32 MB is as fast as 128 MB at 100k rows and peaks ~110 MB lower.
        self.store.execute("PRAGMA cache_size = -32768")
        try:
            with paused_gc(), self.store.transaction():
                for chunk in _chunks(items, CHUNK):
                    self._apply_chunk(chunk, report)
                    if progress is not None:
                        progress(len(chunk))
                if before_commit is not None:
                    before_commit(report)
                if self.dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        return report

    # -- state kept for one apply() ------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        """``new_id``'s shape (prefix + 20 hex), but rising within a run: 13 hex of microseconds
        since the epoch at the start of the run plus a counter, then 7 random hex chosen once per
        run. New rows then land at the right edge of each primary-key and foreign-key index
        instead of at random pages (a 100k-row import writes ~30% fewer pages)."""
        self._id_seq += 1
        return f"{prefix}{self._id_base + self._id_seq:013x}{self._id_tail}"

    def _reset(self) -> None:
        self.now = self.store.now()
        self._id_base = time.time_ns() // 1000
        self._id_seq = 0
        self._id_tail = secrets.token_hex(4)[:7]
        # A state with no clients yet (a first import) needs no lookups: nothing can match.
        self._fresh = self.store.execute("SELECT 1 FROM client_keys LIMIT 1").fetchone() is None and \
            self.store.execute("SELECT 1 FROM source_records LIMIT 1").fetchone() is None and \
            self.store.execute("SELECT 1 FROM weddings LIMIT 1").fetchone() is None
        self.key_client: dict[str, str] = {}      # known key -> client id
        self.absent_keys: set[str] = set()         # keys looked up and not found
        self.clients: dict[str, dict] = {}         # client id -> row
        self.weddings: dict[str, list[dict]] = {}  # client id -> wedding rows
        self.wedding_ext: dict[tuple, dict] = {}   # (source, ext id) -> wedding row
        self.events: dict[str, list[dict]] = {}    # wedding id -> event rows
        self.event_ext: dict[tuple, dict] = {}     # (source, ext id) -> event row
        self.touched: set[str] = set()             # clients a row of this batch created or matched
        self.source_seen: dict[tuple, tuple] = {}  # (source, ext id, entity) -> (hash, client id) stored
        self._rec_keys: dict[int, tuple] = {}
        self._keys: dict[int, list[str]] = {}
        self._new_clients: list[dict] = []
        self._pending: set[str] = set()            # ids inserted at the next flush (no UPDATE needed)
        self._new_keys: list[tuple] = []
        self._new_weddings: list[dict] = []
        self._new_events: list[dict] = []
        self._updates: list[tuple[str, list]] = []
        self._source_rows: list[tuple] = []
        self._events_out: list[tuple[str, dict]] = []
        self._count = 0

    # -- one chunk -----------------------------------------------------------------------------
    def _apply_chunk(self, chunk: list, report: ImportReport) -> None:
        # What the source said last time first: an identical record is skipped, writing nothing,
        # and needs no other lookups (a re-import of an unchanged file is mostly this).
        self._lookup_source_rows([self._item_key(i) for i in chunk if not isinstance(i, Rejected)])
        items: list = []
        for item in chunk:
            if isinstance(item, PreparedRecord) and not self._unchanged(item.key):
                item = self._build(item)
            items.append(item)
        self._prefetch([r for r in items if isinstance(r, ImportRecord)])
        for item in items:
            report.read += 1
            if isinstance(item, PreparedRecord) and not self._unchanged(item.key):
                # An earlier row of this chunk with the same id changed what was stored.
                item = self._build(item)
                if isinstance(item, ImportRecord):
                    self._prefetch([item])
            if isinstance(item, Rejected):
                report.rejected += 1
                report.rejects.append(item)
            else:
                outcome = self._apply_record(item, report)
                setattr(report, outcome, getattr(report, outcome) + 1)
            self._count += 1
            crash_point("import.record")
        self._flush()
        self._rec_keys.clear()
        self._keys = {}
        self._evict()

    def _evict(self) -> None:
        """Forget the chunk's rows once they are written (same transaction, so later chunks find
        them with the usual lookups): memory stays bounded by the chunk size, not the file."""
        self._fresh = False
        self.key_client.clear()
        self.absent_keys.clear()
        self.clients.clear()
        self.weddings.clear()
        self.wedding_ext.clear()
        self.events.clear()
        self.event_ext.clear()
        self.source_seen.clear()

    def _item_key(self, item) -> tuple[str, str, str, str]:
        return item.key if isinstance(item, PreparedRecord) else self._source_key(item)

    def _unchanged(self, key: tuple[str, str, str, str]) -> bool:
        seen = self.source_seen.get(key[:3])
        return seen is not None and seen[0] == key[3]

    def _build(self, item: PreparedRecord) -> ImportRecord | Rejected:
        built = item.build()
        if isinstance(built, ImportRecord):
            self._rec_keys[id(built)] = item.key
        return built

    def _lookup_source_rows(self, keys: list[tuple[str, str, str, str]]) -> None:
        if self._fresh:
            return
        want: dict[str, set] = {}
        for src, ext, entity, _ in keys:
            if (src, ext, entity) not in self.source_seen:
                want.setdefault(src, set()).add(ext)
        for src, exts in want.items():
            for ext, entity, h, cid in self._select_in(
                    "SELECT external_id, entity, content_hash, entity_id FROM source_records "
                    "WHERE source = ? AND external_id IN ({})", sorted(exts), [src]):
                self.source_seen[(src, ext, entity)] = (h, cid)

    def _prefetch(self, records: list[ImportRecord]) -> None:
        """Load, with a few IN queries, everything the chunk's records could match."""
        if self._fresh:
            self._keys.update((id(r), record_keys(r)) for r in records)
            return
        records = [r for r in records if self.source_seen.get(self._source_key(r)[:3], ("",))[0]
                   != self._source_key(r)[3]]

        new_keys = {id(r): record_keys(r) for r in records}
        self._keys.update(new_keys)
        keys = {k for ks in new_keys.values() for k in ks}
        keys -= self.key_client.keys()
        keys -= self.absent_keys
        found = self._select_in("SELECT key, client_id FROM client_keys WHERE key IN ({})", sorted(keys))
        for key, cid in found:
            self.key_client[key] = cid
        self.absent_keys |= keys - {k for k, _ in found}

        client_ids = {cid for _, cid in found}
        wext = {(r.source, r.wedding.external_id) for r in records if r.wedding and r.wedding.external_id}
        wext -= self.wedding_ext.keys()
        for src in {s for s, _ in wext}:
            ids = sorted(e for s, e in wext if s == src)
            for (cid,) in self._select_in(
                    "SELECT client_id FROM weddings WHERE source = ? AND external_id IN ({})", ids, [src]):
                client_ids.add(cid)
        eext = {(r.source, e.external_id) for r in records for e in r.events if e.external_id}
        eext -= self.event_ext.keys()
        for src in {s for s, _ in eext}:
            ids = sorted(e for s, e in eext if s == src)
            for (cid,) in self._select_in(
                    "SELECT w.client_id FROM events e JOIN weddings w ON w.id = e.wedding_id "
                    "WHERE e.source = ? AND e.external_id IN ({})", ids, [src]):
                client_ids.add(cid)
        self._load_clients(client_ids - self.clients.keys())

    def _load_clients(self, ids: set[str]) -> None:
        if not ids:
            return
        cols = ("id",) + CLIENT_FIELDS + ("content_hash",)
        for row in self._select_in(f"SELECT {', '.join(cols)} FROM clients WHERE id IN ({{}})", sorted(ids)):
            c = dict(zip(cols, row, strict=True))
            c["extra"] = json.loads(c["extra"] or "{}")
            self.clients[c["id"]] = c
            self.weddings.setdefault(c["id"], [])
        wcols = ("id", "client_id", "source", "external_id") + WEDDING_FIELDS + ("content_hash",)
        wedding_ids = []
        for row in self._select_in(f"SELECT {', '.join(wcols)} FROM weddings WHERE client_id IN ({{}})", sorted(ids)):
            w = dict(zip(wcols, row, strict=True))
            w["extra"] = json.loads(w["extra"] or "{}")
            self.weddings[w["client_id"]].append(w)
            self.events[w["id"]] = []
            wedding_ids.append(w["id"])
            if w["external_id"]:
                self.wedding_ext[(w["source"], w["external_id"])] = w
        ecols = ("id", "wedding_id", "source", "external_id", "version", "deleted") + EVENT_FIELDS + ("content_hash",)
        for row in self._select_in(f"SELECT {', '.join(ecols)} FROM events WHERE wedding_id IN ({{}})", wedding_ids):
            e = dict(zip(ecols, row, strict=True))
            self.events[e["wedding_id"]].append(e)
            if e["external_id"]:
                self.event_ext[(e["source"], e["external_id"])] = e

    def _select_in(self, sql: str, values: list, prefix: list | None = None) -> list[tuple]:
        out: list[tuple] = []
        for i in range(0, len(values), SQL_VARS):
            part = values[i:i + SQL_VARS]
            out.extend(self.store.execute(sql.format(", ".join("?" * len(part))), [*(prefix or []), *part]).fetchall())
        return out

    # -- one record ----------------------------------------------------------------------------
    def _apply_record(self, rec: ImportRecord, report: ImportReport) -> str:
        src, ext, entity, h = self._source_key(rec)
        seen = self.source_seen.get((src, ext, entity))
        if seen is not None and seen[0] == h:
            if seen[1] in self.touched:
                report.merged += 1
            self.touched.add(seen[1])
            return "unchanged"
        keys = self._keys.get(id(rec)) or record_keys(rec)
        client_id = next((self.key_client[k] for k in keys if k in self.key_client), None)
        if client_id is None and rec.wedding and rec.wedding.external_id:
            w = self.wedding_ext.get((rec.source, rec.wedding.external_id))
            client_id = w["client_id"] if w else None
        changed = False
        created = False
        if client_id is None:
            client = self._create_client(rec.client)
            created = True
        else:
            client = self.clients[client_id]
            if client_id in self.touched:
                report.merged += 1
            changed = self._merge_client(client, rec.client)
        self.touched.add(client["id"])
        for k in keys:
            if k not in self.key_client:
                self.key_client[k] = client["id"]
                self.absent_keys.discard(k)
                self._new_keys.append((k, client["id"]))
        report.unmapped_fields.update(rec.client.extra.keys())

        wedding = None
        if rec.wedding is not None and (rec.wedding.date or rec.wedding.venue or rec.wedding.external_id
                                        or rec.events):
            wedding, w_changed, w_created = self._upsert_wedding(client, rec.wedding, rec.source)
            changed |= w_changed
            report.weddings_created += w_created
            events = list(rec.events)
            if not any(e.kind == "wedding" for e in events) and wedding["date"]:
                default = self._default_event(wedding)
                if default is not None:
                    events.insert(0, default)
            for ev in events:
                e_changed, e_created = self._upsert_event(client, wedding, ev, rec.source)
                changed |= e_changed
                report.events_created += e_created
                report.events_updated += e_changed and not e_created
        self._keep_source_row(rec, client["id"])
        if created:
            report.clients_created += 1
            return "created"
        return "updated" if changed else "unchanged"

    # -- clients -------------------------------------------------------------------------------
    def _create_client(self, data: ClientData) -> dict:
        c = {"id": self._new_id("cl_")}
        p1, p2 = data.partner1, data.partner2
        c.update(_person_cols("p1", p1))
        c.update(_person_cols("p2", p2))
        c["notes"] = data.notes
        c["extra"] = dict(data.extra)
        c["kind"] = data.kind
        c["display_name"] = data.display_name
        c["content_hash"] = _client_hash(c)
        self.clients[c["id"]] = c
        self.weddings[c["id"]] = []
        self._new_clients.append(c)
        self._pending.add(c["id"])
        self._emit("client.created", {"client_id": c["id"], "source": self.source,
                                      "changed": _public(c, CLIENT_FIELDS)})
        return c

    def _merge_client(self, c: dict, data: ClientData) -> bool:
        p1, p2 = data.partner1, data.partner2
        # Partners may come in the other order (another CRM, another row): align by email/name.
        if p2 is not None and (_same_person(p1, c, "p2") or _same_person(p2, c, "p1")):
            p1, p2 = p2, p1
        incoming = {**_person_cols("p1", p1), **_person_cols("p2", p2), "notes": data.notes}
        changed: dict[str, Any] = {}
        for col, value in incoming.items():
            if value not in (None, "") and value != c.get(col):
                if col.endswith("_email") and c.get(col) and c[col].lower() == value.lower():
                    continue  # same address, other case: keep what we have
                changed[col] = value
        extra = dict(c["extra"])
        for k, v in data.extra.items():
            if v not in (None, "") and extra.get(k) != v:
                extra[k] = v
        if extra != c["extra"]:
            changed["extra"] = extra
        if not changed:
            return False
        old_name = c["display_name"]
        c.update(changed)
        c["kind"] = "couple" if (c["p2_first"] or c["p2_last"] or c["p2_email"] or c["p2_phone"]) else "single"
        c["display_name"] = couple_name(_person_of(c, "p1"), _person_of(c, "p2") if c["kind"] == "couple" else None)
        new_hash = _client_hash(c)
        if new_hash == c["content_hash"]:
            return False
        if c["display_name"] != old_name:
            self._retitle_events(c, old_name)
        c["content_hash"] = new_hash
        if c["id"] not in self._pending:
            self._updates.append((
                f"UPDATE clients SET {', '.join(f'{f} = ?' for f in CLIENT_FIELDS)}, content_hash = ?, updated_at = ? "
                "WHERE id = ?", [*_db_values(c, CLIENT_FIELDS), c["content_hash"], self.now, c["id"]]))
        self._emit("client.updated", {"client_id": c["id"], "source": self.source,
                                      "changed": {k: (c[k] if k != "extra" else c["extra"]) for k in changed}})
        return True

    def _retitle_events(self, c: dict, old_name: str) -> None:
        """A renamed couple (a partner added, a name corrected) renames the events titled after
        them on every one of their weddings, not only the row's; a title set by hand (in a
        calendar or the CRM) is not ours to change and stays."""
        for w in self.weddings.get(c["id"], []):
            for e in self.events.get(w["id"], []):
                if e["deleted"] or e["title"] != event_title({"display_name": old_name}, e["kind"]):
                    continue
                e["title"] = event_title(c, e["kind"])
                e["content_hash"] = _event_hash(e)
                if e["id"] not in self._pending:
                    e["version"] += 1  # calendars sync by version
                    self._updates.append((
                        f"UPDATE events SET {', '.join(f'{f} = ?' for f in EVENT_FIELDS)}, version = ?, "
                        "content_hash = ?, updated_at = ? WHERE id = ?",
                        [*(e[f] for f in EVENT_FIELDS), e["version"], e["content_hash"], self.now, e["id"]]))
                self._emit("event.updated", {"event_id": e["id"], "wedding_id": w["id"], "client_id": c["id"],
                                             "source": self.source, "changed": {"title": e["title"]}})

    # -- weddings ------------------------------------------------------------------------------
    def _upsert_wedding(self, client: dict, data: WeddingData, source: str) -> tuple[dict, bool, bool]:
        day = data.date.isoformat() if data.date else None
        w = None
        if data.external_id:
            w = self.wedding_ext.get((source, data.external_id))
        if w is None:
            for cand in self.weddings[client["id"]]:
                if cand["date"] == day and (not data.external_id or not cand["external_id"]):
                    w = cand
                    break
        if w is None:
            w = {"id": self._new_id("wd_"), "client_id": client["id"], "source": source, "external_id": data.external_id,
                 "date": day, "venue": data.venue, "status": data.status, "extra": dict(data.extra)}
            w["content_hash"] = _hash(w, WEDDING_FIELDS)
            self.weddings[client["id"]].append(w)
            self.events[w["id"]] = []
            if data.external_id:
                self.wedding_ext[(source, data.external_id)] = w
            self._new_weddings.append(w)
            self._pending.add(w["id"])
            ids = {"wedding_id": w["id"], "client_id": client["id"], "source": source}
            if w["status"] == "booked":
                self._emit("wedding.booked", {**ids, "changed": _public(w, WEDDING_FIELDS)})
            return w, True, True
        changed: dict[str, Any] = {}
        for col, value in (("date", day), ("venue", data.venue), ("status", data.status)):
            if value not in (None, "") and value != w[col]:
                changed[col] = value
        extra = {**w["extra"], **{k: v for k, v in data.extra.items() if v not in (None, "")}}
        if extra != w["extra"]:
            changed["extra"] = extra
        if data.external_id and not w["external_id"]:
            w["external_id"], w["source"] = data.external_id, source
            self.wedding_ext[(source, data.external_id)] = w
            changed["external_id"] = data.external_id
        if not changed:
            return w, False, False
        w.update(changed)
        w["content_hash"] = _hash(w, WEDDING_FIELDS)
        if w["id"] not in self._pending:
            self._updates.append((
                "UPDATE weddings SET date = ?, venue = ?, status = ?, extra = ?, source = ?, external_id = ?, "
                "content_hash = ?, updated_at = ? WHERE id = ?",
                [w["date"], w["venue"], w["status"], _extra_json(w["extra"]), w["source"],
                 w["external_id"], w["content_hash"], self.now, w["id"]]))
        ids = {"wedding_id": w["id"], "client_id": client["id"], "source": source}
        self._emit("wedding.booked" if changed.get("status") == "booked" else "wedding.updated",
                   {**ids, "changed": changed})
        return w, True, False

    # -- events --------------------------------------------------------------------------------
    def _default_event(self, wedding: dict) -> EventData | None:
        """The wedding-day event for a record that brings none: all-day on a new wedding; an
        existing one keeps its times (no times is not "erase the times") and moves with the date."""
        day = date.fromisoformat(wedding["date"])
        current = next((e for e in self.events[wedding["id"]] if e["kind"] == "wedding" and not e["deleted"]), None)
        if current is None or current["all_day"]:
            return _all_day_event(day, self.timezone, wedding["venue"])
        start = datetime.fromisoformat(current["start"])
        if start.date() == day:
            return None
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(current["tz"] or self.timezone)
        local_start = start.astimezone(zone)
        local_end = datetime.fromisoformat(current["end"]).astimezone(zone)
        return wedding_day_event(day, current["tz"] or self.timezone, local_start.time(),
                                 local_end.time(), location=wedding["venue"])

    def _upsert_event(self, client: dict, wedding: dict, data: EventData, source: str) -> tuple[bool, bool]:
        fields = {
            "kind": data.kind,
            "title": data.title or event_title(client, data.kind),
            "all_day": 1 if data.all_day else 0,
            "start": _iso(data.start), "end": _iso(data.end),
            "tz": data.tz or self.timezone,
            "location": data.location if data.location is not None else wedding["venue"],
            "description": data.description,
        }
        e = None
        if data.external_id:
            e = self.event_ext.get((source, data.external_id))
        if e is None:
            for cand in self.events[wedding["id"]]:
                if cand["kind"] == data.kind and not cand["deleted"] and (
                        data.kind == "wedding" or cand["start"][:10] == fields["start"][:10]):
                    e = cand
                    break
        if e is None:
            e = {"id": self._new_id("ev_"), "wedding_id": wedding["id"], "source": source,
                 "external_id": data.external_id, "version": 1, "deleted": 0, **fields}
            e["content_hash"] = _event_hash(e)
            self.events[wedding["id"]].append(e)
            if data.external_id:
                self.event_ext[(source, data.external_id)] = e
            self._new_events.append(e)
            self._pending.add(e["id"])
            self._emit("event.created", {"event_id": e["id"], "wedding_id": wedding["id"],
                                         "client_id": client["id"], "source": source,
                                         "changed": _public(e, EVENT_FIELDS)})
            return True, True
        changed = {}
        for col, value in fields.items():
            if value in (None, "") and col in ("location", "description", "title"):
                continue  # empty incoming values never erase
            if value != e[col]:
                changed[col] = value
        if not changed:
            return False, False
        e.update(changed)
        new_hash = _event_hash(e)
        if new_hash == e["content_hash"]:
            return False, False
        e["content_hash"] = new_hash
        if e["id"] not in self._pending:
            e["version"] += 1  # calendars sync by version
            self._updates.append((
                f"UPDATE events SET {', '.join(f'{f} = ?' for f in EVENT_FIELDS)}, version = ?, content_hash = ?, "
                "updated_at = ? WHERE id = ?",
                [*(e[f] for f in EVENT_FIELDS), e["version"], e["content_hash"], self.now, e["id"]]))
        self._emit("event.updated", {"event_id": e["id"], "wedding_id": wedding["id"], "client_id": client["id"],
                                     "source": source, "changed": changed})
        return True, False

    # -- raw rows ------------------------------------------------------------------------------
    def _source_key(self, rec: ImportRecord) -> tuple[str, str, str, str]:
        """(source, external id, entity, hash) of the record as the source gave it. The hash covers
        the raw row and what we made of it, so a changed mapping or date order is a change too."""
        if isinstance(rec, PreparedRecord):
            return rec.key
        key = id(rec)
        if key not in self._rec_keys:
            # pydantic's own (Rust) serialiser: the raw row and everything made of it, in one call
            h = hashlib.sha256(rec.model_dump_json(exclude={"row_number"}).encode()).hexdigest()[:32]
            if rec.external_id:
                self._rec_keys[key] = (rec.source, rec.external_id, "client", h)
            else:
                self._rec_keys[key] = (rec.source, f"row:{h}", "row", h)
        return self._rec_keys[key]

    def _keep_source_row(self, rec: ImportRecord, client_id: str) -> None:
        src, ext, entity, h = self._source_key(rec)
        self.source_seen[(src, ext, entity)] = (h, client_id)
        self._source_rows.append((src, ext, entity, client_id, h, to_json(rec.raw).decode(), self.now))

    # -- writes --------------------------------------------------------------------------------
    def _emit(self, type_: str, data: dict) -> None:
        self._events_out.append((type_, data))

    def _flush(self) -> None:
        ex = self.store.db.conn.executemany
        now = self.now
        if self._new_clients:
            ex(f"INSERT INTO clients(id, {', '.join(CLIENT_FIELDS)}, content_hash, created_at, updated_at) "
               f"VALUES ({', '.join('?' * (len(CLIENT_FIELDS) + 4))})",
               [(c["id"], *_db_values(c, CLIENT_FIELDS), c["content_hash"], now, now) for c in self._new_clients])
        if self._new_keys:
            # In key order: neighbouring inserts land on the same index pages (emails are random).
            ex("INSERT OR IGNORE INTO client_keys(key, client_id) VALUES (?, ?)", sorted(self._new_keys))
        if self._new_weddings:
            ex("INSERT INTO weddings(id, client_id, date, venue, status, source, external_id, extra, content_hash, "
               "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
               [(w["id"], w["client_id"], w["date"], w["venue"], w["status"], w["source"], w["external_id"],
                 _extra_json(w["extra"]), w["content_hash"], now, now) for w in self._new_weddings])
        if self._new_events:
            ex(f"INSERT INTO events(id, wedding_id, {', '.join(EVENT_FIELDS)}, source, external_id, version, "
               f"content_hash, created_at, updated_at) VALUES ({', '.join('?' * (len(EVENT_FIELDS) + 8))})",
               [(e["id"], e["wedding_id"], *(e[f] for f in EVENT_FIELDS), e["source"], e["external_id"],
                 e["version"], e["content_hash"], now, now) for e in self._new_events])
        for sql, params in self._updates:
            self.store.execute(sql, params)
        if self._source_rows:
            # Same raw content: nothing is written (the WHERE keeps an unchanged row untouched).
            ex("INSERT INTO source_records(source, external_id, entity, entity_id, content_hash, raw, seen_at) "
               "VALUES (?,?,?,?,?,?,?) ON CONFLICT(source, external_id, entity) DO UPDATE SET "
               "entity_id = excluded.entity_id, content_hash = excluded.content_hash, raw = excluded.raw, "
               "seen_at = excluded.seen_at WHERE source_records.content_hash != excluded.content_hash",
               self._source_rows)
        if self._events_out:
            from wedsync_cli.notify import emit_many

            emit_many(self.store, self._events_out)
        self._new_clients, self._new_keys, self._new_weddings, self._new_events = [], [], [], []
        self._pending = set()
        self._updates, self._source_rows, self._events_out = [], [], []


# -- helpers -------------------------------------------------------------------------------------
def _chunks(items: Iterable, size: int) -> Iterator[list]:
    buf: list = []
    for item in items:
        buf.append(item)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


_PERSON_COLS = {prefix: tuple(f"{prefix}_{f}" for f in ("first", "last", "email", "phone")) for prefix in ("p1", "p2")}


def _person_cols(prefix: str, p: Person | None) -> dict[str, Any]:
    first, last, email, phone = _PERSON_COLS[prefix]
    if p is None:
        return {first: None, last: None, email: None, phone: None}
    return {first: p.first, last: p.last, email: p.email.strip().lower() if p.email else None, phone: p.phone}


def _person_of(c: dict, prefix: str) -> Person:
    return Person(first=c[f"{prefix}_first"], last=c[f"{prefix}_last"], email=c[f"{prefix}_email"],
                  phone=c[f"{prefix}_phone"])


def _same_person(p: Person, c: dict, prefix: str) -> bool:
    if p.email and c.get(f"{prefix}_email") and p.email.lower() == c[f"{prefix}_email"].lower():
        return True
    return bool(p.first and c.get(f"{prefix}_first") and fold(p.first) == fold(c[f"{prefix}_first"])
                and fold(p.last or "") == fold(c.get(f"{prefix}_last") or ""))


def _extra_json(extra: dict) -> str:
    return to_json(dict(sorted(extra.items()))).decode() if extra else "{}"


def _db_values(row: dict, cols: tuple[str, ...]) -> list:
    return [_extra_json(row[f]) if f == "extra" else row[f] for f in cols]


def _hash(row: dict, cols: tuple[str, ...]) -> str:
    """Change detection for clients and weddings (pydantic-core's JSON: ~10x faster than json.dumps)."""
    values = [sorted(row[f].items()) if f == "extra" else row[f] for f in cols]
    return hashlib.sha256(to_json(values)).hexdigest()[:32]


def _event_hash(row: dict) -> str:
    # The same hash the calendar engine writes when it pulls an edit (calendars/engine.py).
    return content_hash([row[f] for f in EVENT_FIELDS])


def _client_hash(c: dict) -> str:
    return _hash(c, CLIENT_FIELDS)


def _public(row: dict, cols: tuple[str, ...]) -> dict:
    return {f: row[f] for f in cols if row.get(f) not in (None, "", {})}
