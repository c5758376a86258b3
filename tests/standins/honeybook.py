"""A HoneyBook-shaped OAuth2 + projects stand-in (the reported private v3 API; nothing public exists).

- ``GET /oauth2/auth``: checks client_id, redirect_uri (loopback), PKCE S256 challenge, then
  redirects (302) to ``redirect_uri?code=...&state=...`` as a consenting user's browser would see;
- ``POST /oauth2/token``: ``authorization_code`` (verifies the PKCE verifier) and ``refresh_token``
  with ROTATION: every refresh returns a new refresh token and the old one stops working
  (``invalid_grant``); access tokens expire after ``access_ttl`` seconds of the stand-in's clock;
- ``GET /api/v3/projects``: ``{data, pagination{page, per_page<=100, total_items, total_pages,
  last_page}}``, ``updated_gte`` filter, bearer auth (401 when expired/unknown), 404 for a missing
  scope (as reported: 404 for permission failures and missing records alike);
- faults via ``server.faults`` (500/503 retried, 429 with Retry-After).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.standins.http import Request, Response, StandinServer


class HoneyBookStandin:
    def __init__(self, client_id: str = "wedsync-test-client", access_ttl: int = 3600):
        self.client_id = client_id
        self.access_ttl = access_ttl
        self.server = StandinServer()
        self.server.fault_response = self._fault
        self.now = 1_800_000_000.0  # the stand-in's own clock (epoch seconds); tests move it
        self.codes: dict[str, dict[str, Any]] = {}
        self.access: dict[str, float] = {}      # token -> expiry
        self.refresh: set[str] = set()          # live refresh tokens
        self.spent_refresh: set[str] = set()
        self.token_calls: list[dict[str, str]] = []
        self.projects: list[dict[str, Any]] = []
        self.scopes_granted = True
        self._lock = threading.Lock()
        self._routes()

    @property
    def base_url(self) -> str:
        return self.server.url + "/api/v3"

    @property
    def token_url(self) -> str:
        return self.server.url + "/oauth2/token"

    @property
    def authorize_url(self) -> str:
        return self.server.url + "/oauth2/auth"

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    def issue(self) -> dict[str, Any]:
        """A fresh token pair (what a completed sign-in would give)."""
        with self._lock:
            access, refresh = "hb_at_" + secrets.token_hex(12), "hb_rt_" + secrets.token_hex(12)
            self.access[access] = self.now + self.access_ttl
            self.refresh.add(refresh)
            return {"access_token": access, "refresh_token": refresh, "expires_in": self.access_ttl,
                    "token_type": "Bearer", "scope": "openid offline_access honeybook.api projects.read"}

    def add_project(self, pid: str, clients: list[tuple], event_date: str | None, stage: str = "booked",
                    venue: str | None = None, start_time: str | None = None, end_time: str | None = None,
                    updated_at: str = "2026-05-01T10:00:00Z") -> dict[str, Any]:
        p = {"id": pid, "name": f"{clients[0][0]}'s Wedding" if clients else pid, "event_date": event_date,
             "stage": stage, "start_time": start_time, "end_time": end_time,
             "location": {"name": venue} if venue else None, "updated_at": updated_at,
             "participants": [{"id": f"{pid}-c{i}", "first_name": c[0], "last_name": c[1], "email": c[2],
                               "phone": c[3] if len(c) > 3 else None, "role": "client"}
                              for i, c in enumerate(clients)]
             + [{"id": f"{pid}-v", "first_name": "Fiona", "last_name": "Florist", "email": "fiona@florist.example",
                 "role": "vendor"}],
             "custom_fields": {"package": "Gold"}}
        self.projects.append(p)
        return p

    # -- HTTP -----------------------------------------------------------------------------------------
    def _fault(self, kind: str) -> Response:
        status = int(kind) if kind.isdigit() else 503
        headers = {"Retry-After": self.server.faults.retry_after or "0"} if status in (429, 503) else {}
        return Response(status, {"error": {"code": status, "message": "temporarily unavailable"}}, headers)

    def _routes(self) -> None:
        srv = self.server

        @srv.route("GET", r"/oauth2/auth")
        def authorize(req: Request) -> Response:
            q = {k: v[0] for k, v in req.query.items()}
            redirect = q.get("redirect_uri", "")
            if q.get("client_id") != self.client_id:
                return Response(400, {"error": "invalid_client"})
            if urlsplit(redirect).hostname not in ("127.0.0.1", "localhost"):
                return Response(400, {"error": "invalid_request", "error_description": "redirect_uri not registered"})
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return Response(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
            if q.get("response_type") != "code":
                return Response(400, {"error": "unsupported_response_type"})
            code = "hb_code_" + secrets.token_hex(8)
            self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": redirect}
            return Response(302, None, {"Location": redirect + "?" + urlencode({"code": code, "state": q.get("state", "")})})

        @srv.route("POST", r"/oauth2/token")
        def token(req: Request) -> Response:
            from urllib.parse import parse_qs

            form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
            self.token_calls.append(form)
            if form.get("client_id") != self.client_id:
                return Response(401, {"error": "invalid_client"})
            grant = form.get("grant_type")
            if grant == "authorization_code":
                info = self.codes.pop(form.get("code", ""), None)
                if info is None or info["redirect_uri"] != form.get("redirect_uri"):
                    return Response(400, {"error": "invalid_grant", "error_description": "unknown or used code"})
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != info["challenge"]:
                    return Response(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                return Response(200, self.issue())
            if grant == "refresh_token":
                rt = form.get("refresh_token", "")
                with self._lock:
                    if rt not in self.refresh:
                        return Response(400, {"error": "invalid_grant",
                                              "error_description": "refresh token expired, revoked or already used"})
                    self.refresh.discard(rt)  # rotation: single use
                    self.spent_refresh.add(rt)
                return Response(200, self.issue())
            return Response(400, {"error": "unsupported_grant_type"})

        @srv.route("GET", r"/api/v3/projects")
        def projects(req: Request) -> Response:
            auth = req.headers.get("authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            with self._lock:
                exp = self.access.get(token)
            if exp is None or exp <= self.now:
                return Response(401, {"error": {"code": 401, "message": "invalid or expired access token"}})
            if not self.scopes_granted:
                return Response(404, {"error": {"code": 404, "message": "not found"}})
            try:
                page = int(req.arg("page", "1"))
                per = int(req.arg("per_page", "25"))
            except ValueError:
                return Response(400, {"error": {"code": 400, "message": "page and per_page are integers"}})
            if page < 1 or not 1 <= per <= 100:
                return Response(400, {"error": {"code": 400, "message": "per_page must be 1..100"}})
            items = sorted(self.projects, key=lambda p: p["id"])
            if req.arg("updated_gte"):
                items = [p for p in items if p["updated_at"] >= req.arg("updated_gte")]
            total = len(items)
            pages = max(1, -(-total // per))
            chunk = items[(page - 1) * per: page * per]
            return Response(200, {"data": chunk, "pagination": {"page": page, "per_page": per, "total_items": total,
                                                                "total_pages": pages, "last_page": page >= pages}})
