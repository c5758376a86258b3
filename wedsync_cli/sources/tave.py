"""Táve / VSCO Workspace API v2 source: contacts, jobs, the couple on each job, and its events.

How a run works (``TaveSource.sync``):
1. Read each resource (``/address-book``, ``/job``, ``/job-contact``, ``/event``) in pages of 100.
   The API has no "modified since" filter, so an incremental run reads ``sortBy=modified desc`` and
   stops at the first page that reaches back past the saved bookmark minus an overlap window. A full
   run (first run, ``--full``, or every ``full_reconcile_days``) reads everything sorted by id,
   including hidden and closed records, and so also learns what was deleted or hidden.
2. In ONE store transaction: the raw objects go into ``tave_objects`` (a mirror, so a changed
   contact can rebuild the records of its jobs without refetching them, and no field is ever lost),
   the affected jobs become ImportRecords that the shared ImportEngine applies, deleted/hidden
   events become tombstones, and the bookmarks are saved. A crash anywhere before the commit
   leaves the previous state and bookmarks; the rerun reads the same changes again.

One record per job: the client is the couple (the job's client contacts, first two), the wedding
is the job (``stage``/``closed`` mapped to our status), the events are the job's events.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from wedsync_cli.errors import AuthRefused, ConfigError, DataError, ProviderUnavailable, WedsyncError
from wedsync_cli.store.migrations import Migrations  # sqlite-utils own, built on first use

SOURCE = "tave"
CURSOR_KEY = "source:tave"
DEFAULT_BASE_URL = "https://workspace.vsco.co/api/v2"
RESOURCES = ("address-book", "job-contact", "job", "event")
PAGE_SIZE = 100  # the API's maximum
DEFAULT_OVERLAP_S = 300
DEFAULT_FULL_RECONCILE_DAYS = 7

# Táve stage (+ closed flag) -> our wedding status. A closed lead is a lost lead; a closed booked
# job was cancelled; fulfillment means the day is done and the work goes on (still booked).
STAGE_STATUS = {
    ("lead", False): "lead", ("booked", False): "booked", ("fulfillment", False): "booked",
    ("completed", False): "completed",
    ("lead", True): "cancelled", ("booked", True): "cancelled", ("fulfillment", True): "completed",
    ("completed", True): "completed",
}

# Fields we map (everything else is kept raw in tave_objects and listed as unmapped).
_MAPPED = {
    "contact": {"id", "kind", "firstName", "lastName", "name", "email", "cellPhone", "homePhone", "workPhone",
                "hidden", "created", "modified", "links"},
    "job": {"id", "stage", "closed", "eventDate", "name", "title", "jobTypeName", "leadSourceName", "guestCount",
            "bookingDate", "sample", "created", "modified", "links"},
    "event": {"id", "jobId", "name", "startDate", "startTime", "endDate", "endTime", "allDay", "timezoneName",
              "location", "hidden", "created", "modified", "links", "startUtc", "endUtc"},
}

migrations = Migrations("wedsync.tave")


@migrations()
def m001_tave_objects(db):
    db.executescript(
        """
        -- The last copy of every Táve object we read (raw JSON, nothing dropped).
        CREATE TABLE tave_objects (
            resource TEXT NOT NULL,             -- address-book | job | job-contact | event
            id TEXT NOT NULL,
            modified TEXT,
            hidden INTEGER NOT NULL DEFAULT 0,
            job_id TEXT,                        -- job-contact, event
            contact_id TEXT,                    -- job-contact
            raw TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (resource, id)
        );
        CREATE INDEX tave_objects_job ON tave_objects(resource, job_id);
        CREATE INDEX tave_objects_contact ON tave_objects(resource, contact_id);
        """
    )


def crash_point(name: str, n: int = 1) -> None:
    """Test-only: ``WEDSYNC_TEST_CRASH_AT=<name>[:<n>]`` SIGKILLs the process the n-th time here."""
    spec = os.environ.get("WEDSYNC_TEST_CRASH_AT")
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point == name and n == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


# -- HTTP ------------------------------------------------------------------------------------------
def _error_sentence(resp) -> str:
    """Táve's error body {type, title, detail, status} as words (detail may be a per-field object)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {resp.status_code}"
    title = str(body.get("title") or f"HTTP {resp.status_code}").rstrip(".")
    detail = body.get("detail")
    if isinstance(detail, dict):
        detail = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in detail.items())
    return f"{title}: {str(detail).rstrip('.')}" if detail else title


