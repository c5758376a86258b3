"""Táve / VSCO Workspace import and sync, against the loopback stand-in built from the vendor's
OpenAPI document: the real HttpClient, retries and error handling run in every test."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest

from tests.standins.tave import OPENAPI_PATH, TaveStandin

COUPLE_A = (("Jane", "Smith", "jane@example.com"), ("John", "Smith", "john@example.com"))
COUPLE_B = (("Priya", "Patel", "priya@example.org"), ("Sam", "Okafor", "sam@example.org"))


@pytest.fixture
def tave():
    s = TaveStandin().start()
    yield s
    s.stop()


@pytest.fixture
def configured(tave, config_file, memory_keyring, cli):
    config_file.write_text(
        'timezone = "Europe/London"\n\n[sources.studio]\nprovider = "tave"\n\n'
        f'[providers.tave]\nbase_url = "{tave.base_url}"\n'
    )
    r = cli("auth", "set", "tave", "--from-file", "-", input=json.dumps({"api_key": tave.api_key}))
    assert r.exit_code == 0, r.stderr
    return tave


@pytest.fixture
def rt(runtime, configured):
    """Core runtime (FixedClock: retries and Retry-After advance it instead of sleeping)."""
    runtime.credentials.set("tave", {"api_key": configured.api_key})
    return runtime


def _state(store) -> dict:
    """What the state holds, without our random ids: comparable across homes."""
    clients = store.query("SELECT display_name, p1_email, p2_email, p1_phone FROM clients ORDER BY display_name")
    weddings = store.query(
        "SELECT c.display_name, w.date, w.venue, w.status, w.external_id FROM weddings w "
        "JOIN clients c ON c.id = w.client_id ORDER BY w.external_id")
    events = store.query(
        "SELECT e.kind, e.title, e.start, e.end, e.location, e.external_id, e.deleted, w.external_id AS job "
        "FROM events e JOIN weddings w ON w.id = e.wedding_id ORDER BY w.external_id, e.kind, e.start")
    keys = store.query("SELECT key FROM client_keys ORDER BY key")
    return {"clients": clients, "weddings": weddings, "events": events, "keys": keys}


# -- the stand-in keeps to the vendor's document ------------------------------------------------------
def _openapi_to_jsonschema(node):
    """OpenAPI 3.0 'nullable: true' -> JSON Schema 'or null'; everything else passes through."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi_to_jsonschema(v) for k, v in node.items() if k not in ("discriminator", "example")}
    if out.pop("nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def test_standin_answers_match_the_openapi_schemas(tave):
    import httpx
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    doc = _openapi_to_jsonschema(json.loads(OPENAPI_PATH.read_text()))
    registry = Registry().with_resource("urn:tave", DRAFT202012.create_resource(doc))

    def check(body, schema_name):
        v = Draft202012Validator({"$ref": f"urn:tave#/components/schemas/{schema_name}"}, registry=registry)
        errors = sorted(v.iter_errors(body), key=str)
        assert not errors, f"{schema_name}: {errors[0].message} at {list(errors[0].absolute_path)}"

    tave.add_wedding(*COUPLE_A, "2027-06-12")
    tave.add_wedding(*COUPLE_B, "2027-08-01", stage="lead", start_time=None)
    h = {"X-API-KEY": tave.api_key}
    with httpx.Client(base_url=tave.base_url) as c:
        for path, schema in (("/address-book", "AddressBookCollection"), ("/job", "JobCollection"),
                             ("/job-contact", "JobContactCollection"), ("/event", "EventCollection")):
            r = c.get(path, headers=h, params={"sortBy": "modified desc", "pageSize": 10})
            assert r.status_code == 200 and r.json()["items"], path
            check(r.json(), schema)
        check(c.get("/studio/me", headers=h).json(), "Studio")
        check(c.get("/job/" + tave.data["job"].popitem()[0], headers=h).json(), "Error")  # 404 body
        bad = c.get("/job", headers={"X-API-KEY": "nope"})
        assert bad.status_code == 401
        check(bad.json(), "Error")
        invalid = c.get("/job", headers=h, params={"pageSize": 500})
        assert invalid.status_code == 400
        check(invalid.json(), "ErrorValidation")
        tave.server.faults.queue.append("429")
        limited = c.get("/job", headers=h)
        assert limited.status_code == 429 and limited.headers["Retry-After"]
        check(limited.json(), "Error")
        assert limited.json()["type"] == "quota-limit"


# -- through the CLI, as users run it ----------------------------------------------------------------
def test_import_tave_creates_couples_weddings_and_events(cli, configured):
    a = configured.add_wedding(*COUPLE_A, "2027-06-12", venue="Kew Gardens")
    configured.add_event(a["job"]["id"], "Engagement shoot", "2027-03-01", "10:00:00", "12:00:00", venue="Richmond Park")
    configured.add_wedding(*COUPLE_B, "2027-08-01", stage="lead", start_time=None)
    closed = configured.add_wedding(("Kim", "Lee", "kim@example.net"), None, "2027-09-09", closed=True)
    configured.link(closed["job"]["id"], configured.add_person("Vera", "Vendor", "vera@flowers.example")["id"],
                    client=False)

    r = cli("import", "tave", "--json")
    assert r.exit_code == 0, r.stderr
    doc = r.json
    assert {k: doc[k] for k in ("source", "read", "created", "updated", "unchanged", "rejected", "dry_run")} == {
        "source": "tave", "read": 3, "created": 3, "updated": 0, "unchanged": 0, "rejected": 0, "dry_run": False}
    assert doc["mode"] == "full"
    assert "job.leadSourceName" not in doc["unmapped_fields"] and "event.channel" in doc["unmapped_fields"]

    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    state = _state(store)
    assert [c["display_name"] for c in state["clients"]] == ["Jane & John Smith", "Kim Lee", "Priya Patel & Sam Okafor"]
    by_job = {w["external_id"]: w for w in state["weddings"]}
    assert by_job[a["job"]["id"]]["status"] == "booked" and by_job[a["job"]["id"]]["venue"] == "Kew Gardens"
    assert by_job[closed["job"]["id"]]["status"] == "cancelled"  # closed booked job
    assert sorted(w["status"] for w in state["weddings"]) == ["booked", "cancelled", "lead"]
    jane = [e for e in state["events"] if e["job"] == a["job"]["id"]]
    assert [(e["kind"], e["start"], e["location"]) for e in jane] == [
        ("engagement", "2027-03-01T10:00:00+00:00", "Richmond Park"),
        ("wedding", "2027-06-12T13:00:00+01:00", "Kew Gardens")]
    priya = [e for e in state["events"] if e["title"] == "Wedding: Priya Patel & Sam Okafor"]
    assert priya and priya[0]["start"] == "2027-08-01" and priya[0]["end"] == "2027-08-02"  # all-day
    assert "vera@flowers.example" not in json.dumps(state)  # vendors on a job are not clients
    store.close()

    again = cli("import", "tave", "--json")
    assert again.exit_code == 0, again.stderr
    assert (again.json["mode"], again.json["created"], again.json["updated"], again.json["read"]) == ("incremental", 0, 0, 0)
    assert all(n == 1 for n in again.json["requests"].values())


def test_bad_key_exits_77_with_the_vendors_reason(cli, configured):
    cli("auth", "set", "tave", "--from-file", "-", input='{"api_key": "wrong-key-000000"}')
    r = cli("import", "tave")
    assert r.exit_code == 77, r.stderr
    assert "API key is missing or invalid" in r.stderr and "wedsync auth login tave" in r.stderr
    assert "Traceback" not in r.stderr and "wrong-key-000000" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_credential_exits_78(cli, configured, memory_keyring):
    memory_keyring.data.clear()
    r = cli("import", "tave")
    assert r.exit_code == 78 and "No credential is stored for tave" in r.stderr


def test_auth_status_check_calls_studio_me(cli, configured):
    r = cli("auth", "status", "--check", "--json")
    assert r.exit_code == 0, r.stderr
    entry = next(p for p in r.json["providers"] if p["provider"] == "tave")
    assert entry["check"]["ok"] is True and "Bright Lights Photography" in entry["check"]["detail"]
    assert configured.server.count("GET", r"/studio/me$") == 1


def test_rejected_record_has_its_reason_and_the_rest_import(cli, configured, tmp_path):
    configured.add_wedding(*COUPLE_A, "2027-06-12")
    bad = configured.add_wedding(("Bad", "Email", "bad@@example"), ("Ok", "Partner", "ok@example.com"), "2027-07-01")
    out = tmp_path / "rejects.csv"
    r = cli("import", "tave", "--rejects", str(out), "--json")
    assert r.exit_code == 1, r.stderr
    assert "1 of 2 records were rejected" in r.stderr and "correct them in Táve" in r.stderr
    assert (r.json["created"], r.json["rejected"]) == (1, 1)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 1 and "invalid email 'bad@@example'" in rows[0]["reason"]
    assert rows[0]["record"] == f"job {bad['job']['id']}"
    assert json.loads(rows[0]["raw"])["job"]["id"] == bad["job"]["id"]
    # human summary names the reason too
    r = cli("import", "tave", "--full")
    assert r.exit_code == 1 and "bad@@example" in r.stdout


def test_dry_run_writes_nothing(cli, configured):
    configured.add_wedding(*COUPLE_A, "2027-06-12")
    r = cli("import", "tave", "--dry-run", "--json")
    assert r.exit_code == 0 and r.json["created"] == 1 and r.json["dry_run"] is True
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    assert store.scalar("SELECT COUNT(*) FROM clients") == 0
    assert store.scalar("SELECT COUNT(*) FROM tave_objects") == 0
    assert store.get_cursor("source:tave") is None
    store.close()


def test_rate_limit_longer_than_the_run_exits_75(cli, configured):
    configured.add_wedding(*COUPLE_A, "2027-06-12")
    configured.server.faults.retry_after = "3600"
    configured.server.faults.queue.append("429")
    r = cli("import", "tave")
    assert r.exit_code == 75, r.stderr
    assert "3600" in r.stderr


# -- the core, with a FixedClock ------------------------------------------------------------------------
def test_thirty_percent_429_and_5xx_still_completes(rt, configured):
    from wedsync_cli.sources.tave import TaveSource

    configured.populate(150)  # 10 pages in all
    configured.server.faults.rate = 0.3
    configured.server.faults.kinds = ["429", "500", "503"]
    configured.server.faults.retry_after = "2"
    configured.server.faults._rng.seed(11)
    report = TaveSource(rt).sync()
    assert configured.server.faults.injected >= 3
    assert configured.server.count("GET") == 10 + configured.server.faults.injected
    assert (report.created, report.rejected) == (150, 0)
    assert rt.store.scalar("SELECT COUNT(*) FROM weddings") == 150
    assert rt.store.scalar("SELECT COUNT(*) FROM clients") == 150
    assert rt.store.scalar("SELECT COUNT(*) FROM events") == 150
    # the waits went through the injected clock, not real sleeps
    assert rt.clock.now() > datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_server_errors_that_do_not_stop_exit_69(rt, configured):
    from wedsync_cli.errors import ProviderUnavailable
    from wedsync_cli.sources.tave import TaveSource

    configured.add_wedding(*COUPLE_A, "2027-06-12")
    configured.server.faults.rate = 1.0
    configured.server.faults.kinds = ["503"]
    with pytest.raises(ProviderUnavailable) as exc:
        TaveSource(rt).sync()
    assert exc.value.exit_code == 69 and "temporary problem" in exc.value.sentence()
    assert rt.store.scalar("SELECT COUNT(*) FROM clients") == 0


def test_validation_error_body_becomes_a_sentence(rt, configured):
    from wedsync_cli.errors import DataError
    from wedsync_cli.sources.tave import TaveClient

    client = TaveClient(rt)
    with pytest.raises(DataError) as exc:
        client.get("/job", {"pageSize": 500})
    client.close()
    assert "Validation Error: pageSize: must be at most 100" in exc.value.sentence()


def test_incremental_after_n_modified_records_reads_one_page_per_resource(rt, configured):
    from wedsync_cli.sources.tave import TaveSource

    configured.populate(150)  # 300 contacts, 150 jobs, 300 links, 150 events: 2-3 pages each
    first = TaveSource(rt).sync()
    assert first.created == 150
    jobs = list(configured.data["job"])
    contacts = [c for c in configured.data["address-book"]]
    events = list(configured.data["event"])
    for jid in jobs[:4]:
        configured.modify("job", jid, stage="booked", closed=False)
    for cid in contacts[10:14]:
        configured.modify("address-book", cid, lastName="Renamed")
    configured.modify("event", events[20], startTime="15:30:00")
    configured.modify("event", events[21], hidden=True)
    configured.server.reset_requests()
    src = TaveSource(rt)
    report = src.sync()
    assert src.mode == "incremental"
    assert all(n <= 3 for n in src.requests.values()), src.requests
    assert sum(src.requests.values()) == configured.server.count("GET")
    # jobs 1-3 (job 0 was already booked), the 2 couples renamed, the moved and the hidden event
    assert (report.updated, report.unchanged, report.created) == (7, 1, 0)
    renamed = rt.store.scalar("SELECT COUNT(*) FROM clients WHERE p1_last = 'Renamed' OR p2_last = 'Renamed'")
    assert renamed == 2  # both partners of two couples
    moved = rt.store.one("SELECT start, version FROM events WHERE external_id = ?", [events[20]])
    assert moved["start"].endswith("T15:30:00+00:00") and moved["version"] == 2
    hidden = rt.store.one("SELECT deleted FROM events WHERE external_id = ?", [events[21]])
    assert hidden["deleted"] == 1


def test_booked_or_moved_wedding_bumps_event_version_and_emits_domain_events(rt, configured):
    from wedsync_cli.sources.tave import TaveSource

    lead = configured.add_wedding(*COUPLE_B, "2027-08-01", stage="lead")
    TaveSource(rt).sync()
    w = rt.store.one("SELECT status FROM weddings WHERE external_id = ?", [lead["job"]["id"]])
    assert w["status"] == "lead"
    configured.modify("job", lead["job"]["id"], stage="booked", eventDate="2027-08-08")
    configured.modify("event", lead["event"]["id"], startDate="2027-08-08", endDate="2027-08-08")
    TaveSource(rt).sync()
    w = rt.store.one("SELECT status, date FROM weddings WHERE external_id = ?", [lead["job"]["id"]])
    assert (w["status"], w["date"]) == ("booked", "2027-08-08")
    ev = rt.store.one("SELECT start, version FROM events WHERE external_id = ?", [lead["event"]["id"]])
    assert ev["start"].startswith("2027-08-08") and ev["version"] == 2
    types = [r["type"] for r in rt.store.query("SELECT type FROM domain_events ORDER BY id")]
    assert "wedding.booked" in types and "event.updated" in types


def test_full_reconcile_catches_deletions_incremental_cannot_see(rt, configured):
    from wedsync_cli.sources.tave import TaveSource

    keep = configured.add_wedding(*COUPLE_A, "2027-06-12")
    drop = configured.add_wedding(*COUPLE_B, "2027-08-01")
    extra = configured.add_event(keep["job"]["id"], "Consultation call", "2027-01-10", "18:00:00", "18:30:00")
    TaveSource(rt).sync()
    configured.delete("job", drop["job"]["id"])
    configured.delete("event", drop["event"]["id"])
    for link in [lk for lk in configured.data["job-contact"].values() if lk["jobId"] == drop["job"]["id"]]:
        configured.delete("job-contact", link["id"])
        configured.delete("address-book", link["contactId"])
    configured.delete("event", extra["id"])
    rt.clock.advance(days=1)
    inc = TaveSource(rt)
    inc.sync()
    assert inc.mode == "incremental"
    assert rt.store.one("SELECT status FROM weddings WHERE external_id = ?", [drop["job"]["id"]])["status"] == "booked"
    rt.clock.advance(days=7)  # full_reconcile_days (default 7) has passed
    full = TaveSource(rt)
    full.sync()
    assert full.mode == "full"
    assert full.deleted == {"job": 1, "event": 2, "job-contact": 2, "address-book": 2}
    assert rt.store.one("SELECT status FROM weddings WHERE external_id = ?", [drop["job"]["id"]])["status"] == "cancelled"
    gone = rt.store.query("SELECT external_id FROM events WHERE deleted = 1 ORDER BY external_id")
    assert {g["external_id"] for g in gone} == {drop["event"]["id"], extra["id"]}
    assert rt.store.one("SELECT status FROM weddings WHERE external_id = ?", [keep["job"]["id"]])["status"] == "booked"
    assert "event.deleted" in {r["type"] for r in rt.store.query("SELECT type FROM domain_events")}


def test_same_couple_from_csv_and_from_tave_is_one_client(rt, configured):
    from wedsync_cli.domain.models import ClientData, ImportRecord, Person, WeddingData
    from wedsync_cli.sources.tave import TaveSource
    from wedsync_cli.transform.engine import ImportEngine

    # the CSV import's record of the same couple (other case in the email, no phone, no times)
    csv_rec = ImportRecord(source="csv:clients", client=ClientData(
        partner1=Person(first="Jane", last="Smith", email="Jane@Example.com"),
        partner2=Person(first="John", last="Smith")), wedding=WeddingData(date="2027-06-12", venue="Kew"),
        raw={"Name": "Jane & John Smith"})
    ImportEngine(rt.store, source="csv:clients", timezone="Europe/London").apply([csv_rec])
    configured.add_wedding(*COUPLE_A, "2027-06-12")
    report = TaveSource(rt).sync()
    assert (report.created, report.updated) == (0, 1)
    assert rt.store.scalar("SELECT COUNT(*) FROM clients") == 1
    assert rt.store.scalar("SELECT COUNT(*) FROM weddings") == 1
    assert rt.store.scalar("SELECT COUNT(*) FROM events WHERE deleted = 0") == 1
    keys = {r["key"] for r in rt.store.query("SELECT key FROM client_keys")}
    assert "email:jane@example.com" in keys and any(k.startswith("ext:tave:") for k in keys)


# -- kill -9 then rerun == one clean run ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("point", ["tave.page:3", "import.record:7", "tave.before_commit", "tave.after_commit"])
def test_kill_9_during_import_then_rerun_equals_one_clean_run(cli_subprocess, configured, tmp_path, point):
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    configured.populate(12)
    # the subprocess's file-backed test keyring, written directly (saves a process start)
    (tmp_path / "test-keyring.json").write_text(json.dumps(
        {"wedsync:default\x00tave": json.dumps({"api_key": configured.api_key})}))

    killed = cli_subprocess("import", "tave", extra_env={"WEDSYNC_TEST_CRASH_AT": point})
    assert killed.exit_code == -9, (point, killed.stderr)
    again = cli_subprocess("import", "tave", "--json")
    assert again.exit_code == 0, again.stderr
    if point == "tave.after_commit":  # the first run had committed: nothing left to do
        assert again.json["created"] == 0
    store = Store(Paths.resolve().db_file)
    crashed_state, crashed_cursor = _state(store), store.get_cursor("source:tave")
    runs = store.query("SELECT outcome FROM job_runs WHERE job = 'import:tave' ORDER BY id")
    store.close()
    assert [r["outcome"] for r in runs] == ["crashed", "ok"]

    # one clean run of the same data, in-process in another home
    from wedsync_cli.runtime import Runtime
    from wedsync_cli.sources.tave import TaveSource

    clean = Runtime(paths=Paths.resolve(env={"WEDSYNC_HOME": str(tmp_path / "clean"),
                                             "WEDSYNC_CONFIG": str(tmp_path / "config.toml")}))
    clean.credentials.set("tave", {"api_key": configured.api_key})
    assert TaveSource(clean).sync().created == 12
    assert _state(clean.store) == crashed_state
    assert clean.store.get_cursor("source:tave")["bookmarks"] == crashed_cursor["bookmarks"]
    assert clean.store.scalar("SELECT COUNT(*) FROM clients") == 12
    clean.close()


# -- with the rest of the product ------------------------------------------------------------------------
def test_same_couple_from_a_csv_import_and_from_tave_is_one_client_cli(cli, configured, tmp_path):
    f = tmp_path / "clients.csv"
    f.write_text("First Name,Last Name,Email,Partner First Name,Partner Last Name,Wedding Date,Venue\n"
                 "Jane,Smith,JANE@example.com ,John,Smith,2027-06-12,Kew\n", encoding="utf-8")
    r = cli("import", "csv", str(f), "--json")
    assert r.exit_code == 0 and r.json["created"] == 1, r.stderr
    configured.add_wedding(*COUPLE_A, "2027-06-12")
    r = cli("import", "tave", "--json")
    assert r.exit_code == 0, r.stderr
    assert (r.json["created"], r.json["updated"]) == (0, 1)

    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    assert store.scalar("SELECT COUNT(*) FROM clients") == 1
    assert store.scalar("SELECT COUNT(*) FROM weddings") == 1
    assert store.scalar("SELECT COUNT(*) FROM events WHERE deleted = 0") == 1
    store.close()


def test_sync_carries_a_newly_booked_or_moved_wedding_to_the_calendar_in_one_run(cli, configured, config_file, tmp_path):
    cal = tmp_path / "calendar"
    cal.mkdir()
    config_file.write_text(config_file.read_text() + f'\n[calendars.diary]\nprovider = "local"\ncalendar = "{cal}"\n')
    lead = configured.add_wedding(*COUPLE_B, "2027-08-01", stage="lead")
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    assert not list(cal.glob("*.ics"))  # a lead is not on the calendar
    configured.modify("job", lead["job"]["id"], stage="booked")
    r = cli("sync", "--json")
    assert r.exit_code == 0, r.stderr
    runs = {x["name"]: x for x in r.json["runs"]}
    assert runs["studio"]["pulled"]["updated"] == 1 and runs["diary"]["pushed"]["created"] == 1
    files = list(cal.glob("*.ics"))
    assert len(files) == 1 and "20270801T130000" in files[0].read_text()
    configured.modify("job", lead["job"]["id"], eventDate="2027-08-15")
    configured.modify("event", lead["event"]["id"], startDate="2027-08-15", endDate="2027-08-15")
    r = cli("sync", "--json")
    runs = {x["name"]: x for x in r.json["runs"]}
    assert r.exit_code == 0 and runs["diary"]["pushed"]["updated"] == 1, r.stdout
    assert "20270815T130000" in list(cal.glob("*.ics"))[0].read_text()
    configured.modify("job", lead["job"]["id"], closed=True)  # cancelled in Táve: off the calendar
    r = cli("sync", "--json")
    runs = {x["name"]: x for x in r.json["runs"]}
    assert r.exit_code == 0 and runs["diary"]["pushed"]["deleted"] == 1, r.stdout
    assert not list(cal.glob("*.ics"))


def test_second_import_while_one_runs_exits_75_and_the_key_never_reaches_the_state(cli, configured, runtime):
    configured.add_wedding(*COUPLE_A, "2027-06-12")
    with runtime.job_lock("import"):
        r = cli("import", "tave")
    assert r.exit_code == 75 and "in progress" in r.stderr
    r = cli("import", "tave", "--json")
    assert r.exit_code == 0, r.stderr
    cli("auth", "set", "tave", "--from-file", "-", input='{"api_key": "wrong-key-000000"}')
    assert cli("import", "tave", "--full").exit_code == 77
    state_dir = runtime.paths.state_dir
    for f in state_dir.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert configured.api_key.encode() not in data and b"wrong-key-000000" not in data, f


def test_pages_without_meta_and_links_without_client_flags_still_import(rt, configured):
    from wedsync_cli.sources.tave import TaveSource

    configured.populate(130)  # 260 contacts: 3 pages of address-book
    for link in configured.data["job-contact"].values():
        link.update(client=None, roleKinds=[])  # nothing says who the client is
    vendor = configured.add_person("Vera", "Vendor", "vera@flowers.example", vendorRoleId="01h35ccwymj5ctckp8px1azhg6")
    first_job = next(iter(configured.data["job"]))
    configured.link(first_job, vendor["id"], client=False)
    configured.data["job-contact"][list(configured.data["job-contact"])[-1]].update(client=None, roleKinds=[])
    configured.include_meta = False
    src = TaveSource(rt)
    report = src.sync()
    assert (report.created, report.rejected) == (130, 0)
    assert src.requests["address-book"] == 3  # kept paging until a short page
    assert rt.store.scalar("SELECT COUNT(*) FROM clients WHERE p1_email LIKE 'vera%' OR p2_email LIKE 'vera%'") == 0


def test_a_server_that_ignores_sortby_is_read_to_the_end_rather_than_trusted(rt, configured):
    from wedsync_cli.sources.tave import TaveSource

    configured.populate(130)
    TaveSource(rt).sync()
    configured.honour_sort = False  # id order from now on
    last_contact = sorted(configured.data["address-book"])[-1]  # on the last page in id order
    configured.modify("address-book", last_contact, lastName="Latest")
    src = TaveSource(rt)
    report = src.sync()
    assert src.mode == "incremental" and src.requests["address-book"] == 3
    assert report.updated == 1
    assert rt.store.scalar("SELECT COUNT(*) FROM clients WHERE p1_last = 'Latest' OR p2_last = 'Latest'") == 1


def test_build_record_maps_stage_closed_and_events_given_only_as_utc_instants():
    from wedsync_cli.sources.tave import build_record, map_status

    assert [map_status({"stage": s, "closed": c}) for s, c in (
        ("lead", False), ("booked", False), ("fulfillment", False), ("completed", False),
        ("lead", True), ("booked", True), ("fulfillment", True))] == [
        "lead", "booked", "booked", "completed", "cancelled", "cancelled", "completed"]
    job = {"id": "j1", "stage": "booked", "closed": False, "eventDate": "2027-06-12"}
    jane = {"id": "c1", "kind": "person", "firstName": "Jane", "lastName": "Smith", "email": " Jane@Example.COM ",
            "cellPhone": {"formatted": "07700 900123", "e164": None}}
    ev = {"id": "e1", "jobId": "j1", "name": "Wedding", "startUtc": "2027-06-12T12:00:00Z",
          "endUtc": "2027-06-12T22:00:00Z", "timezoneName": "Europe/London"}
    rec = build_record(job, [jane], [ev], "Europe/London", "GB")
    assert rec.client.partner1.email == "jane@example.com" and rec.client.partner1.phone == "+447700900123"
    (e,) = rec.events
    assert (e.kind, e.start.isoformat(), e.end.isoformat()) == (
        "wedding", "2027-06-12T13:00:00+01:00", "2027-06-12T23:00:00+01:00")
    backwards = {**ev, "id": "e2", "name": "Portraits", "startUtc": "2027-06-12T15:00:00Z", "endUtc": "2027-06-12T14:00:00Z"}
    bad = build_record(job, [jane], [ev, backwards], "Europe/London", "GB")
    assert bad.reason.endswith("the event ends before it starts")
