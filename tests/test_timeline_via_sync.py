"""End to end: a CSV change moves a booked wedding's time; the same `sync` queues one digest for
that couple, and `send --flush` delivers it to the local maildir."""

from __future__ import annotations

import mailbox

HEADER = "First Name,Last Name,Partner First Name,Partner Last Name,Email,Wedding Date,Start Time,End Time,Venue\n"


def test_sync_queues_one_timeline_digest_per_changed_couple(cli, tmp_path, config_file, home):
    csv = tmp_path / "clients.csv"
    (tmp_path / "cal").mkdir()
    csv.write_text(HEADER + "Jane,Smith,John,Smith,jane@example.com,2027-06-12,14:00,23:00,Kew Gardens\n"
                   "Amy,Jones,Bea,Khan,amy@example.com,2027-07-03,13:00,22:00,The Barn\n")
    config_file.write_text(
        'timezone = "Europe/London"\n'
        f'[sources.clients]\nprovider = "csv"\npath = "{csv}"\n'
        f'[calendars.studio]\nprovider = "local"\ncalendar = "{tmp_path / "cal"}"\n'
        '[email]\nfrom = "Studio <studio@example.com>"\nproviders = ["maildir"]\ntimeline_notifications = true\n'
    )
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    r = cli("send", "--flush", "--json")
    assert r.exit_code == 0, r.stderr
    maildir = home / "default" / "mail"
    assert len(mailbox.Maildir(maildir)) == 0  # opting in starts from now: no mail for the first import

    csv.write_text(HEADER + "Jane,Smith,John,Smith,jane@example.com,2027-06-12,15:30,23:30,Kew Gardens\n"
                   "Amy,Jones,Bea,Khan,amy@example.com,2027-07-03,13:00,22:00,The Barn\n")
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    r = cli("send", "--flush", "--json")
    assert r.exit_code == 0, r.stderr
    msgs = list(mailbox.Maildir(maildir))
    assert len(msgs) == 1
    assert msgs[0]["To"].lower().count("jane@example.com") == 1
    assert "timeline" in msgs[0]["Subject"].lower()

    r = cli("sync", "--json")  # nothing changed: nothing more queued
    cli("send", "--flush")
    assert len(mailbox.Maildir(maildir)) == 1
