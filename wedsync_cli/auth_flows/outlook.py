"""`wedsync auth login outlook`: msal's device-code flow (works over SSH, no local browser needed).

Needs an app registration of your own (Entra ID > App registrations: "Accounts in any
organizational directory and personal Microsoft accounts", platform "Mobile and desktop", "Allow
public client flows" = Yes, delegated permission Calendars.ReadWrite), whose Application (client) ID
goes into ``[providers.outlook] client_id``; ``tenant`` defaults to ``common``. msal is used for
the sign-in only; its token cache is not persisted (it can exceed Windows' 2,560-byte secret
limit) — we keep the refresh token in the contract shape and refresh it ourselves (oauth.py).
"""

from __future__ import annotations

from typing import Any

from wedsync_cli.errors import AuthRefused, ConfigError

SCOPES = ["https://graph.microsoft.com/Calendars.ReadWrite"]  # msal adds offline_access/openid/profile
STORED_SCOPES = "https://graph.microsoft.com/Calendars.ReadWrite offline_access"
CLIENT_FIX = ("register an app in Entra ID (Mobile and desktop platform, 'Allow public client flows', "
              "delegated Calendars.ReadWrite) and put its Application (client) ID in [providers.outlook] client_id")


def login(rt, no_browser: bool = False, client_secret: str | None = None, *, notify=None,
          http_client=None) -> dict[str, Any]:
    """``http_client``: a requests-like session for msal (tests route it to a stand-in)."""
    settings = rt.provider_settings("outlook")
    client_id = settings.get("client_id")
    if not client_id:
        raise ConfigError("Signing in to Outlook needs an app registration's client id", fix=CLIENT_FIX)
    tenant = settings.get("tenant") or "common"
    authority = settings.get("authority") or f"https://login.microsoftonline.com/{tenant}"
    rt.credentials.backend_name()  # no keyring: fail (exit 78) before the user types a code

    import msal

    app = msal.PublicClientApplication(client_id, authority=authority,
                                       **({"http_client": http_client} if http_client is not None else {}))
    flow = app.initiate_device_flow(scopes=SCOPES)
    if "user_code" not in flow:
        raise AuthRefused(f"Microsoft refused to start the sign-in ({flow.get('error')}: "
                          f"{flow.get('error_description', '').splitlines()[0] if flow.get('error_description') else ''})",
                          fix=CLIENT_FIX)
    if notify is None:
        from wedsync_cli.cli.output import info as notify
    notify(flow["message"])
    result = app.acquire_token_by_device_flow(flow)  # polls until the code is entered or expires
    if "access_token" not in result:
        raise AuthRefused(f"Outlook sign-in did not complete ({result.get('error')})",
                          fix="run `wedsync auth login outlook` again and enter the code within 15 minutes")
    refresh = result.get("refresh_token")
    if not refresh:
        found = app.token_cache.find(msal.TokenCache.CredentialType.REFRESH_TOKEN)
        refresh = found[0]["secret"] if found else None
    if not refresh:
        raise AuthRefused("Microsoft returned no refresh token", fix="run `wedsync auth login outlook` again")
    value = {
        "access_token": result["access_token"],
        "refresh_token": refresh,
        "expires_at": round(rt.clock.now().timestamp() + float(result.get("expires_in") or 3600)),
        "client_id": client_id,
        "tenant": tenant,
        "scopes": STORED_SCOPES,
    }
    rt.credentials.set("outlook", value)
    return value


def check(rt, provider: str = "outlook") -> str:
    from wedsync_cli.auth_flows._check import check_calendars
    from wedsync_cli.calendars.outlook import OutlookBackend

    return check_calendars(rt, "outlook", OutlookBackend, "primary")
