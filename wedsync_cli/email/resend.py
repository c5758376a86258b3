"""Resend (https://resend.com/docs/api-reference): POST /emails and /emails/batch.

- Our outbox key is the ``Idempotency-Key`` (24 h window): a retry after an ambiguous timeout or a
  crash returns the same email id instead of sending again.
- A batch request's key covers the whole batch, and Resend answers 409 if the same key comes back
  with a different payload, so a batch's membership is fixed before it is sent (the deliverer
  stores it) and a retried batch is byte-for-byte the same request.
- Pacing: when ``ratelimit-remaining`` reaches 0 we wait ``ratelimit-reset`` seconds (through the
  injected clock) before the next request instead of collecting 429s.
- Classification is by status + ``name`` (the docs' messages drift), per the research table.
"""

from __future__ import annotations

import time
from typing import Any

from wedsync_cli.email._http import _ms, json_body, make_client, post
from wedsync_cli.email.providers import (
    AUTH,
    FAILOVER,
    PERMANENT,
    RETRY,
    Accepted,
    EmailProvider,
    OutgoingEmail,
    SendFailure,
)
from wedsync_cli.http.client import parse_retry_after

DEFAULT_BASE = "https://api.resend.com"
RETRY_LATER_NAMES = {"rate_limit_exceeded", "concurrent_idempotent_requests"}
QUOTA_NAMES = {"daily_quota_exceeded", "monthly_quota_exceeded"}


def _name(resp) -> str:
    body = json_body(resp)
    return str(body.get("name") or "") if isinstance(body, dict) else ""


def classify_response(resp) -> str:
    """For the HTTP layer: wait-and-retry in place only for rate limits and in-progress keys."""
    if resp.status_code in (429, 409) and _name(resp) in RETRY_LATER_NAMES:
        return "ratelimit"
    return "final"


def failure_for(resp, latency_ms: float | None = None) -> SendFailure:
    status, body = resp.status_code, json_body(resp)
    name = body.get("name") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    reason = f"Resend HTTP {status}" + (f" {name}" if name else "") + (f": {message}" if message else "")
    kw = {"status_code": status, "response": body if body is not None else resp.text[:500], "latency_ms": latency_ms}
    if status >= 500:  # includes non-JSON gateway pages: transient, provider did not accept
        return SendFailure(FAILOVER, reason, **kw)
    if status == 429 and name in QUOTA_NAMES:  # waiting seconds will not help; another provider will
        return SendFailure(FAILOVER, reason, **kw)
    if status == 429 or (status == 409 and name == "concurrent_idempotent_requests"):
        return SendFailure(RETRY, reason, retry_after=parse_retry_after(resp.headers.get("retry-after")), **kw)
    if status in (401, 403) and name != "validation_error":
        return SendFailure(AUTH, reason, **kw)
    return SendFailure(PERMANENT, reason, **kw)


class ResendProvider(EmailProvider):
    name = "resend"
    idempotent = True
    max_batch = 100

    def __init__(self, rt, settings: dict[str, Any] | None = None):
        super().__init__(rt, settings)
        self._client = None
        self._pause_s = 0.0
        self.requests = 0

    @property
    def client(self):
        if self._client is None:
            cred = self.rt.credentials.require("resend")
            self._client = make_client(self.rt, "resend", DEFAULT_BASE, self.settings, api_key=cred["api_key"],
                                       retry_timeouts=True, classify=classify_response,
                                       retry_after_headers=("retry-after", "ratelimit-reset"))
        return self._client

    @staticmethod
    def body(msg: OutgoingEmail) -> dict[str, Any]:
        b: dict[str, Any] = {"from": msg.from_, "to": msg.to, "subject": msg.subject, "text": msg.text}
        if msg.html:
            b["html"] = msg.html
        if msg.reply_to:
            b["reply_to"] = msg.reply_to
        if msg.headers:
            b["headers"] = msg.headers
        return b

    def _pace(self) -> None:
        if self._pause_s > 0:
            self.rt.clock.sleep(self._pause_s)
            self._pause_s = 0.0

    def _note_limits(self, resp) -> None:
        remaining = resp.headers.get("ratelimit-remaining")
        if remaining is not None and remaining.strip() == "0":
            self._pause_s = parse_retry_after(resp.headers.get("ratelimit-reset")) or 1.0

    def _post(self, path: str, json_body_: Any, key: str, extra: dict[str, str] | None = None):
        self._pace()
        t0 = time.perf_counter()
        client = self.client  # a missing credential is a ConfigError, raised before any request
        resp = post(client, path, t0, json=json_body_, headers={"Idempotency-Key": key, **(extra or {})})
        self.requests += 1
        self._note_limits(resp)
        return resp, _ms(t0)

    def send(self, msg: OutgoingEmail, key: str) -> Accepted:
        resp, ms = self._post("/emails", self.body(msg), key)
        if resp.status_code == 200:
            body = json_body(resp) or {}
            return Accepted(body.get("id"), 200, body, ms)
        raise failure_for(resp, ms)

    def send_batch(self, items: list[tuple[OutgoingEmail, str]], batch_key: str) -> list[Accepted]:
        if len(items) == 1:
            return [self.send(*items[0])]
        resp, ms = self._post("/emails/batch", [self.body(m) for m, _ in items], batch_key,
                              {"x-batch-validation": "strict"})
        if resp.status_code == 200:
            body = json_body(resp) or {}
            data = body.get("data") or []
            if len(data) != len(items):
                # Accepted, but we cannot tell which id is whose: keep the ids we have, in order.
                data = list(data) + [{}] * (len(items) - len(data))
            return [Accepted(d.get("id"), 200, d, ms) for d in data]
        raise failure_for(resp, ms)

    def check(self) -> str:
        from wedsync_cli.errors import AuthRefused, ProviderUnavailable

        resp = self.client.get("/domains")
        if resp.status_code == 401 and _name(resp) == "restricted_api_key":
            return "resend: the key is valid (restricted to sending, so it cannot list domains)"
        if resp.status_code in (401, 403):
            raise AuthRefused(f"Resend refused the API key (HTTP {resp.status_code})",
                              fix="store a valid key with `wedsync auth set resend`")
        if resp.status_code >= 500:
            raise ProviderUnavailable(f"Resend answered HTTP {resp.status_code}", fix="try again later")
        return "resend: GET /domains answered " + str(resp.status_code)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def check(rt, provider: str = "resend") -> str:
    p = ResendProvider(rt, rt.provider_settings("resend"))
    try:
        return p.check()
    finally:
        p.close()
