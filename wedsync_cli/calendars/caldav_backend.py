"""CalDAV backend (iCloud, Fastmail, Nextcloud, Radicale, ... any RFC 4791 server), on the caldav library.

- Changes: RFC 6578 sync-collection with the saved token and ``disable_fallback=True`` (caldav's own
  fallback silently switches to full listings for ever); a rejected token (403/412
  ``DAV:valid-sync-token``) raises CursorExpired so the engine does one clean full listing.
  Changed items are fetched with calendar-multiget REPORTs (one per ``MULTIGET_CHUNK`` hrefs),
  never one GET each. A no-change run is one REPORT, whatever the calendar's size; that incremental
  REPORT goes out through the standard library (``_probe``) so a run with nothing to do never pays
  for importing caldav/niquests. After a push, ``advance_cursor`` moves the token past our own
  writes (only if nothing else changed), so the next run does not download them again.
- Writes: create is ``PUT <collection>/<uid>.ics`` with ``If-None-Match: *`` at an href derived from
  our uid, so a retried or crashed-then-rerun create can never make a second item (412 => the item
  is there: fetch and return it). Update/delete carry ``If-Match: <etag>``; 412 => PreconditionFailed.
- Every HTTP request goes through ``_send`` (a DAVClient subclass hook): it is recorded in the shared
  call recorder, 429/5xx are retried with Retry-After/backoff through the injected clock, 401 becomes
  AuthRefused (77) and a missing collection ConfigError (78) naming it.
- iCloud quirks (caldav ``compatibility_hints.icloud``): PROPFIND depth 1 on the principal is
  refused (we pass ``features="icloud"`` so caldav avoids it); every event carries DTEND (``to_ics``
  always writes it); we never send ``If-Match: *`` (iCloud inverts it); a UID may exist in only one
  calendar per account, so on iCloud the iCalendar UID is made calendar-specific and our marker
  travels in ``X-WEDSYNC-UID``; no Schedule-Tag, so preconditions are always etags.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from wedsync_cli.calendars.backend import (
    BackendContext,
    CalendarBackend,
    Changes,
    CursorExpired,
    EventFields,
    NotFound,
    PreconditionFailed,
    RemoteEvent,
    event_id_from_uid,
)
from wedsync_cli.errors import AuthRefused, ConfigError, ProviderUnavailable, RateLimited

ICLOUD_URL = "https://caldav.icloud.com/"
MARKER_PROP = "X-WEDSYNC-UID"
MULTIGET_CHUNK = 200
VALID_SYNC_TOKEN = "{DAV:}valid-sync-token"
RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MARKER_RX = re.compile(r"^X-WEDSYNC-UID:(.+?)\r?$", re.MULTILINE)

_client_class = None


def _dav_client_class():
    """A caldav.DAVClient whose every request goes through the backend's ``_send`` (caldav is
    imported on first use so `wedsync --help` never loads it)."""
    global _client_class
    if _client_class is None:
        import caldav

        class RecordingDAVClient(caldav.DAVClient):
            wedsync_send = None

            def request(self, url, method="GET", body="", headers=None, rate_limit_time_slept=0):
                return self.wedsync_send(self, url, method, body, headers)

        _client_class = RecordingDAVClient
    return _client_class


def _path(url: Any) -> str:
    """The canonical remote id of an item: its unquoted URL path."""
    return unquote(urlsplit(str(url)).path)


def _is_icloud(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == "icloud.com" or host.endswith(".icloud.com")


def _operation(method: str, body: Any) -> str:
    if method == "REPORT":
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        for kind in ("sync-collection", "calendar-multiget", "calendar-query"):
            if kind in text:
                return f"REPORT {kind}"
    return method


class CalDAVBackend(CalendarBackend):
    provider = "caldav"

    def __init__(self, ctx: BackendContext):
        super().__init__(ctx)
        self._client = None
        self._calendar = None  # caldav.Calendar, resolved once per run
        self._collection_url: str | None = None
        from wedsync_cli.http.client import RetryPolicy

        self.retry = ctx.options.get("retry") or RetryPolicy()
        self._multiget_chunk = int(ctx.options.get("multiget_chunk") or MULTIGET_CHUNK)
        # This run's own writes (href -> etag we got back) and deletes, for advance_cursor.
        self._written: dict[str, str | None] = {}
        self._deleted_by_us: set[str] = set()
        self._etags: dict[str, str] = {}  # etags listed by the last probe

    # -- connection -------------------------------------------------------------------------------
    @property
    def server_url(self) -> str:
        cal = self.ctx.calendar or ""
        if cal.startswith(("http://", "https://")):
            return cal
        pc = self.ctx.provider_config
        return pc.get("url") or pc.get("base_url") or ICLOUD_URL

    def _dav(self):
        if self._client is None:
            cred = self.ctx.credentials.require("caldav")
            url = self.server_url
            kwargs: dict[str, Any] = {}
            if _is_icloud(url):
                kwargs["features"] = "icloud"
            timeout = self.ctx.provider_config.get("timeout") or 30
            client = _dav_client_class()(
                url=url, username=cred["username"], password=cred["password"], auth_type="basic",
                timeout=timeout, enable_rfc6764=False, **kwargs,
            )
            client.wedsync_send = self._send
            self._client = client
        return self._client

    def _collection(self, cursor: dict[str, Any] | None = None):
        """The caldav Calendar: the configured collection URL, the one remembered in the cursor,
        or found by principal discovery (name or id) under ``[providers.caldav] url``."""
        if self._calendar is not None:
            return self._calendar
        client = self._dav()
        wanted = self.ctx.calendar or ""
        url = self._known_collection_url(cursor)  # discovery costs 3 requests; the cursor remembers it
        if url is not None:
            self._calendar = client.calendar(url=url)
        else:
            self._calendar = self._discover(client, wanted)
        self._collection_url = str(self._calendar.url)
        return self._calendar

    def _known_collection_url(self, cursor: dict[str, Any] | None) -> str | None:
        """The collection URL without any request: configured, or remembered by the cursor."""
        wanted = self.ctx.calendar or ""
        if wanted.startswith(("http://", "https://")):
            return wanted if wanted.endswith("/") else wanted + "/"
        if cursor and cursor.get("calendar") == wanted and cursor.get("url"):
            return cursor["url"]
        return None

    def _discover(self, client, wanted: str):
        from caldav.lib import error as dav_error

        try:
            calendars = client.principal().calendars()
        except dav_error.DAVError as exc:
            raise ConfigError(
                f"CalDAV discovery at {self.server_url} failed ({_dav_reason(exc)})",
                fix="set [providers.caldav] url to your server's CalDAV address, or put the calendar's "
                    "full collection URL in `calendar`",
            ) from None
        names = []
        for cal in calendars:
            cal_id = _path(cal.url).rstrip("/").rsplit("/", 1)[-1]
            try:
                display = cal.get_display_name() or ""
            except Exception:  # noqa: BLE001 - a calendar without a name still matches by id
                display = ""
            names.append(display or cal_id)
            if wanted and wanted in (cal_id, display, str(cal.url)):
                return cal
        listed = ", ".join(repr(n) for n in names) or "none"
        if not wanted:
            raise ConfigError(
                f"Calendar {self.ctx.name!r} names no CalDAV calendar (calendars on the server: {listed})",
                fix=f"set `calendar` in [calendars.{self.ctx.name}] to one of them or to its collection URL",
            )
        raise ConfigError(
            f"The CalDAV calendar {wanted!r} does not exist on {self.server_url} (calendars there: {listed})",
            fix=f"set `calendar` in [calendars.{self.ctx.name}] to one of them or to its collection URL",
        )

    # -- the one place every request goes through --------------------------------------------------
    def _record(self, operation: str, method: str, t0: float, status: int | None, outcome: str,
                error: str | None = None) -> None:
        from wedsync_cli.clock import iso
        from wedsync_cli.http.client import CallRecord
        from wedsync_cli.secrets import redact

        if self.ctx.recorder is not None:
            self.ctx.recorder.record(CallRecord(
                at=iso(self.ctx.clock.now()) or "", provider=self.provider, operation=operation,
                method=method, status=status, outcome=outcome,
                latency_ms=round((time.perf_counter() - t0) * 1000, 3),
                error=redact(error)[:300] if error else None))

    def _verdict(self, url: str, status: int, attempt: int, retry_after: float | None = None,
                 preconditions: list[str] | tuple[str, ...] = ()) -> float | None:
        """What an answer means: None = it stands (the caller looks at it), a number = sleep that
        long and retry; the end of the run is raised as the contract's error."""
        policy = self.retry
        if VALID_SYNC_TOKEN in preconditions:
            raise CursorExpired("The CalDAV server no longer accepts the saved sync token")
        if status == 401:
            raise AuthRefused(
                "The CalDAV server refused the username or password (HTTP 401)",
                fix="store the right ones with `wedsync auth set caldav` (iCloud needs an app-specific "
                    "password from appleid.apple.com)")
        if status == 403:
            raise ConfigError(f"The CalDAV server refused access to {_path(url)} (HTTP 403)",
                              fix="check `calendar` in the config and that the signed-in account may use it")
        if status == 429 or status in RETRY_STATUSES:
            if retry_after is not None and retry_after > policy.max_retry_after:
                raise RateLimited(f"The CalDAV server asked us to wait {int(retry_after)} s before retrying",
                                  fix="the next scheduled run will continue; or rerun later",
                                  retry_after=retry_after)
            if attempt >= policy.max_attempts:
                if status == 429:
                    raise RateLimited(f"The CalDAV server kept rate-limiting after {attempt} attempts",
                                      fix="the next scheduled run will continue; or rerun later",
                                      retry_after=retry_after)
                raise ProviderUnavailable(
                    f"The CalDAV server stayed unavailable after {attempt} attempts (HTTP {status})",
                    fix="check the server's status page, then rerun")
            return retry_after if retry_after is not None else policy.backoff(attempt)
        if status == 404 and self._collection_url and _path(url).rstrip("/") == _path(
                self._collection_url).rstrip("/"):
            raise ConfigError(
                f"The CalDAV calendar {self._collection_url} does not exist",
                fix=f"create it in your calendar app or correct `calendar` in [calendars.{self.ctx.name}]")
        return None

    def _unreachable(self, exc: Exception, attempt: int, timeout: bool) -> float:
        policy = self.retry
        if attempt >= policy.max_attempts or (timeout and not policy.retry_timeouts):
            raise ProviderUnavailable(
                f"The CalDAV server at {self.server_url} could not be reached after {attempt} attempt(s) "
                f"({type(exc).__name__})",
                fix="check the network and [providers.caldav] url / the calendar URL, then rerun")
        return policy.backoff(attempt)

    def _send(self, client, url, method, body, headers):
        """Every request the caldav library makes (DAVClient.request is routed here)."""
        from caldav.lib import error as dav_error
        from caldav.lib.http_sync import requests as http

        operation = _operation(method, body)
        attempt = 0
        while True:
            attempt += 1
            t0 = time.perf_counter()
            try:
                resp = client._sync_request(url, method, body, headers)
            except dav_error.RateLimitError as exc:  # 429, or 503 with Retry-After
                status = exc.status or 429
                self._record(operation, method, t0, status, "error", f"HTTP {status}")
                self.ctx.clock.sleep(self._verdict(url, status, attempt, exc.retry_after_seconds))
                continue
            except dav_error.AuthorizationError as exc:  # 401 / 403 (incl. an expired sync token)
                self._record(operation, method, t0, exc.status, "error", f"HTTP {exc.status}: {_dav_reason(exc)}")
                if set(exc.preconditions) & dav_error.UID_CONFLICT_PRECONDITIONS:
                    raise _UidConflict() from None  # Cyrus answers a UID conflict with 403
                self._verdict(url, exc.status or 401, attempt, preconditions=exc.preconditions)
                raise
            except (http.exceptions.Timeout, http.exceptions.ConnectionError) as exc:
                timeout = isinstance(exc, http.exceptions.Timeout)
                self._record(operation, method, t0, None, "timeout" if timeout else "connect_error",
                             type(exc).__name__)
                self.ctx.clock.sleep(self._unreachable(exc, attempt, timeout))
                continue
            ok = resp.status < 400
            self._record(operation, method, t0, resp.status, "ok" if ok else "error",
                         None if ok else f"HTTP {resp.status}")
            wait = self._verdict(url, resp.status, attempt)
            if wait is not None:
                self.ctx.clock.sleep(wait)
                continue
            return resp

    def _probe(self, url: str, token: str) -> tuple[str, list[str], set[str]] | None:
        """The incremental sync-collection REPORT, sent with the standard library so a run with
        nothing to do never imports caldav (~0.3 s of niquests and lxml): (new token, changed hrefs,
        deleted hrefs). None hands over to caldav's own path: a truncated (507, paged) answer or
        anything unusual."""
        import base64
        import urllib.error
        import urllib.request
        from xml.etree import ElementTree as ET
        from xml.sax.saxutils import escape

        from wedsync_cli.http.client import parse_retry_after

        cred = self.ctx.credentials.require("caldav")
        basic = base64.b64encode(f"{cred['username']}:{cred['password']}".encode()).decode()
        body = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
                f"<D:sync-token>{escape(token)}</D:sync-token><D:sync-level>1</D:sync-level>"
                "<D:prop><D:getetag/></D:prop></D:sync-collection>").encode()
        headers = {"Authorization": f"Basic {basic}", "Content-Type": 'application/xml; charset="utf-8"',
                   "Depth": "0", "User-Agent": "wedsync/0.1"}
        timeout = float(self.ctx.provider_config.get("timeout") or 30)
        attempt = 0
        while True:
            attempt += 1
            t0 = time.perf_counter()
            req = urllib.request.Request(url, data=body, headers=headers, method="REPORT")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    status, payload, resp_headers = resp.status, resp.read(), resp.headers
            except urllib.error.HTTPError as exc:
                status, payload, resp_headers = exc.code, exc.read(), exc.headers
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                timeout_hit = isinstance(exc, TimeoutError) or "timed out" in str(exc)
                self._record("REPORT sync-collection", "REPORT", t0, None,
                             "timeout" if timeout_hit else "connect_error", type(exc).__name__)
                self.ctx.clock.sleep(self._unreachable(exc, attempt, timeout_hit))
                continue
            ok = status < 400
            self._record("REPORT sync-collection", "REPORT", t0, status, "ok" if ok else "error",
                         None if ok else f"HTTP {status}")
            preconditions = [VALID_SYNC_TOKEN] if status in (403, 409, 412) and b"valid-sync-token" in payload else []
            wait = self._verdict(url, status, attempt,
                                 parse_retry_after(resp_headers.get("Retry-After"), self.ctx.clock.now()),
                                 preconditions)
            if wait is not None:
                self.ctx.clock.sleep(wait)
                continue
            if status != 207:
                return None  # let the caldav path see (and explain) anything unusual
            try:
                root = ET.fromstring(payload)
            except ET.ParseError:
                return None
            new_token = (root.findtext("{DAV:}sync-token") or "").strip()
            if not new_token:
                return None
            home = _path(url).rstrip("/")
            changed: list[str] = []
            deleted: set[str] = set()
            self._etags = {}
            for response in root.iter("{DAV:}response"):
                href = _path((response.findtext("{DAV:}href") or "").strip())
                statuses = [t.strip() for t in (response.findtext("{DAV:}status") or "",
                                                *(e.text or "" for e in response.iter("{DAV:}status")))]
                if any(" 507" in t for t in statuses):
                    return None  # truncated: caldav follows the pages
                if href.rstrip("/") == home or not href:
                    continue
                if (response.findtext("{DAV:}status") or "").find(" 404") >= 0:
                    deleted.add(href)
                elif href not in changed:
                    changed.append(href)
                    etag = response.findtext("{DAV:}propstat/{DAV:}prop/{DAV:}getetag")
                    if etag:
                        self._etags[href] = etag.strip()
            return new_token, [p for p in changed if p not in deleted], deleted

    # -- reading ----------------------------------------------------------------------------------
    def changes(self, cursor: dict[str, Any] | None) -> Changes:
        before = self.requests
        token = (cursor or {}).get("sync_token")
        known_url = self._known_collection_url(cursor)
        if token and (cursor or {}).get("url") not in (None, known_url):
            token = None  # the config now points at another collection: its tokens mean nothing here
        listing = None
        if token and known_url and self._calendar is None:
            self._collection_url = known_url
            listing = self._probe(known_url, token)
        if listing is None:
            listing = self._sync_collection(token)
        new_token, changed, deleted = listing
        new_cursor = {"sync_token": new_token, "url": self._collection_url, "calendar": self.ctx.calendar}
        items: list[RemoteEvent] = [RemoteEvent(remote_id=p) for p in sorted(deleted)]
        unreadable: list[str] = []
        if changed:
            cal = self._collection(cursor)
            from caldav.lib.url import URL

            found: set[str] = set()
            for i in range(0, len(changed), self._multiget_chunk):
                urls = [URL.objectify(self._url(p)) for p in changed[i:i + self._multiget_chunk]]
                for obj in cal.multiget(urls):
                    p = _path(obj.url)
                    found.add(p)
                    ev = self._remote_event(p, obj.props.get("{DAV:}getetag"), obj.data)
                    if ev is not None:
                        items.append(ev)
                    else:
                        unreadable.append(p)  # a task, a journal or a broken file: not ours
            # Listed as changed but gone by the time we fetched it: a deletion racing our sync.
            items += [RemoteEvent(remote_id=p) for p in changed if p not in found]
        return Changes(items=items, cursor=new_cursor, complete=token is None,
                       requests=self.requests - before, unreadable=unreadable)

    def _sync_collection(self, token: str | None) -> tuple[str, list[str], set[str]]:
        """caldav's sync-collection (follows truncated pages); ``disable_fallback`` so a rejected
        token is an error we turn into CursorExpired, never a silent switch to full listings."""
        from caldav.lib import error as dav_error

        cal = self._collection()
        try:
            coll = cal.get_objects_by_sync_token(sync_token=token, load_objects=False, disable_fallback=True)
        except dav_error.DAVError as exc:
            if VALID_SYNC_TOKEN in exc.preconditions:  # Xandikos answers 412 instead of 403
                raise CursorExpired("The CalDAV server no longer accepts the saved sync token") from None
            if token is None:
                raise ProviderUnavailable(
                    f"The CalDAV server did not answer a sync-collection REPORT ({_dav_reason(exc)})",
                    fix="wedsync needs a server with WebDAV sync (RFC 6578); check the calendar URL") from None
            raise CursorExpired(f"The CalDAV sync REPORT failed with the saved token ({_dav_reason(exc)})") from None
        deleted = {_path(u) for u in coll.deleted_urls}
        home = _path(self._collection_url).rstrip("/")
        changed = [p for p in dict.fromkeys(_path(o.url) for o in coll) if p not in deleted and p.rstrip("/") != home]
        return coll.sync_token, changed, deleted

    def _remote_event(self, remote_id: str, etag: str | None, data: Any) -> RemoteEvent | None:
        """Parse one calendar object; None for what is not an event (tasks, journals, junk)."""
        from wedsync_cli.calendars.ics import IcsError, parse_ics

        if data is None:
            return None
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        try:
            parsed = parse_ics(text, default_tz=self.ctx.timezone)
        except IcsError:
            return None
        m = _MARKER_RX.search(text)
        uid = m.group(1).strip() if m else parsed.uid
        return RemoteEvent(remote_id=remote_id, etag=etag, uid=uid, fields=parsed.fields,
                           raw={"href": remote_id, "ics": text, "sequence": parsed.sequence},
                           modified=parsed.last_modified)

    def get(self, remote_id: str) -> RemoteEvent | None:
        self._collection()
        resp = self._dav().request(self._url(remote_id), "GET", "", {"Accept": "text/calendar"})
        if resp.status == 404 or resp.status == 410:
            return None
        if resp.status >= 300:
            raise ProviderUnavailable(f"The CalDAV server answered HTTP {resp.status} to GET {remote_id}",
                                      fix="rerun; if it persists check the server")
        return self._remote_event(remote_id, resp.headers.get("ETag"), resp._raw)

    def find_by_uid(self, uid: str) -> RemoteEvent | None:
        """The href is derived from the uid, so a create that reached the server is at that href."""
        self._collection()
        return self.get(self.href_for(uid))

    # -- writing ----------------------------------------------------------------------------------
    def href_for(self, uid: str) -> str:
        name = re.sub(r"[^A-Za-z0-9._-]", "-", uid)
        return _path(self._collection_url).rstrip("/") + "/" + name + ".ics"

    def _url(self, remote_id: str) -> str:
        parts = urlsplit(self._collection_url)
        from urllib.parse import quote

        return f"{parts.scheme}://{parts.netloc}{quote(remote_id, safe='/@:')}"

    def _ical_uid(self, uid: str) -> str:
        if _is_icloud(self._collection_url or ""):
            # iCloud refuses a UID already used in another calendar of the account; our marker
            # (X-WEDSYNC-UID) stays the same, the iCalendar UID gets a per-calendar suffix.
            scope = hashlib.sha1(self._collection_url.encode()).hexdigest()[:8]
            event_id = event_id_from_uid(uid) or uid
            return f"{event_id}-{scope}@wedsync"
        return uid

    def _body(self, uid: str, fields: EventFields, sequence: int = 0) -> bytes:
        from wedsync_cli.calendars.ics import to_ics

        return to_ics(self._ical_uid(uid), fields, sequence=sequence, now=self.ctx.clock.now(),
                      extra={MARKER_PROP: uid})

    def _etag_after_write(self, resp, remote_id: str) -> str | None:
        etag = resp.headers.get("ETag")
        if etag and not etag.startswith("W/"):
            return etag
        # Some servers (iCloud among them, at times) answer a PUT without a strong ETag: read it back.
        fresh = self.get(remote_id)
        return fresh.etag if fresh else None

    def create(self, uid: str, fields: EventFields) -> RemoteEvent:
        self._collection()
        remote_id = self.href_for(uid)
        try:
            resp = self._dav().put(self._url(remote_id), self._body(uid, fields),
                                   {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
        except _UidConflict:
            resp = None
        if resp is None or resp.status == 409:
            # CALDAV:no-uid-conflict: our uid lives at another href (written by an older version or
            # another tool): find it with a calendar-query on the UID.
            existing = self._search_uid(uid)
            if existing is not None:
                return existing
            raise ProviderUnavailable(f"The CalDAV server reports our event {uid} at another address but "
                                      "does not find it by UID", fix="check the calendar on the server, then rerun")
        if resp.status in (200, 201, 204):
            etag = self._written[remote_id] = self._etag_after_write(resp, remote_id)
            return RemoteEvent(remote_id=remote_id, etag=etag, uid=uid, fields=fields)
        if resp.status == 412:
            # Already there: a retry of a create that reached the server (maybe before a crash).
            existing = self.get(remote_id)
            if existing is not None:
                return existing
        raise ProviderUnavailable(f"The CalDAV server refused to create {remote_id} (HTTP {resp.status})",
                                  fix="rerun; if it persists check the calendar on the server")

    def _search_uid(self, uid: str) -> RemoteEvent | None:
        from caldav.lib import error as dav_error

        try:
            obj = self._collection().get_event_by_uid(self._ical_uid(uid))
        except dav_error.NotFoundError:
            return None
        return self._remote_event(_path(obj.url), obj.props.get("{DAV:}getetag") if obj.props else None,
                                  obj.data)

    def update(self, remote: RemoteEvent, fields: EventFields) -> RemoteEvent:
        self._collection()
        uid = remote.uid or ""
        if not remote.etag:
            raise PreconditionFailed(f"No etag known for {remote.remote_id}; it must be re-read first")
        sequence = int(remote.raw.get("sequence") or 0) + 1 if remote.raw else 1
        resp = self._dav().put(self._url(remote.remote_id), self._body(uid, fields, sequence),
                               {"Content-Type": "text/calendar; charset=utf-8", "If-Match": remote.etag})
        if resp.status in (200, 201, 204):
            etag = self._written[remote.remote_id] = self._etag_after_write(resp, remote.remote_id)
            return RemoteEvent(remote_id=remote.remote_id, etag=etag, uid=uid, fields=fields,
                               raw={"href": remote.remote_id, "sequence": sequence})
        if resp.status == 412:
            current = self.get(remote.remote_id)
            if current is not None and current.fields is not None and current.fields.hash() == fields.hash():
                return current  # our own write landed before a retry: not a conflict
            raise PreconditionFailed(f"{remote.remote_id} changed on the CalDAV server since it was read")
        if resp.status in (404, 410):
            raise NotFound(f"{remote.remote_id} no longer exists on the CalDAV server")
        raise ProviderUnavailable(f"The CalDAV server refused to update {remote.remote_id} (HTTP {resp.status})",
                                  fix="rerun; if it persists check the calendar on the server")

    def delete(self, remote: RemoteEvent) -> None:
        self._collection()
        headers = {"If-Match": remote.etag} if remote.etag else {}
        resp = self._dav().delete(self._url(remote.remote_id), headers)
        if resp.status in (200, 204, 404, 410):
            self._written.pop(remote.remote_id, None)
            self._deleted_by_us.add(remote.remote_id)
            return
        if resp.status == 412:
            raise PreconditionFailed(f"{remote.remote_id} changed on the CalDAV server since it was read")
        raise ProviderUnavailable(f"The CalDAV server refused to delete {remote.remote_id} (HTTP {resp.status})",
                                  fix="rerun; if it persists check the calendar on the server")

    def advance_cursor(self, cursor: dict[str, Any] | None) -> dict[str, Any] | None:
        """After our own writes: one REPORT with the saved token; if everything it lists is exactly
        what this run wrote (same etags) or deleted, take the new token so the next run does not
        download our own writes again. Anything else (someone edited meanwhile) keeps the old token,
        and the next run sees it. Best effort: a failure here only costs that re-download."""
        from wedsync_cli.errors import WedsyncError

        if not cursor or not (self._written or self._deleted_by_us):
            return cursor
        token, url = cursor.get("sync_token"), cursor.get("url")
        if not token or not url or url != self._collection_url:
            return cursor
        try:
            listing = self._probe(url, token)
        except WedsyncError:
            return cursor
        if listing is None:
            return cursor
        new_token, changed, deleted = listing
        ours = all(self._written.get(p) and self._etags.get(p) == self._written[p] for p in changed)
        if ours and deleted <= self._deleted_by_us:
            return {**cursor, "sync_token": new_token}
        return cursor

    # -- misc -------------------------------------------------------------------------------------
    def check(self) -> None:
        """Resolve the collection and PROPFIND it (depth 0): proves credentials and the calendar."""
        cal = self._collection()
        resp = self._dav().propfind(str(cal.url), '<?xml version="1.0"?><propfind xmlns="DAV:"><prop>'
                                    '<resourcetype/></prop></propfind>', 0)
        if resp.status >= 300:
            raise ProviderUnavailable(f"The CalDAV server answered HTTP {resp.status} to a PROPFIND of "
                                      f"{self._collection_url}", fix="check the server, then rerun")

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None
                self._calendar = None


class _UidConflict(Exception):
    """A PUT refused because the UID is already used at another href (RFC 4791 no-uid-conflict)."""


def _dav_reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    reason = str(getattr(exc, "reason", "") or "").split("\n")[0][:120]
    return f"HTTP {status}: {reason}" if status else (reason or type(exc).__name__)


def check(rt, provider: str = "caldav") -> str:
    """`auth status --check` / `health check`: one PROPFIND per configured CalDAV calendar (or, with
    none configured, principal discovery at [providers.caldav] url)."""
    calendars = {n: c for n, c in rt.config.calendars.items() if c.provider == "caldav" and c.enabled}
    settings = rt.provider_settings("caldav")
    targets = list(calendars.items()) or [("caldav", None)]
    checked = []
    for name, cfg in targets:
        extras = cfg.model_dump(exclude_none=True) if cfg is not None else {}
        ctx = BackendContext(
            name=name, calendar=extras.get("calendar"), provider_config={**settings, **extras},
            credentials=rt.credentials, clock=rt.clock, recorder=rt.recorder, state_dir=rt.paths.state_dir,
            timezone=rt.config.timezone,
        )
        backend = CalDAVBackend(ctx)
        try:
            if cfg is None:
                from caldav.lib import error as dav_error

                try:
                    backend._dav().principal()
                except dav_error.DAVError as exc:
                    raise ConfigError(f"CalDAV discovery at {backend.server_url} failed ({_dav_reason(exc)})",
                                      fix="set [providers.caldav] url to your server's CalDAV address") from None
                checked.append(f"principal at {backend.server_url}")
            else:
                backend.check()
                checked.append(backend._collection_url)
        finally:
            backend.close()
    return "CalDAV " + ", ".join(checked)
