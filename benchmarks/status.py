"""Benchmark: `status --json` and `wedding-day status --json` on a large state.

Builds a throwaway state with 1,000,000 recorded HTTP calls (7 days, 6 providers) and 10,000
booked weddings (with events, clients, 40,000 job runs), folds the calls into rollups the way the
cron jobs do, then times both commands in-process (the core) and as real subprocesses (what a
user or monitoring script pays, interpreter start included). Goal: under 300 ms each.
Self-contained: `python benchmarks/status.py` (run by `make bench`).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_CALLS = int(os.environ.get("BENCH_CALLS", 1_000_000))
N_WEDDINGS = int(os.environ.get("BENCH_WEDDINGS", 10_000))
NOW = datetime(2026, 6, 13, 11, 0, tzinfo=UTC)  # a Saturday: the protocol is active
PROVIDERS = {"google": ["events.list", "events.insert", "events.patch"], "outlook": ["delta", "events.create"],
             "caldav": ["REPORT", "PUT"], "tave": ["job.list", "address-book"], "resend": ["emails.send"],
             "sendgrid": ["mail.send"]}


def build(home: Path, config: Path) -> dict:
    from wedsync_cli.clock import FixedClock, iso
    from wedsync_cli.monitoring import metrics
    from wedsync_cli.store import Store

    config.write_text('timezone = "Europe/London"\n[email]\nproviders = ["resend", "sendgrid"]\n'
                      '[calendars.studio]\nprovider = "google"\ncalendar = "primary"\n'
                      '[calendars.office]\nprovider = "caldav"\ncalendar = "https://dav.example/cal/"\n'
                      '[sources.crm]\nprovider = "tave"\n')
    store = Store(home / "default" / "wedsync.db", FixedClock(NOW))
    conn = store.db.conn
    rng = random.Random(7)
    t0 = time.perf_counter()
    ops = [(p, o) for p, os_ in PROVIDERS.items() for o in os_]
    span = 7 * 86400
    batch = []
    conn.execute("BEGIN")
    for i in range(N_CALLS):
        p, o = ops[i % len(ops)]
        at = iso(NOW - timedelta(seconds=span * (N_CALLS - i) / N_CALLS))
        fail = rng.random() < 0.02
        batch.append((at, p, o, "GET", 503 if fail else 200, "error" if fail else "ok", rng.lognormvariate(4.5, 0.6)))
        if len(batch) == 50_000:
            conn.executemany("INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms)"
                             " VALUES (?,?,?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        conn.executemany("INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms)"
                         " VALUES (?,?,?,?,?,?,?)", batch)
    stamp = iso(NOW)
    start_day = date(2021, 1, 1)
    clients, weddings, events = [], [], []
    for i in range(N_WEDDINGS):
        d = start_day + timedelta(days=rng.randrange(0, 3650))
        if i % 3 == 0:
            d = date(2026, 6, 13) if i < 30 else d + timedelta(days=(5 - d.weekday()) % 7)
        cid, wid = f"c{i:06d}", f"w{i:06d}"
        clients.append((cid, "couple", f"Partner{i} & Other{i} Smith", "h", stamp, stamp))
        weddings.append((wid, cid, d.isoformat(), f"Venue {i % 300}", "booked" if i % 5 else "completed", "h", stamp, stamp))
        h = 10 + i % 8
        events.append((f"e{i:06d}a", wid, "wedding", "Wedding", 0, f"{d.isoformat()}T{h:02d}:00:00+01:00",
                       f"{d.isoformat()}T{h + 5:02d}:00:00+01:00", "h", stamp, stamp))
        if i % 2:
            c = d - timedelta(days=120)
            events.append((f"e{i:06d}b", wid, "consultation", "Consultation", 0, f"{c.isoformat()}T10:00:00+00:00",
                           f"{c.isoformat()}T11:00:00+00:00", "h", stamp, stamp))
    conn.executemany("INSERT INTO clients(id, kind, display_name, content_hash, created_at, updated_at) VALUES (?,?,?,?,?,?)", clients)
    conn.executemany("INSERT INTO weddings(id, client_id, date, venue, status, content_hash, created_at, updated_at) "
                     "VALUES (?,?,?,?,?,?,?,?)", weddings)
    conn.executemany("INSERT INTO events(id, wedding_id, kind, title, all_day, start, end, content_hash, created_at, updated_at) "
                     "VALUES (?,?,?,?,?,?,?,?,?,?)", events)
    runs = []
    for i in range(40_000):
        job = ("sync:studio", "sync:office", "send", "health")[i % 4]
        st = NOW - timedelta(minutes=2 * (40_000 - i))
        runs.append((job, iso(st), iso(st + timedelta(seconds=3)), "ok" if i % 17 else "failed"))
    conn.executemany("INSERT INTO job_runs(job, started_at, ended_at, outcome) VALUES (?,?,?,?)", runs)
    conn.executemany("INSERT INTO conflicts(calendar, event_id, local, remote, detected_at) VALUES ('studio', ?, '{}', '{}', ?)",
                     [(f"e{i:06d}a", stamp) for i in range(0, 300, 3)])
    conn.execute("COMMIT")
    built = time.perf_counter() - t0
    t1 = time.perf_counter()
    folded = metrics.rollup(store)
    rolled = time.perf_counter() - t1
    rollup_rows = store.scalar("SELECT COUNT(*) FROM http_rollups")
    store.execute("ANALYZE")
    store.close()
    return {"build_s": round(built, 1), "rollup_s": round(rolled, 1), "folded": folded, "rollup_rows": rollup_rows,
            "events": len(events)}


def median_ms(fn, n: int) -> tuple[float, list[float]]:
    xs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    return statistics.median(xs), xs


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="wedsync-bench-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "WEDSYNC_HOME": str(tmp / "home"), "WEDSYNC_CONFIG": str(tmp / "config.toml"),
               "WEDSYNC_NOW": NOW.isoformat(), "PYTHONPATH": str(ROOT)}
        env.pop("WEDSYNC_PROFILE", None)
        os.environ.update({k: env[k] for k in ("WEDSYNC_HOME", "WEDSYNC_CONFIG", "WEDSYNC_NOW")})
        info = build(tmp / "home", tmp / "config.toml")
        print(f"state: {N_CALLS:,} recorded calls, {N_WEDDINGS:,} weddings ({info['events']:,} events), 40,000 job runs; "
              f"built in {info['build_s']} s; rollup of {info['folded']:,} calls took {info['rollup_s']} s "
              f"-> {info['rollup_rows']:,} hourly rows")

        from wedsync_cli.monitoring.status import overall_status, wedding_day_status
        from wedsync_cli.paths import Paths
        from wedsync_cli.runtime import Runtime

        def core(fn):
            def run():
                rt = Runtime(paths=Paths.resolve())
                try:
                    json.dumps(fn(rt), default=str)
                finally:
                    rt.close()
            return run

        results = {}
        for name, fn in (("status", overall_status), ("wedding-day status", wedding_day_status)):
            results[name] = median_ms(core(fn), 9)[0]
        cmds = {"status": ["status", "--json"], "wedding-day status": ["wedding-day", "status", "--json"]}
        sub = {}
        for name, args in cmds.items():
            def run(args=args):
                p = subprocess.run([sys.executable, "-m", "wedsync_cli", *args], env=env, capture_output=True, text=True)
                assert p.returncode == 0, p.stderr
                return p.stdout
            doc = json.loads(run())
            sub[name] = median_ms(run, 7)[0]
            if name == "wedding-day status":
                print(f"  wedding-day status: {len(doc['weddings'])} weddings today, protocol active={doc['protocol']['active']}, "
                      f"{len(doc['risks'])} risks")
            else:
                print(f"  status: {len(doc['jobs'])} jobs, {len(doc['providers'])} providers, "
                      f"{doc['double_bookings_total']} double bookings ahead, {doc['conflicts']} conflicts")
        base = median_ms(lambda: subprocess.run([sys.executable, "-m", "wedsync_cli", "--version"], env=env,
                                                capture_output=True), 7)[0]
        print(f"{'command':<22}{'core median ms':>16}{'subprocess median ms':>22}{'goal':>8}")
        for name in cmds:
            ok = "ok" if sub[name] < 300 else "MISSED"
            print(f"{name + ' --json':<22}{results[name]:>16.1f}{sub[name]:>22.1f}{'<300':>8} {ok}")
        print(f"(interpreter + CLI start alone, `wedsync --version`: {base:.1f} ms; "
              f"ratio status/startup {sub['status'] / base:.2f}, wedding-day/startup {sub['wedding-day status'] / base:.2f})")
        # what a reader pays when the last cron rollup is behind by 10,000 calls
        from wedsync_cli.store import Store

        store = Store(tmp / "home" / "default" / "wedsync.db")
        with store.transaction():
            store.db.conn.executemany(
                "INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms) VALUES (?,?,?,?,?,?,?)",
                [(NOW.isoformat(), "google", "events.list", "GET", 200, "ok", 80.0)] * 10_000)
        store.close()
        lag = median_ms(core(overall_status), 5)[0]
        print(f"status core with 10,000 calls not yet rolled up: {lag:.1f} ms")


if __name__ == "__main__":
    main()
