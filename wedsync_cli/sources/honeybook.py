"""HoneyBook: a generic OAuth2 API source for vendors with partner access, every endpoint configurable.

HoneyBook publishes no self-serve API. What vendors can do without partner access: export CSV and
run ``wedsync import csv FILE --preset honeybook`` (the preset lives in ``transform/presets.py``).

With partner access (a private v3 API is reported: OAuth2 authorization code + PKCE, rotating
refresh tokens, ``{data, pagination}`` lists, no GET for contacts), this source reads projects and
their client participants. Nothing about the API is hard-coded beyond defaults shaped like that
report: base_url, authorize_url, token_url, paths, page parameters, the field paths of a project
and the stage words are all keys of ``[providers.honeybook]`` / ``[sources.<name>]``.

- ``login(rt, no_browser, client_secret)``: authorization code with PKCE (S256) through a loopback
  redirect on 127.0.0.1; the tokens go to the keyring (credential ``honeybook``).
- ``HoneyBookAuth``: the shared ``auth_flows.oauth.OAuthTokenAuth`` (refresh before expiry and once
  on a 401; a rotated refresh token is written to the keyring before the new access token is used,
  so a crash never strands us with a spent refresh token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from wedsync_cli.auth_flows.oauth import OAuthTokenAuth
from wedsync_cli.errors import AuthRefused, ConfigError, DataError, ProviderUnavailable

PROVIDER = "honeybook"
# Defaults shaped like the reported private v3 API; every one is overridable in the config.
DEFAULTS: dict[str, Any] = {
    "base_url": "https://api.honeybook.com/api/v3",
    "authorize_url": "https://oauth.honeybook.com/oauth2/auth",
    "token_url": "https://oauth.honeybook.com/oauth2/token",
    "scopes": ["openid", "offline_access", "honeybook.api", "projects.read"],
    "projects_path": "/projects",
    "page_param": "page",
    "per_page_param": "per_page",
    "per_page": 100,
    "items_key": "data",
    "pagination_key": "pagination",
    "updated_since_param": None,       # e.g. "updated_gte" where the API has one
    "overlap_seconds": 300,
    "redirect_port": 0,                # 0: any free port (register http://127.0.0.1/callback)
    "login_timeout": 300,
}
# Where each of our fields sits in a project (dotted paths; lists of participants under "clients").
DEFAULT_FIELDS = {
    "external_id": "id", "name": "name", "date": "event_date", "start_time": "start_time",
    "end_time": "end_time", "venue": "location.name", "status": "stage", "updated": "updated_at",
    "clients": "participants", "client_role": "role", "client_role_value": "client",
    "client_id": "id", "first_name": "first_name", "last_name": "last_name", "email": "email", "phone": "phone",
}


def _settings(rt, source_config: Any = None) -> dict[str, Any]:
    out = dict(DEFAULTS)
    out.update({k: v for k, v in rt.provider_settings(PROVIDER).items() if v is not None})
    if source_config is not None:
        out.update({k: v for k, v in (getattr(source_config, "model_extra", None) or {}).items() if v is not None})
    out["fields"] = {**DEFAULT_FIELDS, **(out.get("fields") or {})}
    out["statuses"] = {str(k).lower(): v for k, v in (out.get("statuses") or {}).items()}
    return out


# -- OAuth -----------------------------------------------------------------------------------------
def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _token_request(rt, token_url: str, form: dict[str, str], what: str) -> dict[str, Any]:
    from wedsync_cli.http import HttpClient, RetryPolicy

    parts = urlsplit(token_url)  # post to the exact URL (a base_url would gain a trailing slash)
    with HttpClient(PROVIDER, f"{parts.scheme}://{parts.netloc}", clock=rt.clock, recorder=rt.recorder,
                    retry=RetryPolicy(max_attempts=3, retry_statuses=frozenset({429, 500, 503})),
                    classify=lambda r: "final" if r.status_code in (400, 401, 403) else None) as http:
        resp = http.post(parts.path + (f"?{parts.query}" if parts.query else ""), data=form,
                         operation=f"POST token ({what})")
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code >= 400 or "access_token" not in body:
        reason = body.get("error_description") or body.get("error") or f"HTTP {resp.status_code}"
        raise AuthRefused(f"HoneyBook refused the {what} ({reason})",
                          fix="sign in again with `wedsync auth login honeybook`")
    return body


def _credential_from(rt, body: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    cred = {
        "access_token": body["access_token"],
        # Rotation: a new refresh token replaces the old one; keep the old if none came back.
        "refresh_token": body.get("refresh_token") or previous.get("refresh_token"),
        "expires_at": rt.clock.now().timestamp() + float(body.get("expires_in") or 3600),
        "client_id": previous["client_id"],
    }
    for k in ("client_secret", "token_url", "scopes"):
        if previous.get(k):
            cred[k] = previous[k]
    if not cred["refresh_token"]:
        raise AuthRefused("HoneyBook gave no refresh token", fix="sign in again with `wedsync auth login honeybook` "
                          "and make sure the offline_access scope is granted")
    return cred


class HoneyBookAuth(OAuthTokenAuth):
    """Bearer auth for HttpClient: the shared OAuth refresh (ahead of expiry and once after a 401,
    rotated refresh token persisted before use) with HoneyBook's sign-in hint."""

    refresh_margin_s = 60.0

    def __init__(self, rt, settings: dict[str, Any]):
        super().__init__(PROVIDER, rt.credentials, {}, rt.clock, rt.recorder)
        cred = self._load()  # a missing credential is refused now, with the hint
        # The token URL the sign-in used (stored with the tokens) wins over the configured/default one.
        self.settings = {} if cred.get("token_url") else {"token_url": settings["token_url"]}

    def _login_fix(self) -> str:
        return ("run `wedsync auth login honeybook` (needs HoneyBook partner access; without it use "
                "`wedsync import csv FILE --preset honeybook`)")


