"""Walk a Friday night into a Saturday wedding and out again; check every protocol decision."""

import json
from datetime import datetime

import pytest

from tests.test_wedding_day_policy import add_wedding
from wedsync_cli.errors import EX_USAGE
from wedsync_cli.wedding_day import decisions
from wedsync_cli.wedding_day.policy import WeddingDayPolicy

# Saturday 13 June 2026, London (BST, +01:00): ceremony 14:00-16:00, reception 18:00-23:30.
WEDDING = [("2026-06-13T14:00:00+01:00", "2026-06-13T16:00:00+01:00", "wedding"),
           ("2026-06-13T18:00:00+01:00", "2026-06-13T23:30:00+01:00", "other")]


def at(s):
    return datetime.fromisoformat(s)


@pytest.fixture
def rt(runtime, config_file):
    config_file.write_text('timezone = "Europe/London"\n[wedding_day]\nlead_hours = 2\n'
                           '[wedding_day.min_interval_minutes]\n"sync:*" = 30\n')
    with runtime.store.transaction():
        add_wedding(runtime.store, "w_sat", "2026-06-13", WEDDING)
    return runtime


def run_job(rt, job, when):
    rt.store.execute("INSERT INTO job_runs(job, started_at, ended_at, outcome) VALUES (?, ?, ?, 'ok')",
                     [job, when, when])


def events(rt, type_):
    return [json.loads(r["data"]) for r in rt.store.query("SELECT data FROM domain_events WHERE type = ? ORDER BY id", [type_])]


def test_friday_night_into_saturday_wedding_and_out(rt):
    clock = rt._clock
    store = rt.store

    # Friday 20:00: nothing protected; every job runs, destructive commands need no --force.
    clock.set(at("2026-06-12T20:00:00+01:00"))
    st = WeddingDayPolicy.from_runtime(rt).state()
    assert not st.active and st.next_start == at("2026-06-13T00:00:00+01:00")
    assert decisions.should_run(rt, "sync:studio") == (True, "wedding-day protocol inactive")
    decisions.require_force(rt, "delete the calendar studio", force=False)
    assert decisions.observe(rt) is None

    # Saturday 00:00 local: the protocol switches on (all day Saturday), announced exactly once.
    clock.set(at("2026-06-13T00:00:00+01:00"))
    assert decisions.observe(rt) == "activated"
    assert decisions.observe(rt) is None
    act = events(rt, "wedding_day.activated")
    assert len(act) == 1 and act[0]["since"] == "2026-06-12T23:00:00+00:00"
    assert act[0]["until"] == "2026-06-13T23:00:00+00:00"  # Saturday midnight (the reception ends 23:30 local)
    clock.set(at("2026-06-13T00:50:00+01:00"))
    run_job(rt, "sync:studio", "2026-06-12T23:50:00+00:00")  # 00:50 local

    # A non-urgent job that ran recently skips itself; an urgent one always runs.
    clock.set(at("2026-06-13T01:10:00+01:00"))  # 20 min after the last sync
    ok, why = decisions.should_run(rt, "sync:studio")
    assert not ok and "at most every 30 min" in why and "Saturday" in why
    ok, why = decisions.should_run(rt, "send")
    assert ok and why.startswith("urgent job")
    clock.set(at("2026-06-13T01:21:00+01:00"))  # 31 min after
    assert decisions.should_run(rt, "sync:studio")[0]
    run_job(rt, "sync:studio", "2026-06-13T00:21:00+00:00")

    # Destructive commands need --force; both the refusal and the forced run are logged.
    with pytest.raises(decisions.ProtocolRefused) as exc:
        decisions.require_force(rt, "delete the calendar studio", force=False)
    assert exc.value.exit_code == EX_USAGE and "--force" in exc.value.sentence()
    decisions.require_force(rt, "delete the calendar studio", force=True)

    # 14:00: the wedding itself is a reason too, and the wedding is named.
    clock.set(at("2026-06-13T14:00:00+01:00"))
    st = WeddingDayPolicy.from_runtime(rt).state()
    assert st.active and st.weddings == ["w_sat"] and "Saturday" in st.reason and "w_sat" in st.reason
    assert decisions.observe(rt) is None  # same stretch: no second announcement

    # Sunday 00:30: Saturday is over and the reception ended at 23:30: the protocol ends once.
    clock.set(at("2026-06-14T00:30:00+01:00"))
    assert not WeddingDayPolicy.from_runtime(rt).state().active
    assert decisions.observe(rt) == "ended"
    assert decisions.observe(rt) is None
    assert len(events(rt, "wedding_day.ended")) == 1 and len(events(rt, "wedding_day.activated")) == 1
    assert decisions.should_run(rt, "sync:studio") == (True, "wedding-day protocol inactive")
    decisions.require_force(rt, "delete the calendar studio", force=False)

    log = [(r["decision"], r["subject"]) for r in reversed(decisions.decisions(store))]
    assert log == [("activated", "wedding_day"), ("skip", "sync:studio"), ("run", "send"), ("run", "sync:studio"),
                   ("refuse", "delete the calendar studio"), ("force", "delete the calendar studio"),
                   ("ended", "wedding_day")]
    assert all(r["reason"] for r in decisions.decisions(store))


