"""A loopback Táve / VSCO Workspace API v2 stand-in, built from the vendor's OpenAPI document
(``tests/standins/data/tave-workspace-openapi-v2.json``).

What it implements, as the document describes it:
- auth: header ``X-API-KEY`` (or ``Authorization: Bearer``); a missing or wrong key gives 401 with the
  ``Error`` body ``{"type", "title", "detail", "status"}``;
- ``GET /studio/me``, ``/address-book``, ``/job``, ``/job-contact``, ``/event`` (lists) and
  ``/address-book/{id}``, ``/job/{id}``, ``/event/{id}`` (one item, 404 when gone);
- pagination ``page`` (min 1) / ``pageSize`` (10..100, default 100) with ``meta`` {currentPage,
  totalPages, totalItems, rows}; out-of-range values give a 400 ``validation-error``;
- ``sortBy`` = ``<field>[ asc|desc]`` for id/created/modified (+ a few more), default ``id``;
- ``includeHidden`` (address-book, job-contact, event), ``includeClosed`` (job), ``jobId``,
  ``contactId`` and ``email`` filters; there is no "modified since" filter (the real API has none);
- faults: ``standin.server.faults.rate = 0.3`` with kinds "429"/"500"/"503" answer with Táve-shaped
  error bodies (``quota-limit`` + ``Retry-After`` for 429).

Timestamps come from a stand-in clock that ticks one second per write, so ``modified`` strictly
increases and tests never sleep.
"""

from __future__ import annotations

import json
import os
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.standins.http import Request, Response, StandinServer

OPENAPI_PATH = Path(__file__).parent / "data" / "tave-workspace-openapi-v2.json"
PREFIX = "/api/v2"
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_SORTABLE = ("id", "created", "modified", "name", "eventDate", "stage", "title")

RESOURCES = {
    # path: (collection type, supports includeHidden)
    "address-book": ("addressbook-collection", True),
    "job": ("job-collection", False),
    "job-contact": ("jobcontact-collection", True),
    "event": ("event-collection", True),
}


def error_body(status: int, title: str, detail: Any, type_: str = "unknown") -> dict[str, Any]:
    return {"type": type_, "title": title, "detail": detail, "status": status}


