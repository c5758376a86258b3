"""Black-box QA regressions: what a new user hits following the README, run through the CLI."""

from __future__ import annotations

import json


def test_plain_init_then_import_then_sync_works(cli, tmp_path, home):
    # `init` (not --demo) writes a config whose calendar 'studio' is a folder in the state; the
    # very next `sync` must not fail because that folder was never created.
    assert cli("init", "--timezone", "Europe/London").exit_code == 0
    csv = tmp_path / "clients.csv"
    csv.write_text("Name,Email,Wedding Date\nJane & John Smith,jane@example.com,2027-06-25\n", encoding="utf-8")
    assert cli("import", "csv", str(csv)).exit_code == 0
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    run = json.loads(r.stdout)["runs"][0]
    assert run["status"] == "ok" and run["pushed"]["created"] == 1
    assert len(list((home / "default" / "calendars" / "studio").glob("*.ics"))) == 1


def test_garbage_wedsync_now_is_a_config_error_sentence(cli_subprocess):
    # A mistyped WEDSYNC_NOW used to end in "unexpected error (ValueError ...)" with exit 1.
    r = cli_subprocess("status", extra_env={"WEDSYNC_NOW": "next saturday"})
    assert r.exit_code == 78
    assert "WEDSYNC_NOW" in r.stderr and "Fix:" in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0


def test_auth_set_refuses_a_non_string_key_and_stores_nothing(cli, memory_keyring):
    # {"api_key": 123} used to be stored, then every Táve sync died with "unexpected error (TypeError ...)".
    r = cli("auth", "set", "tave", "--from-file", "-", input='{"api_key": 123}')
    assert r.exit_code == 78
    assert "api_key" in r.stderr and "Fix:" in r.stderr
    assert memory_keyring.data == {}
    ok = cli("auth", "set", "tave", "--from-file", "-", input='{"api_key": "k-123"}')
    assert ok.exit_code == 0 and len(memory_keyring.data) == 1


def test_send_flush_with_a_webhook_endpoint_missing_its_secret_exits_78(cli, config_file, tmp_path):
    # `send --flush` (what cron runs) skipped such an endpoint silently and exited 0, forever.
    config_file.write_text(
        'timezone = "Europe/London"\n'
        '[email]\nfrom = "Studio <studio@example.com>"\nproviders = ["maildir"]\n'
        '[webhooks.crm]\nurl = "https://hooks.example.com/wedsync"\nevents = ["client.*"]\n', encoding="utf-8")
    csv = tmp_path / "c.csv"
    csv.write_text("Name,Email,Wedding Date\nJane & John Smith,jane@example.com,2027-06-25\n", encoding="utf-8")
    assert cli("import", "csv", str(csv)).exit_code == 0
    r = cli("send", "--flush")
    assert r.exit_code == 78, r.stderr
    assert "webhook:crm" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(cli("send", "--flush", "--json").stdout)["webhooks"]["missing_secret"] == ["crm"]


def test_sync_lists_at_most_ten_double_bookings_and_counts_the_rest(cli, tmp_path):
    # 5,000 rows gave 20,000+ "Double booking" lines on every sync (cron mails all of them).
    assert cli("init", "--timezone", "Europe/London").exit_code == 0
    rows = "".join(f"Couple{i} & Partner{i} Smith,c{i}@example.com,2027-06-12\n" for i in range(12))
    csv = tmp_path / "same-day.csv"
    csv.write_text("Name,Email,Wedding Date\n" + rows, encoding="utf-8")
    assert cli("import", "csv", str(csv)).exit_code == 0
    r = cli("sync")
    assert r.exit_code == 0, r.stderr
    human = r.stdout + r.stderr
    assert human.count("Double booking:") == 10
    assert "... and 56 more double bookings" in human  # 12 same-day weddings = 66 pairs
    doubles = json.loads(cli("sync", "--json").stdout)["runs"][0]["double_bookings"]
    assert len(doubles) == 66


