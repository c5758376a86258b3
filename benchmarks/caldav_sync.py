"""CalDAV sync benchmark: `wedsync sync` against `vdirsyncer sync` (caldav -> filesystem pair) on the
same real Radicale, calendars seeded with 500 and 2,000 events, runs alternating in one process.

For each size: initial sync, no-change sync and sync after one remote edit; medians of wall time
(whole processes, as cron runs them), the ratio wedsync / vdirsyncer, our request count (from
`sync --json`) and the requests each tool made as the server saw them.
Goals (issue 3): no-change sync at most 0.25x vdirsyncer's time; a request count that does not grow
with the calendar's size.

Both tools run from byte-compiled modules, as after `pip install` (this script compiles wedsync_cli
first and lets the subprocesses write bytecode even when PYTHONDONTWRITEBYTECODE is set).

The seeded events are wedsync's own (the state holds the weddings, imported from a CSV; the server
holds their .ics written with our marker), so the initial wedsync sync really lists, fetches and
links every item, and vdirsyncer downloads every item.

    .venv/bin/python benchmarks/caldav_sync.py        # SIZES=500,2000 ROUNDS=5 INITIAL_ROUNDS=3
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.standins.radicale_server import RadicaleServer  # noqa: E402

SIZES = [int(s) for s in os.environ.get("SIZES", "500,2000").split(",")]
ROUNDS = int(os.environ.get("ROUNDS", "5"))
INITIAL_ROUNDS = int(os.environ.get("INITIAL_ROUNDS", "3"))
VDIRSYNCER = Path(sys.executable).parent / "vdirsyncer"
USER, PASSWORD = "alice", "bench-password"


def wedsync(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "wedsync_cli", *args], env=env, input=stdin, capture_output=True,
                       text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"wedsync {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return elapsed, json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}


def vdirsyncer(args: list[str], config: Path, stdin: str | None = None) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([str(VDIRSYNCER), *args], env={**os.environ, "VDIRSYNCER_CONFIG": str(config)},
                       input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"vdirsyncer {' '.join(args)} exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return elapsed


def clients_csv(n: int) -> str:
    rows = ["Couple,Email,Wedding Date,Start Time,End Time,Venue,Status"]
    day = date(2027, 1, 2)
    for i in range(n):
        rows.append(f"Partner{i} & Other{i} Family{i},couple{i}@example.com,"
                    f"{(day + timedelta(days=i % 1800)).isoformat()},13:00,22:00,Venue {i % 37},booked")
    return "\n".join(rows) + "\n"


def seed_server(srv: RadicaleServer, cal_id: str, db_file: Path, tz: str) -> int:
    """Write the .ics of every booked event in the state, exactly as the CalDAV backend would PUT it."""
    from wedsync_cli.calendars.backend import uid_for
    from wedsync_cli.calendars.caldav_backend import MARKER_PROP
    from wedsync_cli.calendars.engine import event_fields
    from wedsync_cli.calendars.ics import to_ics

    db = sqlite3.connect(db_file)
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT e.* FROM events e JOIN weddings w ON w.id = e.wedding_id "
                      "WHERE w.status = 'booked' AND e.deleted = 0").fetchall()
    db.close()
    items = {}
    for row in rows:
        uid = uid_for(row["id"])
        items[f"{row['id']}-wedsync.ics"] = to_ics(uid, event_fields(dict(row), tz), extra={MARKER_PROP: uid}).decode()
    srv.seed_events(USER, cal_id, items)
    return len(items)


def vdir_setup(work: Path, cal_url: str) -> Path:
    """A fresh vdirsyncer pair (caldav -> filesystem) with `discover` already run (not timed)."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "local").mkdir(parents=True)
    config = work / "config"
    config.write_text(f'''[general]
status_path = "{work}/status/"

[pair weddings]
a = "weddings_local"
b = "weddings_remote"
collections = null
conflict_resolution = "b wins"

[storage weddings_local]
type = "filesystem"
path = "{work}/local/"
fileext = ".ics"

[storage weddings_remote]
type = "caldav"
url = "{cal_url}"
username = "{USER}"
password = "{PASSWORD}"
''')
    vdirsyncer(["discover"], config, stdin="y\n")
    return config


