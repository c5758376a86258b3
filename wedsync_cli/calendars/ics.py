"""iCalendar (RFC 5545) conversion shared by the local (vdir) and CalDAV backends.

``to_ics`` turns EventFields into a VCALENDAR with one VEVENT carrying our UID, DTSTAMP, SEQUENCE,
LAST-MODIFIED, and either ``VALUE=DATE`` (all-day) or zoned date-times with ``TZID`` plus the
matching VTIMEZONE; ``parse_ics`` reads any calendar app's event back into EventFields.
Everything goes through the ``icalendar`` library (imported lazily: ``wedsync --help`` stays fast).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wedsync_cli.calendars.backend import EventFields

PRODID = "-//wedsync//wedsync_cli//EN"


class IcsError(ValueError):
    """The text is not an iCalendar object with a usable VEVENT."""


@dataclass
class ParsedEvent:
    uid: str | None
    fields: EventFields
    sequence: int = 0
    last_modified: datetime | None = None


@functools.lru_cache(maxsize=64)
def _vtimezone(tzid: str) -> bytes | None:
    """The serialised VTIMEZONE for an IANA zone, built once (serialising it is most of the cost
    of writing an event)."""
    from icalendar import Timezone

    try:
        return Timezone.from_tzid(tzid).to_ical()
    except Exception:  # noqa: BLE001 - a zone icalendar cannot describe: the TZID alone still parses
        return None


@functools.lru_cache(maxsize=256)
def _is_iana(tzid: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tzid)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def _drop_known_vtimezones(data: bytes) -> bytes:
    """VTIMEZONEs of IANA zones add nothing zoneinfo does not know and cost most of the parse;
    custom ones (Outlook's Windows names, odd definitions) stay for icalendar to read."""
    if b"BEGIN:VTIMEZONE" not in data:
        return data
    out: list[bytes] = []
    block: list[bytes] | None = None
    for line in data.splitlines(keepends=True):
        if block is None:
            if line.rstrip(b"\r\n") == b"BEGIN:VTIMEZONE":
                block = [line]
            else:
                out.append(line)
            continue
        block.append(line)
        if line.rstrip(b"\r\n") == b"END:VTIMEZONE":
            tzid = next((b[5:].strip() for b in block if b.startswith(b"TZID:")), b"")
            if not (tzid and _is_iana(tzid.decode("utf-8", "replace"))):
                out.extend(block)
            block = None
    if block is not None:
        out.extend(block)
    return b"".join(out)


def _zone_name(dt: datetime) -> str | None:
    key = getattr(dt.tzinfo, "key", None)  # zoneinfo.ZoneInfo
    if key:
        return key
    zone = getattr(dt.tzinfo, "zone", None)  # pytz-style
    return zone if isinstance(zone, str) else None


def _localise(value: date | datetime, tz: str | None) -> date | datetime:
    """Put an aware date-time into the event's IANA zone so the file carries TZID (not just UTC)."""
    if not isinstance(value, datetime) or not tz:
        return value
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return value.astimezone(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return value


def to_ics(uid: str, fields: EventFields, *, sequence: int = 0, now: datetime | None = None,
           extra: dict[str, str] | None = None) -> bytes:
    """A complete VCALENDAR document (bytes, CRLF line endings) for one event."""
    from icalendar import Calendar, Event

    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    ev = Event()
    ev.add("uid", uid)
    ev.add("dtstamp", now)
    ev.add("last-modified", now)
    ev.add("sequence", int(sequence))
    ev.add("summary", fields.title or "")
    zones: set[str] = set()
    if fields.all_day:
        start = fields.start.date() if isinstance(fields.start, datetime) else fields.start
        end = fields.end.date() if isinstance(fields.end, datetime) else fields.end
        if end <= start:
            end = start + timedelta(days=1)
        ev.add("dtstart", start)  # icalendar writes VALUE=DATE for a date
        ev.add("dtend", end)
    else:
        start = _localise(fields.start, fields.tz)
        end = _localise(fields.end, fields.tz)
        ev.add("dtstart", start)
        ev.add("dtend", end)
        zones = {z for z in (_zone_name(start), _zone_name(end)) if z and z != "UTC"}
    if fields.location:
        ev.add("location", fields.location)
    if fields.description:
        ev.add("description", fields.description)
    for key, value in (extra or {}).items():
        ev.add(key, value)
    cal.add_component(ev)
    out = cal.to_ical()
    vtzs = b"".join(v for v in (_vtimezone(z) for z in sorted(zones)) if v)
    if vtzs:  # RFC 5545: a VTIMEZONE for every TZID used; spliced in from the cache
        out = out.replace(b"BEGIN:VEVENT", vtzs + b"BEGIN:VEVENT", 1)
    return out


def _as_aware(value: datetime, default_tz: str | None) -> datetime:
    if value.tzinfo is not None:
        return value
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return value.replace(tzinfo=ZoneInfo(default_tz or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return value.replace(tzinfo=UTC)


def _decoded(component, name: str) -> Any:
    if name not in component:
        return None
    try:
        return component.decoded(name)
    except Exception:  # noqa: BLE001 - a malformed property reads as missing
        return None


def _text(component, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_ics(data: bytes | str, default_tz: str | None = None) -> ParsedEvent:
    """The master VEVENT of a calendar object (recurrence overrides are ignored).

    Floating date-times (no zone) are read in ``default_tz`` (the studio's zone). A missing DTEND
    means DURATION, else one day for an all-day event and zero length for a timed one (RFC 5545).
    """
    from icalendar import Calendar

    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        cal = Calendar.from_ical(_drop_known_vtimezones(data))
    except Exception as exc:  # noqa: BLE001 - icalendar raises ValueError and friends
        raise IcsError(f"not valid iCalendar: {exc}") from None
    events = [c for c in cal.walk("VEVENT") if "RECURRENCE-ID" not in c]
    if not events:
        raise IcsError("no VEVENT in the calendar object")
    ev = events[0]
    start = _decoded(ev, "DTSTART")
    if not isinstance(start, date):
        raise IcsError("the event has no usable DTSTART")
    end = _decoded(ev, "DTEND")
    if not isinstance(end, date):
        duration = _decoded(ev, "DURATION")
        if isinstance(duration, timedelta):
            end = start + duration
        elif isinstance(start, datetime):
            end = start
        else:
            end = start + timedelta(days=1)
    all_day = not isinstance(start, datetime)
    tz: str | None = None
    if all_day:
        if isinstance(end, datetime):
            end = end.date()
    else:
        start = _as_aware(start, default_tz)
        if not isinstance(end, datetime):
            end = datetime.combine(end, datetime.min.time())
        end = _as_aware(end, default_tz)
        tz = _zone_name(start)
        if tz is None and start.utcoffset() == timedelta(0):
            tz = "UTC"
    seq = _decoded(ev, "SEQUENCE")
    lm = _decoded(ev, "LAST-MODIFIED")
    if isinstance(lm, datetime):
        lm = _as_aware(lm, "UTC")
    else:
        lm = None
    fields = EventFields(
        title=_text(ev, "SUMMARY") or "",
        start=start,
        end=end,
        all_day=all_day,
        tz=tz,
        location=_text(ev, "LOCATION"),
        description=_text(ev, "DESCRIPTION"),
    )
    uid = _text(ev, "UID")
    return ParsedEvent(uid=uid, fields=fields, sequence=int(seq) if isinstance(seq, int) else 0,
                       last_modified=lm)
