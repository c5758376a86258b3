"""`wedsync auth login google`: the installed-app loopback flow with the vendor's own OAuth client.

Like gcalcli, we ship no shared Google client (Google blocks shared clients of calendar tools);
the user creates a "Desktop app" OAuth client and passes its ``client_secret.json``. The browser
is sent to Google and back to ``http://localhost:<port>/``; ``--no-browser`` only prints the URL
(forward the port over SSH: ``ssh -L <port>:localhost:<port> server``, or set a fixed
``[providers.google] login_port``). What is stored is the contract shape, not ``to_json()``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wedsync_cli.errors import AuthRefused, ConfigError

SCOPES = ["https://www.googleapis.com/auth/calendar.events"]
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
CLIENT_FIX = ("create an OAuth client of type 'Desktop app' in Google Cloud Console (APIs & Services > "
              "Credentials; enable the Google Calendar API), download its JSON and run "
              "`wedsync auth login google --client-secret client_secret.json`")


def _client_config(path: str) -> dict[str, Any]:
    p = Path(path).expanduser()
    try:
        cfg = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The Google client secret file {p} does not exist", fix=CLIENT_FIX) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The Google client secret file {p} is not readable JSON ({type(exc).__name__})",
                          fix=CLIENT_FIX) from None
    if not isinstance(cfg, dict) or not ({"installed", "web"} & set(cfg)):
        raise ConfigError(f"{p} is not a Google OAuth client file (no 'installed' section)", fix=CLIENT_FIX)
    return cfg


def login(rt, no_browser: bool = False, client_secret: str | None = None) -> dict[str, Any]:
    settings = rt.provider_settings("google")
    path = client_secret or settings.get("client_secret_file")
    if not path:
        raise ConfigError("Signing in to Google needs your own OAuth client (client_secret.json)", fix=CLIENT_FIX)
    cfg = _client_config(str(path))
    rt.credentials.backend_name()  # no keyring: fail (exit 78) before opening a browser

    from google_auth_oauthlib.flow import InstalledAppFlow

    flow = InstalledAppFlow.from_client_config(cfg, scopes=SCOPES)
    port = int(settings.get("login_port", 0))
    message = ("Open this URL in a browser to sign in to Google"
               + (" (on another machine: forward the port in the redirect_uri with `ssh -L PORT:localhost:PORT`)"
                  if no_browser else "") + ":\n{url}")
    try:
        creds = flow.run_local_server(
            host="localhost", port=port, open_browser=not no_browser,
            authorization_prompt_message=message,
            success_message="wedsync is signed in to Google; you can close this tab.",
            access_type="offline", prompt="consent")
    except Exception as exc:  # oauthlib raises its own errors for access_denied, bad codes, ...
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise AuthRefused(f"Google sign-in did not complete ({type(exc).__name__}: {exc})",
                          fix="run `wedsync auth login google --client-secret FILE` again") from None
    if not creds.refresh_token:
        raise AuthRefused("Google returned no refresh token, so wedsync could not keep working unattended",
                          fix="remove wedsync's access at https://myaccount.google.com/permissions and sign in again")
    section = cfg.get("installed") or cfg.get("web") or {}
    value: dict[str, Any] = {
        "access_token": creds.token,
        "refresh_token": creds.refresh_token,
        "expires_at": _epoch(creds.expiry, rt),
        "client_id": creds.client_id or section.get("client_id"),
        "client_secret": creds.client_secret or section.get("client_secret"),
    }
    token_uri = section.get("token_uri")
    if token_uri and token_uri != DEFAULT_TOKEN_URI:
        value["token_url"] = token_uri
    value = {k: v for k, v in value.items() if v not in (None, "")}
    rt.credentials.set("google", value)
    return value


def _epoch(expiry, rt) -> float:
    from datetime import UTC

    if expiry is None:
        return rt.clock.now().timestamp() + 3000
    if expiry.tzinfo is None:  # google-auth keeps naive UTC
        expiry = expiry.replace(tzinfo=UTC)
    return round(expiry.timestamp())


def check(rt, provider: str = "google") -> str:
    from wedsync_cli.auth_flows._check import check_calendars
    from wedsync_cli.calendars.google import GoogleBackend

    return check_calendars(rt, "google", GoogleBackend, "primary")
