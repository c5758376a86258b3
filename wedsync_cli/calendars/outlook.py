"""Outlook / Microsoft 365 backend over Microsoft Graph v1.0 (httpx through the shared HttpClient).

- Listing: ``calendarView/delta`` over a window (default 1 year back .. 3 years ahead; config
  ``window_days_back`` / ``window_days_ahead``), following ``@odata.nextLink`` until
  ``@odata.deltaLink``, which is stored whole as the cursor. ``@removed`` entries also cover events
  that merely left the window, so each one is confirmed with a GET before it counts as deleted.
  Replays and repeated entities are collapsed (last one wins). 410 or ``syncStateNotFound``
  ⇒ CursorExpired.
- Creates carry ``transactionId`` = our uid (Graph's documented guard against duplicate POSTs on
  retry) and the uid in a single-value extended property, which ``find_by_uid`` filters on.
  ``transactionId`` comes back in delta pages, so our events are recognisable there too.
- Updates/deletes send ``If-Match: <@odata.etag>``; 412 (or 409 ErrorIrresolvableConflict)
  ⇒ PreconditionFailed.
- 429 waits exactly ``Retry-After`` (HttpClient). Requests are sent one at a time, well inside
  Outlook's limit of 4 concurrent requests per app and mailbox.
- ``Prefer: outlook.timezone="UTC"``: every time comes back in UTC; we write times in the
  event's own IANA zone.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
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

DEFAULT_BASE_URL = "https://graph.microsoft.com"
# Our marker: a named single-value extended property in our own property-set GUID.
MARKER_PROP = "String {5b0f3c52-6a1e-4c55-9d0e-7e3f2b9a4c11} Name wedsyncUid"
DEFAULT_CALENDARS = {None, "", "primary", "default", "calendar"}
PAGE_SIZE = 100
EXPIRED_CODES = {"syncStateNotFound", "resyncRequired", "syncStateInvalid"}


def error_code(resp) -> str:
    try:
        err = resp.json().get("error") or {}
    except (ValueError, AttributeError):
        return ""
    return str(err.get("code") or "") if isinstance(err, dict) else ""


def _parse_graph_dt(value: str) -> datetime:
    v = value.rstrip("Z")
    if "." in v:
        head, frac = v.split(".", 1)
        v = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(v)


def _strip_html(text: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", text)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def graph_to_fields(item: dict[str, Any]) -> EventFields | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    start, end = item.get("start") or {}, item.get("end") or {}
    if not start.get("dateTime") or not end.get("dateTime"):
        return None
    body = item.get("body") or {}
    desc = body.get("content") or ""
    if (body.get("contentType") or "").lower() == "html":
        desc = _strip_html(desc)
    loc = (item.get("location") or {}).get("displayName") or None
    title = item.get("subject") or ""
    if item.get("isAllDay"):
        return EventFields(title=title, start=_parse_graph_dt(start["dateTime"]).date(),
                           end=_parse_graph_dt(end["dateTime"]).date(), all_day=True, location=loc,
                           description=desc or None)

    def aware(v: dict[str, Any]) -> datetime:
        dt = _parse_graph_dt(v["dateTime"])
        try:
            zone = ZoneInfo(v.get("timeZone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC  # we ask for UTC; a Windows zone name here would be a surprise
        return dt.replace(tzinfo=zone)

    s, e = aware(start), aware(end)
    tz = item.get("originalStartTimeZone")
    try:
        zone = ZoneInfo(tz) if tz else None
    except (ZoneInfoNotFoundError, ValueError):
        zone, tz = None, None
    if zone is not None:
        s, e = s.astimezone(zone), e.astimezone(zone)
    return EventFields(title=title, start=s, end=e, all_day=False, tz=tz, location=loc, description=desc or None)


def fields_to_graph(fields: EventFields, default_tz: str) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    body: dict[str, Any] = {
        "subject": fields.title,
        "body": {"contentType": "text", "content": fields.description or ""},
        "location": {"displayName": fields.location or ""},
        "isAllDay": bool(fields.all_day),
    }
    if fields.all_day:
        s = fields.start if not isinstance(fields.start, datetime) else fields.start.date()
        e = fields.end if not isinstance(fields.end, datetime) else fields.end.date()
        body["start"] = {"dateTime": f"{s.isoformat()}T00:00:00", "timeZone": "UTC"}
        body["end"] = {"dateTime": f"{e.isoformat()}T00:00:00", "timeZone": "UTC"}
        return body
    tz = fields.tz or default_tz
    zone = ZoneInfo(tz)

    def local(v: date | datetime) -> str:
        if not isinstance(v, datetime):
            v = datetime(v.year, v.month, v.day, tzinfo=zone)
        if v.tzinfo is None:
            v = v.replace(tzinfo=zone)
        return v.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")

    body["start"] = {"dateTime": local(fields.start), "timeZone": tz}
    body["end"] = {"dateTime": local(fields.end), "timeZone": tz}
    return body


class OutlookBackend(CalendarBackend):
    provider = "outlook"

    def __init__(self, ctx):
        super().__init__(ctx)
        cal = ctx.calendar
        self.calendar_id = None if cal in DEFAULT_CALENDARS else cal
        self._http = None
        self.auth = None

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def http(self):
        if self._http is None:
            from wedsync_cli.auth_flows.oauth import oauth_api_client

            self.auth, self._http = oauth_api_client(
                "outlook", self.ctx, DEFAULT_BASE_URL,
                headers={"Accept": "application/json",
                         "Prefer": f'outlook.timezone="UTC", odata.maxpagesize={self._page_size}'})
        return self._http

    @property
    def _page_size(self) -> int:
        return int(self.ctx.provider_config.get("page_size", PAGE_SIZE))

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def _cal_path(self) -> str:
        if self.calendar_id is None:
            return "/v1.0/me/calendar"
        return f"/v1.0/me/calendars/{quote(self.calendar_id, safe='')}"

    @property
    def _delta_path(self) -> str:
        if self.calendar_id is None:
            return "/v1.0/me/calendarView/delta"
        return f"{self._cal_path}/calendarView/delta"

    def _event_path(self, remote_id: str) -> str:
        return f"/v1.0/me/events/{quote(remote_id, safe='')}"

    @property
    def _expand(self) -> str:
        return f"singleValueExtendedProperties($filter=id eq '{MARKER_PROP}')"

    def _fail(self, resp, what: str):
        status, code = resp.status_code, error_code(resp) or f"HTTP {resp.status_code}"
        if status == 404:
            name = self.calendar_id or "default"
            raise ConfigError(
                f"Outlook calendar {name!r} (calendar {self.ctx.name!r} in the config) does not exist or is not "
                "shared with the signed-in account",
                fix=f"fix `calendar` under [calendars.{self.ctx.name}] (the calendar id from "
                    "GET /me/calendars, or 'primary')")
        if status in (401, 403):
            raise AuthRefused(f"Outlook refused access to the calendar ({code})",
                              fix="run `wedsync auth login outlook` with an account that can edit this calendar")
        raise ProviderUnavailable(f"Outlook answered HTTP {status} ({code}) while trying to {what}",
                                  fix="check the provider's status page, then rerun")

    # -- reading ----------------------------------------------------------------------------------
    def _window(self) -> tuple[str, str]:
        cfg = self.ctx.provider_config
        now = self.ctx.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        lo = now - timedelta(days=int(cfg.get("window_days_back", 365)))
        hi = now + timedelta(days=int(cfg.get("window_days_ahead", 3 * 365)))
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return lo.strftime(fmt), hi.strftime(fmt)

    def changes(self, cursor: dict[str, Any] | None) -> Changes:
        delta_link = (cursor or {}).get("delta_link")
        n = 0
        if delta_link:
            url, params = delta_link, None
        else:
            lo, hi = self._window()
            url, params = self._delta_path, {"startDateTime": lo, "endDateTime": hi}
        seen: dict[str, dict[str, Any]] = {}
        while True:
            resp = self.http.get(url, params=params, operation="calendarView.delta")
            n += 1
            params = None
            code = error_code(resp)
            if resp.status_code == 410 or code in EXPIRED_CODES:
                raise CursorExpired(f"Outlook no longer accepts the saved delta link ({code or resp.status_code})",
                                    fix="nothing: a full listing follows")
            if resp.status_code != 200:
                self._fail(resp, "list events")
            body = resp.json()
            for item in body.get("value") or []:
                if item.get("id"):
                    seen.pop(item["id"], None)   # replays: the last copy wins, in arrival order
                    seen[item["id"]] = item
            if body.get("@odata.nextLink"):
                url = body["@odata.nextLink"]
                continue
            new_link = body.get("@odata.deltaLink")
            break
        items: list[RemoteEvent] = []
        for item in seen.values():
            if "@removed" in item:
                if delta_link is None:
                    continue
                # @removed also means "changed outside the window": only a 404 proves a deletion.
                current = self.get(item["id"])
                n += 1
                items.append(current if current is not None else RemoteEvent(remote_id=item["id"], raw=item))
            else:
                items.append(self._parse(item))
        return Changes(items=items, cursor={"delta_link": new_link} if new_link else None,
                       complete=delta_link is None, requests=n)

    def get(self, remote_id: str) -> RemoteEvent | None:
        resp = self.http.get(self._event_path(remote_id), params={"$expand": self._expand}, operation="events.get")
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            self._fail(resp, "read an event")
        return self._parse(resp.json())

    def find_by_uid(self, uid: str) -> RemoteEvent | None:
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{MARKER_PROP}' and ep/value eq '{uid}')"
        resp = self.http.get(f"{self._cal_path}/events", params={"$filter": flt, "$expand": self._expand},
                             operation="events.find")
        if resp.status_code != 200:
            self._fail(resp, "look up an event")
        found = [self._parse(i) for i in resp.json().get("value") or []]
        return found[0] if found else None

    def _parse(self, item: dict[str, Any]) -> RemoteEvent:
        uid = None
        for p in item.get("singleValueExtendedProperties") or []:
            if p.get("id", "").lower() == MARKER_PROP.lower():
                uid = p.get("value")
        tx = item.get("transactionId")
        if uid is None and isinstance(tx, str) and tx.endswith(UID_SUFFIX):
            uid = tx
        fields = None if item.get("isCancelled") else graph_to_fields(item)
        modified = None
        if item.get("lastModifiedDateTime"):
            try:
                modified = _parse_graph_dt(item["lastModifiedDateTime"]).replace(tzinfo=UTC)
            except ValueError:
                modified = None
        return RemoteEvent(remote_id=str(item["id"]), etag=item.get("@odata.etag"), uid=uid, fields=fields,
                           raw=item, modified=modified)

    # -- writing ----------------------------------------------------------------------------------
    def create(self, uid: str, fields: EventFields) -> RemoteEvent:
        body = fields_to_graph(fields, self.ctx.timezone)
        body["transactionId"] = uid
        body["singleValueExtendedProperties"] = [{"id": MARKER_PROP, "value": uid}]
        resp = self.http.post(f"{self._cal_path}/events", json=body, operation="events.create")
        if resp.status_code in (200, 201):
            ev = self._parse(resp.json())
            ev.uid = uid
            return ev
        self._fail(resp, "create an event")
        raise AssertionError("unreachable")

    def update(self, remote: RemoteEvent, fields: EventFields) -> RemoteEvent:
        headers = {"If-Match": remote.etag} if remote.etag else {}
        resp = self.http.patch(self._event_path(remote.remote_id), json=fields_to_graph(fields, self.ctx.timezone),
                               headers=headers, operation="events.update")
        if resp.status_code == 200:
            ev = self._parse(resp.json())
            ev.uid = ev.uid or remote.uid
            return ev
        if resp.status_code == 412 or (resp.status_code == 409 and error_code(resp) == "ErrorIrresolvableConflict"):
            raise PreconditionFailed(f"Outlook event {remote.remote_id} changed since it was read")
        if resp.status_code == 404:
            raise NotFound(f"Outlook event {remote.remote_id} no longer exists")
        self._fail(resp, "update an event")
        raise AssertionError("unreachable")

    def delete(self, remote: RemoteEvent) -> None:
        headers = {"If-Match": remote.etag} if remote.etag else {}
        resp = self.http.delete(self._event_path(remote.remote_id), headers=headers, operation="events.delete")
        if resp.status_code in (200, 204, 404):
            return
        if resp.status_code == 412 or (resp.status_code == 409 and error_code(resp) == "ErrorIrresolvableConflict"):
            raise PreconditionFailed(f"Outlook event {remote.remote_id} changed since it was read")
        self._fail(resp, "delete an event")

    def check(self) -> None:
        resp = self.http.get(self._cal_path, operation="calendar.get")
        if resp.status_code != 200:
            self._fail(resp, "read the calendar")
