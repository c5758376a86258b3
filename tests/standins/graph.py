"""A Microsoft Graph (Outlook calendar) stand-in on 127.0.0.1, written from Microsoft's documentation
(research/calendar.md section 2: event-delta, delta-query-events/overview, throttling, event resource).

Behaviours: ``calendarView/delta`` rounds (startDateTime/endDateTime required on the first request)
paged by ``Prefer: odata.maxpagesize`` through absolute ``@odata.nextLink`` URLs ($skiptoken) until
an ``@odata.deltaLink`` ($deltatoken) that encodes the window; ``@removed`` tombstones for deleted
events and for changed events outside the window; optional replays (``replay`` earlier changes
again, ``repeat_items`` lists each entity twice in a page); expired tokens answer 410 with
``syncStateNotFound`` and a ``Location`` to restart from; ``transactionId`` dedupes creates;
``@odata.etag`` + ``If-Match`` with 412; ``singleValueExtendedProperties`` with ``$filter``/``$expand``;
``Prefer: outlook.timezone``; 401 ``InvalidAuthenticationToken``; 429 + ``Retry-After``; an OAuth v2.0
token endpoint that rotates refresh tokens; max concurrent requests observed (``max_in_flight``).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.standins.google_calendar import OAuthTokens
from tests.standins.http import Request, Response, StandinServer

PROP_FILTER = re.compile(
    r"singleValueExtendedProperties/any\(\w+:\s*\w+/id eq '(?P<id>[^']+)' and \w+/value eq '(?P<value>[^']*)'\)",
    re.I)


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": {"code": code, "message": message,
                                       "innerError": {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                                                      "request-id": secrets.token_hex(8)}}},
                    headers or {})


def _fmt(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _parse_graph_dt(value: str) -> datetime:
    v = value.replace("Z", "")
    if "." in v:
        head, frac = v.split(".", 1)
        v = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(v)


class GraphStandin:
    DEFAULT_CAL = "AAMkDefaultCalendar="

    def __init__(self, calendars: tuple[str, ...] = ()):
        self.server = StandinServer()
        self.server.fault_response = self._fault
        self.oauth = OAuthTokens(self.server, "/common/oauth2/v2.0/token", rotate=True)
        self.calendars: dict[str, dict[str, Any]] = {self.DEFAULT_CAL: {"name": "Calendar", "isDefault": True}}
        for c in calendars:
            self.calendars[c] = {"name": c, "isDefault": False}
        self.events: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.token_generation = 0
        self.expiry_status = 410        # 410 Gone (or e.g. 400) for an expired delta token
        self.replay = 0                 # every incremental round repeats the last N changes
        self.repeat_items = False       # every entity appears twice within a page
        self.default_page_size = 100
        self.require_auth = True
        self.lose_write_answers = 0
        self.hold_inserts: threading.Event | None = None
        self.insert_applied = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.RLock()
        r = self.server.route
        # Microsoft identity platform pieces msal's device-code sign-in uses (tenant "common").
        r("GET", r"/common/v2\.0/\.well-known/openid-configuration")(self._openid_configuration)
        r("POST", r"/common/oauth2/v2\.0/devicecode")(self._devicecode)
        self.device_pending = 0
        for prefix in (r"/v1\.0/me/calendars/(?P<cal>[^/]+)", r"/v1\.0/me/calendar"):
            r("GET", prefix)(self._get_calendar)
            r("GET", prefix + r"/calendarView/delta")(self._delta)
            r("POST", prefix + r"/events")(self._create)
            r("GET", prefix + r"/events")(self._list_events)
        r("GET", r"/v1\.0/me/calendarView/delta")(self._delta)
        r("POST", r"/v1\.0/me/events")(self._create)
        r("GET", r"/v1\.0/me/events/(?P<eid>[^/]+)")(self._get)
        r("PATCH", r"/v1\.0/me/events/(?P<eid>[^/]+)")(self._patch)
        r("DELETE", r"/v1\.0/me/events/(?P<eid>[^/]+)")(self._delete)
        # Count concurrency around dispatch (Outlook allows 4 concurrent requests per app+mailbox).
        inner = self.server.dispatch

        def counted(req: Request) -> Response:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return inner(req)
            finally:
                with self._lock:
                    self.in_flight -= 1

        self.server.dispatch = counted

    # -- lifecycle / inspection -------------------------------------------------------------------
    def start(self) -> GraphStandin:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def faults(self):
        return self.server.faults

    def live_events(self, cal: str | None = None) -> list[dict[str, Any]]:
        cal = cal or self.DEFAULT_CAL
        with self._lock:
            return [self._public(e, "UTC") for e in self.events.values() if e["_cal"] == cal and not e["_deleted"]]

    def expire_delta_tokens(self) -> None:
        with self._lock:
            self.token_generation += 1

    def add_calendar(self, cal: str) -> None:
        with self._lock:
            self.calendars[cal] = {"name": cal, "isDefault": False}

    # -- "someone edits in Outlook" --------------------------------------------------------------
    def put_event(self, cal: str | None, body: dict[str, Any], eid: str | None = None) -> dict[str, Any]:
        cal = cal or self.DEFAULT_CAL
        with self._lock:
            if eid and eid in self.events:
                ev = self.events[eid]
                err = self._apply(ev, body)
                assert err is None, err
            else:
                ev = self._new(cal, body)
            self._touch(ev)
            return self._public(ev, "UTC")

    def remove_event(self, eid: str) -> None:
        with self._lock:
            self.events[eid]["_deleted"] = True
            self._touch(self.events[eid])

    # -- internals --------------------------------------------------------------------------------
    def _touch(self, ev: dict[str, Any]) -> None:
        self.seq += 1
        ev["_seq"] = self.seq
        ev["changeKey"] = base64.b64encode(f"ck{self.seq}".encode()).decode()
        ev["lastModifiedDateTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _new(self, cal: str, body: dict[str, Any]) -> dict[str, Any]:
        eid = "AAMkAD" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B") + "="
        ev = {"id": eid, "_cal": cal, "_deleted": False, "_props": {},
              "createdDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
              "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(16).upper(),
              "subject": "", "body": {"contentType": "text", "content": ""}, "isAllDay": False,
              "isCancelled": False, "showAs": "busy", "type": "singleInstance", "location": {"displayName": ""},
              "transactionId": None}
        err = self._apply(ev, body)
        if err is not None:
            raise ValueError(err)
        self.events[eid] = ev
        return ev

    def _apply(self, ev: dict[str, Any], body: dict[str, Any]) -> str | None:
        for k in ("subject", "isAllDay", "showAs", "isCancelled"):
            if k in body:
                ev[k] = body[k]
        if "body" in body:
            ev["body"] = {"contentType": body["body"].get("contentType", "text"), "content": body["body"].get("content", "")}
        if "location" in body:
            ev["location"] = {"displayName": (body["location"] or {}).get("displayName", "")}
        if "transactionId" in body and ev.get("transactionId") is None:
            ev["transactionId"] = body["transactionId"]
        for p in body.get("singleValueExtendedProperties") or []:
            ev["_props"][p["id"]] = p["value"]
        for k in ("start", "end"):
            if k in body:
                v = body[k] or {}
                try:
                    zone = ZoneInfo(v.get("timeZone") or "UTC")
                    local = _parse_graph_dt(v["dateTime"])
                except (KeyError, ValueError, ZoneInfoNotFoundError):
                    return f"Invalid {k}"
                if local.tzinfo is None:
                    local = local.replace(tzinfo=zone)
                ev[f"_{k}"] = local.astimezone(UTC)
                ev[f"_{k}_zone"] = v.get("timeZone") or "UTC"
                if k == "start":
                    ev["originalStartTimeZone"] = v.get("timeZone") or "UTC"
                else:
                    ev["originalEndTimeZone"] = v.get("timeZone") or "UTC"
        if ev.get("isAllDay"):
            for k in ("start", "end"):
                local = ev[f"_{k}"].astimezone(ZoneInfo(ev[f"_{k}_zone"]))
                if local.time() != datetime.min.time():
                    return "All-day events must start and end at midnight"
        if "_start" in ev and "_end" in ev and ev["_end"] < ev["_start"]:
            return "The end must not be before the start"
        return None

    def _public(self, ev: dict[str, Any], zone: str, expand_prop: str | None = None) -> dict[str, Any]:
        tz = ZoneInfo(zone)
        out = {k: v for k, v in ev.items() if not k.startswith("_")}
        out["@odata.etag"] = f'W/"{ev["changeKey"]}"'
        if out.get("transactionId") is None:
            out.pop("transactionId", None)  # only returned when an app set it
        for k in ("start", "end"):
            if ev.get("isAllDay"):
                # all-day events are floating dates: midnight, shown in the requested zone's name
                d = ev[f"_{k}"].astimezone(ZoneInfo(ev[f"_{k}_zone"])).date()
                out[k] = {"dateTime": _fmt(datetime(d.year, d.month, d.day)), "timeZone": zone}
            else:
                out[k] = {"dateTime": _fmt(ev[f"_{k}"].astimezone(tz).replace(tzinfo=None)), "timeZone": zone}
        if expand_prop is not None and expand_prop in ev["_props"]:
            out["singleValueExtendedProperties"] = [{"id": expand_prop, "value": ev["_props"][expand_prop]}]
        return out

    def _zone(self, req: Request) -> str:
        m = re.search(r'outlook\.timezone="([^"]+)"', req.headers.get("prefer", ""))
        if m:
            try:
                ZoneInfo(m.group(1))
                return m.group(1)
            except (ZoneInfoNotFoundError, ValueError):
                return "UTC"
        return "UTC"

    def _page_size(self, req: Request) -> int:
        m = re.search(r"odata\.maxpagesize=(\d+)", req.headers.get("prefer", ""))
        return int(m.group(1)) if m else self.default_page_size

    def _guard(self, req: Request) -> Response | None:
        if self.require_auth and not self.oauth.valid(req):
            return graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.",
                               {"WWW-Authenticate": 'Bearer realm=""'})
        cal = unquote(req.params.get("cal") or "") or None
        if cal is not None and cal not in self.calendars:
            return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return None

    def _cal(self, req: Request) -> str:
        return unquote(req.params.get("cal") or "") or self.DEFAULT_CAL

    def _fault(self, kind: str) -> Response:
        ra = self.server.faults.retry_after
        if kind == "429":
            return graph_error(429, "TooManyRequests", "Application is over its MailboxConcurrency limit.",
                               {"Retry-After": ra} if ra else {})
        status = int(kind) if kind.isdigit() else 503
        code = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
        return graph_error(status, code.get(status, "UnknownError"), "injected fault",
                           {"Retry-After": ra} if status == 503 and ra else {})

    def _token(self, state: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")

    def _untoken(self, tok: str) -> dict[str, Any] | None:
        try:
            return json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
        except (ValueError, TypeError):
            return None

    # -- routes -----------------------------------------------------------------------------------
    def _openid_configuration(self, req: Request) -> Response:
        base = "https://login.microsoftonline.com/common/oauth2/v2.0"
        return Response(200, {"authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                              "device_authorization_endpoint": f"{base}/devicecode",
                              "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
                              "tenant_region_scope": None, "cloud_instance_name": "microsoftonline.com"})

    def _devicecode(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if not form.get("client_id"):
            return Response(400, {"error": "invalid_request", "error_description": "client_id is required"})
        return Response(200, self.oauth.new_device_code(form["client_id"], pending=self.device_pending))

    def _get_calendar(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        cal = self._cal(req)
        info = self.calendars[cal]
        return Response(200, {"id": cal, "name": info["name"], "isDefaultCalendar": info["isDefault"],
                              "canEdit": True, "changeKey": "c1"})

    def _delta(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        cal = self._cal(req)
        skip, delta = req.arg("$skiptoken"), req.arg("$deltatoken")
        with self._lock:
            if skip or delta:
                state = self._untoken(skip or delta)
                if state is None or state.get("gen") != self.token_generation or state.get("cal") != cal:
                    restart = f"{self.url}{req.path}?startDateTime={quote((state or {}).get('start', ''))}" \
                              f"&endDateTime={quote((state or {}).get('end', ''))}"
                    return graph_error(self.expiry_status, "syncStateNotFound",
                                       "The sync state generation is not found.", {"Location": restart})
                if delta:  # a new round starts where the last one ended
                    since = max(0, state["since"] - self.replay)
                    state = {**state, "since": since, "after": since, "initial": False}
            else:
                start, end = req.arg("startDateTime"), req.arg("endDateTime")
                if not start or not end:
                    return graph_error(400, "ErrorInvalidParameter",
                                       "This request requires a time window specified by the query string "
                                       "parameters StartDateTime and EndDateTime.")
                try:
                    datetime.fromisoformat(start.replace("Z", "+00:00"))
                    datetime.fromisoformat(end.replace("Z", "+00:00"))
                except ValueError:
                    return graph_error(400, "ErrorInvalidParameter", "Invalid startDateTime or endDateTime.")
                state = {"cal": cal, "start": start, "end": end, "since": 0, "after": 0, "initial": True,
                         "gen": self.token_generation}
            lo = _aware(state["start"])
            hi = _aware(state["end"])
            zone = self._zone(req)
            size = self._page_size(req)
            pool = sorted((e for e in self.events.values() if e["_cal"] == cal and e["_seq"] > state["after"]),
                          key=lambda e: e["_seq"])
            page: list[dict[str, Any]] = []
            last = state["after"]
            for ev in pool:
                if len(page) >= size:
                    break
                last = ev["_seq"]
                in_window = ev["_start"] < hi and ev["_end"] > lo
                if ev["_deleted"] or not in_window:
                    if state["initial"]:
                        continue
                    item = {"@odata.type": "#microsoft.graph.event", "id": ev["id"], "@removed": {"reason": "deleted"}}
                else:
                    item = self._public(ev, zone)
                page.append(item)
                if self.repeat_items:
                    page.append(item)
            more = any(e["_seq"] > last for e in pool)
            body: dict[str, Any] = {"@odata.context": f"{self.url}/v1.0/$metadata#Collection(event)", "value": page}
            if more:
                body["@odata.nextLink"] = f"{self.url}{req.path}?$skiptoken={self._token({**state, 'after': last})}"
            else:
                body["@odata.deltaLink"] = (f"{self.url}{req.path}?$deltatoken="
                                            f"{self._token({**state, 'since': self.seq, 'after': self.seq, 'initial': False})}")
        return Response(200, body)

    def _list_events(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        cal = self._cal(req)
        flt = req.arg("$filter") or ""
        expand = _expand_prop(req.arg("$expand"))
        with self._lock:
            items = [e for e in self.events.values() if e["_cal"] == cal and not e["_deleted"]]
            if flt:
                m = PROP_FILTER.search(flt)
                if not m:
                    return graph_error(400, "BadRequest", f"Unsupported filter: {flt}")
                items = [e for e in items if e["_props"].get(m.group("id")) == m.group("value")]
            zone = self._zone(req)
            return Response(200, {"value": [self._public(e, zone, expand) for e in items[:int(req.arg('$top', '50'))]]})

    def _get(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        with self._lock:
            ev = self.events.get(unquote(req.params["eid"]))
            if ev is None or ev["_deleted"]:
                return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            return Response(200, self._public(ev, self._zone(req), _expand_prop(req.arg("$expand"))))

    def _create(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        cal = self._cal(req)
        body = req.json() or {}
        if "start" not in body or "end" not in body:
            return graph_error(400, "ErrorInvalidRequest", "Start and end are required.")
        with self._lock:
            tx = body.get("transactionId")
            dup = next((e for e in self.events.values() if tx and e["_cal"] == cal and not e["_deleted"]
                        and e.get("transactionId") == tx), None)
            if dup is not None:
                ev = dup  # the documented purpose of transactionId: a retried POST gets the same event
            else:
                try:
                    ev = self._new(cal, body)
                except ValueError as exc:
                    return graph_error(400, "ErrorInvalidRequest", str(exc))
                self._touch(ev)
            out = self._public(ev, self._zone(req))
            lose = self.lose_write_answers > 0
            if lose:
                self.lose_write_answers -= 1
        hold = self.hold_inserts  # read before signalling, so a test swapping it cannot race us
        self.insert_applied.set()
        if hold is not None:
            hold.wait(30)
        if lose:
            return self._fault("503")
        return Response(201, out)

    def _patch(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        body = req.json() or {}
        with self._lock:
            ev = self.events.get(unquote(req.params["eid"]))
            if ev is None or ev["_deleted"]:
                return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            match = req.headers.get("if-match")
            if match and match != f'W/"{ev["changeKey"]}"':
                return graph_error(412, "ErrorIrresolvableConflict",
                                   "The send or update operation could not be performed because the change key "
                                   "passed in the request does not match the current change key for the item.")
            body.pop("transactionId", None)  # cannot be changed after creation
            saved = dict(ev)
            err = self._apply(ev, body)
            if err is not None:
                ev.clear()
                ev.update(saved)
                return graph_error(400, "ErrorInvalidRequest", err)
            self._touch(ev)
            return Response(200, self._public(ev, self._zone(req)))

    def _delete(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        with self._lock:
            ev = self.events.get(unquote(req.params["eid"]))
            if ev is None or ev["_deleted"]:
                return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            match = req.headers.get("if-match")
            if match and match != f'W/"{ev["changeKey"]}"':
                return graph_error(412, "ErrorIrresolvableConflict", "The change key does not match.")
            ev["_deleted"] = True
            self._touch(ev)
        return Response(204)


def _aware(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _expand_prop(expand: str | None) -> str | None:
    if not expand:
        return None
    m = re.search(r"singleValueExtendedProperties\(\$filter=id eq '([^']+)'\)", expand)
    return m.group(1) if m else None

