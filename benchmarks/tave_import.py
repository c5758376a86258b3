"""Táve import benchmark: `wedsync import tave` (the real CLI, in a subprocess) against the loopback
stand-in holding 10,000 contacts and 5,000 jobs (plus 10,000 job-contacts and 5,000 events).

Prints: full-import wall time (median of ROUNDS fresh states) and its request count against the
physical floor (total records / 100 per page); then an incremental sync after 10 modified records,
with requests per resource (goal: at most 3 each).

    .venv/bin/python benchmarks/tave_import.py            # ROUNDS=3 JOBS=5000 by default
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.standins.tave import TaveStandin  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "3"))
JOBS = int(os.environ.get("JOBS", "5000"))


def run(args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "wedsync_cli", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"wedsync {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return elapsed, json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}


def main() -> None:
    standin = TaveStandin().start()
    t0 = time.perf_counter()
    standin.populate(JOBS)
    counts = {r: len(v) for r, v in standin.data.items()}
    total = sum(counts.values())
    floor = sum(math.ceil(n / 100) for n in counts.values())
    print(f"stand-in: {counts} = {total} records (built in {time.perf_counter() - t0:.1f} s)")
    work = Path(tempfile.mkdtemp(prefix="wedsync-bench-tave-"))
    (work / "config.toml").write_text(
        f'timezone = "Europe/London"\n[sources.studio]\nprovider = "tave"\n'
        f'[providers.tave]\nbase_url = "{standin.base_url}"\n')
    base_env = {**os.environ, "PYTHONPATH": str(ROOT), "WEDSYNC_CONFIG": str(work / "config.toml"),
                "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
                "WEDSYNC_TEST_KEYRING": str(work / "keyring.json")}
    run(["auth", "set", "tave", "--from-file", str(_key_file(work, standin.api_key))],
        {**base_env, "WEDSYNC_HOME": str(work / "h0")})

    times, requests = [], []
    for i in range(ROUNDS):
        env = {**base_env, "WEDSYNC_HOME": str(work / f"h{i}")}
        standin.server.reset_requests()
        elapsed, doc = run(["import", "tave", "--json"], env)
        assert doc["created"] == JOBS, doc
        times.append(elapsed)
        requests.append(standin.server.count("GET"))
    print(f"full import: median {statistics.median(times):.2f} s over {ROUNDS} fresh states "
          f"({', '.join(f'{t:.2f}' for t in times)}); {int(statistics.median(requests))} requests, "
          f"physical floor {floor} (ratio {statistics.median(requests) / floor:.2f}); "
          f"{JOBS / statistics.median(times):.0f} jobs/s")

    # incremental: 10 modified records across the resources, then one sync
    jobs = list(standin.data["job"])
    contacts = list(standin.data["address-book"])
    events = list(standin.data["event"])
    for jid in jobs[100:104]:
        standin.modify("job", jid, stage="booked", closed=False)
    for cid in contacts[500:504]:
        standin.modify("address-book", cid, lastName="Moved")
    for eid in events[900:902]:
        standin.modify("event", eid, startTime="16:00:00")
    env = {**base_env, "WEDSYNC_HOME": str(work / "h0")}
    standin.server.reset_requests()
    elapsed, doc = run(["import", "tave", "--json"], env)
    per = doc["requests"]
    print(f"incremental after 10 modified records: {elapsed:.2f} s, {standin.server.count('GET')} requests "
          f"({', '.join(f'{k} {v}' for k, v in per.items())}); goal <= 3 per resource: "
          f"{'met' if all(v <= 3 for v in per.values()) else 'MISSED'}; updated {doc['updated']}, "
          f"unchanged {doc['unchanged']}, mode {doc['mode']}")
    standin.stop()


def _key_file(work: Path, key: str) -> Path:
    p = work / "key.json"
    p.write_text(json.dumps({"api_key": key}))
    return p


if __name__ == "__main__":
    main()
