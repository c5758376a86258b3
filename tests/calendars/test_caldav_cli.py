"""`wedsync sync` to a real Radicale, as a user runs it: config file, `auth set caldav`, `import csv`."""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.standins.radicale_server import RadicaleServer, vevent_ics

pytest_plugins = ["tests.standins.radicale_fixtures"]

CSV = (
    "Couple,Email,Wedding Date,Start Time,End Time,Venue,Status\n"
    "Jane & John Smith,jane@example.com,2027-06-12,14:00,23:00,Old Barn,booked\n"
    "Amy & Raj Patel,amy@example.com,2027-07-03,,,Hill House,booked\n"
    "Lee & Sam Wu,lee@example.com,2027-08-21,12:00,20:00,Sea View,booked\n"
    "Kim & Alex Doe,kim@example.com,2027-09-04,13:00,22:00,Mill Lane,lead\n"
)


def write_config(config_file: Path, cal_url: str, **extra: str) -> None:
    lines = ['timezone = "Europe/London"', "", "[calendars.studio]", 'provider = "caldav"',
             f'calendar = "{cal_url}"', *(f'{k} = "{v}"' for k, v in extra.items())]
    config_file.write_text("\n".join(lines) + "\n")


def remote_items(srv: RadicaleServer, cal_url: str) -> list[dict]:
    """What is really on the server (read with an independent caldav client)."""
    out = []
    for obj in srv.calendar(cal_url).get_objects_by_sync_token(load_objects=True):
        comp = obj.icalendar_component
        out.append({"href": str(obj.url), "uid": str(comp.get("UID")), "summary": str(comp.get("SUMMARY")),
                    "marker": str(comp.get("X-WEDSYNC-UID") or "")})
    return out


@pytest.fixture
def studio(cli, config_file, fresh_radicale, tmp_path):
    """A studio with three booked weddings (and a lead), a CalDAV calendar and its credential."""
    cal_url = fresh_radicale.make_calendar("alice", f"studio-{uuid.uuid4().hex[:6]}")
    write_config(config_file, cal_url)
    csv = tmp_path / "clients.csv"
    csv.write_text(CSV)
    assert cli("import", "csv", str(csv)).exit_code == 0
    r = cli("auth", "set", "caldav", "--from-file", "-", input=json.dumps({"username": "alice", "password": "pw-123456"}))
    assert r.exit_code == 0, r.stderr
    return cal_url


def sync_json(cli, *args):
    r = cli("sync", "--json", *args)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def test_initial_push_then_no_change_sync_is_one_request(cli, fresh_radicale, studio):
    r, out = sync_json(cli)
    assert r.exit_code == 0, r.stderr
    [run] = out["runs"]
    assert run["provider"] == "caldav" and run["status"] == "ok"
    assert run["pushed"]["created"] == 3  # the three booked weddings, not the lead
    items = remote_items(fresh_radicale, studio)
    assert len(items) == 3 and all(i["uid"].endswith("@wedsync") for i in items)
    assert sorted(i["summary"] for i in items) == [f"Wedding: {c}" for c in ("Amy & Raj Patel", "Jane & John Smith", "Lee & Sam Wu")]

    # After the push the token is advanced past our own PUTs (advance_cursor), so a run with
    # nothing to do is a single REPORT from the very next run on.
    for expected in (1, 1):
        fresh_radicale.reset_requests()
        r, out = sync_json(cli)
        assert r.exit_code == 0, r.stderr
        [run] = out["runs"]
        assert run["pushed"] == {"created": 0, "updated": 0, "deleted": 0}
        assert run["pulled"] == {"created": 0, "updated": 0, "deleted": 0}
        assert run["requests"] == expected and fresh_radicale.count() == expected
    assert len(remote_items(fresh_radicale, studio)) == 3


def test_a_remote_edit_flows_back_into_the_state(cli, fresh_radicale, studio, home):
    sync_json(cli)
    cal = fresh_radicale.calendar(studio)
    [obj] = [o for o in cal.get_objects_by_sync_token(load_objects=True)
             if "Smith" in str(o.icalendar_component.get("SUMMARY"))]
    obj.icalendar_component["LOCATION"] = "The Orangery"
    obj.save(precondition="etag", increase_seqno=False)

    r, out = sync_json(cli)
    assert r.exit_code == 0, r.stderr
    [run] = out["runs"]
    assert run["pulled"]["updated"] == 1 and run["pushed"]["created"] == 0
    db = sqlite3.connect(home / "default" / "wedsync.db")
    locations = {row[0] for row in db.execute("SELECT location FROM events WHERE title LIKE '%Smith%'")}
    db.close()
    assert locations == {"The Orangery"}
    assert len(remote_items(fresh_radicale, studio)) == 3


