"""The small interface every email provider implements, and how outcomes are classified.

A provider either returns ``Accepted`` or raises ``SendFailure`` with one of these kinds, which
the deliverer maps to the research table (failover without double sends):

- ``failover``  the provider provably did not accept (connection refused, 5xx, quota exhausted):
                try the next provider now.
- ``ambiguous`` the request may have been accepted (read timeout, connection dropped mid-reply):
                retry later on the SAME provider with the SAME key, never fail over.
- ``retry``     a definite "not now" (rate limit, concurrent idempotent request): wait, same provider.
- ``permanent`` the message itself is refused (4xx validation): failed, no retry, no failover.
- ``auth``      the credential is refused (401/403): stop, exit 77, alert once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAILOVER, AMBIGUOUS, RETRY, PERMANENT, AUTH = "failover", "ambiguous", "retry", "permanent", "auth"


@dataclass
class Accepted:
    provider_message_id: str | None
    status_code: int | None = None
    response: Any = None
    latency_ms: float | None = None


class SendFailure(Exception):
    def __init__(self, kind: str, error: str, *, status_code: int | None = None,
                 retry_after: float | None = None, response: Any = None, latency_ms: float | None = None):
        super().__init__(error)
        self.kind = kind
        self.error = error
        self.status_code = status_code
        self.retry_after = retry_after
        self.response = response
        self.latency_ms = latency_ms


@dataclass
class OutgoingEmail:
    """One message as stored in the outbox payload (JSON-safe)."""

    from_: str
    to: list[str]
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {"from": self.from_, "to": list(self.to), "subject": self.subject, "text": self.text,
                "html": self.html, "reply_to": self.reply_to, "headers": dict(self.headers)}

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> OutgoingEmail:
        return cls(from_=p["from"], to=list(p["to"]), subject=p["subject"], text=p.get("text") or "",
                   html=p.get("html"), reply_to=p.get("reply_to"), headers=dict(p.get("headers") or {}))


class EmailProvider:
    """Base class. ``idempotent`` providers dedupe on our key, so an ambiguous outcome is safe
    to retry on them; ``max_batch`` > 1 means ``send_batch`` sends many in one request."""

    name = "?"
    idempotent = False
    max_batch = 1

    def __init__(self, rt, settings: dict[str, Any] | None = None):
        self.rt = rt
        self.settings = settings or {}

    def send(self, msg: OutgoingEmail, key: str) -> Accepted:
        raise NotImplementedError

    def send_batch(self, items: list[tuple[OutgoingEmail, str]], batch_key: str) -> list[Accepted]:
        return [self.send(m, k) for m, k in items]

    def check(self) -> str:
        """One cheap authenticated call; returns what was checked (raises WedsyncError)."""
        return f"{self.name}: nothing to check"

    def close(self) -> None:
        pass


def parse_address(value: str) -> tuple[str | None, str]:
    """'Studio <a@b.com>' -> ('Studio', 'a@b.com')."""
    from email.utils import parseaddr

    name, addr = parseaddr(value)
    return (name or None), addr


def provider_for(rt, name: str) -> EmailProvider:
    from wedsync_cli.registry import load

    cls = load("email", name)
    return cls(rt, rt.provider_settings(name))
