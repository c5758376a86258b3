"""`wedsync import csv` as users run it (in-process CLI with an isolated WEDSYNC_HOME)."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADER = "Couple,Email,Phone,Wedding Date,Start Time,End Time,Venue,Status\n"


@pytest.fixture
def cfg(config_file):
    config_file.write_text('timezone = "Europe/London"\n')
    return config_file


def db(home) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "default" / "wedsync.db")
    conn.row_factory = sqlite3.Row
    return conn


def n(home, table) -> int:
    path = home / "default" / "wedsync.db"
    if not path.exists():
        return 0
    return db(home).execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def write(tmp_path, text, name="clients.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_import_creates_clients_weddings_and_events(cli, cfg, home, tmp_path):
    f = write(tmp_path, HEADER
              + 'Jane & John Smith,jane@example.com,07911 123456,25/06/2027,14:00,23:30,"Barn, Kent",booked\n'
              + "\n"
              + "Amy Lee,AMY@example.com,,2027-07-03,,,Kew Gardens,lead\n")
    r = cli("import", "csv", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    doc = r.json
    assert {k: doc[k] for k in ("read", "created", "updated", "unchanged", "rejected", "dry_run")} == \
        {"read": 2, "created": 2, "updated": 0, "unchanged": 0, "rejected": 0, "dry_run": False}
    assert doc["source"]
    c = db(home)
    jane = c.execute("SELECT * FROM clients WHERE p1_email = 'jane@example.com'").fetchone()
    assert (jane["p1_first"], jane["p2_first"], jane["p2_last"], jane["p1_phone"]) == ("Jane", "John", "Smith",
                                                                                      "+447911123456")
    ev = c.execute("SELECT e.* FROM events e JOIN weddings w ON w.id = e.wedding_id "
                   "WHERE w.client_id = ?", [jane["id"]]).fetchone()
    assert (ev["title"], ev["start"], ev["end"], ev["location"]) == (
        "Wedding: Jane & John Smith", "2027-06-25T14:00:00+01:00", "2027-06-25T23:30:00+01:00", "Barn, Kent")
    amy = c.execute("SELECT e.* FROM events e JOIN weddings w ON w.id = e.wedding_id JOIN clients k ON k.id = w.client_id "
                    "WHERE k.p1_email = 'amy@example.com'").fetchone()
    assert (amy["all_day"], amy["start"], amy["end"]) == (1, "2027-07-03", "2027-07-04")
    assert c.execute("SELECT status FROM weddings w JOIN clients k ON k.id = w.client_id "
                     "WHERE k.p1_email = 'amy@example.com'").fetchone()[0] == "lead"
    run = c.execute("SELECT * FROM job_runs WHERE job = 'import:csv'").fetchone()
    assert run["outcome"] == "ok" and json.loads(run["counts"])["created"] == 2


def test_reimport_reports_everything_unchanged_and_writes_nothing(cli, cfg, home, tmp_path):
    f = ROOT / "examples" / "clients-messy.csv"
    first = cli("import", "csv", str(f), "--json")
    assert first.exit_code == 1  # the sample has deliberate rejects
    d1 = first.json
    assert d1["read"] == d1["created"] + d1["updated"] + d1["unchanged"] + d1["rejected"]
    before = {t: n(home, t) for t in ("clients", "weddings", "events", "domain_events", "source_records")}
    second = cli("import", "csv", str(f), "--json").json
    assert second["created"] == second["updated"] == 0
    assert second["unchanged"] == d1["read"] - d1["rejected"]
    assert {t: n(home, t) for t in before} == before


def test_duplicate_couples_in_a_file_are_merged(cli, cfg, home, tmp_path):
    f = write(tmp_path, HEADER
              + "Jane & John Smith,jane@example.com,,25/06/2027,,,,booked\n"
              + '"Smith, Jane and John",JANE@Example.com ,+44 7911 123456,25/06/2027,,,"Barn, Kent",\n'
              + "Jane and John Smith,other@example.com,,25/06/2027,,,,booked\n")
    doc = cli("import", "csv", str(f), "--json").json
    assert (doc["created"], doc["updated"] + doc["unchanged"], doc["merged"]) == (1, 2, 2)
    assert n(home, "clients") == 1 and n(home, "weddings") == 1 and n(home, "events") == 1
    row = db(home).execute("SELECT p1_phone, (SELECT venue FROM weddings) AS venue FROM clients").fetchone()
    assert (row["p1_phone"], row["venue"]) == ("+447911123456", "Barn, Kent")


def test_dry_run_writes_nothing(cli, cfg, home, tmp_path):
    f = write(tmp_path, HEADER + "Jane Smith,jane@example.com,,2027-06-25,,,,\n")
    r = cli("import", "csv", str(f), "--dry-run", "--json")
    assert r.exit_code == 0 and r.json["dry_run"] is True and r.json["created"] == 1
    assert n(home, "clients") == 0 and n(home, "events") == 0 and n(home, "domain_events") == 0
    assert n(home, "job_runs") == 0 and n(home, "source_records") == 0


def test_bad_rows_are_rejected_with_reasons_and_the_rest_imports(cli, cfg, home, tmp_path):
    f = write(tmp_path, HEADER
              + "Jane Smith,jane@example,,2027-06-25,,,,\n"
              + "Amy Lee,amy@example.com,,31/02/2027,,,,\n"
              + "Bo Chan,bo@example.com,,25/06/2027,,,,\n")
    rej = tmp_path / "out" / "rejects.csv"
    r = cli("import", "csv", str(f), "--rejects", str(rej))
    assert r.exit_code == 1
    assert "2 of 3 rows were rejected" in r.stderr and "Traceback" not in r.stderr
    assert n(home, "clients") == 1
    with rej.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["Couple"] for row in rows] == ["Jane Smith", "Amy Lee"]
    assert "invalid email" in rows[0]["reason"] and "impossible date '31/02/2027'" in rows[1]["reason"]
    assert list(rows[0].keys()) == [*HEADER.strip().split(","), "reason"]
    # Fixed rejects re-import cleanly.
    fixed = rej.read_text(encoding="utf-8").replace("jane@example,", "jane@example.com,").replace("31/02/2027", "28/02/2027")
    fixed_path = write(tmp_path, fixed, name="fixed.csv")
    assert cli("import", "csv", str(fixed_path), "--json").json["created"] == 2


@pytest.mark.parametrize("encoding, bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp1252", b"")])
def test_encodings_are_detected(cli, cfg, home, tmp_path, encoding, bom):
    f = tmp_path / "c.csv"
    f.write_bytes(bom + (HEADER + "Zoë & Renée Müller,zoe@example.com,,2027-06-25,,,Château,\n").encode(encoding))
    r = cli("import", "csv", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    row = db(home).execute("SELECT p1_first, p2_first, p1_last FROM clients").fetchone()
    assert tuple(row) == ("Zoë", "Renée", "Müller")


def test_utf16_with_and_without_bom(cli, cfg, home, tmp_path):
    text = HEADER + "Zoë Müller,zoe@example.com,,2027-06-25,,,,\n"
    f = tmp_path / "c.csv"
    f.write_bytes(text.encode("utf-16"))  # with BOM: found on its own
    assert cli("import", "csv", str(f)).exit_code == 0
    f.write_bytes(text.encode("utf-16-le"))  # without: a sentence naming the option
    r = cli("import", "csv", str(f))
    assert r.exit_code == 65 and "--encoding utf-16-le" in r.stderr
    assert cli("import", "csv", str(f), "--encoding", "utf-16-le").exit_code == 0


def test_explicit_encoding_and_a_wrong_one(cli, cfg, home, tmp_path):
    f = tmp_path / "c.csv"
    f.write_bytes((HEADER + "Zoë Müller,zoe@example.com,,2027-06-25,,,,\n").encode("utf-8"))
    r = cli("import", "csv", str(f), "--encoding", "ascii")
    assert r.exit_code == 65 and "--encoding" in r.stderr
    assert n(home, "clients") == 0
    f.write_bytes((HEADER + "Zoë Müller,zoe@example.com,,2027-06-25,,,,\n").encode("latin-1"))
    assert cli("import", "csv", str(f), "--encoding", "latin-1").exit_code == 0
    assert db(home).execute("SELECT p1_first FROM clients").fetchone()[0] == "Zoë"


@pytest.mark.parametrize("delim", [";", "\t", ","])
def test_delimiters_are_sniffed(cli, cfg, home, tmp_path, delim):
    rows = [["FIRST NAME", "last_name", "E-Mail", "wedding date", "VENUE"],
            ["Jane", "Smith", "jane@example.com", "2027-06-25", "Barn, Kent"]]
    f = tmp_path / "c.csv"
    with f.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=delim).writerows(rows)
    r = cli("import", "csv", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    assert db(home).execute("SELECT venue FROM weddings").fetchone()[0] == "Barn, Kent"


def test_date_order_is_decided_by_the_file(cli, cfg, home, tmp_path):
    f = write(tmp_path, "Name,Email,Date\nA,a@example.com,05/06/2027\nB,b@example.com,06/25/2027\n")
    assert cli("import", "csv", str(f)).exit_code == 0
    dates = [r[0] for r in db(home).execute("SELECT date FROM weddings ORDER BY date")]
    assert dates == ["2027-05-06", "2027-06-25"]  # month-first, because of 06/25


def test_ambiguous_dates_exit_65_naming_the_option_and_write_nothing(cli, cfg, home, tmp_path):
    f = write(tmp_path, "Name,Email,Date\nA,a@example.com,05/06/2027\nB,b@example.com,04/03/2027\n")
    r = cli("import", "csv", str(f))
    assert r.exit_code == 65
    assert "--date-order" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert n(home, "clients") == 0
    ok = cli("import", "csv", str(f), "--date-order", "dmy")
    assert ok.exit_code == 0
    assert [r[0] for r in db(home).execute("SELECT date FROM weddings ORDER BY date")] == ["2027-03-04", "2027-06-05"]


def test_config_date_order_is_used(cli, config_file, home, tmp_path):
    config_file.write_text('timezone = "America/New_York"\ndate_order = "mdy"\n')
    f = write(tmp_path, "Name,Email,Phone,Date\nA,a@example.com,(212) 736-5000,05/06/2027\n")
    assert cli("import", "csv", str(f)).exit_code == 0
    row = db(home).execute("SELECT date, (SELECT p1_phone FROM clients) FROM weddings").fetchone()
    assert tuple(row) == ("2027-05-06", "+12127365000")


def test_mapping_file_toml_and_json(cli, cfg, home, tmp_path):
    f = write(tmp_path, "Who,Contact,Big Day,Where,Favourite colour\nJane & John Smith,jane@example.com,2027-06-25,Kew,teal\n")
    m = tmp_path / "map.toml"
    m.write_text('name = "Who"\nemail = "contact"\ndate = "BIG DAY"\nvenue = "Where"\n')
    r = cli("import", "csv", str(f), "--mapping", str(m), "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["unmapped_fields"] == ["Favourite colour"]
    c = db(home)
    assert c.execute("SELECT display_name FROM clients").fetchone()[0] == "Jane & John Smith"
    assert json.loads(c.execute("SELECT extra FROM clients").fetchone()[0]) == {"Favourite colour": "teal"}
    mj = tmp_path / "map.json"
    mj.write_text(json.dumps({"name": "Who", "email": "Contact", "date": "Big Day", "venue": "Where"}))
    assert cli("import", "csv", str(f), "--mapping", str(mj), "--json").json["unchanged"] == 1


def test_bad_mapping_file_names_the_field(cli, cfg, home, tmp_path):
    f = write(tmp_path, "Who,Contact\nJane,jane@example.com\n")
    m = tmp_path / "map.json"
    m.write_text('{"emial": "Contact"}')
    r = cli("import", "csv", str(f), "--mapping", str(m))
    assert r.exit_code == 65 and "emial" in r.stderr


def test_presets(cli, cfg, home, tmp_path):
    f = write(tmp_path, "Client First Name,Client Last Name,Client Email,Alt Contact First Name,Alt Contact Last Name,"
                        "Alt Contact Email,Project Date,Job Address,Project Status\n"
                        "Jane,Smith,jane@example.com,John,Doe,john@example.com,2027-06-25,Kew,Booked\n")
    r = cli("import", "csv", str(f), "--preset", "dubsado", "--json")
    assert r.exit_code == 0, r.stderr
    row = db(home).execute("SELECT display_name, p2_email FROM clients").fetchone()
    assert tuple(row) == ("Jane Smith & John Doe", "john@example.com")
    hb = write(tmp_path, "Client Name,Client Email,Project Date,Project Location,Project Stage\n"
                         "Amy & Bo Lee,amy@example.com,2027-07-03,Barn,Inquiry\n", name="hb.csv")
    assert cli("import", "csv", str(hb), "--preset", "honeybook").exit_code == 0
    assert db(home).execute("SELECT status FROM weddings WHERE venue = 'Barn'").fetchone()[0] == "lead"
    bad = cli("import", "csv", str(hb), "--preset", "nope")
    assert bad.exit_code == 2 and "honeybook" in bad.stderr


@pytest.mark.parametrize("content, words", [
    (None, "does not exist"),
    (b"", "empty"),
    (b"\n\n  \n", "empty"),
    (bytes(range(256)) * 8, "CSV"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64, "binary"),
    (b"Favourite colour,Shoe size\nteal,5\n", "--mapping"),
    (b"Name,Email\n", "no data rows"),
    (b"Name,Email\nJane,not-an-email\n", "no usable rows"),
])
def test_unusable_files_exit_65_with_one_sentence_and_write_nothing(cli, cfg, home, tmp_path, content, words):
    f = tmp_path / "bad.csv"
    if content is not None:
        f.write_bytes(content)
    r = cli("import", "csv", str(f))
    assert r.exit_code == 65, (r.exit_code, r.stderr)
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert n(home, "clients") == 0 and n(home, "domain_events") == 0


def test_a_second_import_while_one_runs_exits_75(cli, cfg, home, tmp_path):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store.locks import job_lock

    f = write(tmp_path, HEADER + "Jane Smith,jane@example.com,,2027-06-25,,,,\n")
    with job_lock(Paths.resolve().state_dir, "import"):
        r = cli("import", "csv", str(f))
    assert r.exit_code == 75 and "import" in r.stderr
    assert n(home, "clients") == 0


def test_the_bundled_sample_imports_with_its_deliberate_rejects(cli, cfg, home, tmp_path):
    rej = tmp_path / "rejects.csv"
    r = cli("import", "csv", str(ROOT / "examples" / "clients-messy.csv"), "--rejects", str(rej), "--json")
    assert r.exit_code == 1
    doc = r.json
    assert doc["read"] >= 240 and doc["rejected"] >= 8 and doc["merged"] >= 10
    assert doc["delimiter"] == ";" and doc["encoding"] == "utf-8-sig"
    with rej.open(newline="", encoding="utf-8") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == doc["rejected"]
    c = db(home)
    statuses = {r[0] for r in c.execute("SELECT DISTINCT status FROM weddings")}
    assert statuses == {"booked", "lead", "cancelled"}
    assert c.execute("SELECT COUNT(*) FROM events WHERE all_day = 0").fetchone()[0] > 20
    assert c.execute("SELECT COUNT(*) FROM clients WHERE p1_phone LIKE '+44%'").fetchone()[0] > 100
    # every wedding with a date has exactly one wedding-day event
    assert c.execute("SELECT COUNT(*) FROM weddings w WHERE date IS NOT NULL AND "
                     "(SELECT COUNT(*) FROM events e WHERE e.wedding_id = w.id AND kind = 'wedding') != 1"
                     ).fetchone()[0] == 0


def test_human_summary_goes_to_stdout_and_rejects_to_stderr(cli, cfg, home, tmp_path):
    f = write(tmp_path, HEADER + "Jane Smith,jane@example.com,,2027-06-25,,,,\nBo,bo@,,2027-06-25,,,,\n")
    r = cli("import", "csv", str(f))
    assert r.exit_code == 1
    assert "created" in r.stdout and "rejected" in r.stdout
    assert "line 3: invalid email" in r.stderr


def test_progress_bar_only_on_a_terminal(cli_subprocess, tmp_path):
    import os
    import pty
    import subprocess
    import sys

    f = write(tmp_path, HEADER + "".join(f"P{i} Lee,p{i}@example.com,,2027-06-25,,,,\n" for i in range(50)))
    env = {**os.environ, **cli_subprocess.env, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "wedsync_cli", "import", "csv", str(f)], env=env,
                         stdin=slave, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out, _ = p.communicate(timeout=60)
    os.close(master)
    assert p.returncode == 0
    assert b"Importing" in b"".join(chunks)  # the bar, on the terminal
    assert b"Importing" not in out and b"created" in out
    piped = cli_subprocess("import", "csv", str(f))
    assert "Importing" not in piped.stderr + piped.stdout


def test_title_lines_excel_sep_hint_and_separate_partner_name_columns(cli, cfg, home, tmp_path):
    f = write(tmp_path, "sep=;\nClient export;;;;\n;;;;\nBride Name;Groom Name;Email 1;Email 2;Date of Event;Ceremony Start\n"
                        "Jane Smith;John Doe;jane@example.com;john@example.com;2027-06-25;2pm\n"
                        "Amy Lee;Bo Chan;amy@example.com;;TBC;\n")
    r = cli("import", "csv", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    c = db(home)
    rows = [tuple(x) for x in c.execute("SELECT display_name, p2_email FROM clients ORDER BY display_name")]
    assert rows == [("Amy Lee & Bo Chan", None), ("Jane Smith & John Doe", "john@example.com")]
    assert c.execute("SELECT start FROM events").fetchone()[0] == "2027-06-25T14:00:00+01:00"
    assert c.execute("SELECT COUNT(*) FROM weddings").fetchone()[0] == 1  # "TBC": no date yet, not a reject


def test_unwritable_rejects_path_is_refused_before_importing(cli, cfg, home, tmp_path):
    f = write(tmp_path, HEADER + "Jane Smith,jane@example.com,,2027-06-25,,,,\n")
    r = cli("import", "csv", str(f), "--rejects", str(tmp_path))  # a folder
    assert r.exit_code == 2 and "rejects" in r.stderr
    assert n(home, "clients") == 0
