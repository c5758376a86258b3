"""`wedsync import csv` against `sqlite-utils upsert --csv --pk` on the same generated 100,000-row
realistic client CSV, alternating in one run. Prints both medians and the ratio (goal <= 1.0:
our import, which validates, normalises and dedups, is no slower than sqlite-utils' raw upsert).
Also a re-import of the unchanged file after each round, and for every run its own CPU time
(user + system: steadier than wall time on a busy machine) and peak memory (from os.wait4).

    python benchmarks/import_csv.py [--rows N] [--rounds R]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIRST = ["Amelia", "Olivia", "Isla", "Ava", "Mia", "Sophie", "Grace", "Chloé", "Zoë", "Freya", "Priya", "Aisha",
         "Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Théo", "Søren", "James", "Ravi", "Omar", "Tomás"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "O'Brien", "McDonald", "Patel", "Khan",
        "Nowak", "García", "Müller", "van der Berg", "Lefèvre", "Murphy", "Kelly", "Evans", "Walker", "Wright"]
VENUES = ["Hengrave Hall", "The Barn at Bury, Suffolk", "St Mary's Church, Lavenham", "Kew Gardens", "Pennard House",
          "Leez Priory, Essex", "The Ned, London", "Chewton Glen", "Cripps Barn", ""]
STATUSES = ["booked"] * 6 + ["lead", "lead", "cancelled", ""]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID", "Couple", "Email", "Partner Email", "Phone", "Wedding Date", "Start Time", "End Time",
                    "Venue", "Status", "Lead Source"])
        for i in range(rows):
            a, b = rng.choice(FIRST), rng.choice(FIRST)
            last = rng.choice(LAST)
            couple = rng.choice([f"{a} & {b} {last}", f"{last}, {a} and {b}", f"{a} {last} and {b} {rng.choice(LAST)}"])
            day = date(2026, 1, 1) + timedelta(days=rng.randint(0, 1000))
            timed = rng.random() < 0.5
            w.writerow([
                f"C{i:06d}", couple, f"{a.lower()}.{i}@example.com".replace("é", "e").replace("ë", "e"),
                f"{b.lower()}{i}@example.org".replace("é", "e").replace("ë", "e").replace("ø", "o") if rng.random() < 0.5 else "",
                rng.choice([f"07{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                            f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"]),
                day.strftime("%d/%m/%Y") if rng.random() < 0.7 else day.isoformat(),
                "14:00" if timed else "", "23:30" if timed else "", rng.choice(VENUES), rng.choice(STATUSES),
                rng.choice(["Instagram", "Google", "Friend", ""]),
            ])


@dataclass
class Usage:
    cpu: float = 0.0     # user + system seconds of the child (less sensitive to a busy machine)
    peak_mb: float = 0.0  # maximum resident set size


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess, Usage]:
    """Wall time, output and the child's own CPU time and peak memory (os.wait4's rusage)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        p = subprocess.CompletedProcess(cmd, proc.returncode, out.read().decode(), err.read().decode())
    return dt, p, Usage(ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wedsync-bench-import-"))
    try:
        src = work / "clients.csv"
        generate(src, args.rows)
        size_mb = src.stat().st_size / 1e6
        print(f"generated {args.rows} rows ({size_mb:.1f} MB)")
        ours: list[float] = []
        theirs: list[float] = []
        reimport: list[float] = []
        use: dict[str, list[Usage]] = {"ours": [], "theirs": [], "again": []}
        for rnd in range(args.rounds):
            home = work / f"home{rnd}"
            cfg = work / "config.toml"
            cfg.write_text('timezone = "Europe/London"\n')
            env = {**os.environ, "WEDSYNC_HOME": str(home), "WEDSYNC_CONFIG": str(cfg), "PYTHONPATH": str(ROOT)}
            # alternate which goes first, so neither always gets the warm page cache
            order = ["ours", "theirs"] if rnd % 2 == 0 else ["theirs", "ours"]
            for which in order:
                if which == "ours":
                    dt, p, u = run([sys.executable, "-m", "wedsync_cli", "import", "csv", str(src), "--json"], env)
                    if p.returncode != 0:
                        sys.exit(f"wedsync import failed ({p.returncode}): {p.stderr[-500:]}")
                    doc = json.loads(p.stdout)
                    ours.append(dt)
                    use["ours"].append(u)
                    print(f"round {rnd + 1}: wedsync import csv      {dt:6.2f} s  (cpu {u.cpu:5.2f} s, peak {u.peak_mb:4.0f} MB)"
                          f"  created={doc['created']} updated={doc['updated']} unchanged={doc['unchanged']} "
                          f"rejected={doc['rejected']}")
                else:
                    db = work / f"su{rnd}.db"
                    dt, p, u = run([str(BIN / "sqlite-utils"), "upsert", str(db), "clients", str(src), "--csv",
                                    "--pk", "ID"], env)
                    if p.returncode != 0:
                        sys.exit(f"sqlite-utils failed: {p.stderr[-500:]}")
                    theirs.append(dt)
                    use["theirs"].append(u)
                    print(f"round {rnd + 1}: sqlite-utils upsert --csv {dt:6.2f} s  (cpu {u.cpu:5.2f} s, peak {u.peak_mb:4.0f} MB)")
            dt, p, u = run([sys.executable, "-m", "wedsync_cli", "import", "csv", str(src), "--json"], env)
            if p.returncode != 0:
                sys.exit(f"wedsync re-import failed ({p.returncode}): {p.stderr[-500:]}")
            doc = json.loads(p.stdout)
            reimport.append(dt)
            use["again"].append(u)
            print(f"round {rnd + 1}: wedsync re-import       {dt:6.2f} s  (cpu {u.cpu:5.2f} s, peak {u.peak_mb:4.0f} MB)"
                  f"  unchanged={doc['unchanged']}")
            shutil.rmtree(home, ignore_errors=True)
        m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
        print()
        print(f"rows: {args.rows}   rounds: {args.rounds}")
        print(f"median wedsync import csv:        {m_ours:.2f} s ({args.rows / m_ours:,.0f} rows/s)")
        print(f"median sqlite-utils upsert --csv: {m_theirs:.2f} s ({args.rows / m_theirs:,.0f} rows/s)")
        print(f"median wedsync re-import:         {statistics.median(reimport):.2f} s "
              f"({statistics.median(reimport) / m_ours:.2f} of a first import)")
        print(f"ratio wedsync / sqlite-utils:     {m_ours / m_theirs:.2f} (goal <= 1.0)")
        cpu = {k: statistics.median(x.cpu for x in v) for k, v in use.items()}
        peak = {k: max(x.peak_mb for x in v) for k, v in use.items()}
        print(f"median CPU (user+sys): wedsync {cpu['ours']:.2f} s, sqlite-utils {cpu['theirs']:.2f} s, "
              f"re-import {cpu['again']:.2f} s; CPU ratio {cpu['ours'] / cpu['theirs']:.2f}")
        print(f"peak memory: wedsync {peak['ours']:.0f} MB, re-import {peak['again']:.0f} MB, "
              f"sqlite-utils {peak['theirs']:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
