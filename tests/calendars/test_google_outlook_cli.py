"""`wedsync sync` against the Google and Graph stand-ins, as users run it: config with base_url /
token_url pointing at 127.0.0.1, credentials through `auth set`, exit codes from the contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from tests.calendars.helpers import LONDON, seed_wedding
from tests.standins.google_calendar import GoogleCalendarStandin
from tests.standins.graph import GraphStandin
from tests.support.cli import ROOT

NOW = "2026-11-25T10:00:00Z"


@pytest.fixture(scope="module")
def gstandin():
    g = GoogleCalendarStandin(calendars=("primary", "studio-cal")).start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def mstandin():
    g = GraphStandin(calendars=("AAMkStudio=",)).start()
    yield g
    g.stop()


class Provider:
    def __init__(self, name, standin, calendar):
        self.name, self.standin, self.calendar = name, standin, calendar

    def config(self, calendar=None, extra=""):
        return (f'timezone = "Europe/London"\n'
                f'[providers.{self.name}]\nbase_url = "{self.standin.url}"\ntoken_url = "{self.standin.oauth.token_url}"\n'
                f'backoff_base = 0.001\nmax_attempts = 12\n{extra}'
                f'[calendars.studio]\nprovider = "{self.name}"\ncalendar = "{calendar or self.calendar}"\n')

    def credential(self, **kw):
        if self.name == "outlook":
            kw.setdefault("client_secret", None)
        return self.standin.oauth.new_credential(**kw)

    def live(self):
        return self.standin.live_events(self.calendar)

    def reset(self):
        f = self.standin.faults
        f.rate, f.queue[:], f.retry_after = 0, [], "0"
        self.standin.hold_inserts = None
        self.standin.insert_applied.clear()
        self.standin.oauth.refuse_all = False
        with self.standin._lock:
            if self.name == "google":
                self.standin.calendars[self.calendar] = {}
            else:
                for e in self.standin.events.values():
                    e["_deleted"] = True


@pytest.fixture(params=["google", "outlook"])
def provider(request, gstandin, mstandin):
    p = (Provider("google", gstandin, "studio-cal") if request.param == "google"
         else Provider("outlook", mstandin, "AAMkStudio="))
    p.reset()
    yield p
    p.reset()


@pytest.fixture
def store(home):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    s = Store(Paths.resolve().db_file)
    yield s
    s.close()


def seed(store, n):
    return [seed_wedding(store, name=f"Couple {i}", day=datetime(2027, 5, 1, 13, tzinfo=LONDON) + timedelta(days=7 * i))
            for i in range(n)]


def auth_set(cli, provider, tmp_path, cred):
    path = tmp_path / "cred.json"
    path.write_text(json.dumps(cred))
    r = cli("auth", "set", provider.name, "--from-file", str(path))
    assert r.exit_code == 0, r.stderr


@pytest.fixture
def setup(cli, config_file, tmp_path, monkeypatch, provider):
    monkeypatch.setenv("WEDSYNC_NOW", NOW)
    config_file.write_text(provider.config())
    auth_set(cli, provider, tmp_path, provider.credential())
    return provider


def test_sync_pushes_once_and_reruns_change_nothing(cli, setup, store):
    seed(store, 3)
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    [run] = r.json["runs"]
    assert run["provider"] == setup.name and run["status"] == "ok"
    assert run["pushed"] == {"created": 3, "updated": 0, "deleted": 0} and run["requests"] >= 4
    assert len(setup.live()) == 3
    again = cli("sync", "--json").json["runs"][0]
    assert again["pushed"] == {"created": 0, "updated": 0, "deleted": 0} and again["requests"] == 1
    assert len(setup.live()) == 3


def test_thirty_percent_injected_429_and_5xx_still_converge(cli, setup, store):
    seed(store, 10)
    f = setup.standin.faults
    f.seed = 3
    f.__post_init__()
    f.kinds = ["429", "500", "502", "503"]
    f.rate = 0.3
    for _ in range(3):  # cron keeps running; each run makes progress
        r = cli("sync", "--json")
        if r.exit_code == 0:
            break
    f.rate = 0
    assert r.exit_code == 0, r.stderr
    assert f.injected > 0
    live = setup.live()
    assert len(live) == 10 and len({e.get("summary") or e.get("subject") for e in live}) == 10
    assert cli("sync", "--json").json["runs"][0]["pushed"]["created"] == 0


def test_expired_access_token_is_refreshed_and_saved(cli, setup, store, tmp_path):
    past = datetime.fromisoformat(NOW.replace("Z", "+00:00")).timestamp() - 60
    cred = setup.credential(expires_at=past)
    auth_set(cli, setup, tmp_path, cred)
    seed(store, 1)
    calls = setup.standin.oauth.refresh_calls
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    assert setup.standin.oauth.refresh_calls == calls + 1
    st = cli("auth", "status", "--json").json
    entry = next(p for p in st["providers"] if p["provider"] == setup.name)
    assert entry["expired"] is False
    assert cred["access_token"] not in r.stdout + r.stderr


def test_revoked_sign_in_exits_77_with_the_fix(cli, setup, store, tmp_path):
    seed(store, 1)
    auth_set(cli, setup, tmp_path, {"access_token": "ya29.wrong-token", "refresh_token": "1//revoked-refresh",
                                    "expires_at": 4102444800, "client_id": "cid-123.apps.example"})
    r = cli("sync", "--json")
    assert r.exit_code == 77
    assert f"wedsync auth login {setup.name}" in r.stderr and "Traceback" not in r.stderr
    assert "1//revoked-refresh" not in r.stdout + r.stderr and "ya29.wrong-token" not in r.stdout + r.stderr
    assert setup.live() == []


def test_missing_calendar_exits_78_naming_it(cli, setup, config_file, store):
    config_file.write_text(setup.config(calendar="no-such-calendar"))
    seed(store, 1)
    r = cli("sync", "--json")
    assert r.exit_code == 78
    assert "no-such-calendar" in r.stderr and "[calendars.studio]" in r.stderr


def test_no_credential_exits_78(cli, setup, store):
    assert cli("auth", "logout", setup.name).exit_code == 0
    r = cli("sync")
    assert r.exit_code == 78 and f"wedsync auth login {setup.name}" in r.stderr


# -- kill -9 during a push ---------------------------------------------------------------------------
def _popen(cli_subprocess, *args, extra_env=None):
    env = {**os.environ, **cli_subprocess.env, "WEDSYNC_NOW": NOW, **(extra_env or {})}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "wedsync_cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def sub_setup(cli_subprocess, config_file, tmp_path, provider):
    config_file.write_text(provider.config())
    path = tmp_path / "cred.json"
    path.write_text(json.dumps(provider.credential()))
    r = cli_subprocess("auth", "set", provider.name, "--from-file", str(path))
    assert r.exit_code == 0, r.stderr
    return provider


@pytest.mark.slow
@pytest.mark.parametrize("point", ["sync.before_create:2", "hold-request"])
def test_kill_9_during_a_push_then_rerun_leaves_one_remote_event_per_local_event(
        cli_subprocess, sub_setup, store, point):
    ids = seed(store, 4)
    if point == "hold-request":
        # The provider has applied the 2nd create but the answer never arrives: kill -9 now.
        import threading

        sub_setup.standin.hold_inserts = threading.Event()
        applied = 0
        p = _popen(cli_subprocess, "sync", "--json")
        try:
            while applied < 2:
                assert sub_setup.standin.insert_applied.wait(60)
                sub_setup.standin.insert_applied.clear()
                applied += 1
                if applied < 2:
                    sub_setup.standin.hold_inserts.set()      # let the first one answer
                    sub_setup.standin.hold_inserts = threading.Event()
            p.send_signal(signal.SIGKILL)
            p.wait(30)
        finally:
            sub_setup.standin.hold_inserts.set()
            sub_setup.standin.hold_inserts = None
        assert p.returncode == -signal.SIGKILL
    else:
        r = cli_subprocess("sync", "--json", extra_env={"WEDSYNC_NOW": NOW, "WEDSYNC_TEST_CRASH_AT": point})
        assert r.exit_code == -signal.SIGKILL
    # hold-request: the 2nd create reached the provider, its answer never reached us;
    # before_create: killed after recording the pending create, before sending it.
    assert len(sub_setup.live()) == (2 if point == "hold-request" else 1)
    r = cli_subprocess("sync", "--json", extra_env={"WEDSYNC_NOW": NOW})
    assert r.exit_code == 0, r.stderr
    live = sub_setup.live()
    assert len(live) == 4
    if sub_setup.name == "google":
        uids = sorted(e["extendedProperties"]["private"]["wedsyncUid"] for e in live)
    else:
        uids = sorted(e["transactionId"] for e in live)
    assert uids == sorted(f"{i}@wedsync" for i in ids)
    again = cli_subprocess("sync", "--json", extra_env={"WEDSYNC_NOW": NOW}).json["runs"][0]
    assert again["pushed"] == {"created": 0, "updated": 0, "deleted": 0} and again["conflicts"] == 0
