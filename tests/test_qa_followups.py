"""Regression tests for the QA follow-ups: each drives the CLI as a vendor would."""

from __future__ import annotations


def _import(cli, tmp_path, config_file, body: str, *extra: str, config: str = 'region = "GB"\n'):
    config_file.write_text(config)
    src = tmp_path / "clients.csv"
    src.write_text(body)
    return cli("import", "csv", str(src), *extra)


def test_phone_not_valid_for_region_is_kept_as_written_not_made_up(cli, tmp_path, config_file, home):
    body = ("Name,Email,Phone,Wedding Date\n"
            "Jane & John Smith,jane@example.com,(555) 123-4567,2027-06-12\n"
            "Ann & Bob Jones,ann@example.com,07911 123456,2027-07-10\n")
    r = _import(cli, tmp_path, config_file, body)
    assert r.exit_code == 0, r.stderr
    assert "not valid for region GB" in r.stdout + r.stderr and "line 2" in r.stdout + r.stderr
    import sqlite3

    db = next(home.rglob("*.db"))
    phones = {row[0] for row in sqlite3.connect(db).execute("SELECT p1_phone FROM clients")}
    assert phones == {"(555) 123-4567", "+447911123456"}
    assert "+445551234567" not in phones


def test_end_before_start_is_rejected_unless_it_is_past_midnight(cli, tmp_path, config_file, home):
    body = ("Name,Email,Wedding Date,Start Time,End Time\n"
            "Jane & John Smith,jane@example.com,2027-06-12,18:00,14:00\n"
            "Ann & Bob Jones,ann@example.com,2027-07-10,18:00,01:30\n")
    rejects = tmp_path / "rejects.csv"
    r = _import(cli, tmp_path, config_file, body, "--rejects", str(rejects))
    assert r.exit_code == 1  # partial: one row rejected, the other imported
    assert "the end time 14:00 is before the start time 18:00" in r.stderr
    assert "the end time 14:00 is before the start time 18:00" in rejects.read_text()
    import sqlite3

    db = next(home.rglob("*.db"))
    rows = sqlite3.connect(db).execute("SELECT start, \"end\" FROM events").fetchall()
    assert len(rows) == 1  # only Ann & Bob's: a reception running past midnight
    start, end = rows[0]
    assert start.startswith("2027-07-10T18:00") or start.startswith("2027-07-10T17:00")
    assert end[:10] == "2027-07-11"


DUBSADO = ("Client First Name,Client Last Name,Email,Phone,Alt Contact First Name,Alt Contact Last Name,"
           "Project Start Date,Project Start Time,Project End Time,Job Address,Company\n"
           "Jane,Smith,jane@example.com,07911 123456,John,Smith,2027-06-12,14:00,23:00,\"Barn, Kent\",\n")


def _weddings(home) -> list[tuple]:
    import sqlite3

    db = next(home.rglob("*.db"))
    return sqlite3.connect(db).execute("SELECT date, venue FROM weddings").fetchall()


def test_project_start_date_is_the_wedding_date_automatically(cli, tmp_path, config_file, home):
    r = _import(cli, tmp_path, config_file, DUBSADO)
    assert r.exit_code == 0, r.stderr
    assert _weddings(home) == [("2027-06-12", "Barn, Kent")]


def test_project_start_date_with_the_dubsado_preset(cli, tmp_path, config_file, home):
    r = _import(cli, tmp_path, config_file, DUBSADO, "--preset", "dubsado")
    assert r.exit_code == 0, r.stderr
    assert _weddings(home) == [("2027-06-12", "Barn, Kent")]


def test_an_unrecognised_date_column_is_named_in_the_summary(cli, tmp_path, config_file, home):
    body = "Name,Email,Kickoff Date\nJane & John Smith,jane@example.com,2027-06-12\n"
    r = _import(cli, tmp_path, config_file, body)
    assert r.exit_code == 0, r.stderr
    assert "No column was recognised as the wedding date" in r.stderr
    assert "'Kickoff Date'" in r.stderr and "--mapping" in r.stderr
    assert _weddings(home) == []


def test_send_to_several_addresses_is_one_message_to_all(cli, config_file, home):
    import json
    import mailbox

    config_file.write_text('timezone = "Europe/London"\n[email]\nfrom = "Studio <studio@example.com>"\n')
    r = cli("send", "test", "--to", "a@example.com", "--to", "b@example.org", "--json")
    assert r.exit_code == 0, r.stderr
    (m,) = json.loads(r.stdout)["messages"]
    assert m["status"] == "sent" and m["to"] == "a@example.com, b@example.org"
    (msg,) = list(mailbox.Maildir(home / "default" / "mail", create=False))
    assert msg["To"] == "a@example.com, b@example.org"
    # one address stays what it was; a bad one among several is refused before anything is queued
    bad = cli("send", "test", "--to", "c@example.com", "--to", "not an address")
    assert bad.exit_code == 2 and "not an address" in bad.stderr
    assert len(json.loads(cli("send", "--log", "--json").stdout)["deliveries"]) == 1


def test_auth_status_lists_inbound_credentials(cli, config_file):
    import json

    config_file.write_text('timezone = "Europe/London"\n[inbound]\nsources = ["website"]\n')
    assert cli("auth", "set", "inbound:resend", "--from-file", "-",
               input=json.dumps({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})).exit_code == 0
    r = cli("auth", "status", "--json")
    assert r.exit_code == 0, r.stderr
    rows = {row["provider"]: row for row in json.loads(r.stdout)["providers"]}
    assert rows["inbound:resend"]["present"] is True
    assert rows["inbound:website"]["present"] is False  # configured, not stored yet: listed as missing
    assert "whsec_" not in r.stdout
    assert "inbound:resend" in cli("auth", "status").stdout


def test_unknown_region_is_a_config_error_naming_the_key(cli, config_file):
    config_file.write_text('timezone = "Europe/London"\nregion = "XX"\n')
    r = cli("status")
    assert r.exit_code == 78
    assert "region" in r.stderr and "XX" in r.stderr and "Traceback" not in r.stderr
    config_file.write_text('timezone = "Europe/London"\nregion = "ie"\n')
    assert cli("status").exit_code == 0
