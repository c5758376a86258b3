"""Sign-in and credential checks for Google and Outlook, run as users run them where possible.

caldav is imported first on purpose: it pulls in niquests/urllib3-future, which replaces the
``urllib3`` that ``requests`` (under google-auth-oauthlib, google-auth and msal) uses. The Google
sign-in and google-auth refresh below run over that replaced stack against the stand-in's token
endpoint; wedsync's own refreshes use httpx (see wedsync_cli/auth_flows/oauth.py).
"""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit

import caldav  # noqa: F401 - see the module docstring
import pytest

from tests.standins.google_calendar import GoogleCalendarStandin
from tests.standins.graph import GraphStandin


@pytest.fixture(scope="module")
def gstandin():
    g = GoogleCalendarStandin(calendars=("primary", "studio-cal")).start()
    yield g
    g.stop()


def client_secret_file(tmp_path, standin, client_id="cid-login.apps.example"):
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps({"installed": {
        "client_id": client_id, "client_secret": "login-client-secret", "project_id": "wedsync-test",
        "auth_uri": standin.url + "/o/oauth2/auth", "token_uri": standin.oauth.token_url,
        "redirect_uris": ["http://localhost"]}}))
    return path


def test_urllib3_is_the_caldav_replacement():
    """The premise of the tests below: requests here runs on urllib3-future."""
    from importlib.metadata import packages_distributions

    assert "urllib3-future" in packages_distributions()["urllib3"]


def test_google_login_loopback_flow_stores_the_contract_shape(gstandin, tmp_path, monkeypatch, runtime):
    import httpx

    from wedsync_cli.auth_flows import google as google_flow

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the stand-in's token endpoint is plain http
    code = gstandin.oauth.new_code("cid-login.apps.example")
    opened = []

    class Browser:
        def open(self, url, new=0, autoraise=True):
            opened.append(url)
            q = parse_qs(urlsplit(url).query)
            redirect = q["redirect_uri"][0]
            # The user signs in; Google redirects the browser to our loopback server.
            threading.Thread(target=lambda: httpx.get(redirect, params={"code": code, "state": q["state"][0]},
                                                      timeout=10), daemon=True).start()
            return True

    monkeypatch.setattr("webbrowser.get", lambda *a, **k: Browser())
    value = google_flow.login(runtime, no_browser=False, client_secret=str(client_secret_file(tmp_path, gstandin)))
    q = parse_qs(urlsplit(opened[0]).query)
    assert q["access_type"] == ["offline"] and q["scope"] == google_flow.SCOPES and "code_challenge" in q
    stored = runtime.credentials.get("google")
    assert stored == value
    assert set(stored) == {"access_token", "refresh_token", "expires_at", "client_id", "client_secret", "token_url"}
    assert stored["refresh_token"] in gstandin.oauth.refresh_tokens
    assert len(json.dumps(stored)) < 2560


def test_google_auth_library_refresh_works_with_caldav_installed(gstandin):
    import google.auth.transport.requests
    from google.oauth2.credentials import Credentials

    cred = gstandin.oauth.new_credential()
    creds = Credentials(None, refresh_token=cred["refresh_token"], token_uri=gstandin.oauth.token_url,
                        client_id=cred["client_id"], client_secret=cred["client_secret"])
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token in gstandin.oauth.access


def test_google_login_without_a_client_file_says_how_to_get_one(cli):
    r = cli("auth", "login", "google")
    assert r.exit_code == 78
    assert "client_secret.json" in r.stderr and "Desktop app" in r.stderr and "Traceback" not in r.stderr


def test_google_login_with_a_bad_client_file_exits_78(cli, tmp_path):
    bad = tmp_path / "nope.json"
    bad.write_text('{"not": "a client"}')
    r = cli("auth", "login", "google", "--client-secret", str(bad))
    assert r.exit_code == 78 and "not a Google OAuth client file" in r.stderr


