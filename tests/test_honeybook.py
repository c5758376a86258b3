"""HoneyBook: PKCE sign-in through a loopback redirect, rotating refresh tokens, and the generic
projects source, against a stand-in shaped like the reported private v3 API."""

from __future__ import annotations

import json
import threading

import pytest

from tests.standins.honeybook import HoneyBookStandin

JANE = ("Jane", "Smith", "jane@example.com", "07700 900123")
JOHN = ("John", "Smith", "john@example.com")


@pytest.fixture
def hb():
    s = HoneyBookStandin().start()
    yield s
    s.stop()


@pytest.fixture
def configured(hb, config_file, cli):
    config_file.write_text(
        'timezone = "Europe/London"\n\n'
        '[sources.hb]\nprovider = "honeybook"\nupdated_since_param = "updated_gte"\n\n'
        '[sources.hb.statuses]\n"proposal sent" = "lead"\n\n'
        f'[providers.honeybook]\nbase_url = "{hb.base_url}"\ntoken_url = "{hb.token_url}"\n'
        f'authorize_url = "{hb.authorize_url}"\nclient_id = "{hb.client_id}"\n'
    )
    return hb


def _store_tokens(cli, hb, **over):
    tokens = hb.issue()
    cred = {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
            "expires_at": 1_900_000_000, "client_id": hb.client_id, **over}
    r = cli("auth", "set", "honeybook", "--from-file", "-", input=json.dumps(cred))
    assert r.exit_code == 0, r.stderr
    return cred


def test_login_with_pkce_through_the_loopback_redirect(runtime, configured, memory_keyring):
    import httpx

    from wedsync_cli.sources.honeybook import login

    seen = {}

    def browser(url):  # what the user's browser does: open the page, consent, follow the redirect
        seen["url"] = url
        threading.Thread(target=lambda: seen.setdefault("page", httpx.get(url, follow_redirects=True)),
                         daemon=True).start()

    cred = login(runtime, no_browser=True, open_url=browser, show=lambda msg: None)
    assert "code_challenge_method=S256" in seen["url"] and "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in seen["url"]
    assert seen["page"].status_code == 200 and "Signed in" in seen["page"].text
    stored = runtime.credentials.get("honeybook")
    assert stored == cred and stored["refresh_token"] in configured.refresh
    assert stored["client_id"] == configured.client_id
    exchange = configured.token_calls[-1]
    assert exchange["grant_type"] == "authorization_code" and len(exchange["code_verifier"]) >= 43


def test_import_honeybook_maps_projects_and_skips_vendors(cli, configured, tmp_path):
    _store_tokens(cli, configured)
    configured.add_project("p1", [JANE, JOHN], "2027-06-12", "booked", venue="Kew Gardens",
                           start_time="13:00", end_time="23:30")
    configured.add_project("p2", [("Priya", "Patel", "priya@example.org")], "2027-08-01", "Proposal Sent")
    configured.add_project("p3", [("Bad", "Mail", "bad@@mail")], "2027-09-01")
    configured.add_project("p4", [("Odd", "Stage", "odd@example.org")], "2027-09-02", "Limbo")
    out = tmp_path / "rejects.csv"
    r = cli("import", "honeybook", "--json", "--rejects", str(out))
    assert r.exit_code == 1, r.stderr
    doc = r.json
    assert (doc["source"], doc["read"], doc["created"], doc["rejected"]) == ("honeybook:hb", 4, 2, 2)
    reasons = out.read_text()
    assert "bad@@mail" in reasons and "'limbo' is not known" in reasons and "[sources.hb.statuses]" in reasons

    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    clients = store.query("SELECT display_name, p1_phone FROM clients ORDER BY display_name")
    assert clients == [{"display_name": "Jane & John Smith", "p1_phone": "+447700900123"},
                       {"display_name": "Priya Patel", "p1_phone": None}]
    weddings = {w["external_id"]: w for w in store.query("SELECT external_id, status, venue FROM weddings")}
    assert weddings["p1"]["status"] == "booked" and weddings["p2"]["status"] == "lead"
    ev = store.one("SELECT start, end, location FROM events e JOIN weddings w ON w.id = e.wedding_id "
                   "WHERE w.external_id = 'p1'")
    assert (ev["start"], ev["end"], ev["location"]) == ("2027-06-12T13:00:00+01:00", "2027-06-12T23:30:00+01:00",
                                                       "Kew Gardens")
    assert "fiona@florist.example" not in json.dumps(store.query("SELECT * FROM clients"))
    assert store.get_cursor("source:honeybook:hb")["bookmark"] == "2026-05-01T10:00:00Z"
    store.close()


def test_expired_access_token_is_refreshed_once_and_the_rotated_refresh_token_kept(cli, configured, runtime):
    old = _store_tokens(cli, configured)
    configured.add_project("p1", [JANE, JOHN], "2027-06-12")
    configured.now += 7200  # the server says the access token expired (our clock still thinks it is fine)
    r = cli("import", "honeybook", "--json")
    assert r.exit_code == 0, r.stderr
    new = runtime.credentials.get("honeybook")
    assert new["refresh_token"] != old["refresh_token"] and old["refresh_token"] in configured.spent_refresh
    assert new["refresh_token"] in configured.refresh
    assert configured.server.count("GET", "/projects") == 2  # the 401, then the retry with the new token
    # the spent refresh token is dead at the far side: a stale copy means signing in again (77)
    configured.now += 7200
    runtime.credentials.set("honeybook", {**new, "refresh_token": old["refresh_token"]})
    r = cli("import", "honeybook")
    assert r.exit_code == 77 and "already used" in r.stderr and "auth login honeybook" in r.stderr