def test_weekday_wedding_past_midnight_and_a_new_stretch_without_observation(rt, config_file):
    config_file.write_text('timezone = "Europe/London"\n[wedding_day]\nsaturdays = false\n')
    rt._config = None
    with rt.store.transaction():
        add_wedding(rt.store, "w_wed", "2026-06-10", [("2026-06-10T19:00:00+01:00", "2026-06-11T01:00:00+01:00", "wedding")])
        add_wedding(rt.store, "w_thu", "2026-06-11", [("2026-06-11T15:00:00+01:00", "2026-06-11T20:00:00+01:00", "wedding")])
    clock = rt._clock
    clock.set(at("2026-06-10T17:00:00+01:00"))
    assert decisions.observe(rt) == "activated"
    clock.set(at("2026-06-11T00:59:00+01:00"))
    assert WeddingDayPolicy.from_runtime(rt).state().weddings == ["w_wed"]
    # no cron run between the end of Wednesday's stretch and the start of Thursday's
    clock.set(at("2026-06-11T14:00:00+01:00"))
    assert decisions.observe(rt) == "activated"
    ended = events(rt, "wedding_day.ended")
    assert len(ended) == 1 and ended[0]["until"] == "2026-06-11T00:00:00+00:00"
    assert len(events(rt, "wedding_day.activated")) == 2


def test_wedding_day_status_json_and_check(cli, config_file, home):
    config_file.write_text('timezone = "Europe/London"\n')
    assert cli("status").exit_code == 0
    import sqlite3

    conn = sqlite3.connect(home / "default" / "wedsync.db")

    class S:  # the helper speaks the Store's execute()
        execute = staticmethod(conn.execute)

    add_wedding(S, "w_sat", "2026-06-13", WEDDING)
    add_wedding(S, "w_other", "2026-06-13", [("2026-06-13T15:00:00+01:00", "2026-06-13T17:00:00+01:00", "wedding")],
                name="Ann & Bob Jones")
    add_wedding(S, "w_lead", "2026-06-13", [("2026-06-13T10:00:00+01:00", "2026-06-13T11:00:00+01:00", "wedding")],
                status="lead")
    conn.commit()
    r = cli("wedding-day", "status", "--json", env={"WEDSYNC_NOW": "2026-06-13T09:00:00+01:00"})
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) >= {"date", "protocol", "weddings", "providers", "outbox", "webhooks", "conflicts"}
    assert doc["date"] == "2026-06-13"
    assert set(doc["protocol"]) >= {"active", "reason", "since", "until"} and doc["protocol"]["active"]
    assert [w["id"] for w in doc["weddings"]] == ["w_sat", "w_other"]  # the lead is not today's work
    w = doc["weddings"][0]
    assert w["client"] == "Jane & John Smith" and w["venue"] == "Hall" and w["status"] == "booked"
    assert [e["start"] for e in w["events"]] == ["2026-06-13T14:00:00+01:00", "2026-06-13T18:00:00+01:00"]
    assert set(doc["outbox"]) >= {"pending", "dead"} and set(doc["webhooks"]) >= {"failed", "dead"}
    assert doc["conflicts"] == 0
    # two booked weddings at 15:00: a double booking puts the day at risk
    assert doc["at_risk"] and [r["kind"] for r in doc["risks"]] == ["double_booking"]
    r = cli("wedding-day", "status", "--check", env={"WEDSYNC_NOW": "2026-06-13T09:00:00+01:00"})
    assert r.exit_code == 1 and "double booking" in r.stderr
    # an unresolved conflict on today's event is a risk too; another day is clear
    conn.execute("INSERT INTO conflicts(calendar, event_id, local, remote, detected_at) VALUES "
                 "('studio', 'e_w_sat_0', '{}', '{}', '2026-06-12T10:00:00+00:00')")
    conn.commit()
    doc = json.loads(cli("wedding-day", "status", "--json", env={"WEDSYNC_NOW": "2026-06-13T09:00:00+01:00"}).stdout)
    assert doc["conflicts"] == 1 and "conflict" in [r["kind"] for r in doc["risks"]]
    conn.execute("INSERT INTO calendar_links(calendar, event_id, uid, state) VALUES ('studio', 'gone1', 'u', 'deferred_delete')")
    conn.commit()
    doc = json.loads(cli("wedding-day", "status", "--json", env={"WEDSYNC_NOW": "2026-06-13T09:00:00+01:00"}).stdout)
    assert doc["deferred_deletes"] == 1
    r = cli("wedding-day", "status", "--date", "2026-06-10", "--check", "--json",
            env={"WEDSYNC_NOW": "2026-06-13T09:00:00+01:00"})
    assert r.exit_code == 0 and json.loads(r.stdout)["weddings"] == []
    # the human screen names the couple and the protocol
    r = cli("wedding-day", "status", env={"WEDSYNC_NOW": "2026-06-13T09:00:00+01:00"})
    assert r.exit_code == 0 and "Jane & John Smith" in r.stdout and "PROTOCOL ACTIVE" in r.stdout