class TaveClient:
    """The Workspace API over the shared HttpClient (retries, Retry-After, call recording)."""

    def __init__(self, rt, api_key: str | None = None):
        from wedsync_cli.http import Auth, HttpClient, RetryPolicy

        settings = rt.provider_settings("tave")
        key = api_key or rt.credentials.require(
            "tave", login_hint="store your Táve API key (workspace.vsco.co/settings/api) with `wedsync auth login tave`",
        )["api_key"]

        class _KeyAuth(Auth):
            def headers(self) -> dict[str, str]:
                return {"X-API-KEY": key}

        # 401/403 are handled here (a bad key never gets better by retrying or refreshing).
        def classify(resp):
            return "final" if resp.status_code in (401, 403) else None

        self.base_url = (settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.http = HttpClient(
            "tave", self.base_url, auth=_KeyAuth(), timeout=settings.get("timeout"), clock=rt.clock,
            recorder=rt.recorder, classify=classify, headers={"Accept": "application/json"},
            # GETs are safe to repeat; 6 attempts ride out a 30% error rate (0.3^6 < 0.1% per request),
            # and the backoff cap keeps an unreachable server to ~15 s before exit 69.
            retry=RetryPolicy(max_attempts=6, max_delay=8.0),
        )
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: dict[str, Any] | None = None, allow_404: bool = False) -> dict[str, Any] | None:
        self.requests += 1
        resp = self.http.get(path, params=params, operation=f"GET {path.split('?')[0]}")
        status = resp.status_code
        if status == 200:
            try:
                return resp.json()
            except ValueError:
                raise ProviderUnavailable(f"Táve answered {path} with something that is not JSON",
                                          fix="check [providers.tave] base_url in the config") from None
        if status == 404 and allow_404:
            return None
        sentence = _error_sentence(resp)
        if status in (401, 403):
            raise AuthRefused(f"Táve refused the API key ({sentence})",
                              fix="create a key at workspace.vsco.co/settings/api and store it with "
                                  "`wedsync auth login tave`")
        if status == 404:
            raise ConfigError(f"Táve has no {path} at {self.base_url} ({sentence})",
                              fix="check [providers.tave] base_url (default https://workspace.vsco.co/api/v2)")
        if status == 400:
            raise DataError(f"Táve rejected the request for {path} ({sentence})",
                            fix="report this; rerunning with --full may help")
        raise ProviderUnavailable(f"Táve answered {path} with HTTP {status} ({sentence})",
                                  fix="check status.vsco.co, then rerun")

    def pages(self, resource: str, params: dict[str, Any]) -> Iterator[tuple[list[dict], dict]]:
        page = 1
        while True:
            doc = self.get(f"/{resource}", {**params, "page": page, "pageSize": PAGE_SIZE}) or {}
            items = doc.get("items") or []
            meta = doc.get("meta") or {}
            yield items, meta
            total_pages = meta.get("totalPages")
            if not items or (page >= int(total_pages) if total_pages is not None else len(items) < PAGE_SIZE):
                return
            page += 1


def check(rt, provider: str = "tave") -> str:
    """`auth status --check`: one GET /studio/me."""
    client = TaveClient(rt)
    try:
        studio = client.get("/studio/me") or {}
    finally:
        client.close()
    return f"GET /studio/me: studio {studio.get('name') or studio.get('id') or '?'}"


# -- mapping ---------------------------------------------------------------------------------------
def map_status(job: dict[str, Any]) -> str:
    return STAGE_STATUS.get((job.get("stage") or "booked", bool(job.get("closed"))), "booked")


