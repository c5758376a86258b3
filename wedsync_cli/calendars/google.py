"""Google Calendar v3 backend (plain httpx through the shared HttpClient; no Google client library).

- Listing: ``events.list`` with ``pageToken`` until ``nextSyncToken`` (only on the last page),
  stored as the cursor; incremental runs repeat the query with ``syncToken`` (+ ``showDeleted``,
  which Google forces on anyway). 410 ⇒ CursorExpired, and the engine does a full listing.
- Creates choose the event id: base32hex of our uid, so a retried or replayed insert answers 409
  ``duplicate`` instead of making a second event; the uid also goes into
  ``extendedProperties.private.wedsyncUid``. Because the id encodes the uid, even a cancelled
  tombstone (which only carries ``id``) is recognisably ours.
- Updates/deletes send ``If-Match: <etag>``; 412 ⇒ PreconditionFailed (the conflict path).
- Retries what google-api-python-client retries: 5xx, 429 and 403 rate-limit reasons.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from wedsync_cli.calendars.backend import (
    UID_SUFFIX,
    CalendarBackend,
    Changes,
    CursorExpired,
    EventFields,
    NotFound,
    PreconditionFailed,
    RemoteEvent,
)
from wedsync_cli.errors import AuthRefused, ConfigError, ProviderUnavailable

DEFAULT_BASE_URL = "https://www.googleapis.com"
MARKER = "wedsyncUid"
PAGE_SIZE = 250
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}


def google_id_for(uid: str) -> str:
    """A valid client-chosen event id (base32hex: a-v, 0-9; 5-1024 chars) that encodes ``uid``."""
    return base64.b32hexencode(uid.encode()).decode().rstrip("=").lower()


def uid_from_google_id(event_id: str) -> str | None:
    try:
        raw = event_id.upper()
        raw += "=" * (-len(raw) % 8)
        uid = base64.b32hexdecode(raw).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return uid if uid.endswith(UID_SUFFIX) else None


def error_reasons(resp) -> set[str]:
    try:
        err = resp.json().get("error") or {}
    except (ValueError, AttributeError):
        return set()
    if not isinstance(err, dict):
        return set()
    return {str(e.get("reason")) for e in err.get("errors") or [] if isinstance(e, dict)}


def classify(resp) -> str | None:
    """HttpClient hook: Google's 403 carries rate limits as well as real refusals."""
    if resp.status_code == 403:
        reasons = error_reasons(resp)
        if reasons & RATE_REASONS:
            return "retry"
        if "quotaExceeded" in reasons:
            return "ratelimit"
        return "refused"  # not retried, not refreshed: handled by the backend
    return None


def fields_to_google(fields: EventFields, default_tz: str) -> dict[str, Any]:
    if fields.all_day:
        start = {"date": _as_date(fields.start).isoformat()}
        end = {"date": _as_date(fields.end).isoformat()}
    else:
        tz = fields.tz or default_tz
        start = {"dateTime": _aware(fields.start, tz).isoformat(), "timeZone": tz}
        end = {"dateTime": _aware(fields.end, tz).isoformat(), "timeZone": tz}
    return {"summary": fields.title, "start": start, "end": end,
            "location": fields.location or "", "description": fields.description or ""}


def _as_date(v: date | datetime) -> date:
    return v.date() if isinstance(v, datetime) else v


def _aware(v: date | datetime, tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    if not isinstance(v, datetime):
        v = datetime(v.year, v.month, v.day)
    if v.tzinfo is None:
        v = v.replace(tzinfo=ZoneInfo(tz))
    return v


def google_to_fields(item: dict[str, Any]) -> EventFields | None:
    start, end = item.get("start") or {}, item.get("end") or {}
    if "date" in start:
        return EventFields(title=item.get("summary") or "", start=date.fromisoformat(start["date"]),
                           end=date.fromisoformat(end.get("date") or start["date"]), all_day=True,
                           tz=None, location=item.get("location") or None,
                           description=item.get("description") or None)
    if "dateTime" not in start:
        return None
    s = _parse_dt(start["dateTime"], start.get("timeZone"))
    e = _parse_dt(end.get("dateTime") or start["dateTime"], end.get("timeZone") or start.get("timeZone"))
    return EventFields(title=item.get("summary") or "", start=s, end=e, all_day=False,
                       tz=start.get("timeZone") or None, location=item.get("location") or None,
                       description=item.get("description") or None)


def _parse_dt(value: str, tz: str | None) -> datetime:
    from zoneinfo import ZoneInfo

    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz or "UTC"))
    elif tz:
        try:
            dt = dt.astimezone(ZoneInfo(tz))
        except (KeyError, ValueError):
            pass
    return dt


