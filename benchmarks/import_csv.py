"""`wedsync import csv` against `sqlite-utils upsert --csv --pk` on the same generated 100,000-row
realistic client CSV, alternating in one run. Prints both medians and the ratio (goal <= 1.0:
our import, which validates, normalises and dedups, is no slower than sqlite-utils' raw upsert).

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


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, p


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
        for rnd in range(args.rounds):
            home = work / f"home{rnd}"
            cfg = work / "config.toml"
            cfg.write_text('timezone = "Europe/London"\n')
            env = {**os.environ, "WEDSYNC_HOME": str(home), "WEDSYNC_CONFIG": str(cfg), "PYTHONPATH": str(ROOT)}
            # alternate which goes first, so neither always gets the warm page cache
            order = ["ours", "theirs"] if rnd % 2 == 0 else ["theirs", "ours"]
            for which in order:
                if which == "ours":
                    dt, p = run([sys.executable, "-m", "wedsync_cli", "import", "csv", str(src), "--json"], env)
                    if p.returncode != 0:
                        sys.exit(f"wedsync import failed ({p.returncode}): {p.stderr[-500:]}")
                    doc = json.loads(p.stdout)
                    ours.append(dt)
                    print(f"round {rnd + 1}: wedsync import csv      {dt:6.2f} s  created={doc['created']} "
                          f"updated={doc['updated']} unchanged={doc['unchanged']} rejected={doc['rejected']}")
                else:
                    db = work / f"su{rnd}.db"
                    dt, p = run([str(BIN / "sqlite-utils"), "upsert", str(db), "clients", str(src), "--csv",
                                 "--pk", "ID"], env)
                    if p.returncode != 0:
                        sys.exit(f"sqlite-utils failed: {p.stderr[-500:]}")
                    theirs.append(dt)
                    print(f"round {rnd + 1}: sqlite-utils upsert --csv {dt:6.2f} s")
            dt, p = run([sys.executable, "-m", "wedsync_cli", "import", "csv", str(src), "--json"], env)
            doc = json.loads(p.stdout)
            reimport.append(dt)
            print(f"round {rnd + 1}: wedsync re-import (all unchanged={doc['unchanged']}) {dt:6.2f} s")
            shutil.rmtree(home, ignore_errors=True)
        m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
        print()
        print(f"rows: {args.rows}   rounds: {args.rounds}")
        print(f"median wedsync import csv:        {m_ours:.2f} s ({args.rows / m_ours:,.0f} rows/s)")
        print(f"median sqlite-utils upsert --csv: {m_theirs:.2f} s ({args.rows / m_theirs:,.0f} rows/s)")
        print(f"median wedsync re-import:         {statistics.median(reimport):.2f} s")
        print(f"ratio wedsync / sqlite-utils:     {m_ours / m_theirs:.2f} (goal <= 1.0)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
