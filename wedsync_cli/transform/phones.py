"""Phone numbers to E.164 with the studio's region (config ``region`` / ``phone_region``).

"07700 900123" with region GB -> "+447700900123"; "+1 (212) 736-5000" -> "+12127365000".
A number libphonenumber cannot make sense of is kept as written (trimmed): a phone is never a
reason to lose a client, and the vendor can still read it.
"""

from __future__ import annotations

import re
from functools import lru_cache


def normalise_phone(value: str | None, region: str) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if not v or not any(c.isdigit() for c in v):
        return None
    return _e164(v, region)


_PUNCT = str.maketrans("", "", " -().\u00a0/")
_GB_NATIONAL = re.compile(r"0([1-37]\d{9})")
_GB_INTL = re.compile(r"(?:\+|00)44(?:0)?([1-37]\d{9})")
_NANP = re.compile(r"(?:\+?1)?([2-9]\d{2}[2-9]\d{6})")


def _fast(v: str, region: str) -> str | None:
    """The common shapes, without libphonenumber (~20 µs a number): 11-digit UK numbers (07…,
    01…, 02…, 03…) and 10-digit North American ones. Equal to libphonenumber's answer for these
    (tests/test_import_normalise.py checks); anything else goes to libphonenumber."""
    d = v.translate(_PUNCT)
    if region == "GB" or d.startswith(("+44", "0044")):
        m = _GB_INTL.fullmatch(d) or (_GB_NATIONAL.fullmatch(d) if region == "GB" else None)
        if m:
            return "+44" + m.group(1)
    if region in ("US", "CA") and not d.startswith("+") or d.startswith("+1"):
        m = _NANP.fullmatch(d)
        if m and (d.startswith("+1") or region in ("US", "CA")):
            return "+1" + m.group(1)
    return None


@lru_cache(maxsize=8192)
def _e164(v: str, region: str) -> str:
    fast = _fast(v, region)
    if fast is not None:
        return fast
    import phonenumbers

    raw = v
    if v.startswith("00"):
        v = "+" + v[2:]
    try:
        num = phonenumbers.parse(v, region)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_possible_number(num):
        return raw
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
