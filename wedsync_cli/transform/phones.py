"""Phone numbers to E.164 with the studio's region (config ``region`` / ``phone_region``).

"07700 900123" with region GB -> "+447700900123"; "+1 (212) 736-5000" -> "+12127365000".
A number libphonenumber cannot make sense of is kept as written (trimmed): a phone is never a
reason to lose a client, and the vendor can still read it.
"""

from __future__ import annotations

from functools import lru_cache


def normalise_phone(value: str | None, region: str) -> str | None:
    if value is None:
        return None
    v = value.strip()
    if not v or not any(c.isdigit() for c in v):
        return None
    return _e164(v, region)


@lru_cache(maxsize=65536)
def _e164(v: str, region: str) -> str:
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
