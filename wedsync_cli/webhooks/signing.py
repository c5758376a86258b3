"""Standard Webhooks signatures (v1: HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``).

Signing is what outbound delivery puts in ``webhook-signature``; verification is what the inbound
receiver does for Resend (Svix headers) and any Standard Webhooks sender. Verification never
raises anything but ``InvalidSignature`` — the reference libraries let ``binascii.Error`` or
``ValueError`` escape on a malformed header, which would turn an attack into a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300  # every reference library hard-codes ±5 minutes


class InvalidSignature(Exception):
    """The request's signature headers are missing, malformed, stale or do not match."""


def secret_bytes(secret: str | bytes) -> bytes:
    """The raw HMAC key from a ``whsec_<base64>`` secret (unpadded base64 tolerated)."""
    if isinstance(secret, bytes):
        return secret
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret is not whsec_ followed by base64") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of exactly the bytes that are sent."""
    if isinstance(body, str):
        body = body.encode()
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(secret_bytes(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(secret: str | bytes, headers: Mapping[str, str], body: bytes, *, now: float,
           tolerance: float = TOLERANCE_S, prefix: str = "webhook") -> str:
    """Check a Standard Webhooks (``prefix='webhook'``) or Svix (``prefix='svix'``) request.

    Returns the message id. Raises ``InvalidSignature`` with a short reason for anything wrong,
    including garbage in the headers.
    """
    h = {k.lower(): v for k, v in headers.items()}
    msg_id = h.get(f"{prefix}-id")
    ts_raw = h.get(f"{prefix}-timestamp")
    sig_header = h.get(f"{prefix}-signature")
    if not (msg_id and ts_raw and sig_header):
        raise InvalidSignature(f"missing {prefix}-id, {prefix}-timestamp or {prefix}-signature header")
    if "." in msg_id or len(msg_id) > 256:
        raise InvalidSignature(f"malformed {prefix}-id header")
    try:
        ts = int(ts_raw.strip())
    except ValueError:
        raise InvalidSignature(f"malformed {prefix}-timestamp header") from None
    if abs(now - ts) > tolerance:
        raise InvalidSignature(f"{prefix}-timestamp is more than {int(tolerance)} seconds away from now")
    try:
        expected = base64.b64decode(sign(secret, msg_id, ts, body).split(",", 1)[1])
    except ValueError:
        raise InvalidSignature("the receiving secret is not a valid whsec_ secret") from None
    for entry in sig_header.split():
        version, sep, value = entry.partition(",")
        if not sep or version != "v1":
            continue  # unknown versions (v1a asymmetric) and junk entries are skipped, not fatal
        try:
            candidate = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return msg_id
    raise InvalidSignature("no matching signature")


def message_id_for(key: str) -> str:
    """The ``webhook-id`` of an outbox item: derived from its key, so every retry and every
    replay of one delivery carries the same id (receivers dedupe on it)."""
    return "msg_" + base64.b32encode(hashlib.sha256(key.encode()).digest()[:15]).decode().lower()
