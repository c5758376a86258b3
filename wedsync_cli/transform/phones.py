"""Phone numbers to E.164 with the studio's region (config ``region`` / ``phone_region``).

"07911 123456" with region GB -> "+447911123456"; "+1 (212) 736-5000" -> "+12127365000".
A number that is not valid for the region (libphonenumber's ``is_valid_number``), or that is
written without a country code and without the region's trunk prefix ("(555) 123-4567" in a GB
studio), is kept as written (trimmed) rather than turned into a made-up E.164: a phone is never a
reason to lose a client, and the vendor can still read it. ``is_e164`` tells the two apart.
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


def is_e164(value: str | None) -> bool:
    """True for a normalised number; False for text kept as the vendor wrote it."""
    return bool(value) and value[0] == "+" and value[1:].isdigit()


def _fast(v: str, region: str) -> str | None:
    """The common shapes without parsing: 11-digit UK numbers (07…, 01…, 02…, 03…) and 10-digit
    North American ones, checked with libphonenumber's ``is_valid_number`` on the digits (no
    ``parse``). Returns the E.164 for a valid number, the trimmed text for an invalid one (e.g. the
    07700 900xxx drama range), None for other shapes (tests/test_import_normalise.py checks it
    agrees with libphonenumber); anything else goes to libphonenumber."""
    d = v.translate(_PUNCT)
    if region == "GB" or d.startswith(("+44", "0044")):
        m = _GB_INTL.fullmatch(d) or (_GB_NATIONAL.fullmatch(d) if region == "GB" else None)
        if m:
            return "+44" + m.group(1) if _valid(44, m.group(1)) else v
    if region in ("US", "CA") and not d.startswith("+") or d.startswith("+1"):
        m = _NANP.fullmatch(d)
        if m and (d.startswith("+1") or region in ("US", "CA")):
            return "+1" + m.group(1) if _valid(1, m.group(1)) else v
    return None


@lru_cache(maxsize=8192)
def _valid(country_code: int, national: str) -> bool:
    import phonenumbers

    num = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    # The main region first (half the cost: is_valid_number would try it first anyway), then the
    # others sharing the code (Guernsey, Isle of Man, Jersey; Canada and the Caribbean).
    main = "GB" if country_code == 44 else "US"
    return phonenumbers.is_valid_number_for_region(num, main) or phonenumbers.is_valid_number(num)


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
    if not phonenumbers.is_valid_number(num):
        return raw
    if not v.startswith("+"):
        # Written without a country code: it must carry the region's trunk prefix as written at
        # home ("0555 123 4567" in GB); libphonenumber alone accepts "555 123 4567" there.
        national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
        if not _digits(v).endswith(_digits(national)):
            return raw
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())