def test_sync_table_keeps_a_failed_runs_error_short_and_prints_it_whole_below(cli, config_file, tmp_path):
    # An 80-column table squeezed a provider's error into a 30-line-tall cell.
    missing = tmp_path / "exports" / "clients-from-the-crm-export-folder.csv"
    config_file.write_text(f'timezone = "Europe/London"\n[sources.crm]\nprovider = "csv"\npath = "{missing}"\n',
                           encoding="utf-8")
    r = cli("sync", env={"COLUMNS": "80"})
    assert r.exit_code == 65
    assert "Traceback" not in r.stderr
    error = json.loads(cli("sync", "--json").stdout)["runs"][0]["error"]
    assert str(missing) in error
    assert f"crm: {error}\n" in r.stdout  # the whole sentence on one line (paths intact), under the table
    table_lines = [line for line in r.stdout.splitlines() if line.startswith("│")]
    assert len(table_lines) <= 6


def test_output_piped_into_a_closed_reader_stops_quietly(cli_subprocess):
    # `wedsync status --json | head -1` used to print "unexpected error (BrokenPipeError ...)", exit 1.
    import os
    import subprocess
    import sys

    from tests.support.cli import ROOT

    env = {**os.environ, **cli_subprocess.env, "PYTHONPATH": str(ROOT)}
    for args in (["status", "--json"], ["schedule", "install", "--cron", "--dry-run"]):
        p = subprocess.Popen([sys.executable, "-m", "wedsync_cli", *args], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()  # the reader is gone before the first line is written
        err = p.stderr.read().decode()
        assert p.wait(timeout=60) == 141, err
        assert err == ""


def test_mapping_that_names_a_column_the_file_lacks_is_refused(cli, tmp_path, home):
    # A typo in --mapping was ignored silently: the import ran on the automatic names (exit 0).
    csv = tmp_path / "c.csv"
    csv.write_text("Who,Contact,Big Day\nJane & John Smith,jane@example.com,2027-06-25\n", encoding="utf-8")
    mapping = tmp_path / "columns.toml"
    mapping.write_text('name = "Who"\nemail = "Contact"\ndate = "Big Dya"\n', encoding="utf-8")
    r = cli("import", "csv", str(csv), "--mapping", str(mapping))
    assert r.exit_code == 65
    assert "'Big Dya'" in r.stderr and "date" in r.stderr and "Fix:" in r.stderr
    day = cli("wedding-day", "status", "--date", "2027-06-25", "--json")
    assert json.loads(day.stdout)["weddings"] == []  # nothing was imported
    mapping.write_text('name = "Who"\nemail = "Contact"\ndate = ["Big Dya", "Big Day"]\n', encoding="utf-8")
    ok = cli("import", "csv", str(csv), "--mapping", str(mapping), "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["created"] == 1


def test_a_quote_never_closed_is_refused_instead_of_swallowing_the_rows_after_it(cli, tmp_path):
    # The lenient csv reader folded every line after an open quote into one cell: rows vanished
    # and a garbage client was created, with exit 0.
    csv = tmp_path / "c.csv"
    csv.write_text('Name,Email,Wedding Date\nA & B One,a@example.com,2027-06-01\n'
                   '"Broken & Quote,b@example.com,2027-06-02\nC & D Two,c@example.com,2027-06-03\n', encoding="utf-8")
    r = cli("import", "csv", str(csv))
    assert r.exit_code == 65
    assert "line 3" in r.stderr and "quote" in r.stderr and "Fix:" in r.stderr
    day = cli("wedding-day", "status", "--date", "2027-06-01", "--json")
    assert json.loads(day.stdout)["weddings"] == []  # nothing half-written
    # A properly quoted multi-line note on the last row is fine.
    csv.write_text('Name,Email,Wedding Date,Notes\nA & B One,a@example.com,2027-06-01,"two\nlines, ok"\n',
                   encoding="utf-8")
    assert cli("import", "csv", str(csv)).exit_code == 0


def test_webhook_replay_of_an_unknown_or_filtered_out_id_exits_2(cli, config_file, tmp_path):
    # `webhook-replay --id <typo>` answered "Matched 0" with exit 0, as if nothing needed replaying.
    from tests.standins.webhook_receiver import WebhookReceiver

    rx = WebhookReceiver().start()
    try:
        config_file.write_text(f'[webhooks.zap]\nurl = "{rx.url("zap")}"\nevents = ["client.*"]\nallow_private = true\n',
                               encoding="utf-8")
        secret = '{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}'
        assert cli("auth", "set", "webhook:zap", "--from-file", "-", input=secret).exit_code == 0
        csv = tmp_path / "c.csv"
        csv.write_text("Name,Email,Wedding Date\nJane & John Smith,jane@example.com,2027-06-25\n", encoding="utf-8")
        assert cli("import", "csv", str(csv)).exit_code == 0
        rx.always("zap", 200)
        assert cli("send", "--flush").exit_code == 0
        wid = rx.ids("zap")[0]

        r = cli("webhook-replay", "--id", "msg_not_a_real_id")
        assert r.exit_code == 2 and "msg_not_a_real_id" in r.stderr and "webhooks deliveries" in r.stderr
        r = cli("webhook-replay", "--id", wid, "--status", "failed")
        assert r.exit_code == 2 and "is delivered" in r.stderr and "drop --status" in r.stderr
        assert len(rx.ids("zap")) == 1  # nothing was sent by either
        ok = cli("webhook-replay", "--id", wid, "--json")  # an id alone forces the resend
        assert ok.exit_code == 0 and json.loads(ok.stdout)["succeeded"] == 1
        assert rx.ids("zap") == [wid, wid]
    finally:
        rx.stop()


def test_a_renamed_couple_renames_the_events_of_their_other_weddings(cli, tmp_path, home):
    # "Jane Smith" (one wedding) later imported as "Jane & John Smith" with another date: the
    # first wedding's calendar event kept saying "Wedding: Jane Smith".
    assert cli("init", "--timezone", "Europe/London").exit_code == 0
    first = tmp_path / "first.csv"
    first.write_text("Name,Email,Wedding Date\nJane Smith,jane@example.com,2027-06-12\n", encoding="utf-8")
    later = tmp_path / "later.csv"
    later.write_text("Name,Email,Wedding Date\nJane & John Smith,jane@example.com,2027-07-12\n", encoding="utf-8")
    assert cli("import", "csv", str(first)).exit_code == 0
    assert cli("sync").exit_code == 0
    assert cli("import", "csv", str(later)).exit_code == 0
    r = cli("sync", "--json")
    assert json.loads(r.stdout)["runs"][0]["pushed"] == {"created": 1, "updated": 1, "deleted": 0}
    titles = sorted(line for f in (home / "default" / "calendars" / "studio").glob("*.ics")
                    for line in f.read_text(encoding="utf-8").splitlines() if line.startswith("SUMMARY"))
    assert titles == ["SUMMARY:Wedding: Jane & John Smith"] * 2
    assert json.loads(cli("import", "csv", str(later), "--json").stdout)["unchanged"] == 1


def test_status_cells_with_emoji_punctuation_or_a_note_are_understood(cli, tmp_path, runtime):
    # "Booked ✅" and friends were rejected as unknown statuses.
    csv = tmp_path / "c.csv"
    csv.write_text("Name,Email,Wedding Date,Status\n"
                   "A & B One,a@example.com,2027-06-01,Booked ✅\n"
                   "C & D Two,c@example.com,2027-06-02,Booked (deposit paid)\n"
                   "E & F Three,e@example.com,2027-06-03,Closed - Lost\n"
                   "G & H Four,g@example.com,2027-06-04,Inquiry!\n"
                   "I & J Five,i@example.com,2027-06-05,maybe later\n", encoding="utf-8")
    r = cli("import", "csv", str(csv), "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert (doc["created"], doc["rejected"]) == (4, 1)
    assert "maybe later" in doc["rejects"][0]["reason"]
    rows = runtime.store.query("SELECT w.date, w.status FROM weddings w ORDER BY w.date")
    assert [(r["date"], r["status"]) for r in rows] == [
        ("2027-06-01", "booked"), ("2027-06-02", "booked"), ("2027-06-03", "cancelled"), ("2027-06-04", "lead")]


def test_a_date_cell_saved_as_a_spreadsheet_serial_number_is_read(cli, tmp_path, runtime):
    # A "General"-formatted date column exports as 46568; it was rejected as an unreadable date.
    csv = tmp_path / "c.csv"
    csv.write_text("Name,Email,Wedding Date\nA & B One,a@example.com,46568\nC & D Two,c@example.com,25/06/2027\n",
                   encoding="utf-8")
    r = cli("import", "csv", str(csv), "--json")
    assert r.exit_code == 0, r.stderr
    rows = runtime.store.query("SELECT date FROM weddings ORDER BY date")
    assert [row["date"] for row in rows] == ["2027-06-25", "2027-06-30"]


def test_auth_status_check_that_fails_says_so_on_stderr(cli, config_file):
    # It exited 1 with only the table: no sentence on stderr, so cron mail said nothing.
    from tests.standins.tave import TaveStandin

    with TaveStandin() as tave:
        config_file.write_text(f'[providers.tave]\nbase_url = "{tave.base_url}"\n', encoding="utf-8")
        assert cli("auth", "set", "tave", "--from-file", "-", input='{"api_key": "not-the-key"}').exit_code == 0
        r = cli("auth", "status", "--check")
        assert r.exit_code == 1
        assert "tave" in r.stderr and "Fix:" in r.stderr and r.stderr.strip().count("\n") == 0
        cli("auth", "set", "tave", "--from-file", "-", input=json.dumps({"api_key": tave.api_key}))
        ok = cli("auth", "status", "--check", "--json")
        assert ok.exit_code == 0 and ok.stderr == ""
        assert json.loads(ok.stdout)["providers"][0]["check"]["ok"] is True


def test_wedding_day_check_sentence_lists_whole_risks_even_with_quiet(cli, tmp_path):
    # The risk list was cut at 800 characters mid-word ("... overlaps Wedding:.") and -q dropped
    # the sentence altogether while still exiting 1.
    assert cli("init", "--timezone", "Europe/London").exit_code == 0
    rows = "".join(f"Couple{i} & Partner{i} Smith,c{i}@example.com,2027-06-12\n" for i in range(8))
    csv = tmp_path / "same-day.csv"
    csv.write_text("Name,Email,Wedding Date\n" + rows, encoding="utf-8")
    assert cli("import", "csv", str(csv)).exit_code == 0
    for args in (["wedding-day", "status", "--date", "2027-06-12", "--check"],
                 ["-q", "wedding-day", "status", "--date", "2027-06-12", "--check"]):
        r = cli(*args)
        assert r.exit_code == 1
        line = r.stderr.strip()
        assert line.count("\n") == 0 and line.startswith("28 thing(s) put 2027-06-12 at risk: ")
        assert "; and 25 more. Fix: run `wedsync wedding-day status`" in line
        assert line.count("double booking") == 3


def test_rejects_file_that_is_the_input_file_is_refused(cli, tmp_path, monkeypatch):
    # `import csv export.csv --rejects export.csv` overwrote the vendor's export with two rejects.
    monkeypatch.chdir(tmp_path)
    original = "Name,Email,Wedding Date\nA & B One,a@example.com,2027-06-01\nC & D Two,c@example.com,2027-02-30\n"
    (tmp_path / "export.csv").write_text(original, encoding="utf-8")
    r = cli("import", "csv", "export.csv", "--rejects", str(tmp_path / "export.csv"))
    assert r.exit_code == 2 and "--rejects" in r.stderr and "Fix:" in r.stderr
    assert (tmp_path / "export.csv").read_text(encoding="utf-8") == original
    day = cli("wedding-day", "status", "--date", "2027-06-01", "--json")
    assert json.loads(day.stdout)["weddings"] == []  # refused before anything was imported
