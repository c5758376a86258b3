"""caldav pulls in niquests -> urllib3-future, which installs itself under the ``urllib3`` import name
that ``requests`` uses; google-auth, google-auth-oauthlib and msal all talk HTTP through ``requests``.

These tests prove the Google and Microsoft token paths still work with caldav installed and loaded
first: each library POSTs a refresh / code exchange to a loopback token endpoint over the real
``requests`` -> urllib3(-future) stack, in a fresh interpreter. (wedsync's own refresh uses httpx,
see wedsync_cli/auth_flows/oauth.py, so it is not exposed at all; these flows matter for
`wedsync auth login`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.standins.http import Response, StandinServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def token_server():
    srv = StandinServer()
    seen: list[dict] = []

    def token(req):
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        seen.append({"path": req.path, "form": form})
        if form.get("refresh_token") == "revoked":
            return Response(400, {"error": "invalid_grant", "error_description": "Token has been revoked."})
        return Response(200, {"access_token": f"at-from-{req.path.strip('/').replace('/', '-')}",
                              "expires_in": 3600, "token_type": "Bearer", "refresh_token": "rt-2",
                              "scope": form.get("scope", "https://www.googleapis.com/auth/calendar.events")})

    srv.route("POST", r"/token")(token)
    srv.route("POST", r"/common/oauth2/v2.0/token")(token)

    @srv.route("GET", r"/common/v2.0/.well-known/openid-configuration")
    def openid(req):
        base = "https://login.microsoftonline.com/common"
        return Response(200, {"authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                              "token_endpoint": f"{base}/oauth2/v2.0/token",
                              "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                              "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"})

    srv.seen = seen
    with srv:
        yield srv


SCRIPT = textwrap.dedent('''
    import json, os, sys
    import caldav, caldav.davclient                 # caldav (and niquests) first, as in a wedsync run
    import urllib3, requests
    import importlib.metadata
    out = {"urllib3": urllib3.__version__, "requests": requests.__version__,
           "urllib3_future": importlib.metadata.version("urllib3-future")}
    base = os.environ["TOKEN_BASE"]

    # Google: google-auth refresh through google.auth.transport.requests
    import google.auth.transport.requests
    from google.oauth2.credentials import Credentials
    creds = Credentials(token=None, refresh_token="rt-google", token_uri=base + "/token",
                        client_id="cid.apps.googleusercontent.com", client_secret="csecret")
    creds.refresh(google.auth.transport.requests.Request())
    out["google_refresh"] = creds.token

    # Google: google-auth-oauthlib code exchange (what run_local_server does after the redirect)
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"        # the loopback endpoint is plain http
    from google_auth_oauthlib.flow import InstalledAppFlow
    flow = InstalledAppFlow.from_client_config(
        {"installed": {"client_id": "cid", "client_secret": "cs", "auth_uri": base + "/auth",
                       "token_uri": base + "/token", "redirect_uris": ["http://localhost"]}},
        scopes=["https://www.googleapis.com/auth/calendar.events"])
    flow.redirect_uri = "http://localhost:8080/"
    flow.authorization_url(access_type="offline")           # sets the PKCE verifier
    flow.fetch_token(code="the-code")
    out["google_exchange"] = flow.credentials.token

    # google-auth: a refused refresh surfaces as RefreshError (what wedsync maps to exit 77)
    bad = Credentials(token=None, refresh_token="revoked", token_uri=base + "/token", client_id="c",
                      client_secret="s")
    try:
        bad.refresh(google.auth.transport.requests.Request())
        out["google_revoked"] = "no error"
    except Exception as exc:
        out["google_revoked"] = type(exc).__name__

    # Microsoft: msal refresh. msal insists on an https authority, so the session's adapter sends
    # login.microsoftonline.com to the loopback stand-in; the request still goes through
    # requests.adapters.HTTPAdapter -> urllib3(-future) connection pools.
    import msal
    from requests.adapters import HTTPAdapter

    class Loopback(HTTPAdapter):
        def send(self, request, **kw):
            request.url = request.url.replace("https://login.microsoftonline.com", base)
            return super().send(request, **kw)

    session = requests.Session()
    session.mount("https://login.microsoftonline.com", Loopback())
    app = msal.PublicClientApplication("msal-client-id", authority="https://login.microsoftonline.com/common",
                                       http_client=session, instance_discovery=False)
    result = app.acquire_token_by_refresh_token("rt-ms", scopes=["Calendars.ReadWrite"])
    out["msal_refresh"] = result.get("access_token") or result
    print(json.dumps(out))
''')


def test_google_and_microsoft_token_paths_work_with_caldav_installed(token_server):
    env = {**os.environ, "TOKEN_BASE": token_server.url, "PYTHONPATH": str(ROOT)}
    env.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
    p = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])

    # The situation being guarded: requests really runs on urllib3-future here.
    assert out["urllib3"] == out["urllib3_future"], out

    assert out["google_refresh"] == "at-from-token"
    assert out["google_exchange"] == "at-from-token"
    assert out["google_revoked"] == "RefreshError"
    assert out["msal_refresh"] == "at-from-common-oauth2-v2.0-token"

    forms = [s["form"] for s in token_server.seen]
    assert {"grant_type": "refresh_token", "refresh_token": "rt-google"}.items() <= forms[0].items()
    assert forms[1]["grant_type"] == "authorization_code" and forms[1]["code"] == "the-code"
    assert forms[1]["code_verifier"]  # PKCE survived the trip
    ms = [s for s in token_server.seen if s["path"].startswith("/common/")]
    assert ms and ms[-1]["form"]["grant_type"] == "refresh_token" and ms[-1]["form"]["refresh_token"] == "rt-ms"
