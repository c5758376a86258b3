"""`wedsync sync` and `wedsync conflicts` as users run them (isolated WEDSYNC_HOME, local calendar)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.calendars.helpers import LONDON, edit_event, event_row, seed_wedding

NOW = "2026-11-25T10:00:00Z"  # a Wednesday with no wedding near: the wedding-day protocol is off


@pytest.fixture
def setup(home, config_file, tmp_path, monkeypatch):
    monkeypatch.setenv("WEDSYNC_NOW", NOW)
    folder = tmp_path / "calendar"
    folder.mkdir()

    def write(extra: str = "", policy: str = "newest") -> Path:
        config_file.write_text(
            'timezone = "Europe/London"\n'
            f'[calendars.studio]\nprovider = "local"\ncalendar = "{folder}"\nconflicts = "{policy}"\n' + extra)
        return folder

    write()
    return write


@pytest.fixture
def store(setup, home):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    s = Store(Paths.resolve().db_file)
    yield s
    s.close()


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.ics"))


def test_sync_pushes_booked_events_and_reports_the_contract_json(cli, setup, store, tmp_path):
    a = seed_wedding(store)
    seed_wedding(store, name="Lead Couple", status="lead")
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    [run] = r.json["runs"]
    assert {k: run[k] for k in ("name", "provider", "status", "conflicts", "error")} == {
        "name": "studio", "provider": "local", "status": "ok", "conflicts": 0, "error": None}
    assert run["pushed"] == {"created": 1, "updated": 0, "deleted": 0}
    assert run["pulled"] == {"created": 0, "updated": 0, "deleted": 0} and run["requests"] >= 1
    assert files(tmp_path / "calendar") == [f"{a}@wedsync.ics"]
    r = cli("sync", "studio", "--json")
    assert r.exit_code == 0 and r.json["runs"][0]["pushed"] == {"created": 0, "updated": 0, "deleted": 0}
    st = cli("status", "--json").json
    assert any(j["job"] == "sync:studio" and j["outcome"] == "ok" for j in st["jobs"])


def test_human_output_lists_the_run_and_double_bookings(cli, setup, store):
    seed_wedding(store, name="First Couple", day=datetime(2027, 6, 12, 12, tzinfo=LONDON))
    seed_wedding(store, name="Second Couple", day=datetime(2027, 6, 12, 18, tzinfo=LONDON))
    r = cli("sync")
    assert r.exit_code == 0
    assert "studio" in r.stdout and "Double booking" in r.stdout and "First Couple" in r.stdout


def test_dry_run_writes_nothing_anywhere(cli, setup, store, tmp_path):
    seed_wedding(store)
    r = cli("sync", "--dry-run", "--json")
    assert r.exit_code == 0 and r.json["runs"][0]["pushed"]["created"] == 1 and r.json["runs"][0]["dry_run"]
    assert files(tmp_path / "calendar") == []
    assert store.scalar("SELECT COUNT(*) FROM calendar_links") == 0
    assert store.scalar("SELECT COUNT(*) FROM job_runs") == 0
    assert store.scalar("SELECT COUNT(*) FROM cursors") == 0


def test_unknown_name_is_a_usage_error_naming_it(cli, setup):
    r = cli("sync", "nope")
    assert r.exit_code == 2 and "nope" in r.stderr and "studio" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_missing_local_folder_exits_78_naming_it(cli, setup, tmp_path):
    (tmp_path / "calendar").rmdir()
    r = cli("sync")
    assert r.exit_code == 78 and str(tmp_path / "calendar") in r.stderr and "mkdir" in r.stderr


def test_second_overlapping_sync_exits_75(cli, setup, home):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store.locks import job_lock

    with job_lock(Paths.resolve().state_dir, "sync"):
        r = cli("sync")
    assert r.exit_code == 75 and "in progress" in r.stderr


def test_unavailable_provider_fails_its_run_only(cli, setup, store, tmp_path, monkeypatch):
    from wedsync_cli import registry

    monkeypatch.setitem(registry.REGISTRY["calendar"], "caldav", "wedsync_cli.calendars.not_there:Nope")
    monkeypatch.setattr(registry, "_cache", {})
    setup('[calendars.icloud]\nprovider = "caldav"\ncalendar = "https://example.invalid/cal/"\n')
    seed_wedding(store)
    r = cli("sync", "--json")
    assert r.exit_code == 1
    by = {x["name"]: x for x in r.json["runs"]}
    assert by["studio"]["status"] == "ok" and by["icloud"]["status"] == "failed"
    assert "caldav" in by["icloud"]["error"] and "icloud" in r.stderr
    assert len(files(tmp_path / "calendar")) == 1
    # Every run failing for the same (configuration) reason exits with that reason's code.
    r = cli("sync", "icloud")
    assert r.exit_code == 78


def test_safety_stop_exits_1_and_deletes_nothing(cli, setup, store, tmp_path):
    ids = [seed_wedding(store, name=f"Couple {i}", day=datetime(2027, 6, 1 + i, 12, tzinfo=LONDON)) for i in range(3)]
    assert cli("sync").exit_code == 0
    for p in (tmp_path / "calendar").glob("*.ics"):
        p.unlink()
    r = cli("sync", "--json")
    assert r.exit_code == 1 and r.json["runs"][0]["status"] == "failed"
    assert "--full" in r.stderr and "max_delete_ratio" in r.stderr
    assert all(event_row(store, i)["deleted"] == 0 for i in ids)


def test_conflicts_list_show_resolve_cycle(cli, setup, store, tmp_path):
    setup(policy="manual")
    ev = seed_wedding(store)
    assert cli("sync").exit_code == 0
    path = tmp_path / "calendar" / f"{ev}@wedsync.ics"
    path.write_text(path.read_text().replace("SUMMARY:Jane & John Smith", "SUMMARY:Their title"))
    edit_event(store, ev, title="Our title")
    r = cli("sync", "--json")
    assert r.exit_code == 0 and r.json["runs"][0]["conflicts"] == 1
    listed = cli("conflicts", "list", "--json")
    [c] = listed.json["conflicts"]
    assert c["local"]["fields"]["title"] == "Our title" and c["remote"]["fields"]["title"] == "Their title"
    shown = cli("conflicts", "show", str(c["id"]))
    assert shown.exit_code == 0 and "Our title" in shown.stdout and "Their title" in shown.stdout
    assert cli("conflicts", "resolve", str(c["id"])).exit_code == 2
    assert cli("conflicts", "resolve", "999", "--keep", "local").exit_code == 2
    r = cli("conflicts", "resolve", str(c["id"]), "--keep", "local")
    assert r.exit_code == 0 and "next `wedsync sync`" in r.stderr
    assert cli("conflicts", "list", "--json").json["conflicts"] == []
    assert cli("sync").exit_code == 0
    assert "SUMMARY:Our title" in path.read_text() and event_row(store, ev)["title"] == "Our title"
    assert cli("conflicts", "resolve", str(c["id"]), "--keep", "remote").exit_code == 2  # already resolved


def test_wedding_day_slows_scheduled_syncs_and_defers_deletes(cli, setup, store, tmp_path, monkeypatch):
    from tests.calendars.helpers import set_status

    saturday = "2026-11-28T12:00:00Z"  # Saturdays are protected by default
    ev = seed_wedding(store)
    assert cli("sync").exit_code == 0  # Wednesday: normal
    monkeypatch.setenv("WEDSYNC_NOW", saturday)
    set_status(store, ev, "cancelled")
    r = cli("sync", "--json")
    assert r.exit_code == 0
    [run] = r.json["runs"]
    assert run["status"] == "ok" and run["pushed"]["deleted"] == 0
    assert run["deferred"] == [{"event_id": ev, "remote_id": f"{ev}@wedsync.ics"}]
    assert files(tmp_path / "calendar") == [f"{ev}@wedsync.ics"]
    # Within the protocol's minimum interval a scheduled run skips itself (exit 0, recorded) ...
    r = cli("sync", "--json")
    assert r.exit_code == 0 and r.json["runs"][0]["status"] == "skipped"
    assert store.scalar("SELECT COUNT(*) FROM job_runs WHERE outcome = 'skipped'") == 1
    # ... but one the vendor names runs; the delete still waits for the protocol to end.
    r = cli("sync", "studio", "--json")
    assert r.json["runs"][0]["status"] == "ok" and len(r.json["runs"][0]["deferred"]) == 1
    monkeypatch.setenv("WEDSYNC_NOW", "2026-11-30T12:00:00Z")  # Monday
    r = cli("sync", "--json")
    assert r.json["runs"][0]["pushed"]["deleted"] == 1 and files(tmp_path / "calendar") == []


def test_sources_run_first_and_their_events_reach_the_calendar(cli, setup, tmp_path):
    csv = tmp_path / "clients.csv"
    csv.write_text("First Name,Last Name,Partner First Name,Email,Wedding Date,Venue,Status\n"
                   "Jane,Smith,John,jane@example.com,2027-06-12,Old Barn,booked\n"
                   "Amy,Jones,Ben,amy@example.com,2027-07-03,Hall,lead\n")
    setup(f'[sources.crm]\nprovider = "csv"\npath = "{csv}"\n')
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    runs = r.json["runs"]
    assert [x["name"] for x in runs] == ["crm", "studio"]
    assert runs[0]["pulled"]["created"] == 2 and runs[1]["pushed"]["created"] == 1
    assert len(files(tmp_path / "calendar")) == 1
    r = cli("sync", "--json")
    assert r.json["runs"][0]["pulled"] == {"created": 0, "updated": 0, "deleted": 0}
    assert r.json["runs"][0]["unchanged"] == 2
    csv.unlink()
    r = cli("sync", "--json")
    assert r.exit_code == 1
    assert r.json["runs"][0]["status"] == "failed" and r.json["runs"][1]["status"] == "ok"
    assert "crm" in r.stderr and len(r.stderr.strip().splitlines()) == 1