def test_a_server_that_forgot_our_sync_token_resyncs_without_duplicates(cli, fresh_radicale, studio):
    r, _ = sync_json(cli)
    assert r.exit_code == 0
    # Radicale keeps the tokens it issued under .Radicale.cache/sync-token; without them it answers
    # 403 DAV:valid-sync-token, as a server does once a token has expired.
    col = fresh_radicale.folder / "collections" / "collection-root" / "alice" / studio.rstrip("/").rsplit("/", 1)[-1]
    shutil.rmtree(col / ".Radicale.cache" / "sync-token")
    # (Radicale only consults them when something changed since the token.)
    fresh_radicale.calendar(studio).add_event(vevent_ics("dentist-9", "Dentist"))

    r, out = sync_json(cli)
    assert r.exit_code == 0, r.stderr
    [run] = out["runs"]
    assert run["status"] == "ok" and run["cursor_reset"] is True
    assert run["pushed"] == {"created": 0, "updated": 0, "deleted": 0}
    items = remote_items(fresh_radicale, studio)
    assert len(items) == 4 and len({i["uid"] for i in items}) == 4  # ours once each + the dentist

    r, out = sync_json(cli)  # and back to the one-request incremental path
    assert out["runs"][0]["requests"] == 1 and out["runs"][0]["pulled"]["updated"] == 0


def test_kill_9_during_push_then_rerun_leaves_exactly_one_remote_event_each(cli_subprocess, config_file, fresh_radicale,
                                                                            tmp_path):
    cal_url = fresh_radicale.make_calendar("alice", f"crash-{uuid.uuid4().hex[:6]}")
    write_config(config_file, cal_url)
    csv = tmp_path / "clients.csv"
    csv.write_text(CSV)
    assert cli_subprocess("import", "csv", str(csv)).exit_code == 0
    assert cli_subprocess("auth", "set", "caldav", "--from-file", "-",
                          input=json.dumps({"username": "alice", "password": "pw-123456"})).exit_code == 0

    # SIGKILL right after the 2nd PUT reached the server, before the link to it was saved.
    r = cli_subprocess("sync", "--json", extra_env={"WEDSYNC_TEST_CRASH_AT": "sync.after_create:2"})
    assert r.exit_code == -9, (r.exit_code, r.stderr)
    assert len(remote_items(fresh_radicale, cal_url)) == 2

    r = cli_subprocess("sync", "--json")
    assert r.exit_code == 0, r.stderr
    items = remote_items(fresh_radicale, cal_url)
    assert len(items) == 3 and len({i["uid"] for i in items}) == 3
    assert json.loads(r.stdout)["runs"][0]["pushed"]["created"] == 1  # only the one never sent

    r = cli_subprocess("sync", "--json")
    assert json.loads(r.stdout)["runs"][0]["pushed"] == {"created": 0, "updated": 0, "deleted": 0}
    assert len(remote_items(fresh_radicale, cal_url)) == 3