class TaveStandin:
    def __init__(self, api_key: str = "tave-test-key-123456", seed: int = 7,
                 start: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)):
        self.api_key = api_key
        self.server = StandinServer()
        self.server.fault_response = self._fault
        self.rng = random.Random(seed)
        self._now = start
        self._lock = threading.RLock()
        self.data: dict[str, dict[str, dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.honour_sort = True  # False: answer in id order whatever sortBy says (a misbehaving server)
        self.include_meta = True  # meta is readOnly and optional in the document: clients must cope without
        self._version = 0  # bumped on every write; sorted listings are cached per version
        self._sorted: dict[tuple, tuple[int, list]] = {}
        self.studio = {
            "id": self.new_id(), "name": "Bright Lights Photography", "currencyCode": "GBP",
            "dateFormat": "j/n/Y", "timeFormat": "H:i", "email": "studio@example.com",
            "readonlyEnabled": False, "created": self._ts(), "modified": self._ts(),
        }
        self._routes()

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.server.url + PREFIX

    def start(self) -> TaveStandin:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- ids and time ------------------------------------------------------------------------------
    def new_id(self) -> str:
        """A lowercase ULID (48-bit ms time + 80 random bits, Crockford base32), as the API uses."""
        ms = int(self._now.timestamp() * 1000)
        value = (ms << 80) | self.rng.getrandbits(80)
        out = []
        for _ in range(26):
            out.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(out))

    def _tick(self) -> str:
        self._now += timedelta(seconds=1)
        return self._ts()

    def _ts(self) -> str:
        return self._now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _links(self, resource: str, id_: str) -> dict[str, Any]:
        return {"self": {"href": f"https://workspace.vsco.co/api/v2/{resource}/{id_}"}}

    # -- data helpers for tests --------------------------------------------------------------------
    def _put(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            ts = self._tick()
            obj.setdefault("id", self.new_id())
            obj.setdefault("created", ts)
            obj["modified"] = ts
            obj["links"] = self._links(resource, obj["id"])
            self.data[resource][obj["id"]] = obj
            self._version += 1
            return obj

    def add_person(self, first: str | None, last: str | None, email: str | None = None,
                   phone: str | None = None, **extra) -> dict[str, Any]:
        obj: dict[str, Any] = {"kind": "person", "firstName": first, "lastName": last, "email": email,
                               "hidden": False, "customFields": [], "externalMappings": []}
        if first or last:
            obj["name"] = " ".join(p for p in (first, last) if p)
        if phone:
            obj["cellPhone"] = {"formatted": phone, "e164": phone if phone.startswith("+") else None,
                                "extension": None, "telUri": None, "countryCode": None}
        obj.update(extra)
        return self._put("address-book", obj)

    def add_job(self, event_date: str | None, stage: str = "booked", closed: bool = False,
                name: str | None = None, **extra) -> dict[str, Any]:
        obj = {"stage": stage, "closed": closed, "eventDate": event_date, "name": name,
               "title": name, "jobTypeName": "Wedding", "leadSourceName": "Website", "guestCount": 120,
               "webLead": False, "sample": False, "customFields": [], "externalMappings": []}
        obj.update(extra)
        return self._put("job", obj)

    def link(self, job_id: str, contact_id: str, client: bool = True) -> dict[str, Any]:
        return self._put("job-contact", {"jobId": job_id, "contactId": contact_id, "client": client,
                                         "hidden": False, "jobRoles": [],
                                         "roleKinds": ["client"] if client else ["vendor"]})

    def add_event(self, job_id: str, name: str, start_date: str, start_time: str | None = None,
                  end_time: str | None = None, venue: str | None = None, tz: str | None = None,
                  **extra) -> dict[str, Any]:
        obj = {"jobId": job_id, "name": name, "startDate": start_date, "startTime": start_time,
               "endDate": start_date, "endTime": end_time, "allDay": start_time is None,
               "timezoneName": tz, "channel": "InPerson", "confirmed": True, "hidden": False,
               "location": ({"id": None, "address": {"name": venue, "streetAddress": None, "city": None}}
                            if venue else None)}
        obj.update(extra)
        return self._put("event", obj)

    def add_wedding(self, p1: tuple, p2: tuple | None, date: str, stage: str = "booked",
                    venue: str | None = "Kew Gardens", start_time: str | None = "13:00:00",
                    end_time: str | None = "23:00:00", closed: bool = False) -> dict[str, Any]:
        """A couple (two client contacts) on one job with its wedding-day event. p = (first, last, email)."""
        a = self.add_person(*p1)
        b = self.add_person(*p2) if p2 else None
        job = self.add_job(date, stage=stage, closed=closed, name=f"{p1[0]} & {p2[0] if p2 else ''} Wedding")
        self.link(job["id"], a["id"])
        if b:
            self.link(job["id"], b["id"])
        ev = self.add_event(job["id"], "Wedding Day", date, start_time, end_time, venue=venue)
        return {"job": job, "contacts": [a] + ([b] if b else []), "event": ev}

    def modify(self, resource: str, id_: str, **changes) -> dict[str, Any]:
        with self._lock:
            obj = self.data[resource][id_]
            obj.update(changes)
            obj["modified"] = self._tick()
            self._version += 1
            return obj

    def delete(self, resource: str, id_: str) -> None:
        with self._lock:
            self.data[resource].pop(id_, None)
            self._version += 1

    def populate(self, n_jobs: int, extra_contacts: int = 0) -> None:
        """Bulk data for benchmarks: n_jobs couples (2 contacts, 1 job, 2 job-contacts, 1 event each)
        plus ``extra_contacts`` vendors/prospects that are on no job."""
        firsts = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Leo", "Ella", "Jack"]
        lasts = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Evans"]
        for i in range(n_jobs):
            f1, f2, last = firsts[i % 10], firsts[(i + 3) % 10], lasts[i % 8]
            day = (datetime(2027, 1, 1) + timedelta(days=i)).strftime("%Y-%m-%d")  # one couple per day
            self.add_wedding((f1, last, f"{f1.lower()}.{i}@example.com"),
                             (f2, last, f"{f2.lower()}.{i}@example.org"), day,
                             stage=("booked", "lead", "completed", "fulfillment")[i % 4])
        for i in range(extra_contacts):
            self.add_person(firsts[i % 10], "Vendor", f"vendor{i}@example.net")

    # -- HTTP ----------------------------------------------------------------------------------------
    def _fault(self, kind: str) -> Response:
        status = int(kind) if kind.isdigit() else 503
        if status == 429:
            return Response(429, error_body(429, "Too Many Requests", "Exceeded request quota, see Retry-After header",
                                            "quota-limit"),
                            {"Retry-After": self.server.faults.retry_after or "1"})
        return Response(status, error_body(status, "Server Error", "The server had a temporary problem."))

    def _authorised(self, req: Request) -> bool:
        key = req.headers.get("x-api-key")
        if key is None:
            auth = req.headers.get("authorization", "")
            key = auth[7:] if auth.lower().startswith("bearer ") else None
        return key == self.api_key

    def _unauthorised(self) -> Response:
        return Response(401, error_body(401, "Unauthorized", "API key is missing or invalid"))

    def _routes(self) -> None:
        srv = self.server

        @srv.route("GET", PREFIX + r"/studio/me")
        def studio(req: Request) -> Response:
            if not self._authorised(req):
                return self._unauthorised()
            return Response(200, {**self.studio, "links": self._links("studio", self.studio["id"])})

        for resource in RESOURCES:
            srv.route("GET", PREFIX + "/" + resource)(self._lister(resource))
            if resource != "job-contact":
                srv.route("GET", PREFIX + "/" + resource + r"/(?P<id>[0-9a-z]+)")(self._getter(resource))

    def _getter(self, resource: str):
        def get(req: Request) -> Response:
            if not self._authorised(req):
                return self._unauthorised()
            with self._lock:
                obj = self.data[resource].get(req.params["id"])
            if obj is None:
                return Response(404, error_body(404, "Not Found", f"No {resource} with id {req.params['id']}."))
            return Response(200, obj)

        return get

    def _lister(self, resource: str):
        collection_type, hideable = RESOURCES[resource]

        def listing(req: Request) -> Response:
            if not self._authorised(req):
                return self._unauthorised()
            errors: dict[str, list[str]] = {}
            page = _int(req.arg("page", "1"), "page", errors, minimum=1)
            size = _int(req.arg("pageSize", "100"), "pageSize", errors, minimum=10, maximum=100)
            sort = (req.arg("sortBy") or "id").strip()
            field, _, direction = sort.partition(" ")
            if field not in _SORTABLE or direction not in ("", "asc", "desc"):
                errors["sortBy"] = [f"'{sort}' is not a valid sort."]
            if errors:
                return Response(400, error_body(400, "Validation Error", errors, "validation-error"))
            cache_key = (resource, field, direction, req.arg("includeHidden"), req.arg("includeClosed"),
                         req.arg("jobId"), req.arg("contactId"), req.arg("email"))
            with self._lock:
                cached = self._sorted.get(cache_key)
                if cached is not None and cached[0] == self._version:
                    items = cached[1]
                    return self._page(collection_type, items, page, size)
                version = self._version
                items = list(self.data[resource].values())
            if hideable and req.arg("includeHidden", "false") != "true":
                items = [o for o in items if not o.get("hidden")]
            if resource == "job" and req.arg("includeClosed", "false") != "true":
                items = [o for o in items if not o.get("closed")]
            for name in ("jobId", "contactId"):
                if req.arg(name):
                    items = [o for o in items if o.get(name) == req.arg(name)]
            if resource == "address-book" and req.arg("email"):
                want = req.arg("email", "").lower()
                items = [o for o in items if (o.get("email") or "").lower() == want]
            # Ties on the sort field keep id order, as a database ORDER BY field, id would.
            items.sort(key=lambda o: o["id"])
            if self.honour_sort:
                items.sort(key=lambda o: (o.get(field) is None, o.get(field) or ""), reverse=direction == "desc")
            with self._lock:
                self._sorted[cache_key] = (version, items)
            return self._page(collection_type, items, page, size)

        return listing

    def _page(self, collection_type: str, items: list[dict], page: int, size: int) -> Response:
        total = len(items)
        pages = max(1, -(-total // size))
        with self._lock:  # copies, so later test edits never change an answer already sent
            chunk = [json.loads(json.dumps(o)) for o in items[(page - 1) * size: page * size]]
        body = {"type": collection_type, "items": chunk}
        if self.include_meta:
            body["meta"] = {"currentPage": page, "totalPages": pages, "totalItems": total, "rows": size}
        return Response(200, body)


def _int(value: str | None, name: str, errors: dict[str, list[str]], minimum: int | None = None,
         maximum: int | None = None) -> int:
    try:
        n = int(value or "")
    except ValueError:
        errors[name] = [f"'{value}' is not an integer."]
        return 0
    if minimum is not None and n < minimum:
        errors[name] = [f"must be at least {minimum}."]
    if maximum is not None and n > maximum:
        errors[name] = [f"must be at most {maximum}."]
    return n


def main() -> None:  # pragma: no cover - manual poking: python -m tests.standins.tave
    s = TaveStandin().start()
    s.populate(int(os.environ.get("TAVE_JOBS", "5")))
    print(f"Táve stand-in at {s.base_url} key {s.api_key}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    main()