def test_outlook_login_needs_a_client_id(cli):
    r = cli("auth", "login", "outlook")
    assert r.exit_code == 78 and "client_id" in r.stderr


def _config(config_file, g_url, g_token, cal="studio-cal", extra=""):
    config_file.write_text(f"""
timezone = "Europe/London"
[providers.google]
base_url = "{g_url}"
token_url = "{g_token}"
backoff_base = 0.01
[calendars.studio]
provider = "google"
calendar = "{cal}"
{extra}
""")


def test_auth_status_check_makes_one_authenticated_call(cli, config_file, gstandin, tmp_path):
    _config(config_file, gstandin.url, gstandin.oauth.token_url)
    cred = tmp_path / "cred.json"
    cred.write_text(json.dumps(gstandin.oauth.new_credential()))
    assert cli("auth", "set", "google", "--from-file", str(cred)).exit_code == 0
    r = cli("auth", "status", "--check", "--json")
    assert r.exit_code == 0, r.stderr
    google = next(p for p in r.json["providers"] if p["provider"] == "google")
    assert google["check"]["ok"] is True and "studio-cal" in google["check"]["detail"]
    assert cred.read_text().split('"access_token": "')[1].split('"')[0] not in r.stdout  # never echoed

    gstandin.oauth.revoke_all()
    r = cli("auth", "status", "--check", "--json")
    google = next(p for p in r.json["providers"] if p["provider"] == "google")
    assert r.exit_code == 1 and google["check"]["ok"] is False and google["check"]["exit_code"] == 77
    assert "wedsync auth login google" in google["check"]["detail"]


def test_outlook_check_names_a_missing_calendar(cli, config_file, tmp_path):
    g = GraphStandin().start()
    try:
        config_file.write_text(f"""
[providers.outlook]
base_url = "{g.url}"
token_url = "{g.oauth.token_url}"
[calendars.office]
provider = "outlook"
calendar = "AAMkMissing="
""")
        cred = tmp_path / "cred.json"
        cred.write_text(json.dumps(g.oauth.new_credential(client_secret=None)))
        assert cli("auth", "set", "outlook", "--from-file", str(cred)).exit_code == 0
        r = cli("auth", "status", "--check", "--json")
        outlook = next(p for p in r.json["providers"] if p["provider"] == "outlook")
        assert outlook["check"]["exit_code"] == 78 and "AAMkMissing=" in outlook["check"]["detail"]
        g.add_calendar("AAMkMissing=")
        r = cli("auth", "status", "--check", "--json")
        assert r.exit_code == 0
    finally:
        g.stop()


def test_auth_login_google_no_browser_prints_the_url_and_completes(cli, gstandin, tmp_path, monkeypatch):
    """`wedsync auth login google --no-browser` as run over SSH: no browser is opened, the URL is
    printed, and the redirect (here from a thread standing in for the user's browser) finishes it."""
    import google_auth_oauthlib.flow as flow_mod
    import httpx

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setattr("webbrowser.get", lambda *a, **k: pytest.fail("--no-browser must not open a browser"))
    code = gstandin.oauth.new_code("cid-login.apps.example")
    printed = []

    def fake_print(text, *a, **k):
        printed.append(text)
        url = text.split("\n")[-1]
        q = parse_qs(urlsplit(url).query)
        threading.Thread(target=lambda: httpx.get(q["redirect_uri"][0], params={"code": code, "state": q["state"][0]},
                                                  timeout=10), daemon=True).start()

    monkeypatch.setattr(flow_mod, "print", fake_print, raising=False)
    r = cli("auth", "login", "google", "--no-browser", "--client-secret", str(client_secret_file(tmp_path, gstandin)))
    assert r.exit_code == 0, r.stderr
    assert "ssh -L" in printed[0] and "/o/oauth2/auth?" in printed[0]
    st = cli("auth", "status", "--json").json
    google = next(p for p in st["providers"] if p["provider"] == "google")
    assert google["present"] and google["expired"] is False