def _phone(contact: dict[str, Any], region: str) -> str | None:
    for key in ("cellPhone", "homePhone", "workPhone"):
        ph = contact.get(key)
        if not isinstance(ph, dict):
            continue
        if ph.get("e164"):
            return ph["e164"]
        raw = ph.get("formatted")
        if raw:
            import phonenumbers

            try:
                num = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                return None
            if phonenumbers.is_possible_number(num):
                return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return None


def _email(value: str | None) -> str | None:
    """The shared normaliser (same form as CSV imports, so the same couple matches by email).
    Raises ValueError (InvalidEmail) naming the address."""
    from wedsync_cli.transform.emails import normalise_email

    return normalise_email(value)


def _location(ev: dict[str, Any]) -> str | None:
    addr = ((ev.get("location") or {}).get("address")) or {}
    parts = [addr.get(k) for k in ("name", "streetAddress", "city")]
    return ", ".join(dict.fromkeys(p for p in parts if p)) or None


def _kind(name: str | None) -> str:
    n = (name or "").lower()
    for word, kind in (("engagement", "engagement"), ("consult", "consultation"), ("rehearsal", "rehearsal"),
                       ("meeting", "meeting"), ("call", "meeting")):
        if word in n:
            return kind
    return "other"


def _event_data(ev: dict[str, Any], kind: str, studio_tz: str, title: str | None):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from wedsync_cli.domain.models import EventData

    common = {"kind": kind, "title": title, "location": _location(ev), "external_id": ev["id"]}
    if not ev.get("startDate"):  # only the UTC instants: a timed event in its own (or the studio's) zone
        from wedsync_cli.clock import parse_instant

        tz = ev.get("timezoneName") or studio_tz
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            tz, zone = studio_tz, ZoneInfo(studio_tz)
        start = parse_instant(ev["startUtc"]).astimezone(zone)
        end = parse_instant(ev["endUtc"]).astimezone(zone) if ev.get("endUtc") else start + timedelta(hours=1)
        return EventData(all_day=False, start=start, end=end, tz=tz, **common)
    start_day = date.fromisoformat(ev["startDate"])
    end_day = date.fromisoformat(ev["endDate"]) if ev.get("endDate") else start_day
    if ev.get("allDay") or not ev.get("startTime"):
        return EventData(all_day=True, start=start_day, end=max(end_day, start_day) + timedelta(days=1),
                         tz=studio_tz, **common)
    tz = ev.get("timezoneName") or studio_tz
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        tz, zone = studio_tz, ZoneInfo(studio_tz)
    start = datetime.combine(start_day, time.fromisoformat(ev["startTime"]), tzinfo=zone)
    if ev.get("endTime"):
        end = datetime.combine(end_day, time.fromisoformat(ev["endTime"]), tzinfo=zone)
        if end <= start and not ev.get("endDate"):
            end += timedelta(days=1)  # runs past midnight
    else:
        end = start + timedelta(hours=1)
    return EventData(all_day=False, start=start, end=end, tz=tz, **common)


def _unmapped(kind: str, obj: dict[str, Any]) -> set[str]:
    return {f"{kind}.{k}" for k, v in obj.items() if k not in _MAPPED[kind] and v not in (None, "", [], {})}


