"""OAuth 2 refresh-token handling shared by Google, Outlook and the HoneyBook source.

Why plain httpx and not google-auth / msal for the refresh: the refresh is one form POST
(RFC 6749 section 6) and doing it with the same ``HttpClient`` as the API calls gives us the shared
retry policy, call recording, the injected clock and ``token_url`` overrides for free. It also keeps
the refresh away from ``requests``: caldav pulls in niquests/urllib3-future, which replaces the
``urllib3`` package that ``requests`` (under google-auth and msal) imports. msal and
google-auth-oauthlib are used only for the interactive sign-in (`wedsync auth login`).

What is stored (contract shape, compact JSON, well under Windows' 2,560-byte secret limit):
``access_token, refresh_token, expires_at, client_id`` and, where needed, ``client_secret``,
``tenant``, ``scopes``. Never a whole msal cache or google ``Credentials.to_json()``.
"""

from __future__ import annotations

import threading
from typing import Any

from wedsync_cli.errors import AuthRefused, ProviderUnavailable
from wedsync_cli.http.client import Auth

# Refresh this long before the stored expiry, so a token never expires mid-request.
REFRESH_MARGIN_S = 120.0

DEFAULT_TOKEN_URLS = {
    "google": "https://oauth2.googleapis.com/token",
    "outlook": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
    "honeybook": "https://oauth.honeybook.com/oauth2/token",
}
DEFAULT_SCOPES = {
    "google": "https://www.googleapis.com/auth/calendar.events",
    "outlook": "https://graph.microsoft.com/Calendars.ReadWrite offline_access",
}


def token_url_for(provider: str, settings: dict[str, Any], cred: dict[str, Any] | None = None) -> str:
    """``[providers.<p>] token_url`` wins, then a token_url stored with the credential, then the
    vendor's (Outlook: with the configured ``tenant``)."""
    if settings.get("token_url"):
        return str(settings["token_url"])
    if cred and cred.get("token_url"):
        return str(cred["token_url"])
    if provider == "outlook":
        tenant = settings.get("tenant") or (cred or {}).get("tenant") or "common"
        return f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    return DEFAULT_TOKEN_URLS[provider]


