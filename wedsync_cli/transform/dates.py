"""Dates and times as vendors write them.

ISO first (2027-06-05, 2027/06/05, 20270605, with or without a time part); then names of months
("5 June 2027", "June 5th, 2027", "Sat 5 Jun 27"); then all-numeric day/month/year, whose order
is decided once for the WHOLE file (``decide_order``) from the dates that can only be read one
way (25/06/2027 is day-first), or given by ``--date-order`` / config ``date_order``. Never
``dateutil.parse(dayfirst=True)``: it swaps the day and month of ISO dates.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from functools import lru_cache

_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_NUMERIC = re.compile(r"(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{2}|\d{4})(?:[T ].*)?")
_MONTHS = {m: i for i, names in enumerate(
    [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
     ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
     ("oct", "october"), ("nov", "november"), ("dec", "december")], start=1) for m in names}
_WORDS = re.compile(r"[a-z]+|\d+")
_WEEKDAYS = {"mon", "monday", "tue", "tues", "tuesday", "wed", "wednesday", "thu", "thur", "thurs", "thursday",
             "fri", "friday", "sat", "saturday", "sun", "sunday", "st", "nd", "rd", "th", "of"}


# "Not decided yet" is an empty date, not an impossible one.
_UNKNOWN = {"tbd", "tbc", "tba", "n/a", "na", "-", "--", "?", "unknown", "not set", "none", "pending", "to be confirmed",
            "to be decided"}


def _unknown(text: str) -> bool:
    u = text.lower().strip(" .?!-")
    return not u or u in _UNKNOWN


class BadDate(ValueError):
    pass


class AmbiguousDate(ValueError):
    """All-numeric and both parts <= 12, with no order decided."""


def _year(y: str) -> int:
    n = int(y)
    return n + 2000 if len(y) == 2 else n


def _make(y: int, m: int, d: int, text: str) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        raise BadDate(f"impossible date {text!r}") from None


def numeric_parts(text: str) -> tuple[int, int] | None:
    """The two leading numbers of an all-numeric non-ISO date (for deciding the file's order)."""
    t = text.strip()
    if _ISO.fullmatch(t) or _COMPACT.fullmatch(t):
        return None
    m = _NUMERIC.fullmatch(t)
    return (int(m.group(1)), int(m.group(2))) if m else None


def decide_order(values) -> tuple[str | None, int, int]:
    """(order or None, day-first evidence, month-first evidence) from a file's date cells."""
    dmy = mdy = 0
    for v in values:
        parts = numeric_parts(v) if v else None
        if not parts:
            continue
        a, b = parts
        if a > 12 and b <= 12:
            dmy += 1
        elif b > 12 and a <= 12:
            mdy += 1
    if dmy and not mdy:
        return "dmy", dmy, mdy
    if mdy and not dmy:
        return "mdy", dmy, mdy
    return None, dmy, mdy


@lru_cache(maxsize=8192)  # pure; a file repeats its dates a lot
def parse_date(text: str | None, order: str | None) -> date | None:
    """'' -> None; impossible -> BadDate; numeric and ambiguous without ``order`` -> AmbiguousDate."""
    if text is None:
        return None
    t = text.strip()
    if _unknown(t):
        return None
    m = _ISO.fullmatch(t) or _COMPACT.fullmatch(t)
    if m:
        return _make(int(m.group(1)), int(m.group(2)), int(m.group(3)), t)
    m = _NUMERIC.fullmatch(t)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), _year(m.group(3))
        if order is None:
            if a > 12 and b <= 12:
                order = "dmy"
            elif b > 12 and a <= 12:
                order = "mdy"
            elif a == b:
                order = "dmy"  # 06/06/2027 reads the same either way
            elif a > 12 and b > 12:
                raise BadDate(f"impossible date {t!r}")
            else:
                raise AmbiguousDate(t)
        d, mo = (a, b) if order == "dmy" else (b, a)
        return _make(y, mo, d, t)
    if t.isdigit() and len(t) == 5 and 36526 <= int(t) <= 73050:
        # A spreadsheet date cell saved as its serial number (Excel/Sheets: days since 1899-12-30),
        # 2000-01-01 .. 2099-12-31.
        return date(1899, 12, 30) + timedelta(days=int(t))
    words = _WORDS.findall(t.lower())
    month = [w for w in words if w in _MONTHS]
    nums = [w for w in words if w.isdigit()]
    rest = [w for w in words if not w.isdigit() and w not in _MONTHS and w not in _WEEKDAYS]
    if len(month) == 1 and len(nums) == 2 and not rest:
        day_s, year_s = (nums[0], nums[1]) if len(nums[1]) == 4 or int(nums[0]) <= 31 else (nums[1], nums[0])
        if len(nums[0]) == 4:
            year_s, day_s = nums[0], nums[1]
        return _make(_year(year_s), _MONTHS[month[0]], int(day_s), t)
    raise BadDate(f"unreadable date {t!r}")


_TIME = re.compile(r"(\d{1,2})(?:[:.h](\d{2}))?(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?")


@lru_cache(maxsize=4096)
def parse_time(text: str | None) -> time | None:
    """'14:00', '2pm', '2:30 PM', '14.30', '14h30' -> time; '' -> None; nonsense -> BadDate."""
    if text is None:
        return None
    t = text.strip().lower()
    if _unknown(t):
        return None
    m = _TIME.fullmatch(t)
    if not m or (m.group(2) is None and m.group(4) is None):
        if t in ("noon", "midday"):
            return time(12, 0)
        raise BadDate(f"unreadable time {text.strip()!r}")
    h, mi = int(m.group(1)), int(m.group(2) or 0)
    ampm = (m.group(4) or "").replace(".", "")
    if ampm:
        if not 1 <= h <= 12:
            raise BadDate(f"impossible time {text.strip()!r}")
        h = h % 12 + (12 if ampm == "pm" else 0)
    if h > 23 or mi > 59:
        raise BadDate(f"impossible time {text.strip()!r}")
    return time(h, mi)