def build_record(job: dict[str, Any], clients: list[dict[str, Any]], events: list[dict[str, Any]],
                 studio_tz: str, region: str, status: str | None = None):
    """One Táve job -> an ImportRecord (or Rejected with the reason, or None: nothing to import)."""
    from pydantic import ValidationError

    from wedsync_cli.domain.models import ClientData, ImportRecord, Person, Rejected, WeddingData

    raw = {"job": job, "contacts": clients, "events": events}
    label = job.get("name") or job.get("title") or f"job {job['id']}"
    if not clients:
        return None
    try:
        people = [Person(first=c.get("firstName"), last=c.get("lastName"), email=_email(c.get("email")),
                         phone=_phone(c, region)) for c in clients[:2]]
        client = ClientData(partner1=people[0], partner2=people[1] if len(people) > 1 else None,
                            extra={"other_clients": [c.get("name") or c["id"] for c in clients[2:]]}
                            if len(clients) > 2 else {})
        wedding_day = date.fromisoformat(job["eventDate"]) if job.get("eventDate") else None
        evs = sorted(events, key=lambda e: (e.get("startDate") or "", e.get("startTime") or "", e["id"]))
        out = []
        venue = None
        have_wedding = False
        for ev in evs:
            if not ev.get("startDate") and not ev.get("startUtc"):
                continue
            data = _event_data(ev, "other", studio_tz, None)
            day = data.start if isinstance(data.start, date) and not isinstance(data.start, datetime) else data.start.date()
            is_wedding = (not have_wedding and wedding_day is not None and day == wedding_day
                          and _kind(ev.get("name")) == "other")
            kind = "wedding" if is_wedding else _kind(ev.get("name"))
            title = None if kind != "other" else f"{ev.get('name') or 'Event'}: {client.display_name}"
            data = data.model_copy(update={"kind": kind, "title": title})
            if is_wedding:
                have_wedding, venue = True, data.location
            out.append(data)
        extra = {k: v for k, v in (("tave_stage", job.get("stage")), ("tave_closed", bool(job.get("closed"))),
                                   ("job_type", job.get("jobTypeName")), ("lead_source", job.get("leadSourceName")),
                                   ("guest_count", job.get("guestCount")), ("booking_date", job.get("bookingDate")))
                 if v is not None}
        wedding = WeddingData(date=wedding_day, venue=venue, status=status or map_status(job),
                              external_id=job["id"], extra=extra)
        return ImportRecord(source=SOURCE, external_id=clients[0]["id"], client=client, wedding=wedding,
                            events=out, raw=raw)
    except (ValidationError, ValueError) as exc:
        return Rejected(source=SOURCE, reason=f"{label}: {_reason(exc)}", raw=raw)


def _reason(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        return msg
    return str(exc)


# -- the source --------------------------------------------------------------------------------------
@dataclass
class Fetched:
    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {r: {} for r in RESOURCES})
    complete: dict[str, bool] = field(default_factory=dict)  # full listing seen all items
    requests: dict[str, int] = field(default_factory=lambda: {r: 0 for r in RESOURCES})


class _Rollback(Exception):
    pass