def in_process_no_change(cal_url: str, db_file: Path, rounds: int = 15) -> float:
    """CalDAVBackend.changes(saved cursor) alone, without process start-up: the protocol's cost."""
    from datetime import UTC, datetime

    from wedsync_cli.calendars.backend import BackendContext
    from wedsync_cli.calendars.caldav_backend import CalDAVBackend
    from wedsync_cli.clock import FixedClock
    from wedsync_cli.http.client import CallRecorder

    class Creds:
        def require(self, provider, login_hint=None):
            return {"username": USER, "password": PASSWORD}

    db = sqlite3.connect(db_file)
    [(value,)] = db.execute("SELECT value FROM cursors WHERE key = 'calendar:studio'").fetchall()
    db.close()
    cursor = json.loads(value)
    times = []
    for _ in range(rounds):
        ctx = BackendContext(name="studio", calendar=cal_url, provider_config={}, credentials=Creds(),
                             clock=FixedClock(datetime(2027, 1, 1, tzinfo=UTC)), recorder=CallRecorder(),
                             state_dir=db_file.parent)
        t0 = time.perf_counter()
        ch = CalDAVBackend(ctx).changes(cursor)
        times.append(time.perf_counter() - t0)
        assert ch.items == [] and ch.requests == 1, (ch.items, ch.requests)
    return med(times) * 1000


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def bench_size(n: int, have_vdirsyncer: bool) -> dict:
    srv = RadicaleServer().start()
    work = Path(tempfile.mkdtemp(prefix=f"wedsync-bench-caldav-{n}-"))
    try:
        cal_id = "weddings"
        cal_url = srv.make_calendar(USER, cal_id)
        config = work / "config.toml"
        config.write_text(f'timezone = "Europe/London"\n\n[calendars.studio]\nprovider = "caldav"\n'
                          f'calendar = "{cal_url}"\n')
        base_env = {**os.environ, "PYTHONPATH": str(ROOT), "WEDSYNC_CONFIG": str(config),
                    "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
                    "WEDSYNC_TEST_KEYRING": str(work / "keyring.json")}
        template = work / "template"
        tenv = {**base_env, "WEDSYNC_HOME": str(template)}
        (work / "clients.csv").write_text(clients_csv(n))
        t0 = time.perf_counter()
        wedsync(["import", "csv", str(work / "clients.csv"), "--json"], tenv)
        wedsync(["auth", "set", "caldav", "--from-file", "-"], tenv,
                stdin=json.dumps({"username": USER, "password": PASSWORD}))
        seeded = seed_server(srv, cal_id, template / "default" / "wedsync.db", "Europe/London")
        t1 = time.perf_counter()
        srv.calendar(cal_url, timeout=900).get_objects_by_sync_token()  # Radicale builds its item cache
        print(f"  {n}: Radicale's first listing (cache build, not timed) {time.perf_counter() - t1:.1f} s",
              flush=True)
        print(f"  {n}: seeded {seeded} events (state + server) in {time.perf_counter() - t0:.1f} s", flush=True)

        res: dict[str, dict[str, list]] = {}

        def record(phase: str, tool: str, seconds: float, requests: int | None, server: int) -> None:
            r = res.setdefault(phase, {}).setdefault(tool, {"t": [], "req": [], "server": []})
            r["t"].append(seconds)
            if requests is not None:
                r["req"].append(requests)
            r["server"].append(server)

        def run_wedsync(phase: str, home: Path) -> None:
            srv.reset_requests()
            secs, out = wedsync(["sync", "--json"], {**base_env, "WEDSYNC_HOME": str(home)})
            [run] = out["runs"]
            if run["status"] != "ok":
                raise SystemExit(f"wedsync sync failed: {run['error']}")
            if phase == "initial" and run["pushed"] != {"created": 0, "updated": 0, "deleted": 0}:
                raise SystemExit(f"initial sync should only link the seeded items, pushed {run['pushed']}")
            record(phase, "wedsync", secs, run["requests"], srv.count())

        def run_vdir(phase: str, cfg: Path) -> None:
            srv.reset_requests()
            record(phase, "vdirsyncer", vdirsyncer(["sync"], cfg), None, srv.count())

        home = vcfg = None
        for i in range(INITIAL_ROUNDS):
            home = work / f"home{i}"
            shutil.copytree(template, home)
            steps = [lambda h=home: run_wedsync("initial", h)]
            if have_vdirsyncer:
                vcfg = vdir_setup(work / f"vdir{i}", cal_url)
                steps.append(lambda c=vcfg: run_vdir("initial", c))
            for step in steps if i % 2 == 0 else reversed(steps):
                step()
        for i in range(ROUNDS):
            steps = [lambda: run_wedsync("no-change", home)]
            if have_vdirsyncer:
                steps.append(lambda: run_vdir("no-change", vcfg))
            for step in steps if i % 2 == 0 else reversed(steps):
                step()
        cal = srv.calendar(cal_url)
        objs = list(cal.get_objects_by_sync_token())
        for i in range(ROUNDS):
            obj = cal.event_by_url(objs[i * 7 % len(objs)].url)
            obj.load()
            obj.icalendar_component["SUMMARY"] = f"Edited elsewhere {i}"
            obj.save(precondition="etag", increase_seqno=False)
            steps = [lambda: run_wedsync("one-edit", home)]
            if have_vdirsyncer:
                steps.append(lambda: run_vdir("one-edit", vcfg))
            for step in steps if i % 2 == 0 else reversed(steps):
                step()
        res["in-process"] = {"changes_ms": in_process_no_change(cal_url, home / "default" / "wedsync.db")}
        return res
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "wedsync_cli"), str(ROOT / "tests" / "support")],
                   check=False)
    have_vdirsyncer = VDIRSYNCER.exists()
    if not have_vdirsyncer:
        print("vdirsyncer is not installed (pip install -e '.[bench]'): wedsync figures only")
    floor = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "wedsync_cli", "--help"], capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        floor.append(time.perf_counter() - t0)
    print(f"CalDAV sync benchmark (Radicale, in-process; ROUNDS={ROUNDS}, INITIAL_ROUNDS={INITIAL_ROUNDS}); "
          f"`wedsync --help` process floor {med(floor) * 1000:.0f} ms")
    results = {n: bench_size(n, have_vdirsyncer) for n in SIZES}

    print()
    print(f"{'events':>6}  {'phase':<10} {'wedsync ms':>10} {'vdirsyncer ms':>13} {'ratio':>6}  "
          f"{'wedsync requests':>16} {'server saw (wedsync / vdirsyncer)':>34}")
    summary = {}
    for n, res in results.items():
        for phase in ("initial", "no-change", "one-edit"):
            w = res[phase]["wedsync"]
            v = res[phase].get("vdirsyncer")
            wt, vt = med(w["t"]) * 1000, (med(v["t"]) * 1000 if v else float("nan"))
            ratio = wt / vt if v else float("nan")
            reqs = sorted(set(w["req"]))
            server = f"{med(w['server']):.0f} / {med(v['server']):.0f}" if v else f"{med(w['server']):.0f} / -"
            print(f"{n:>6}  {phase:<10} {wt:>10.0f} {vt:>13.0f} {ratio:>6.2f}  {','.join(map(str, reqs)):>16} "
                  f"{server:>34}")
            summary[f"{n}/{phase}"] = {"wedsync_ms": round(wt), "vdirsyncer_ms": round(vt) if v else None,
                                       "ratio": round(ratio, 3) if v else None, "wedsync_requests": reqs}
    for n, res in results.items():
        print(f"{n:>6}  in-process CalDAVBackend.changes() with nothing to do: {res['in-process']['changes_ms']:.1f} ms "
              "(1 REPORT, mostly Radicale computing its current token over the collection; the rest of "
              "a no-change run is process start-up)")
        summary[f"{n}/in-process-no-change-ms"] = round(res["in-process"]["changes_ms"], 1)
    nc = [summary[f"{n}/no-change"] for n in SIZES]
    print()
    print("goal: no-change sync <= 0.25x vdirsyncer: "
          + ", ".join(f"{n} events {s['ratio']}x" for n, s in zip(SIZES, nc, strict=True)))
    print("goal: requests not growing with size (no-change): "
          + ", ".join(f"{n} events {s['wedsync_requests']}" for n, s in zip(SIZES, nc, strict=True)))
    print(json.dumps({"benchmark": "caldav_sync", "results": summary}))


if __name__ == "__main__":
    main()
