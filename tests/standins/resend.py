"""A loopback Resend (POST /emails, POST /emails/batch, GET /domains) with the documented behaviours.

- Auth: ``Authorization: Bearer <api_key>``; none -> 401 missing_api_key, wrong -> 403 invalid_api_key.
- Idempotency-Key (24 h): same key + same body -> the same response, nothing sent again; same key +
  different body -> 409 invalid_idempotent_request; a key whose first request is still being
  processed -> 409 concurrent_idempotent_requests. Applies to the whole body of a batch.
- Validation: from/to/subject required (422 missing_required_field), ``to`` at most 50, a ``from``
  domain in ``unverified_domains`` -> 403 validation_error; a batch over 100 -> 422; strict batch
  validation rejects the whole batch.
- Limits: ``rate_per_s`` requests per one-second window (ratelimit-* headers on every answer,
  429 rate_limit_exceeded + retry-after when exceeded); ``daily_quota`` emails, then
  429 daily_quota_exceeded.
- Faults (``srv.faults.queue`` / ``rate`` / ``kinds``): "500" application_error, "502html" a
  non-JSON gateway page, "429" rate_limit_exceeded, "quota" daily_quota_exceeded, "409concurrent",
  "timeout" (never processed), "drop" (connection closed, never processed); and
  ``srv.slow_accept`` = n: the next n requests ARE processed and accepted, but the answer comes
  ``slow_accept_s`` late (the client times out: the ambiguous case).
``srv.accepted`` lists every email actually accepted for sending (what "delivered once" counts).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import uuid

from tests.standins.http import Request, Response, StandinServer

ERRORS = {
    "500": (500, "application_error", "An unexpected error occurred."),
    "429": (429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second."),
    "quota": (429, "daily_quota_exceeded", "You have reached your daily email sending quota."),
    "401": (401, "restricted_api_key", "This API key is restricted to only send emails."),
    "403": (403, "invalid_api_key", "API key is invalid."),
    "422": (422, "validation_error", "Invalid `from` field."),
    "409concurrent": (409, "concurrent_idempotent_requests",
                      "Same idempotency key used while original request is still in progress."),
}


def _err(status: int, name: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"statusCode": status, "name": name, "message": message}, headers or {})


class ResendStandin(StandinServer):
    def __init__(self, api_key: str = "re_test_key", *, rate_per_s: int | None = None,
                 daily_quota: int | None = None):
        super().__init__()
        self.api_key = api_key
        self.rate_per_s = rate_per_s
        self.daily_quota = daily_quota
        self.unverified_domains: set[str] = set()
        self.accepted: list[dict] = []
        self.emails: dict[str, dict] = {}
        self.idem: dict[str, dict] = {}
        self.slow_accept = 0
        self.slow_accept_s = 1.0
        self.rate_limited = 0  # 429s the rate limiter answered
        self._window_start = 0.0
        self._window_count = 0
        self._state = threading.RLock()
        self.fault_response = self._fault_response
        self.route("POST", "/emails")(self._send_one)
        self.route("POST", "/emails/batch")(self._send_batch)
        self.route("GET", "/domains")(self._domains)

    # -- faults ------------------------------------------------------------------------------
    def _fault_response(self, kind: str) -> Response:
        if kind == "502html":
            return Response(502, "<html><body><h1>502 Bad Gateway</h1></body></html>",
                            {"Content-Type": "text/html"})
        status, name, message = ERRORS.get(kind, (int(kind) if kind.isdigit() else 500, "application_error", "injected"))
        headers = {"retry-after": self.faults.retry_after or "1"} if status == 429 else {}
        return _err(status, name, message, headers)

    # -- common checks -----------------------------------------------------------------------
    def _limits(self) -> tuple[Response | None, dict[str, str]]:
        if self.rate_per_s is None:
            return None, {}
        with self._state:
            now = time.monotonic()
            if now - self._window_start >= 1.0:
                self._window_start, self._window_count = now, 0
            reset = max(1, math.ceil(1.0 - (now - self._window_start)))
            if self._window_count >= self.rate_per_s:
                self.rate_limited += 1
                h = {"ratelimit-limit": str(self.rate_per_s), "ratelimit-remaining": "0",
                     "ratelimit-reset": str(reset), "retry-after": str(reset)}
                return _err(429, *ERRORS["429"][1:], headers=h), h
            self._window_count += 1
            h = {"ratelimit-limit": str(self.rate_per_s),
                 "ratelimit-remaining": str(self.rate_per_s - self._window_count), "ratelimit-reset": str(reset)}
            return None, h

    def _auth(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _err(401, "missing_api_key", "Missing API key in the authorization header.")
        if auth[7:] != self.api_key:
            return _err(403, "invalid_api_key", "API key is invalid.")
        return None

    def _validate(self, email) -> Response | None:
        if not isinstance(email, dict):
            return _err(422, "validation_error", "Invalid email object.")
        for f in ("from", "to", "subject"):
            if not email.get(f):
                return _err(422, "missing_required_field", f"The `{f}` field is missing.")
        to = email["to"] if isinstance(email["to"], list) else [email["to"]]
        if len(to) > 50:
            return _err(422, "validation_error", "The `to` field must have at most 50 recipients.")
        for addr in to:
            if "@" not in str(addr):
                return _err(422, "validation_error", f"Invalid `to` field: {addr}")
        sender = str(email["from"]).rsplit("@", 1)[-1].rstrip(">").lower()
        if sender in self.unverified_domains:
            return _err(403, "validation_error", f"The {sender} domain is not verified.")
        return None

    def _handle(self, req: Request, process) -> Response:
        limited, rl_headers = self._limits()
        if limited is not None:
            return limited
        denied = self._auth(req)
        if denied is not None:
            denied.headers.update(rl_headers)
            return denied
        key = req.headers.get("idempotency-key")
        body_hash = hashlib.sha256(req.body).hexdigest()
        if key is not None:
            if not 1 <= len(key) <= 256:
                return _err(400, "invalid_idempotency_key", "The key must be between 1-256 chars.")
            with self._state:
                prior = self.idem.get(f"{req.path} {key}")
                if prior is not None:
                    if prior["hash"] != body_hash:
                        return _err(409, "invalid_idempotent_request",
                                    "Same idempotency key used with a different request payload.")
                    if prior["response"] is None:
                        return _err(409, *ERRORS["409concurrent"][1:])
                    r = prior["response"]
                    return self._maybe_slow(Response(r.status, r.body, {**r.headers, **rl_headers}))
                self.idem[f"{req.path} {key}"] = {"hash": body_hash, "response": None}
        try:
            resp = process()
        except Exception:
            if key is not None:
                with self._state:
                    self.idem.pop(f"{req.path} {key}", None)
            raise
        if key is not None:
            with self._state:
                if resp.status == 200:
                    self.idem[f"{req.path} {key}"]["response"] = resp
                else:  # errors are not remembered: a corrected retry may reuse the key
                    self.idem.pop(f"{req.path} {key}", None)
        resp.headers.update(rl_headers)
        return self._maybe_slow(resp)

    def _maybe_slow(self, resp: Response) -> Response:
        with self._state:
            if self.slow_accept > 0 and resp.status == 200:
                self.slow_accept -= 1
                resp.delay = self.slow_accept_s
        return resp

    def _accept(self, email: dict, key: str | None) -> str:
        eid = str(uuid.uuid4())
        with self._state:
            self.emails[eid] = email
            self.accepted.append({"id": eid, "email": email, "idempotency_key": key})
        return eid

    def _quota_left(self, n: int) -> bool:
        return self.daily_quota is None or len(self.accepted) + n <= self.daily_quota

    # -- routes ------------------------------------------------------------------------------
    def _send_one(self, req: Request) -> Response:
        def process():
            try:
                email = req.json()
            except ValueError:
                return _err(422, "validation_error", "Invalid JSON body.")
            bad = self._validate(email)
            if bad is not None:
                return bad
            if not self._quota_left(1):
                return _err(429, *ERRORS["quota"][1:])
            return Response(200, {"id": self._accept(email, req.headers.get("idempotency-key"))})

        return self._handle(req, process)

    def _send_batch(self, req: Request) -> Response:
        def process():
            try:
                emails = req.json()
            except ValueError:
                return _err(422, "validation_error", "Invalid JSON body.")
            if not isinstance(emails, list) or not emails:
                return _err(422, "validation_error", "The batch must be a non-empty array.")
            if len(emails) > 100:
                return _err(422, "validation_error", "A batch can hold at most 100 emails.")
            for e in emails:  # x-batch-validation: strict (the default): one bad email rejects all
                bad = self._validate(e)
                if bad is not None:
                    return bad
            if not self._quota_left(len(emails)):
                return _err(429, *ERRORS["quota"][1:])
            key = req.headers.get("idempotency-key")
            return Response(200, {"data": [{"id": self._accept(e, key)} for e in emails]})

        return self._handle(req, process)

    def _domains(self, req: Request) -> Response:
        denied = self._auth(req)
        return denied or Response(200, {"data": [{"name": "example.com", "status": "verified"}]})

    # -- helpers for tests -------------------------------------------------------------------
    def subjects(self) -> list[str]:
        with self._state:
            return [a["email"]["subject"] for a in self.accepted]

    def accepted_json(self) -> str:
        with self._state:
            return json.dumps(self.accepted)