class TaveSource:
    """``TaveSource(rt, name, source_config).sync(full=False, dry_run=False) -> ImportReport``."""

    provider = "tave"

    def __init__(self, rt, name: str = "tave", source_config: Any = None):
        self.rt = rt
        self.name = name
        extra = dict(getattr(source_config, "model_extra", None) or {})
        self.overlap = timedelta(seconds=float(extra.get("overlap_seconds", DEFAULT_OVERLAP_S)))
        self.full_days = float(extra.get("full_reconcile_days", DEFAULT_FULL_RECONCILE_DAYS))
        self.skipped: list[str] = []  # jobs with nothing to import (no client contact), for the summary
        self.deleted: dict[str, int] = {}
        self.mode = "incremental"
        self.requests: dict[str, int] = {}
        self._fresh: dict[str, dict[str, dict[str, Any]]] = {}

    # -- public --------------------------------------------------------------------------------
    def sync(self, full: bool = False, dry_run: bool = False):
        store = self.rt.store
        cursor = store.get_cursor(CURSOR_KEY) or {}
        now = self.rt.clock.now()
        last_full = cursor.get("last_full_at")
        due = last_full is None or (now - datetime.fromisoformat(last_full)) >= timedelta(days=self.full_days)
        full = full or due or not cursor.get("bookmarks")
        self.mode = "full" if full else "incremental"
        client = TaveClient(self.rt)
        try:
            fetched = self._fetch(client, None if full else cursor.get("bookmarks") or {})
        finally:
            client.close()
        self.requests = dict(fetched.requests)
        return self._apply(fetched, cursor, full, dry_run)

    # -- reading -------------------------------------------------------------------------------
    def _fetch(self, client: TaveClient, bookmarks: dict[str, str] | None) -> Fetched:
        out = Fetched()
        n_pages = 0
        for resource in RESOURCES:
            params: dict[str, Any] = {}
            if resource == "job":
                params["includeClosed"] = "true"
            else:
                params["includeHidden"] = "true"
            since = None
            if bookmarks is None:
                params["sortBy"] = "id"  # stable under concurrent edits, so a full pass misses nothing
            else:
                params["sortBy"] = "modified desc"
                mark = bookmarks.get(resource)
                since = (datetime.fromisoformat(mark) - self.overlap) if mark else None
            seen = out.items[resource]
            total = 0
            before = client.requests
            trust_order = True
            for items, meta in client.pages(resource, params):
                n_pages += 1
                crash_point("tave.page", n_pages)
                total = int(meta.get("totalItems") or 0)
                for it in items:
                    seen[it["id"]] = it
                stamps = [_ts(it.get("modified")) for it in items]
                # Stop early only while the server really sorts newest first; otherwise read on.
                trust_order = trust_order and all(a >= b for a, b in zip(stamps, stamps[1:], strict=False))
                if since is not None and trust_order and stamps and stamps[-1] < since:
                    break
            out.requests[resource] = client.requests - before
            out.complete[resource] = bookmarks is None and len(seen) >= total
        return out

    # -- writing ---------------------------------------------------------------------------------
    def _apply(self, fetched: Fetched, cursor: dict[str, Any], full: bool, dry_run: bool):
        from wedsync_cli.transform.engine import ImportEngine, ImportReport

        store = self.rt.store
        cfg = self.rt.config
        report: ImportReport | None = None
        self._fresh = fetched.items
        try:
            with store.transaction():
                # Re-read inside the write lock: a concurrent run (`sync` and `import tave` hold
                # different job locks) may have moved the bookmarks since this run started.
                cursor = store.get_cursor(CURSOR_KEY) or cursor
                changed = self._mirror(fetched)
                gone = self._gone(fetched) if full else {r: set() for r in RESOURCES}
                affected = self._affected_jobs(changed, gone)
                if full:  # a full pass re-checks every job (unchanged ones cost a hash compare)
                    affected |= {r[0] for r in store.execute("SELECT id FROM tave_objects WHERE resource = 'job'")}
                # Rejected jobs are retried until fixed, so they stay visible in every report.
                affected |= set(cursor.get("rejected_jobs") or [])
                records = self._records(affected, gone, cfg.timezone, cfg.phone_region)
                self._tombstone_events(gone["event"] | self._hidden_events(changed))
                self._forget(gone)
                engine = ImportEngine(store, source=SOURCE, timezone=cfg.timezone, dry_run=dry_run)
                report = engine.apply(records)
                for kind, objs in (("contact", fetched.items["address-book"]), ("job", fetched.items["job"]),
                                   ("event", fetched.items["event"])):
                    for obj in objs.values():
                        report.unmapped_fields |= _unmapped(kind, obj)
                crash_point("tave.before_commit")
                if dry_run:
                    raise _Rollback
                nxt = self._next_cursor(fetched, cursor, full)
                nxt["rejected_jobs"] = sorted({r.raw["job"]["id"] for r in report.rejects if r.raw.get("job")})
                store.set_cursor(CURSOR_KEY, nxt)
        except _Rollback:
            pass
        crash_point("tave.after_commit")
        return report

    def _mirror(self, fetched: Fetched) -> dict[str, set[str]]:
        """Upsert the raw objects; return the ids whose content changed (or are new)."""
        store = self.rt.store
        changed: dict[str, set[str]] = {r: set() for r in RESOURCES}
        now = store.now()
        for resource, objs in fetched.items.items():
            if not objs:
                continue
            ids = list(objs)
            old: dict[str, str] = {}
            for i in range(0, len(ids), 900):
                part = ids[i:i + 900]
                for oid, raw in store.execute(
                        f"SELECT id, raw FROM tave_objects WHERE resource = ? AND id IN ({','.join('?' * len(part))})",
                        [resource, *part]).fetchall():
                    old[oid] = raw
            rows = []
            for oid, obj in objs.items():
                raw = json.dumps(obj, sort_keys=True, ensure_ascii=False)
                if old.get(oid) == raw:
                    continue
                changed[resource].add(oid)
                rows.append((resource, oid, obj.get("modified"), 1 if obj.get("hidden") else 0,
                             obj.get("jobId"), obj.get("contactId"), raw, now))
            store.db.conn.executemany(
                "INSERT INTO tave_objects(resource, id, modified, hidden, job_id, contact_id, raw, seen_at) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(resource, id) DO UPDATE SET modified = excluded.modified, "
                "hidden = excluded.hidden, job_id = excluded.job_id, contact_id = excluded.contact_id, "
                "raw = excluded.raw, seen_at = excluded.seen_at", rows)
        return changed

    def _gone(self, fetched: Fetched) -> dict[str, set[str]]:
        """Full pass: mirrored objects the listing no longer has. Only trusted when the listing
        was complete (a deletion mid-run shifts pages); each job/event is confirmed with a GET."""
        store = self.rt.store
        gone: dict[str, set[str]] = {r: set() for r in RESOURCES}
        missing: dict[str, set[str]] = {}
        for resource in RESOURCES:
            if not fetched.complete.get(resource):
                continue
            known = {r[0] for r in store.execute("SELECT id FROM tave_objects WHERE resource = ?", [resource])}
            missing[resource] = known - set(fetched.items[resource])
        if not any(missing.values()):
            return gone
        client = TaveClient(self.rt)
        try:
            for resource, ids in missing.items():
                for oid in sorted(ids):
                    if resource == "job-contact":
                        gone[resource].add(oid)
                        continue
                    self.requests[resource] = self.requests.get(resource, 0) + 1
                    try:
                        if client.get(f"/{resource}/{oid}", allow_404=True) is None:
                            gone[resource].add(oid)
                    except AuthRefused:
                        raise
                    except WedsyncError:
                        pass  # not confirmed gone: keep it, the next full pass asks again
        finally:
            client.close()
        self.deleted = {r: len(v) for r, v in gone.items() if v}
        return gone

    def _affected_jobs(self, changed: dict[str, set[str]], gone: dict[str, set[str]]) -> set[str]:
        store = self.rt.store
        jobs = set(changed["job"]) | set(gone["job"])
        for resource in ("job-contact", "event"):
            ids = sorted(changed[resource] | gone[resource])
            for i in range(0, len(ids), 900):
                part = ids[i:i + 900]
                jobs |= {r[0] for r in store.execute(
                    f"SELECT job_id FROM tave_objects WHERE resource = ? AND id IN ({','.join('?' * len(part))}) "
                    "AND job_id IS NOT NULL", [resource, *part])}
        contacts = sorted(changed["address-book"] | gone["address-book"])
        for i in range(0, len(contacts), 900):
            part = contacts[i:i + 900]
            jobs |= {r[0] for r in store.execute(
                f"SELECT job_id FROM tave_objects WHERE resource = 'job-contact' AND contact_id IN "
                f"({','.join('?' * len(part))}) AND job_id IS NOT NULL", part)}
        return jobs

    def _load(self, resource: str, column: str, values: list[str]) -> list[dict[str, Any]]:
        fresh = self._fresh.get(resource, {})  # objects read this run: no need to parse them again
        out = []
        for i in range(0, len(values), 900):
            part = values[i:i + 900]
            for oid, raw in self.rt.store.execute(
                    f"SELECT id, raw FROM tave_objects WHERE resource = ? AND {column} IN ({','.join('?' * len(part))})",
                    [resource, *part]):
                out.append(fresh[oid] if oid in fresh else json.loads(raw))
        return out

    def _records(self, job_ids: set[str], gone: dict[str, set[str]], tz: str, region: str) -> list:
        """Records for the given jobs, from the mirror (objects found deleted are left out, except
        a deleted job itself, which comes through once more as cancelled)."""
        ids = sorted(job_ids)
        gone_jobs = gone["job"]
        jobs = {j["id"]: j for j in self._load("job", "id", ids)}
        links: dict[str, list[dict]] = {}
        for link in self._load("job-contact", "job_id", ids):
            # A deleted job keeps its (maybe also deleted) couple once more, to be marked cancelled.
            if link["id"] not in gone["job-contact"] or link["jobId"] in gone_jobs:
                links.setdefault(link["jobId"], []).append(link)
        events: dict[str, list[dict]] = {}
        for ev in self._load("event", "job_id", ids):
            if not ev.get("hidden") and ev["id"] not in gone["event"]:
                events.setdefault(ev["jobId"], []).append(ev)
        contact_ids = sorted({lk["contactId"] for ls in links.values() for lk in ls})
        contacts = {c["id"]: c for c in self._load("address-book", "id", contact_ids)}
        records = []
        for jid in ids:
            job = jobs.get(jid)
            if job is None or job.get("sample"):
                continue
            job_links = sorted(links.get(jid, []), key=lambda x: (x.get("created") or "", x["id"]))
            # Links say who the client is (client flag or roleKinds); when none of a job's links says
            # anything either way, the people on it who are not vendors are taken as the couple.
            silent = all(lk.get("client") is None and not lk.get("roleKinds") for lk in job_links)
            clients = []
            for lk in job_links:
                c = contacts.get(lk["contactId"])
                if lk["contactId"] in gone["address-book"] and jid not in gone_jobs:
                    c = None
                if c is None or c.get("kind", "person") != "person" or c.get("hidden") or lk.get("hidden"):
                    continue
                is_client = lk.get("client") or "client" in (lk.get("roleKinds") or [])
                if is_client or (silent and not c.get("vendorRoleId")):
                    clients.append(c)
            status = "cancelled" if jid in gone_jobs else None
            rec = build_record(job, clients, events.get(jid, []), tz, region, status=status)
            if rec is None:
                if jid not in gone_jobs:
                    self.skipped.append(f"{job.get('name') or jid}: no client contact on the job")
                continue
            records.append(rec)
        return records

    def _hidden_events(self, changed: dict[str, set[str]]) -> set[str]:
        ids = sorted(changed["event"])
        return {e["id"] for e in self._load("event", "id", ids) if e.get("hidden")}

    def _tombstone_events(self, event_ids: set[str]) -> None:
        """Events deleted or hidden in Táve: tombstone ours so calendars remove them."""
        if not event_ids:
            return
        from wedsync_cli.notify import emit

        store = self.rt.store
        now = store.now()
        for eid in sorted(event_ids):
            row = store.one("SELECT id, wedding_id FROM events WHERE source = ? AND external_id = ? AND deleted = 0",
                            [SOURCE, eid])
            if row is None:
                continue
            store.execute("UPDATE events SET deleted = 1, version = version + 1, updated_at = ? WHERE id = ?",
                          [now, row["id"]])
            emit(store, "event.deleted", {"event_id": row["id"], "wedding_id": row["wedding_id"], "source": SOURCE})

    def _forget(self, gone: dict[str, set[str]]) -> None:
        for resource, ids in gone.items():
            self.rt.store.db.conn.executemany("DELETE FROM tave_objects WHERE resource = ? AND id = ?",
                                              [(resource, i) for i in ids])

    def _next_cursor(self, fetched: Fetched, cursor: dict[str, Any], full: bool) -> dict[str, Any]:
        marks = dict(cursor.get("bookmarks") or {})
        for resource, objs in fetched.items.items():
            seen = [o["modified"] for o in objs.values() if o.get("modified")]
            if seen:
                best = max(seen, key=_ts)
                if resource not in marks or _ts(best) > _ts(marks[resource]):
                    marks[resource] = _ts(best).isoformat()
        out = {"bookmarks": marks, "last_full_at": cursor.get("last_full_at")}
        if full:
            out["last_full_at"] = self.rt.clock.now().isoformat()
        return out


def _ts(value: str | None) -> datetime:
    from wedsync_cli.clock import parse_instant

    if not value:
        return datetime.min.replace(tzinfo=parse_instant("2000-01-01T00:00:00Z").tzinfo)
    return parse_instant(value)


__all__ = ["TaveSource", "TaveClient", "check", "build_record", "map_status", "migrations", "WedsyncError"]
