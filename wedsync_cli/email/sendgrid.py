"""SendGrid v3 ``POST /v3/mail/send``.

SendGrid has no idempotency key, so it is the failover target, not the first choice: our outbox id
travels in ``personalizations[].custom_args.wedsync_id`` and the per-request ``X-Message-Id`` is
stored, so support can match an event-webhook report to our row. A read timeout here is
ambiguous and is retried later on SendGrid only (never re-sent through another provider).
429 carries ``X-RateLimit-Reset`` as epoch seconds (not a delay). ``check`` uses sandbox mode:
the payload is validated with the real credential and nothing is delivered.
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
    parse_address,
)

DEFAULT_BASE = "https://api.sendgrid.com"


def _reset_delay(resp, now: float) -> float | None:
    raw = resp.headers.get("x-ratelimit-reset")
    try:
        return max(0.0, float(raw) - now) if raw else None
    except ValueError:
        return None


def failure_for(resp, now_epoch: float, latency_ms: float | None = None) -> SendFailure:
    status, body = resp.status_code, json_body(resp)
    errors = body.get("errors") if isinstance(body, dict) else None
    msgs = "; ".join(str(e.get("message")) + (f" ({e['field']})" if e.get("field") else "")
                     for e in (errors or []) if isinstance(e, dict))
    reason = f"SendGrid HTTP {status}" + (f": {msgs}" if msgs else "")
    kw = {"status_code": status, "response": body if body is not None else resp.text[:500], "latency_ms": latency_ms}
    if status >= 500:
        return SendFailure(FAILOVER, reason, **kw)
    if status == 429:
        return SendFailure(RETRY, reason, retry_after=_reset_delay(resp, now_epoch), **kw)
    if status in (401, 403):
        return SendFailure(AUTH, reason, **kw)
    return SendFailure(PERMANENT, reason, **kw)


class SendGridProvider(EmailProvider):
    name = "sendgrid"
    idempotent = False
    max_batch = 1

    def __init__(self, rt, settings: dict[str, Any] | None = None):
        super().__init__(rt, settings)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            cred = self.rt.credentials.require("sendgrid")
            # 429 is returned to us (classify "final"): the reset header is an epoch, handled here.
            self._client = make_client(self.rt, "sendgrid", DEFAULT_BASE, self.settings, api_key=cred["api_key"],
                                       retry_timeouts=False, classify=lambda resp: "final")
        return self._client

    @staticmethod
    def body(msg: OutgoingEmail, key: str, *, sandbox: bool = False) -> dict[str, Any]:
        def addr(value: str) -> dict[str, str]:
            name, email = parse_address(value)
            return {"email": email, **({"name": name} if name else {})}

        content = [{"type": "text/plain", "value": msg.text or " "}]
        if msg.html:
            content.append({"type": "text/html", "value": msg.html})
        b: dict[str, Any] = {
            "personalizations": [{"to": [addr(t) for t in msg.to], "custom_args": {"wedsync_id": key}}],
            "from": addr(msg.from_),
            "subject": msg.subject,
            "content": content,
        }
        if msg.reply_to:
            b["reply_to"] = addr(msg.reply_to)
        if msg.headers:
            b["headers"] = msg.headers
        if sandbox:
            b["mail_settings"] = {"sandbox_mode": {"enable": True}}
        return b

    def send(self, msg: OutgoingEmail, key: str) -> Accepted:
        t0 = time.perf_counter()
        client = self.client
        resp = post(client, "/v3/mail/send", t0, json=self.body(msg, key))
        ms = _ms(t0)
        if resp.status_code in (200, 202):
            return Accepted(resp.headers.get("x-message-id"), resp.status_code, None, ms)
        raise failure_for(resp, self.rt.clock.now().timestamp(), ms)

    def check(self) -> str:
        from wedsync_cli.errors import AuthRefused, ProviderUnavailable

        probe = OutgoingEmail(from_="wedsync-check@example.com", to=["wedsync-check@example.com"],
                              subject="wedsync credential check", text="sandbox")
        try:
            resp = post(self.client, "/v3/mail/send", json=self.body(probe, "check", sandbox=True))
        except SendFailure as exc:
            raise ProviderUnavailable(f"SendGrid could not be checked: {exc.error}", fix="try again later") from None
        if resp.status_code in (401, 403):
            raise AuthRefused(f"SendGrid refused the API key (HTTP {resp.status_code})",
                              fix="store a valid key with `wedsync auth set sendgrid`")
        if resp.status_code >= 500:
            raise ProviderUnavailable(f"SendGrid answered HTTP {resp.status_code}", fix="try again later")
        return f"sendgrid: sandbox-mode mail/send answered {resp.status_code}"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def check(rt, provider: str = "sendgrid") -> str:
    p = SendGridProvider(rt, rt.provider_settings("sendgrid"))
    try:
        return p.check()
    finally:
        p.close()