class OAuthTokenAuth(Auth):
    """Bearer auth from the keyring with refresh before expiry and on 401 (thread-safe).

    A rotated refresh token is written to the keyring before the new access token is used, so a
    crash never strands us with a spent refresh token."""

    refresh_margin_s = REFRESH_MARGIN_S

    def __init__(self, provider: str, credentials, settings: dict[str, Any], clock, recorder=None,
                 timeout: float | None = None):
        self.provider = provider
        self.credentials = credentials
        self.settings = settings
        self.clock = clock
        self.recorder = recorder
        self.timeout = timeout
        self._lock = threading.Lock()
        self._cred: dict[str, Any] | None = None
        self.refreshes = 0

    def _login_fix(self) -> str:
        return f"run `wedsync auth login {self.provider}` (or store a new token with `wedsync auth set {self.provider}`)"

    def _load(self) -> dict[str, Any]:
        if self._cred is None:
            self._cred = self.credentials.require(self.provider, login_hint=self._login_fix())
        return self._cred

    def _expired(self, cred: dict[str, Any]) -> bool:
        exp = cred.get("expires_at")
        if exp in (None, ""):
            return False
        return float(exp) - self.refresh_margin_s <= self.clock.now().timestamp()

    def headers(self) -> dict[str, str]:
        with self._lock:
            cred = self._load()
            if self._expired(cred):
                cred = self._refresh_locked(stale_token=cred.get("access_token"))
            return {"Authorization": f"Bearer {cred['access_token']}"}

    def refresh(self) -> bool:
        """Called by HttpClient after a 401: get a new access token (raises AuthRefused if refused)."""
        with self._lock:
            stale = (self._cred or {}).get("access_token")
            self._refresh_locked(stale_token=stale)
            return True

    # ------------------------------------------------------------------------------------------
    def _refresh_locked(self, stale_token: str | None) -> dict[str, Any]:
        # Another process (a parallel cron run) may have refreshed and rotated the refresh token
        # already: re-read the keyring first and use its token if it is newer and still valid.
        stored = self.credentials.require(self.provider, login_hint=self._login_fix())
        if stored.get("access_token") != stale_token and not self._expired(stored):
            self._cred = stored
            return stored
        cred = stored
        if not cred.get("refresh_token"):
            raise AuthRefused(f"The {self.provider} token has expired and no refresh token is stored",
                              fix=self._login_fix())
        form = {
            "grant_type": "refresh_token",
            "refresh_token": cred["refresh_token"],
            "client_id": cred.get("client_id", ""),
        }
        if cred.get("client_secret"):
            form["client_secret"] = cred["client_secret"]
        if self.provider == "outlook":
            # The v2.0 endpoint wants the scopes again; offline_access keeps a refresh token coming.
            form["scope"] = cred.get("scopes") or self.settings.get("scopes") or DEFAULT_SCOPES["outlook"]
        url = token_url_for(self.provider, self.settings, cred)
        resp = self._post(url, form)
        body = _json(resp)
        if resp.status_code >= 400 or not body.get("access_token"):
            err = str(body.get("error") or f"HTTP {resp.status_code}")
            if resp.status_code in (400, 401, 403) or err in ("invalid_grant", "invalid_client", "unauthorized_client"):
                why = f"{err}: {body['error_description']}" if body.get("error_description") else err
                raise AuthRefused(
                    f"{self.provider} refused to refresh the sign-in ({why})", fix=self._login_fix())
            raise ProviderUnavailable(f"{self.provider}'s token endpoint answered HTTP {resp.status_code} ({err})",
                                      fix="check the network or token_url in the config, then rerun")
        new = dict(cred)
        new["access_token"] = body["access_token"]
        try:
            expires_in = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            expires_in = 3600.0
        new["expires_at"] = round(self.clock.now().timestamp() + expires_in)
        if body.get("refresh_token"):  # rotation (Microsoft rotates on every use; Google rarely)
            new["refresh_token"] = body["refresh_token"]
        self.credentials.set(self.provider, new)
        self._cred = new
        self.refreshes += 1
        return new

    def _post(self, url: str, form: dict[str, str]):
        from wedsync_cli.http.client import HttpClient, RetryPolicy

        # auth=None: the token endpoint authenticates by the form; 5xx/429 retried by the policy.
        client = HttpClient(self.provider, url, clock=self.clock, recorder=self.recorder,
                            timeout=self.timeout, retry=RetryPolicy(max_attempts=4))
        try:
            return client.request("POST", url, data=form, auth=False, operation="token refresh",
                                  headers={"Accept": "application/json"})
        except AuthRefused as exc:  # HttpClient turns a bare 401 into this; say what fixes it
            raise AuthRefused(f"{self.provider} refused to refresh the sign-in", fix=self._login_fix()) from exc
        finally:
            client.close()


def _json(resp) -> dict[str, Any]:
    try:
        v = resp.json()
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def oauth_api_client(provider: str, ctx, default_base_url: str, **http_options: Any):
    """(auth, HttpClient) for a calendar backend on an OAuth API (Google, Outlook): the stored
    token with refresh, the configured ``base_url``/``timeout`` and the retry policy's
    ``max_attempts``/``backoff_base``; ``http_options`` (classify, headers) go to HttpClient."""
    from wedsync_cli.http.client import HttpClient, RetryPolicy

    cfg = ctx.provider_config
    timeout = cfg.get("timeout")
    auth = OAuthTokenAuth(provider, ctx.credentials, cfg, ctx.clock, recorder=ctx.recorder, timeout=timeout)
    policy = RetryPolicy(max_attempts=int(cfg.get("max_attempts", 6)), base_delay=float(cfg.get("backoff_base", 1.0)))
    http = HttpClient(provider, cfg.get("base_url") or default_base_url, auth=auth, timeout=timeout, retry=policy,
                      clock=ctx.clock, recorder=ctx.recorder, **http_options)
    return auth, http