def test_refresh_happens_before_expiry_on_our_clock(runtime, configured, cli):
    from wedsync_cli.sources.honeybook import HoneyBookSource

    _store_tokens(cli, configured, expires_at=runtime.clock.now().timestamp() + 30)  # inside the 60 s margin
    configured.add_project("p1", [JANE], "2027-06-12")
    report = HoneyBookSource(runtime, "hb", runtime.config.sources["hb"]).sync()
    assert report.created == 1
    assert [c["grant_type"] for c in configured.token_calls] == ["refresh_token"]
    assert configured.server.count("GET", "/projects") == 1  # no 401 on the way


def test_pages_incremental_filter_and_retried_server_errors(runtime, configured, cli):
    from wedsync_cli.sources.honeybook import HoneyBookSource

    _store_tokens(cli, configured)
    for i in range(230):
        configured.add_project(f"p{i:03d}", [(f"A{i}", "Couple", f"a{i}@example.com")], "2027-06-12",
                               updated_at=f"2026-04-{1 + i % 28:02d}T10:00:00Z")
    configured.server.faults.queue.extend(["503", "500"])
    src = HoneyBookSource(runtime, "hb", runtime.config.sources["hb"])
    assert src.sync().created == 230 and src.requests == {"projects": 3} and src.mode == "full"
    assert configured.server.count("GET", "/projects") == 5  # 3 pages + 2 retried errors
    configured.projects[5].update(stage="cancelled", updated_at="2026-05-02T08:00:00Z")
    configured.server.reset_requests()
    inc = HoneyBookSource(runtime, "hb", runtime.config.sources["hb"])
    report = inc.sync()
    assert inc.mode == "incremental" and inc.requests == {"projects": 1}
    assert configured.server.requests[0].arg("updated_gte") == "2026-04-28T09:55:00Z"  # bookmark minus overlap
    assert (report.read, report.updated, report.unchanged) == (9, 1, 8)  # the 8 inside the overlap are unchanged
    assert runtime.store.one("SELECT status FROM weddings WHERE external_id = 'p005'")["status"] == "cancelled"


def test_import_honeybook_without_partner_setup_points_at_the_csv_preset(cli, config_file):
    config_file.write_text('timezone = "Europe/London"\n')
    r = cli("import", "honeybook")
    assert r.exit_code == 78
    assert "no public API" in r.stderr and "--preset honeybook" in r.stderr and "Traceback" not in r.stderr


def test_missing_scope_404_is_a_configuration_sentence(cli, configured):
    _store_tokens(cli, configured)
    configured.scopes_granted = False
    r = cli("import", "honeybook")
    assert r.exit_code == 78 and "projects.read" in r.stderr


def test_auth_status_check_reads_one_page_of_projects(cli, configured):
    _store_tokens(cli, configured)
    r = cli("auth", "status", "--check", "--json")
    assert r.exit_code == 0, r.stderr
    entry = next(p for p in r.json["providers"] if p["provider"] == "honeybook")
    assert entry["check"] == {"ok": True, "detail": "GET /projects: ok"}
    assert configured.server.requests[-1].arg("per_page") == "1"
    assert "hb_at_" not in r.stdout and "hb_rt_" not in r.stdout


def test_sync_keeps_importing_a_honeybook_source(cli, configured):
    _store_tokens(cli, configured)
    configured.add_project("p1", [JANE, JOHN], "2027-06-12")
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    run = next(x for x in r.json["runs"] if x["name"] == "hb")
    assert (run["status"], run["pulled"]["created"]) == ("ok", 1)


@pytest.mark.slow
def test_auth_login_honeybook_no_browser_as_a_user_runs_it(cli_subprocess, configured, tmp_path):
    import os
    import subprocess
    import sys

    import httpx

    from tests.support.cli import ROOT

    env = {**os.environ, **cli_subprocess.env, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "wedsync_cli", "auth", "login", "honeybook", "--no-browser"],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stderr:  # the address is printed, then it waits on the loopback port
            if line.startswith(configured.authorize_url):
                url = line.strip()
                break
        assert url, "no sign-in address printed"
        page = httpx.get(url, follow_redirects=True, timeout=30)  # the user's browser
        assert page.status_code == 200
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Signed in to honeybook" in err
    stored = json.loads((tmp_path / "test-keyring.json").read_text())
    cred = json.loads(stored["wedsync:default\x00honeybook"])
    assert cred["refresh_token"] in configured.refresh and cred["client_id"] == configured.client_id


@pytest.mark.slow
@pytest.mark.parametrize("point", ["honeybook.before_commit", "honeybook.after_commit"])
def test_kill_9_during_a_honeybook_import_then_rerun_imports_each_project_once(cli_subprocess, configured, tmp_path,
                                                                                 point):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    tokens = configured.issue()
    cred = {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
            "expires_at": 1_900_000_000, "client_id": configured.client_id}
    (tmp_path / "test-keyring.json").write_text(json.dumps({"wedsync:default\x00honeybook": json.dumps(cred)}))
    for i in range(5):
        configured.add_project(f"p{i}", [(f"A{i}", "Couple", f"a{i}@example.com")], "2027-06-12")
    killed = cli_subprocess("import", "honeybook", extra_env={"WEDSYNC_TEST_CRASH_AT": point})
    assert killed.exit_code == -9, killed.stderr
    again = cli_subprocess("import", "honeybook", "--json")
    assert again.exit_code == 0, again.stderr
    assert again.json["created"] == (5 if point.endswith("before_commit") else 0)
    store = Store(Paths.resolve().db_file)
    assert store.scalar("SELECT COUNT(*) FROM clients") == 5
    assert store.scalar("SELECT COUNT(*) FROM weddings") == 5
    assert store.scalar("SELECT COUNT(*) FROM events") == 5
    store.close()
