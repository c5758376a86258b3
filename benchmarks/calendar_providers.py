"""Google Calendar and Microsoft Graph: requests per incremental `wedsync sync` with k remote changes.

Runs the real CLI (a subprocess per sync, as cron does) against the loopback stand-ins
(tests/standins/google_calendar.py, tests/standins/graph.py) holding N of our events. For each
provider and page size: the initial sync, then k = 0, 1, 10, 100 events edited in the calendar
before each incremental sync (ROUNDS times each). Prints median wall time, the requests the run
reported, the pages the changes need (ceil(k / page size), at least 1) and the constant left over.
Goal: requests = pages of changes + a constant.

    .venv/bin/python benchmarks/calendar_providers.py      # N=300 ROUNDS=3 by default
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
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.standins.google_calendar import GoogleCalendarStandin  # noqa: E402
from tests.standins.graph import GraphStandin  # noqa: E402

N = int(os.environ.get("N", "300"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
KS = (0, 1, 10, 100)
NOW = "2026-11-25T10:00:00Z"


def wedsync(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[float, dict]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "wedsync_cli", *args], env=env, input=stdin, capture_output=True,
                       text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"wedsync {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return elapsed, (json.loads(p.stdout) if p.stdout.strip().startswith("{") else {})


def seed(home: Path, env: dict[str, str], n: int) -> None:
    """N booked weddings straight into the state (the import is benchmarked elsewhere)."""
    os.environ.update({k: env[k] for k in ("WEDSYNC_HOME", "WEDSYNC_CONFIG")})
    from zoneinfo import ZoneInfo

    from tests.calendars.helpers import seed_wedding
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    day = datetime(2027, 1, 2, 13, tzinfo=ZoneInfo("Europe/London"))
    for i in range(n):
        seed_wedding(store, name=f"Couple {i}", day=day + timedelta(days=i))
    store.close()


def edit_remote(provider: str, standin, calendar: str, k: int, round_no: int) -> None:
    live = standin.live_events(calendar)[:k]
    for ev in live:
        if provider == "google":
            standin.put_event(calendar, {"id": ev["id"], "summary": f"{ev['summary'].split(' #')[0]} #{round_no}"})
        else:
            standin.put_event(calendar, {"subject": f"{ev['subject'].split(' #')[0]} #{round_no}"}, eid=ev["id"])


def bench(provider: str, page_size: int | None) -> list[str]:
    if provider == "google":
        standin, calendar = GoogleCalendarStandin(calendars=("studio-cal",)).start(), "studio-cal"
    else:
        standin, calendar = GraphStandin(calendars=("AAMkStudio=",)).start(), "AAMkStudio="
    work = Path(tempfile.mkdtemp(prefix=f"wedsync-bench-{provider}-"))
    page_line = f"page_size = {page_size}\n" if page_size else ""
    (work / "config.toml").write_text(
        f'timezone = "Europe/London"\n[providers.{provider}]\nbase_url = "{standin.url}"\n'
        f'token_url = "{standin.oauth.token_url}"\n{page_line}'
        f'[calendars.studio]\nprovider = "{provider}"\ncalendar = "{calendar}"\n')
    env = {**os.environ, "WEDSYNC_HOME": str(work / "home"), "WEDSYNC_CONFIG": str(work / "config.toml"),
           "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
           "WEDSYNC_TEST_KEYRING": str(work / "keyring.json"), "WEDSYNC_NOW": NOW,
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cred = standin.oauth.new_credential(client_secret=None if provider == "outlook" else "cs")
    wedsync(["auth", "set", provider, "--from-file", "-"], env, stdin=json.dumps(cred))
    seed(work / "home", env, N)
    size = page_size or (250 if provider == "google" else 100)
    lines = []
    t, doc = wedsync(["sync", "--json"], env)
    run = doc["runs"][0]
    assert run["pushed"]["created"] == N, run
    lines.append(f"{provider:8} page={size:<4} initial sync of {N}: {t * 1000:7.0f} ms, {run['requests']} requests")
    round_no = 0
    for k in KS:
        times, reqs = [], []
        for _ in range(ROUNDS):
            round_no += 1
            edit_remote(provider, standin, calendar, k, round_no)
            t, doc = wedsync(["sync", "--json"], env)
            run = doc["runs"][0]
            assert run["status"] == "ok" and run["pulled"]["updated"] == k, run
            times.append(t)
            reqs.append(run["requests"])
        pages = max(1, math.ceil(k / size))
        med = statistics.median(reqs)
        lines.append(f"{provider:8} page={size:<4} k={k:<4} median {statistics.median(times) * 1000:6.0f} ms  "
                     f"requests {med:>4g} (runs: {reqs})  pages of changes {pages:>2}  constant {med - pages:g}")
    standin.stop()
    return lines


def main() -> None:
    print(f"N={N} events per calendar, {ROUNDS} rounds per k; every sync is `wedsync sync --json` in a subprocess")
    for provider in ("google", "outlook"):
        for page_size in (None, 25):
            for line in bench(provider, page_size):
                print(line, flush=True)


if __name__ == "__main__":
    main()
