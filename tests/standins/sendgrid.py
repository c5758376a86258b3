"""A loopback SendGrid v3 ``POST /v3/mail/send``.

- 202 Accepted, empty body, ``X-Message-Id`` (one per request); sandbox mode
  (``mail_settings.sandbox_mode.enable: true``, a JSON boolean) -> 200 and nothing delivered.
- Errors: ``{"errors": [{"message", "field", "help"}]}``; 401 without/with a wrong key; 400 for a
  missing from/personalizations/subject/content or a non-string custom_args value; 413 too large.
- 429 ``{"errors":[{"field":null,"message":"too many requests"}]}`` with ``X-RateLimit-Limit``,
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (epoch seconds).
- Faults: "500", "503", "429", "timeout", "drop" (see tests/standins/http.py).
``srv.accepted`` lists every message accepted for delivery.
"""

from __future__ import annotations

import threading
import time
import uuid

from tests.standins.http import Request, Response, StandinServer


def _errors(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"errors": [{"message": message, "field": field, "help": None}]}, headers or {})


class SendGridStandin(StandinServer):
    def __init__(self, api_key: str = "SG.test_key"):
        super().__init__()
        self.api_key = api_key
        self.accepted: list[dict] = []
        self.sandboxed: list[dict] = []
        self.now = time.time  # what X-RateLimit-Reset epochs count from (tests align it with their clock)
        self._state = threading.Lock()
        self.fault_response = self._fault_response
        self.route("POST", "/v3/mail/send")(self._send)

    def _fault_response(self, kind: str) -> Response:
        if kind == "429":
            reset = str(int(self.now()) + int(self.faults.retry_after or "1"))
            return _errors(429, "too many requests", headers={"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
                                                              "X-RateLimit-Reset": reset})
        status = int(kind) if kind.isdigit() else 500
        return _errors(status, "internal error" if status >= 500 else "injected")

    def _send(self, req: Request) -> Response:
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return _errors(401, "The provided authorization grant is invalid, expired, or revoked")
        if len(req.body) > 30 * 1024 * 1024:
            return _errors(413, "payload too large")
        try:
            body = req.json()
        except ValueError:
            return _errors(400, "Bad Request", None)
        if not isinstance(body, dict):
            return _errors(400, "Bad Request", None)
        if not (body.get("from") or {}).get("email"):
            return _errors(400, "The from object must be provided for every email send.", "from")
        pers = body.get("personalizations")
        if not pers or not all(p.get("to") for p in pers):
            return _errors(400, "The personalizations field is required and must have at least one personalization.",
                           "personalizations")
        for p in pers:
            for t in p["to"]:
                if "@" not in str(t.get("email", "")):
                    return _errors(400, "Does not contain a valid address.", "personalizations.0.to.0.email")
            for v in (p.get("custom_args") or {}).values():
                if not isinstance(v, str):
                    return _errors(400, "custom_args values must be strings", "personalizations.0.custom_args")
        if not body.get("subject") and not all(p.get("subject") for p in pers):
            return _errors(400, "The subject is required.", "subject")
        if not body.get("content") and not body.get("template_id"):
            return _errors(400, "Unless a valid template_id is provided, the content parameter is required.", "content")
        sandbox = ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable")
        if sandbox not in (None, True, False):
            return _errors(400, "The sandbox_mode enable value must be a boolean", "mail_settings.sandbox_mode.enable")
        with self._state:
            if sandbox:
                self.sandboxed.append(body)
                return Response(200, None)
            mid = uuid.uuid4().hex[:22]
            self.accepted.append({"message_id": mid, "body": body})
        return Response(202, None, {"X-Message-Id": mid})

    def subjects(self) -> list[str]:
        with self._state:
            return [a["body"]["subject"] for a in self.accepted]
