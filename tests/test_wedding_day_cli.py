"""Black-box, as cron and a support person run it: import a CSV, then move the clock (WEDSYNC_NOW)
from Friday night through a Saturday wedding to Sunday, in real subprocesses."""

import json
import sqlite3

import pytest


@pytest.mark.slow
def test_csv_wedding_through_the_weekend(cli_subprocess, tmp_path, home, config_file):
    config_file.write_text('timezone = "Europe/London"\n')
    csv = tmp_path / "clients.csv"
    csv.write_text("First Name,Last Name,Partner First Name,Partner Last Name,Email,Wedding Date,Start Time,End Time,Venue,Status\n"
                   "Jane,Smith,John,Smith,jane@example.com,2026-06-13,14:00,23:00,Pennard House,Booked\n"
                   "Amy,Lee,,,amy@example.com,2026-06-20,12:00,18:00,Old Barn,Lead\n")
    r = cli_subprocess("import", "csv", str(csv))
    assert r.exit_code == 0, r.stderr

    def wd(when, *args):
        r = cli_subprocess("wedding-day", "status", "--json", *args, extra_env={"WEDSYNC_NOW": when})
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)

    def health(when):
        r = cli_subprocess("health", "check", "--json", extra_env={"WEDSYNC_NOW": when})
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)

    fri = wd("2026-06-12T20:00:00+01:00")
    assert fri["date"] == "2026-06-12" and not fri["protocol"]["active"] and fri["weddings"] == []
    assert health("2026-06-12T20:00:00+01:00")["protocol"]["switch"] is None

    sat = wd("2026-06-13T12:30:00+01:00")
    assert sat["protocol"]["active"] and sat["protocol"]["since"] == "2026-06-12T23:00:00+00:00"
    [w] = sat["weddings"]
    assert w["client"] == "Jane & John Smith" and w["venue"] == "Pennard House" and w["status"] == "booked"
    assert [(e["start"][:16], e["end"][:16]) for e in w["events"]] == [("2026-06-13T14:00", "2026-06-13T23:00")]
    assert health("2026-06-13T12:30:00+01:00")["protocol"]["switch"] == "activated"
    assert health("2026-06-13T12:35:00+01:00")["protocol"]["switch"] is None
    # the wedding id works with `send --wedding` (rendered, not sent)
    r = cli_subprocess("send", "booking-confirmation", "--wedding", w["id"], "--dry-run", "--json",
                       extra_env={"WEDSYNC_NOW": "2026-06-13T12:40:00+01:00"})
    assert r.exit_code == 0, r.stderr
    # nothing is at risk: --check is quiet and exits 0
    r = cli_subprocess("wedding-day", "status", "--check", extra_env={"WEDSYNC_NOW": "2026-06-13T12:40:00+01:00"})
    assert r.exit_code == 0, r.stderr

    sun = health("2026-06-14T00:30:00+01:00")
    assert sun["protocol"]["switch"] == "ended" and not sun["protocol"]["active"]
    # a lead (not booked) is nobody's wedding day yet: not listed
    nxt = wd("2026-06-14T00:30:00+01:00", "--date", "2026-06-20")
    assert nxt["weddings"] == []

    conn = sqlite3.connect(home / "default" / "wedsync.db")
    types = [t for (t,) in conn.execute("SELECT type FROM domain_events WHERE type LIKE 'wedding_day.%' ORDER BY id")]
    assert types == ["wedding_day.activated", "wedding_day.ended"]
    decisions = [d for (d,) in conn.execute("SELECT decision FROM protocol_decisions ORDER BY id")]
    assert decisions[0] == "activated" and decisions[-1] == "ended"