def test_min_interval_lookup():
    from wedsync_cli.config import Config

    cfg = Config.model_validate({"wedding_day": {"min_interval_minutes": {"sync:crm": 120, "sync:studio": 0}}})
    assert decisions.min_interval(cfg, "sync:crm") == 120
    assert decisions.min_interval(cfg, "sync:office") == 30  # default glob
    assert decisions.min_interval(cfg, "sync:studio") is None  # 0: urgent
    assert decisions.min_interval(cfg, "send") is None and decisions.min_interval(cfg, "health") is None
    assert decisions.min_interval(cfg, "import:csv") == 60


def test_skips_are_recorded_and_the_log_command_lists_decisions(cli, config_file):
    config_file.write_text('timezone = "Europe/London"\n')
    sat = {"WEDSYNC_NOW": "2026-06-13T10:00:00+01:00"}
    r = cli("health", "check", env=sat)  # observes the Saturday switch, logs a maintenance decision
    assert r.exit_code == 0, r.stderr
    r = cli("wedding-day", "log", "--json", env=sat)
    doc = json.loads(r.stdout)
    kinds = [d["decision"] for d in doc["decisions"]]
    assert "activated" in kinds and all(d["reason"] for d in doc["decisions"])
    r = cli("wedding-day", "log", "--since", "yesterday-ish", env=sat)
    assert r.exit_code == 2 and "--since" in r.stderr


def test_record_skip_shows_in_status_and_does_not_count_as_a_run(runtime, config_file):
    config_file.write_text('timezone = "Europe/London"\n')
    clock = runtime._clock
    clock.set(at("2026-06-13T10:00:00+01:00"))
    run_job(runtime, "sync:studio", "2026-06-13T08:50:00+00:00")
    ok, why = decisions.should_run(runtime, "sync:studio")
    assert not ok
    decisions.record_skip(runtime.store, "sync:studio", why)
    from wedsync_cli.monitoring.status import last_runs

    last = {j["job"]: j for j in last_runs(runtime.store)}["sync:studio"]
    assert last["outcome"] == "skipped" and "at most every 30 min" in last["counts"]["reason"]
    clock.set(at("2026-06-13T10:21:00+01:00"))  # 31 min after the real run; the skip does not reset it
    assert decisions.should_run(runtime, "sync:studio")[0]


def test_human_screen_prints_brackets_in_names_literally(cli, config_file, home):
    config_file.write_text('timezone = "Europe/London"\n')
    assert cli("status").exit_code == 0
    import sqlite3

    conn = sqlite3.connect(home / "default" / "wedsync.db")

    class S:
        execute = staticmethod(conn.execute)

    add_wedding(S, "w_b", "2026-06-13", WEDDING, name="[bold]Jane[/bold] & [John]")
    conn.commit()
    r = cli("wedding-day", "status", env={"WEDSYNC_NOW": "2026-06-13T09:00:00+01:00"})
    assert r.exit_code == 0, r.stderr
    assert "[bold]Jane[/bold] & [John]" in r.stdout and "[wedding_day] saturdays" in r.stdout