class GoogleBackend(CalendarBackend):
    provider = "google"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.calendar_id = ctx.calendar or "primary"
        self._http = None
        self.auth = None

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def http(self):
        if self._http is None:
            from wedsync_cli.auth_flows.oauth import oauth_api_client

            self.auth, self._http = oauth_api_client("google", self.ctx, DEFAULT_BASE_URL, classify=classify,
                                                     headers={"Accept": "application/json"})
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def _events_path(self) -> str:
        return f"/calendar/v3/calendars/{quote(self.calendar_id, safe='')}/events"

    def _event_path(self, event_id: str) -> str:
        return f"{self._events_path}/{quote(event_id, safe='')}"

    def _fail(self, resp, what: str):
        """Turn an unexpected answer into the contract's error."""
        status = resp.status_code
        reasons = ", ".join(sorted(error_reasons(resp))) or f"HTTP {status}"
        if status == 404:
            raise ConfigError(
                f"Google calendar {self.calendar_id!r} (calendar {self.ctx.name!r} in the config) does not exist "
                "or is not shared with the signed-in account",
                fix=f"fix `calendar` under [calendars.{self.ctx.name}] (use 'primary' or the calendar's id from "
                    "Google Calendar settings)")
        if status in (401, 403):
            raise AuthRefused(f"Google refused access to calendar {self.calendar_id!r} ({reasons})",
                              fix="run `wedsync auth login google` with an account that can edit this calendar")
        raise ProviderUnavailable(f"Google answered HTTP {status} ({reasons}) while trying to {what}",
                                  fix="check the provider's status page, then rerun")

    # -- reading ----------------------------------------------------------------------------------
    def changes(self, cursor: dict[str, Any] | None) -> Changes:
        sync_token = (cursor or {}).get("sync_token")
        page_size = int(self.ctx.provider_config.get("page_size", PAGE_SIZE))
        params: dict[str, Any] = {"maxResults": page_size}
        if sync_token:
            params["syncToken"] = sync_token
            params["showDeleted"] = "true"
        items: list[RemoteEvent] = []
        n = 0
        page_token = None
        while True:
            q = dict(params)
            if page_token:
                q["pageToken"] = page_token
            resp = self.http.get(self._events_path, params=q, operation="events.list")
            n += 1
            if resp.status_code == 410:
                raise CursorExpired("Google no longer accepts the saved sync token (410)",
                                    fix="nothing: a full listing follows")
            if resp.status_code != 200:
                self._fail(resp, "list events")
            body = resp.json()
            for item in body.get("items") or []:
                ev = self._parse(item)
                if sync_token is None and ev.deleted:
                    continue  # a full listing only needs what exists
                items.append(ev)
            page_token = body.get("nextPageToken")
            if not page_token:
                next_sync = body.get("nextSyncToken")
                return Changes(items=items, cursor={"sync_token": next_sync} if next_sync else None,
                               complete=sync_token is None, requests=n)

    def get(self, remote_id: str) -> RemoteEvent | None:
        resp = self.http.get(self._event_path(remote_id), operation="events.get")
        if resp.status_code in (404, 410):
            return None
        if resp.status_code != 200:
            self._fail(resp, "read an event")
        return self._parse(resp.json())

    def find_by_uid(self, uid: str) -> RemoteEvent | None:
        ev = self.get(google_id_for(uid))
        if ev is None or ev.deleted:
            return None
        return ev

    def _parse(self, item: dict[str, Any]) -> RemoteEvent:
        eid = str(item.get("id"))
        private = ((item.get("extendedProperties") or {}).get("private") or {})
        uid = private.get(MARKER) or uid_from_google_id(eid)
        fields = None if item.get("status") == "cancelled" else google_to_fields(item)
        modified = None
        if item.get("updated"):
            try:
                modified = datetime.fromisoformat(item["updated"].replace("Z", "+00:00"))
            except ValueError:
                modified = None
        return RemoteEvent(remote_id=eid, etag=item.get("etag"), uid=uid, fields=fields, raw=item,
                           modified=modified)

    # -- writing ----------------------------------------------------------------------------------
    def _body(self, uid: str, fields: EventFields) -> dict[str, Any]:
        body = fields_to_google(fields, self.ctx.timezone)
        body["extendedProperties"] = {"private": {MARKER: uid}}
        return body

    def create(self, uid: str, fields: EventFields) -> RemoteEvent:
        eid = google_id_for(uid)
        body = {"id": eid, **self._body(uid, fields)}
        resp = self.http.post(self._events_path, json=body, operation="events.insert")
        if resp.status_code in (200, 201):
            return self._parse(resp.json())
        if resp.status_code == 409:
            # Our id already exists: an earlier attempt got through (or a deleted copy is kept).
            existing = self.get(eid)
            if existing is not None and not existing.deleted:
                return existing
            revive = self.http.put(self._event_path(eid), json={**body, "status": "confirmed"},
                                   operation="events.update")
            if revive.status_code == 200:
                return self._parse(revive.json())
            self._fail(revive, "restore a deleted event")
        self._fail(resp, "create an event")
        raise AssertionError("unreachable")

    def update(self, remote: RemoteEvent, fields: EventFields) -> RemoteEvent:
        # PATCH, not PUT: attendees, reminders or colours someone added in Google survive our edit.
        # Nulls clear the other form of start/end when an event switches between timed and all-day.
        body = self._body(remote.uid or "", fields)
        for key in ("start", "end"):
            body[key] = {"date": None, "dateTime": None, "timeZone": None, **body[key]}
        headers = {"If-Match": remote.etag} if remote.etag else {}
        resp = self.http.patch(self._event_path(remote.remote_id), json=body,
                               headers=headers, operation="events.patch")
        if resp.status_code == 200:
            return self._parse(resp.json())
        if resp.status_code == 412:
            raise PreconditionFailed(f"Google event {remote.remote_id} changed since it was read")
        if resp.status_code in (404, 410):
            raise NotFound(f"Google event {remote.remote_id} no longer exists")
        self._fail(resp, "update an event")
        raise AssertionError("unreachable")

    def delete(self, remote: RemoteEvent) -> None:
        headers = {"If-Match": remote.etag} if remote.etag else {}
        resp = self.http.delete(self._event_path(remote.remote_id), headers=headers, operation="events.delete")
        if resp.status_code in (200, 204, 404, 410):
            return
        if resp.status_code == 412:
            raise PreconditionFailed(f"Google event {remote.remote_id} changed since it was read")
        self._fail(resp, "delete an event")

    def check(self) -> None:
        resp = self.http.get(self._events_path, params={"maxResults": 1}, operation="events.list")
        if resp.status_code != 200:
            self._fail(resp, "read the calendar")
