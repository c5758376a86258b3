"""Start-up cost of the commands cron runs, as whole processes on a small state.

`status --json`, `wedding-day status --json`, `--quiet send --flush` (nothing due), `--quiet
health check` (nothing to probe) and a no-change `--quiet sync` of a local calendar (the
--quiet forms are what `schedule install` sets up), each against `wedsync --help`,
`wedsync --version` and the bare interpreter, run round-robin so machine noise hits all alike.
Prints the median and minimum wall time and the median user+system CPU time of each
(CPU time moves less with other load on the machine).

    python benchmarks/cron_commands.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "python -c pass (floor)": None,
    "wedsync --version": ["--version"],
    "wedsync --help": ["--help"],
    "status --json": ["status", "--json"],
    "wedding-day status --json": ["wedding-day", "status", "--json"],
    # what `schedule install` has cron/systemd run (--quiet), and the same by hand
    "--quiet send --flush": ["--quiet", "send", "--flush"],
    "--quiet health check": ["--quiet", "health", "check"],
    "health check": ["health", "check"],
    "--quiet sync (local, no change)": ["--quiet", "sync"],
    "sync (local, no change)": ["sync"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wedsync-bench-cron-"))
    try:
        (work / "cal").mkdir()
        (work / "config.toml").write_text(f'timezone = "Europe/London"\n\n[calendars.studio]\nprovider = "local"\n'
                                          f'calendar = "{work / "cal"}"\n')
        env = {**os.environ, "WEDSYNC_HOME": str(work / "home"), "WEDSYNC_CONFIG": str(work / "config.toml"),
               "PYTHONPATH": str(ROOT)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte-compiled
        env.pop("WEDSYNC_PROFILE", None)
        py = [sys.executable]
        cmds = {name: (py + ["-c", "pass"] if a is None else py + ["-m", "wedsync_cli", *a]) for name, a in COMMANDS.items()}
        for cmd in cmds.values():  # create and migrate the state; warm caches and .pyc files
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            if p.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-300:]}")
        wall: dict[str, list[float]] = {n: [] for n in cmds}
        cpu: dict[str, list[float]] = {n: [] for n in cmds}
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                p = subprocess.run(cmd, env=env, capture_output=True, cwd=ROOT)
                wall[name].append((time.perf_counter() - t0) * 1000)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu[name].append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
                if p.returncode != 0:
                    sys.exit(f"{name} failed ({p.returncode}): {p.stderr.decode()[-300:]}")
        floor = statistics.median(wall["python -c pass (floor)"])
        print(f"median of {args.runs} runs each (round-robin); load average {os.getloadavg()[0]:.2f}")
        print(f"  {'command':<34}{'median ms':>10}{'min ms':>9}{'cpu ms':>9}{'minus floor':>13}")
        for name in cmds:
            m = statistics.median(wall[name])
            print(f"  {name:<34}{m:>10.1f}{min(wall[name]):>9.1f}{statistics.median(cpu[name]):>9.1f}{m - floor:>13.1f}")
        print(f"goal: `wedsync --help` < 150 ms ({'met' if statistics.median(wall['wedsync --help']) < 150 else 'NOT met'}); "
              f"status --json < 300 ms ({'met' if statistics.median(wall['status --json']) < 300 else 'NOT met'})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