def test_kill_9_while_the_server_holds_a_create_answer(cli_subprocess, config_file, fresh_radicale, tmp_path):
    """The server stored the PUT but the process dies before hearing back: the rerun finds it."""
    import os
    import signal
    import subprocess
    import sys

    from tests.standins.radicale_server import wait_for
    from tests.support.cli import ROOT

    cal_url = fresh_radicale.make_calendar("alice", f"hold-{uuid.uuid4().hex[:6]}")
    write_config(config_file, cal_url)
    csv = tmp_path / "clients.csv"
    csv.write_text(CSV)
    assert cli_subprocess("import", "csv", str(csv)).exit_code == 0
    assert cli_subprocess("auth", "set", "caldav", "--from-file", "-",
                          input=json.dumps({"username": "alice", "password": "pw-123456"})).exit_code == 0

    fresh_radicale.hold = ("PUT", r"\.ics$")
    env = {**os.environ, **cli_subprocess.env, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "wedsync_cli", "sync", "--json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(fresh_radicale.held.is_set, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        fresh_radicale.hold = None
        fresh_radicale.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(remote_items(fresh_radicale, cal_url)) == 1

    r = cli_subprocess("sync", "--json")
    assert r.exit_code == 0, r.stderr
    items = remote_items(fresh_radicale, cal_url)
    assert len(items) == 3 and len({i["uid"] for i in items}) == 3


def test_wrong_password_exits_77_with_one_sentence(cli, config_file, radicale_auth):
    cal_url = radicale_auth.make_calendar("alice", f"auth-{uuid.uuid4().hex[:6]}")
    write_config(config_file, cal_url)
    cli("auth", "set", "caldav", "--from-file", "-", input=json.dumps({"username": "alice", "password": "not-it-123"}))
    r = cli("sync")
    assert r.exit_code == 77
    assert "wedsync auth set caldav" in r.stderr and "Traceback" not in r.stderr
    assert "not-it-123" not in r.stderr + r.stdout
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_calendar_exits_78_naming_it(cli, config_file, fresh_radicale):
    fresh_radicale.make_calendar("alice", "real-one")
    missing = fresh_radicale.url + "alice/no-such-cal/"
    write_config(config_file, missing)
    cli("auth", "set", "caldav", "--from-file", "-", input=json.dumps({"username": "alice", "password": "pw-123456"}))
    r = cli("sync")
    assert r.exit_code == 78
    assert "no-such-cal" in r.stderr and "Traceback" not in r.stderr


def test_missing_credential_exits_78(cli, config_file, fresh_radicale):
    write_config(config_file, fresh_radicale.make_calendar("alice", f"nocred-{uuid.uuid4().hex[:6]}"))
    r = cli("sync")
    assert r.exit_code == 78 and "wedsync auth" in r.stderr


def test_auth_status_check_makes_one_propfind_and_reports_a_refused_password(cli, config_file, radicale_auth):
    cal_url = radicale_auth.make_calendar("alice", f"chk-{uuid.uuid4().hex[:6]}")
    write_config(config_file, cal_url)
    cli("auth", "set", "caldav", "--from-file", "-", input=json.dumps({"username": "alice", "password": "right-password"}))
    radicale_auth.reset_requests()
    r = cli("auth", "status", "--check", "--json")
    assert r.exit_code == 0, r.stderr
    [entry] = [p for p in r.json["providers"] if p["provider"] == "caldav"]
    assert entry["check"]["ok"] is True and cal_url in entry["check"]["detail"]
    assert radicale_auth.count() == 1 and radicale_auth.count("PROPFIND") == 1

    cli("auth", "set", "caldav", "--from-file", "-", input=json.dumps({"username": "alice", "password": "wrong-one-1"}))
    r = cli("auth", "status", "--check", "--json")
    [entry] = [p for p in r.json["providers"] if p["provider"] == "caldav"]
    assert entry["check"]["ok"] is False and entry["check"]["exit_code"] == 77
    assert "wrong-one-1" not in r.stdout


def test_thirty_percent_429_and_503_still_converge_without_duplicates(cli, fresh_radicale, studio):
    # Retry-After: 0 so the CLI's real clock never sleeps in this test.
    fresh_radicale.faults.retry_after = "0"
    fresh_radicale.faults.kinds = ["503", "429"]
    fresh_radicale.faults.rate = 0.3
    for _ in range(2):
        r, out = sync_json(cli)
        assert r.exit_code == 0, r.stderr
    assert fresh_radicale.faults.injected > 0
    fresh_radicale.faults.rate = 0
    items = remote_items(fresh_radicale, studio)
    assert len(items) == 3 and len({i["uid"] for i in items}) == 3
    r, out = sync_json(cli)
    assert out["runs"][0]["pushed"] == {"created": 0, "updated": 0, "deleted": 0}


def test_a_server_that_stays_down_exits_69(cli, fresh_radicale, studio):
    fresh_radicale.faults.retry_after = "0"
    fresh_radicale.faults.kinds = ["503"]
    fresh_radicale.faults.rate = 1.0
    r = cli("sync")
    fresh_radicale.faults.rate = 0
    assert r.exit_code == 69 and "Traceback" not in r.stderr
    assert "unavailable" in r.stderr
