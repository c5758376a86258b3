"""Start-up cost: `wedsync --help` and a no-op `wedsync status` against `vdirsyncer --help`.
Goal: `wedsync --help` median under 150 ms (heavy libraries are imported lazily).

    python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def median_ms(cmd: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(cmd, env=env, capture_output=True)  # warm the page cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=env, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-300:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wedsync-bench-startup-"))
    try:
        env = {**os.environ, "WEDSYNC_HOME": str(work / "home"), "WEDSYNC_CONFIG": str(work / "config.toml")}
        wedsync = str(BIN / "wedsync") if (BIN / "wedsync").exists() else None
        base = [wedsync] if wedsync else [sys.executable, "-m", "wedsync_cli"]
        rows = [("wedsync --help", median_ms([*base, "--help"], env, args.runs))]
        subprocess.run([*base, "status"], env=env, capture_output=True)  # create the state once
        rows.append(("wedsync status (no-op)", median_ms([*base, "status"], env, args.runs)))
        vdir = shutil.which("vdirsyncer", path=str(BIN)) or shutil.which("vdirsyncer")
        if vdir:
            rows.append(("vdirsyncer --help", median_ms([vdir, "--help"], env, args.runs)))
        rows.append(("python -c pass (interpreter floor)", median_ms([sys.executable, "-c", "pass"], env, args.runs)))
        print(f"median of {args.runs} runs each:")
        for name, ms in rows:
            print(f"  {name:<36} {ms:7.1f} ms")
        if not vdir:
            print("  vdirsyncer --help                    skipped: vdirsyncer not installed (make bench installs it)")
        help_ms = rows[0][1]
        if vdir:
            print(f"ratio wedsync --help / vdirsyncer --help: {help_ms / rows[2][1]:.2f}")
        print(f"goal wedsync --help < 150 ms: {'met' if help_ms < 150 else 'NOT met'} ({help_ms:.0f} ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