def login(rt, no_browser: bool = False, client_secret: str | None = None, open_url=None, show=None) -> dict[str, Any]:
    """`wedsync auth login honeybook`: authorization code + PKCE via a loopback redirect.

    ``open_url(url)`` opens the browser (default ``webbrowser.open``); ``show(message)`` tells the
    user where to go (default: a line on stderr, through the CLI's output helper).
    """
    from http.server import BaseHTTPRequestHandler, HTTPServer

    s = _settings(rt)
    client_id = s.get("client_id")
    if not client_id:
        raise ConfigError("No HoneyBook client_id is configured",
                          fix="set client_id (from your HoneyBook partner app) under [providers.honeybook]")
    secret = _read_secret(client_secret) or s.get("client_secret")
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    result: dict[str, str] = {}

    class Callback(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            if "code" not in q and "error" not in q:
                self.send_response(404)
                self.end_headers()
                return
            result.update(q)
            ok = q.get("state") == state and "code" in q
            body = (b"Signed in to HoneyBook; you can close this tab." if ok
                    else b"Sign-in failed; see the terminal.")
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", int(s.get("redirect_port") or 0)), Callback)
    server.timeout = 0.5
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
    scopes = s["scopes"] if isinstance(s["scopes"], str) else " ".join(s["scopes"])
    url = s["authorize_url"] + "?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scopes,
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
    if show is None:
        from wedsync_cli.cli.output import info as show
    show(f"Open this address to sign in to HoneyBook (waiting on {redirect_uri}):\n{url}")
    if not no_browser:
        import webbrowser

        (open_url or webbrowser.open)(url)
    elif open_url is not None:
        open_url(url)
    import time as _time

    try:
        # A person is clicking through a web page: this waits in real time, not on the injected clock.
        t_end = _time.monotonic() + float(s["login_timeout"])
        while not result and _time.monotonic() < t_end:
            server.handle_request()
    finally:
        server.server_close()
    if not result:
        raise AuthRefused("No answer came back from the HoneyBook sign-in page in time",
                          fix="run `wedsync auth login honeybook` again (use --no-browser over SSH)")
    if result.get("state") != state:
        raise AuthRefused("The HoneyBook sign-in answer did not match this request (state mismatch)",
                          fix="run `wedsync auth login honeybook` again")
    if "error" in result:
        raise AuthRefused(f"HoneyBook sign-in failed ({result.get('error_description') or result['error']})",
                          fix="run `wedsync auth login honeybook` again and approve the access")
    form = {"grant_type": "authorization_code", "code": result["code"], "redirect_uri": redirect_uri,
            "client_id": client_id, "code_verifier": verifier}
    if secret:
        form["client_secret"] = secret
    body = _token_request(rt, s["token_url"], form, "sign-in code")
    cred = _credential_from(rt, body, {"client_id": client_id, "client_secret": secret,
                                       "token_url": s["token_url"] if s["token_url"] != DEFAULTS["token_url"] else None})
    rt.credentials.set(PROVIDER, cred)
    return cred


def _read_secret(value: str | None) -> str | None:
    """`--client-secret` is the secret itself or a file holding it (plain, or JSON with client_secret)."""
    from pathlib import Path

    if not value:
        return None
    p = Path(value).expanduser()
    if not p.is_file():
        return value
    text = p.read_text(encoding="utf-8").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if isinstance(doc, dict):
        inner = doc.get("installed") or doc.get("web") or doc
        return inner.get("client_secret") or text
    return text


# -- the source --------------------------------------------------------------------------------------
def _dig(obj: Any, path: str | None) -> Any:
    if not path:
        return None
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


class _Rollback(Exception):
    pass


class HoneyBookSource:
    provider = PROVIDER

    def __init__(self, rt, name: str = PROVIDER, source_config: Any = None):
        if source_config is None:
            raise ConfigError(
                "HoneyBook has no public API, so `import honeybook` needs a [sources.<name>] table with "
                "provider = \"honeybook\" and your partner API's settings",
                fix="without partner access export your clients as CSV and run "
                    "`wedsync import csv FILE --preset honeybook`")
        self.rt = rt
        self.name = name
        self.s = _settings(rt, source_config)
        self.cursor_key = f"source:honeybook:{name}"
        self.mode = "incremental"
        self.requests: dict[str, int] = {}
        self.skipped: list[str] = []

    def _client(self):
        from wedsync_cli.http import HttpClient, RetryPolicy

        # The reported API: retry only 500/503 (and 429); 404 also means "not allowed".
        return HttpClient(PROVIDER, self.s["base_url"], auth=HoneyBookAuth(self.rt, self.s), clock=self.rt.clock,
                          recorder=self.rt.recorder, timeout=self.s.get("timeout"),
                          retry=RetryPolicy(max_attempts=6, retry_statuses=frozenset({429, 500, 503})))

    def fetch(self, since: datetime | None) -> list[dict[str, Any]]:
        s = self.s
        items: list[dict[str, Any]] = []
        path = s["projects_path"]
        page = 1
        with self._client() as http:
            while True:
                params = {s["page_param"]: page, s["per_page_param"]: s["per_page"]}
                if since is not None and s.get("updated_since_param"):
                    params[s["updated_since_param"]] = since.isoformat().replace("+00:00", "Z")
                resp = http.get(path, params=params, operation=f"GET {path}")
                self.requests["projects"] = self.requests.get("projects", 0) + 1
                if resp.status_code != 200:
                    _raise_for(resp, path)
                try:
                    doc = resp.json()
                except ValueError:
                    raise ProviderUnavailable(f"HoneyBook answered {path} with something that is not JSON",
                                              fix="check base_url and projects_path in the config") from None
                batch = doc.get(s["items_key"]) if isinstance(doc, dict) else doc
                if not isinstance(batch, list):
                    raise ConfigError(f"HoneyBook's answer for {path} has no list under {s['items_key']!r}",
                                      fix="set items_key in [sources.<name>] to where the projects are")
                items += batch
                pag = (doc.get(s["pagination_key"]) or {}) if isinstance(doc, dict) else {}
                last = pag.get("last_page")
                total_pages = pag.get("total_pages")
                if not batch or last is True or (total_pages is not None and page >= int(total_pages)) or (
                        last is None and total_pages is None and len(batch) < int(s["per_page"])):
                    return items
                page += 1

    def to_record(self, project: dict[str, Any]):
        from pydantic import ValidationError

        from wedsync_cli.domain.models import ClientData, ImportRecord, Person, Rejected, WeddingData
        from wedsync_cli.sources.tave import _email
        from wedsync_cli.transform.presets import STATUS_WORDS

        f = self.s["fields"]
        ext = _dig(project, f["external_id"])
        label = _dig(project, f["name"]) or f"project {ext}"
        people = _dig(project, f["clients"]) or []
        if isinstance(people, dict):
            people = [people]
        clients = [p for p in people if isinstance(p, dict) and (
            not f.get("client_role") or str(_dig(p, f["client_role"]) or "").lower() == str(f["client_role_value"]).lower())]
        if not clients:
            self.skipped.append(f"{label}: no client on the project")
            return None
        try:
            persons = [Person(first=_dig(c, f["first_name"]), last=_dig(c, f["last_name"]),
                              email=_email(_dig(c, f["email"])), phone=_phone(_dig(c, f["phone"]), self.rt))
                       for c in clients[:2]]
            client = ClientData(partner1=persons[0], partner2=persons[1] if len(persons) > 1 else None)
            raw_status = str(_dig(project, f["status"]) or "booked").strip().lower()
            status = self.s["statuses"].get(raw_status) or STATUS_WORDS.get(raw_status)
            if status is None:
                raise ValueError(f"the stage {raw_status!r} is not known; map it under [sources.{self.name}.statuses]")
            day = _dig(project, f["date"])
            wedding = WeddingData(date=date.fromisoformat(str(day)[:10]) if day else None,
                                  venue=_dig(project, f["venue"]), status=status, external_id=str(ext),
                                  extra={"honeybook_stage": raw_status})
            events = []
            if wedding.date and _dig(project, f["start_time"]):
                from datetime import time as dtime

                from wedsync_cli.transform.engine import time_order_problem, wedding_day_event

                end = _dig(project, f["end_time"])
                start_t = dtime.fromisoformat(str(_dig(project, f["start_time"])))
                if problem := time_order_problem(start_t, dtime.fromisoformat(str(end)) if end else None):
                    raise ValueError(problem)
                events.append(wedding_day_event(wedding.date, self.rt.config.timezone,
                                                dtime.fromisoformat(str(_dig(project, f["start_time"]))),
                                                dtime.fromisoformat(str(end)) if end else None,
                                                location=wedding.venue))
            return ImportRecord(source=f"honeybook:{self.name}", external_id=str(_dig(clients[0], f["client_id"]) or ext),
                                client=client, wedding=wedding, events=events, raw=project)
        except (ValidationError, ValueError) as exc:
            from wedsync_cli.sources.tave import _reason

            return Rejected(source=f"honeybook:{self.name}", reason=f"{label}: {_reason(exc)}", raw=project)

    def sync(self, full: bool = False, dry_run: bool = False):
        from wedsync_cli.clock import parse_instant
        from wedsync_cli.sources.tave import crash_point
        from wedsync_cli.transform.engine import ImportEngine

        store = self.rt.store
        cursor = store.get_cursor(self.cursor_key) or {}
        since = None
        if not full and cursor.get("bookmark") and self.s.get("updated_since_param"):
            since = parse_instant(cursor["bookmark"]) - timedelta(seconds=float(self.s["overlap_seconds"]))
        self.mode = "incremental" if since else "full"
        projects = self.fetch(since)
        records = [r for r in (self.to_record(p) for p in projects) if r is not None]
        updated = []
        for p in projects:
            try:  # an unreadable timestamp only costs the bookmark that record's share
                updated.append(parse_instant(str(_dig(p, self.s["fields"]["updated"]))).isoformat().replace("+00:00", "Z"))
            except (TypeError, ValueError):
                pass
        report = None
        try:
            with store.transaction():
                report = ImportEngine(store, source=f"honeybook:{self.name}", timezone=self.rt.config.timezone,
                                      dry_run=dry_run).apply(records)
                report.read += len(self.skipped)
                if dry_run:
                    raise _Rollback
                mark = max(updated, key=parse_instant) if updated else cursor.get("bookmark")
                if cursor.get("bookmark") and mark and parse_instant(cursor["bookmark"]) > parse_instant(mark):
                    mark = cursor["bookmark"]
                store.set_cursor(self.cursor_key, {"bookmark": mark, "last_run_at": store.now()})
                crash_point("honeybook.before_commit")
        except _Rollback:
            pass
        crash_point("honeybook.after_commit")
        return report


def _phone(value: Any, rt) -> str | None:
    if not value:
        return None
    import phonenumbers

    try:
        num = phonenumbers.parse(str(value), rt.config.phone_region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_possible_number(num) else None


def _raise_for(resp, path: str) -> None:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    msg = (body.get("error", {}) or {}).get("message") if isinstance(body.get("error"), dict) else (
        body.get("message") or body.get("error_description") or body.get("error"))
    reason = f"HTTP {resp.status_code}" + (f": {msg}" if msg else "")
    if resp.status_code in (401, 403):
        raise AuthRefused(f"HoneyBook refused the token ({reason})", fix="sign in again with `wedsync auth login honeybook`")
    if resp.status_code == 404:
        raise ConfigError(f"HoneyBook answered {path} with 404 ({reason}); it says that for a wrong path and for a "
                          "missing permission alike", fix="check projects_path and that your app has the projects.read scope")
    if resp.status_code == 400:
        raise DataError(f"HoneyBook rejected the request for {path} ({reason})",
                        fix="check the page parameters in [sources.<name>]")
    raise ProviderUnavailable(f"HoneyBook answered {path} with {reason}", fix="rerun later")


def check(rt, provider: str = PROVIDER) -> str:
    """`auth status --check`: one authenticated page of projects (needs a configured honeybook source)."""
    cfgs = [c for c in rt.config.sources.values() if c.provider == PROVIDER]
    src = HoneyBookSource(rt, PROVIDER, cfgs[0] if cfgs else None)
    s = src.s
    with src._client() as http:
        resp = http.get(s["projects_path"], params={s["page_param"]: 1, s["per_page_param"]: 1})
        if resp.status_code != 200:
            _raise_for(resp, s["projects_path"])
    return f"GET {s['projects_path']}: ok"


__all__ = ["HoneyBookSource", "HoneyBookAuth", "login", "pkce_pair", "check", "json"]
