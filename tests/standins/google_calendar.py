"""A Google Calendar v3 stand-in on 127.0.0.1, written from Google's documentation
(research/calendar.md section 1 and the v3 discovery document), plus an OAuth token endpoint.

Behaviours: events.list with maxResults/pageToken and nextSyncToken on the last page only;
syncToken incremental listing (deletions always included as ``status: cancelled`` tombstones
carrying little more than ``id``); 410 ``fullSyncRequired`` for an expired token; 400 when syncToken
is combined with a parameter Google forbids; client-chosen ids (base32hex, 5-1024) with 409
``duplicate`` on reuse (also for deleted ids); etags and 412 on a stale ``If-Match``; 401
``authError`` for unknown/expired access tokens; 403/429 rate-limit bodies; 404 ``notFound``
for an unknown calendar. Fault injection comes from ``StandinServer.faults``.

    g = GoogleCalendarStandin().start()
    cred = g.oauth.new_credential()     # contract token shape, valid for this stand-in
    ... [providers.google] base_url = g.url, token_url = g.oauth.token_url
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from tests.standins.http import Request, Response, StandinServer

BASE32HEX_ID = re.compile(r"^[a-v0-9]{5,1024}$")
NOT_WITH_SYNC_TOKEN = ("iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty",
                       "timeMin", "timeMax", "updatedMin")


def google_error(status: int, reason: str, message: str, domain: str = "global") -> Response:
    return Response(status, {"error": {"errors": [{"domain": domain, "reason": reason, "message": message}],
                                       "code": status, "message": message}})


class OAuthTokens:
    """Issues and checks bearer tokens; a token endpoint that refreshes, rotates or refuses."""

    def __init__(self, server: StandinServer, path: str, rotate: bool = False,
                 error_shape: str = "google"):
        self.server = server
        self.path = path
        self.rotate = rotate
        self.error_shape = error_shape
        self.access: set[str] = set()
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> client_id
        self.codes: dict[str, str] = {}           # authorization code -> client_id
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.refuse_all = False
        self.refresh_calls = 0
        self.expires_in = 3599
        self._lock = threading.Lock()
        server.route("POST", re.escape(path))(self._token)

    @property
    def token_url(self) -> str:
        return self.server.url + self.path

    def issue_access(self) -> str:
        tok = "ya29.sa-" + secrets.token_urlsafe(12)
        with self._lock:
            self.access.add(tok)
        return tok

    def new_credential(self, client_id: str = "cid-123.apps.example", expires_at: float | None = None,
                       client_secret: str | None = "cs-standin-secret") -> dict[str, Any]:
        rt = "1//rt-" + secrets.token_urlsafe(12)
        with self._lock:
            self.refresh_tokens[rt] = client_id
        cred = {"access_token": self.issue_access(), "refresh_token": rt, "client_id": client_id,
                "expires_at": expires_at if expires_at is not None else 4102444800}
        if client_secret:
            cred["client_secret"] = client_secret
        return cred

    def expire_access_tokens(self) -> None:
        with self._lock:
            self.access.clear()

    def revoke_all(self) -> None:
        with self._lock:
            self.access.clear()
            self.refresh_tokens.clear()

    def valid(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.access

    def new_code(self, client_id: str) -> str:
        code = "4/code-" + secrets.token_urlsafe(8)
        with self._lock:
            self.codes[code] = client_id
        return code

    def _exchange_code(self, form: dict[str, str]) -> Response:
        client = self.codes.pop(form.get("code", ""), None)
        if client is None or client != form.get("client_id") or not form.get("code_verifier"):
            return Response(400, {"error": "invalid_grant", "error_description": "Malformed auth code."})
        rt = "1//rt-" + secrets.token_urlsafe(12)
        self.refresh_tokens[rt] = client
        tok = "ya29.sa-" + secrets.token_urlsafe(12)
        self.access.add(tok)
        return Response(200, {"access_token": tok, "expires_in": self.expires_in, "refresh_token": rt,
                              "token_type": "Bearer", "scope": " ".join(form.get("scope", "").split())
                              or "https://www.googleapis.com/auth/calendar.events"})

    def new_device_code(self, client_id: str, pending: int = 0) -> dict[str, Any]:
        """RFC 8628: a device code the user 'approves' after ``pending`` polls."""
        code = "dc-" + secrets.token_urlsafe(10)
        with self._lock:
            self.device_codes[code] = {"client_id": client_id, "pending": pending}
        return {"device_code": code, "user_code": "WDSY-" + secrets.token_hex(2).upper(),
                "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 1,
                "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                           "and enter the code to authenticate."}

    def _device_code(self, form: dict[str, str]) -> Response:
        entry = self.device_codes.get(form.get("device_code", ""))
        if entry is None or entry["client_id"] != form.get("client_id"):
            return Response(400, {"error": "invalid_grant", "error_description": "Unknown device code."})
        if entry["pending"] > 0:
            entry["pending"] -= 1
            return Response(400, {"error": "authorization_pending", "error_description": "Pending."})
        del self.device_codes[form["device_code"]]
        rt = "1//rt-" + secrets.token_urlsafe(12)
        self.refresh_tokens[rt] = entry["client_id"]
        tok = "ya29.sa-" + secrets.token_urlsafe(12)
        self.access.add(tok)
        return Response(200, {"access_token": tok, "refresh_token": rt, "expires_in": self.expires_in,
                              "token_type": "Bearer", "scope": form.get("scope", "")})

    def _token(self, req: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        with self._lock:
            self.refresh_calls += 1
            basic = req.headers.get("authorization", "")
            if basic.startswith("Basic ") and "client_id" not in form:  # RFC 6749 2.3.1 client auth
                form["client_id"] = base64.b64decode(basic[6:]).decode().split(":", 1)[0]
            if form.get("grant_type") == "authorization_code":
                return self._exchange_code(form)
            if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code":
                return self._device_code(form)
            rt = form.get("refresh_token", "")
            ok = (form.get("grant_type") == "refresh_token" and not self.refuse_all
                  and self.refresh_tokens.get(rt) == form.get("client_id"))
            if not ok:
                desc = "Token has been expired or revoked."
                return Response(400, {"error": "invalid_grant", "error_description": desc})
            tok = "ya29.sa-" + secrets.token_urlsafe(12)
            self.access.add(tok)
            body: dict[str, Any] = {"access_token": tok, "expires_in": self.expires_in, "token_type": "Bearer",
                                    "scope": form.get("scope") or "https://www.googleapis.com/auth/calendar.events"}
            if self.rotate:
                new_rt = "1//rt-" + secrets.token_urlsafe(12)
                self.refresh_tokens[new_rt] = self.refresh_tokens.pop(rt)
                body["refresh_token"] = new_rt
        return Response(200, body)


class GoogleCalendarStandin:
    def __init__(self, calendars: tuple[str, ...] = ("primary",), owner: str = "studio@example.com"):
        self.server = StandinServer()
        self.server.fault_response = self._fault
        self.oauth = OAuthTokens(self.server, "/token")
        self.owner = owner
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in calendars}
        self.seq = 0
        self.token_generation = 0   # bump to expire every sync token (410 fullSyncRequired)
        self.require_auth = True
        # Writes that are applied but whose answer is lost (503 instead): the retry must not duplicate.
        self.lose_write_answers = 0
        # Set to make the next insert apply and then hold the answer until released (kill -9 tests).
        self.hold_inserts: threading.Event | None = None
        self.insert_applied = threading.Event()
        self._lock = threading.RLock()
        base = r"/calendar/v3/calendars/(?P<cal>[^/]+)/events"
        self.server.route("GET", base)(self._list)
        self.server.route("POST", base)(self._insert)
        self.server.route("GET", base + r"/(?P<eid>[^/]+)")(self._get)
        self.server.route("PUT", base + r"/(?P<eid>[^/]+)")(self._update)
        self.server.route("PATCH", base + r"/(?P<eid>[^/]+)")(self._update)
        self.server.route("DELETE", base + r"/(?P<eid>[^/]+)")(self._delete)

    # -- lifecycle / inspection -------------------------------------------------------------------
    def start(self) -> GoogleCalendarStandin:
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

    def live_events(self, cal: str = "primary") -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(e) for e in self.calendars[cal].values() if e["status"] != "cancelled"]

    def expire_sync_tokens(self) -> None:
        with self._lock:
            self.token_generation += 1

    # -- "someone edits the calendar in Google's UI" ------------------------------------------------
    def put_event(self, cal: str, resource: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an event as another client would (no If-Match)."""
        with self._lock:
            eid = resource.get("id") or secrets.token_hex(13)
            old = self.calendars[cal].get(eid)
            ev = self._store(cal, {**(old or {}), **resource, "id": eid}, created=old is None)
            return self._public(ev)

    def cancel_event(self, cal: str, eid: str) -> None:
        with self._lock:
            ev = self.calendars[cal][eid]
            ev["status"] = "cancelled"
            self._touch(ev)

    # -- internals --------------------------------------------------------------------------------
    def _now(self) -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _touch(self, ev: dict[str, Any]) -> None:
        self.seq += 1
        ev["_seq"] = self.seq
        ev["etag"] = f'"{3398000000000000 + self.seq}"'
        ev["updated"] = self._now()
        ev["sequence"] = ev.get("sequence", -1) + 1

    def _store(self, cal: str, resource: dict[str, Any], created: bool) -> dict[str, Any]:
        ev = {k: v for k, v in resource.items() if k in EVENT_FIELDS or k == "_seq"}
        ev.setdefault("status", "confirmed")
        ev["kind"] = "calendar#event"
        if created:
            ev["created"] = self._now()
            ev["iCalUID"] = f"{ev['id']}@google.com"
            ev["htmlLink"] = f"https://www.google.com/calendar/event?eid={ev['id']}"
            ev["creator"] = {"email": self.owner, "self": True}
            ev["organizer"] = {"email": self.owner, "self": True}
            ev["eventType"] = "default"
            ev["reminders"] = {"useDefault": True}
        self._touch(ev)
        self.calendars[cal][ev["id"]] = ev
        return ev

    @staticmethod
    def _public(ev: dict[str, Any]) -> dict[str, Any]:
        if ev["status"] == "cancelled":
            # Tombstones are only guaranteed to carry the id (and status).
            return {"kind": "calendar#event", "etag": ev["etag"], "id": ev["id"], "status": "cancelled"}
        return {k: v for k, v in ev.items() if not k.startswith("_")}

    def _guard(self, req: Request) -> Response | None:
        if self.require_auth and not self.oauth.valid(req):
            return Response(401, {"error": {"errors": [{"domain": "global", "reason": "authError",
                                                        "message": "Invalid Credentials", "locationType": "header",
                                                        "location": "Authorization"}],
                                            "code": 401, "message": "Invalid Credentials"}},
                            {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        if req.params.get("cal") not in self.calendars:
            return google_error(404, "notFound", "Not Found")
        return None

    def _fault(self, kind: str) -> Response:
        ra = self.server.faults.retry_after
        if kind == "429":
            r = google_error(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
            if ra:
                r.headers["Retry-After"] = ra
            return r
        if kind == "403rate":
            return google_error(403, "userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits")
        if kind == "403quota":
            return google_error(403, "quotaExceeded", "Calendar usage limits exceeded.", "usageLimits")
        if kind == "403forbidden":
            return google_error(403, "forbidden", "Forbidden")
        status = int(kind) if kind.isdigit() else 503
        return google_error(status, "backendError", "Backend Error")

    # -- events.list ------------------------------------------------------------------------------
    def _list(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        cal = req.params["cal"]
        sync_token = req.arg("syncToken")
        page_token = req.arg("pageToken")
        try:
            max_results = min(2500, int(req.arg("maxResults", "250")))
        except ValueError:
            return google_error(400, "invalid", "Invalid value for maxResults")
        if max_results < 1:
            return google_error(400, "invalid", "Invalid value for maxResults")
        if sync_token:
            clash = [p for p in NOT_WITH_SYNC_TOKEN if p in req.query]
            if clash:
                return google_error(400, "invalid", f"Cannot use syncToken together with {clash[0]}")
            if req.arg("showDeleted") == "false":
                return google_error(400, "invalid", "showDeleted cannot be false with syncToken")
        with self._lock:
            if sync_token:
                since = self._decode(sync_token, "s", cal)
                if since is None:
                    return google_error(410, "fullSyncRequired",
                                        "Sync token is no longer valid, a full sync is required.")
            else:
                since = 0
            after = since
            if page_token:
                state = self._decode(page_token, "p", cal)
                if state is None:
                    return google_error(400, "invalid", "Invalid page token")
                after = state
            show_deleted = bool(sync_token) or req.arg("showDeleted") == "true"
            pool = sorted((e for e in self.calendars[cal].values() if e["_seq"] > after),
                          key=lambda e: e["_seq"])
            page: list[dict[str, Any]] = []
            last = after
            for ev in pool:
                if len(page) >= max_results:
                    break
                last = ev["_seq"]
                if ev["status"] == "cancelled" and not show_deleted:
                    continue
                page.append(self._public(ev))
            more = any(e["_seq"] > last for e in pool)
            body: dict[str, Any] = {"kind": "calendar#events", "etag": f'"p{self.seq}"', "summary": cal,
                                    "updated": self._now(), "timeZone": "UTC", "accessRole": "owner",
                                    "defaultReminders": [], "items": page}
            if more:
                body["nextPageToken"] = self._encode("p", cal, last)
            else:
                body["nextSyncToken"] = self._encode("s", cal, self.seq)
        return Response(200, body)

    def _encode(self, kind: str, cal: str, seq: int) -> str:
        raw = json.dumps([kind, cal, seq, self.token_generation]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode(self, token: str, kind: str, cal: str) -> int | None:
        try:
            k, c, seq, gen = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, TypeError):
            return None
        if k != kind or c != cal or (kind == "s" and gen != self.token_generation):
            return None
        return int(seq)

    # -- events.get / insert / update / delete ----------------------------------------------------
    def _get(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        with self._lock:
            ev = self.calendars[req.params["cal"]].get(req.params["eid"])
            if ev is None:
                return google_error(404, "notFound", "Not Found")
            if req.headers.get("if-none-match") == ev["etag"]:
                return Response(304)
            # get always returns cancelled events, in full
            return Response(200, {k: v for k, v in ev.items() if not k.startswith("_")})

    def _insert(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        body = req.json() or {}
        err = self._validate(body)
        if err:
            return err
        cal = req.params["cal"]
        with self._lock:
            eid = body.get("id")
            if eid is not None:
                if not BASE32HEX_ID.match(eid):
                    return google_error(400, "invalidResourceId", "Invalid resource id value.")
                if eid in self.calendars[cal]:
                    return google_error(409, "duplicate", "The requested identifier already exists.")
            else:
                eid = secrets.token_hex(13)
            ev = self._store(cal, {**body, "id": eid}, created=True)
            out = self._public(ev)
            lose = self.lose_write_answers > 0
            if lose:
                self.lose_write_answers -= 1
        hold = self.hold_inserts  # read before signalling, so a test swapping it cannot race us
        self.insert_applied.set()
        if hold is not None:
            hold.wait(30)
        if lose:
            return google_error(503, "backendError", "Backend Error")
        return Response(200, out)

    def _update(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        body = req.json() or {}
        cal, eid = req.params["cal"], req.params["eid"]
        with self._lock:
            ev = self.calendars[cal].get(eid)
            if ev is None:
                return google_error(404, "notFound", "Not Found")
            match = req.headers.get("if-match")
            if match and match != ev["etag"]:
                return google_error(412, "conditionNotMet", "Precondition Failed", "global")
            if req.method == "PATCH":
                merged = _merge_patch(ev, body)
                err = self._validate(merged)
                if err:
                    return err
            else:
                err = self._validate(body)
                if err:
                    return err
                keep = {k: ev[k] for k in ("id", "created", "iCalUID", "htmlLink", "creator", "organizer",
                                           "eventType", "reminders", "sequence", "_seq", "etag", "status")
                        if k in ev}
                merged = {**keep, **body}
            merged["id"] = eid
            self.calendars[cal][eid] = merged
            ev = self._store(cal, merged, created=False)
            return Response(200, self._public(ev))

    def _delete(self, req: Request) -> Response:
        if (bad := self._guard(req)) is not None:
            return bad
        cal, eid = req.params["cal"], req.params["eid"]
        with self._lock:
            ev = self.calendars[cal].get(eid)
            if ev is None:
                return google_error(404, "notFound", "Not Found")
            if ev["status"] == "cancelled":
                return google_error(410, "deleted", "Resource has been deleted")
            match = req.headers.get("if-match")
            if match and match != ev["etag"]:
                return google_error(412, "conditionNotMet", "Precondition Failed")
            ev["status"] = "cancelled"
            self._touch(ev)
        return Response(204)

    @staticmethod
    def _validate(body: dict[str, Any]) -> Response | None:
        for k in ("start", "end"):
            v = body.get(k)
            if not isinstance(v, dict) or not ({"date", "dateTime"} & set(v)):
                return google_error(400, "required", f"Missing {k} time.")
            if "dateTime" in v:
                try:
                    dt = datetime.fromisoformat(v["dateTime"].replace("Z", "+00:00"))
                except ValueError:
                    return google_error(400, "invalid", f"Invalid {k} time.")
                if dt.tzinfo is None and not v.get("timeZone"):
                    return google_error(400, "invalid", f"Missing time zone definition for {k} time.")
        return None


def _merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Patch semantics: objects merge key by key, a null removes the key, anything else replaces."""
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge_patch(out[k], v)
        else:
            out[k] = v
    return out


# Fields of the discovery document's Event schema a stored event may carry.
EVENT_FIELDS = {
    "kind", "id", "etag", "status", "htmlLink", "created", "updated", "summary", "description", "location",
    "creator", "organizer", "start", "end", "endTimeUnspecified", "recurrence", "recurringEventId",
    "originalStartTime", "transparency", "visibility", "iCalUID", "sequence", "attendees",
    "extendedProperties", "reminders", "eventType", "colorId", "guestsCanModify", "source",
}
