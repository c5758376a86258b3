"""EventFields <-> VEVENT with the icalendar library (shared by the local and CalDAV backends)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from wedsync_cli.calendars.backend import EventFields
from wedsync_cli.calendars.ics import IcsError, parse_ics, to_ics

LONDON = ZoneInfo("Europe/London")


def test_timed_event_round_trips_with_tzid_and_vtimezone():
    f = EventFields(title="Jane & John Smith", start=datetime(2026, 6, 13, 14, tzinfo=LONDON),
                    end=datetime(2026, 6, 13, 23, tzinfo=LONDON), tz="Europe/London",
                    location="Old Barn", description="Ceremony 2pm")
    text = to_ics("ev1@wedsync", f, sequence=3, now=datetime(2026, 5, 1, tzinfo=UTC)).decode()
    assert "DTSTART;TZID=Europe/London:20260613T140000" in text
    assert "BEGIN:VTIMEZONE" in text and "SEQUENCE:3" in text and "LAST-MODIFIED:20260501T000000Z" in text
    parsed = parse_ics(text)
    assert parsed.uid == "ev1@wedsync" and parsed.sequence == 3
    assert parsed.fields.hash() == f.hash()
    assert parsed.fields.tz == "Europe/London"


def test_utc_instant_given_a_zone_is_written_in_that_zone():
    f = EventFields(title="x", start=datetime(2026, 6, 13, 13, tzinfo=UTC),
                    end=datetime(2026, 6, 13, 14, tzinfo=UTC), tz="Europe/London")
    text = to_ics("a@wedsync", f).decode()
    assert "TZID=Europe/London:20260613T140000" in text
    assert parse_ics(text).fields.hash() == f.hash()


def test_all_day_uses_value_date_and_exclusive_end():
    f = EventFields(title="Wedding", start=date(2026, 6, 13), end=date(2026, 6, 14), all_day=True)
    text = to_ics("b@wedsync", f).decode()
    assert "DTSTART;VALUE=DATE:20260613" in text and "DTEND;VALUE=DATE:20260614" in text
    assert parse_ics(text).fields == f


def test_foreign_event_without_dtend_floating_time_and_duration():
    floating = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:other-app-1\r\n"
                "DTSTART:20260613T100000\r\nDURATION:PT2H\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    p = parse_ics(floating, default_tz="Europe/London")
    assert p.uid == "other-app-1" and p.fields.title == "Dentist"
    assert p.fields.start == datetime(2026, 6, 13, 10, tzinfo=LONDON)
    assert p.fields.end == datetime(2026, 6, 13, 12, tzinfo=LONDON)
    allday = floating.replace("DTSTART:20260613T100000\r\nDURATION:PT2H", "DTSTART;VALUE=DATE:20260613")
    p = parse_ics(allday)
    assert p.fields.all_day and p.fields.end == date(2026, 6, 14)


@pytest.mark.parametrize("text", ["", "garbage", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                  "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"])
def test_unusable_text_raises_ics_error(text):
    with pytest.raises(IcsError):
        parse_ics(text)


def test_custom_vtimezone_is_still_honoured():
    """Outlook-style TZIDs are not IANA names: their VTIMEZONE must be kept for the parse."""
    f = EventFields(title="x", start=datetime(2026, 6, 13, 14, tzinfo=LONDON),
                    end=datetime(2026, 6, 13, 15, tzinfo=LONDON), tz="Europe/London")
    custom = to_ics("c@wedsync", f).replace(b"Europe/London", b"Studio Local Time")
    parsed = parse_ics(custom)
    assert parsed.fields.start == datetime(2026, 6, 13, 13, tzinfo=UTC)
