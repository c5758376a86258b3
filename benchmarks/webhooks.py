"""Webhook delivery benchmark (self-contained: starts its own loopback receiver).

1. 5,000 deliveries to one endpoint with bounded per-endpoint concurrency (4): deliveries/second.
2. The effect of the bound: 400 deliveries to a receiver that takes 10 ms per request, at
   concurrency 1 and 4 (ratio).
3. Replaying 1,000 dead deliveries with one command (`wedsync webhook-replay --status dead`): seconds.

Prints medians over a few repetitions, ratios and request counts. Run: .venv/bin/python benchmarks/webhooks.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))


def fresh_runtime(tmp: Path, rx, endpoint_opts: str):
    from wedsync_cli.paths import Paths
    from wedsync_cli.runtime import Runtime

    home, cfg = tmp / "home", tmp / "config.toml"
    cfg.write_text(f'[webhooks.bench]\nurl = "{rx.url("bench")}"\nevents = ["*"]\nallow_private = true\n{endpoint_opts}\n')
    os.environ["WEDSYNC_HOME"], os.environ["WEDSYNC_CONFIG"] = str(home), str(cfg)
    rt = Runtime(paths=Paths.resolve())
    rt.credentials.set("webhook:bench", {"secret": SECRET})
    return rt


def emit_events(rt, n: int) -> None:
    from wedsync_cli import notify

    with rt.store.transaction():
        for i in range(n):
            notify.emit(rt.store, "client.created", {"id": f"c{i}", "name": f"Client {i}"})


def run_deliveries(rx, n: int, concurrency: int, delay: float = 0.0) -> tuple[float, int, int]:
    from wedsync_cli.webhooks import dispatch

    rx.reset()
    rx.always("bench", 200, delay=delay)
    with tempfile.TemporaryDirectory() as d:
        rt = fresh_runtime(Path(d), rx, f"concurrency = {concurrency}")
        emit_events(rt, n)
        dispatch.fan_out(rt)  # queueing is not what this measures
        t0 = time.perf_counter()
        res = dispatch.flush(rt)
        elapsed = time.perf_counter() - t0
        assert res["delivered"] == n, res
        rt.close()
    return elapsed, len(rx.received("bench")), rx.max_inflight


def run_replay(rx, n: int) -> tuple[float, dict, int]:
    from typer.testing import CliRunner

    from wedsync_cli.cli.app import app
    from wedsync_cli.webhooks import dispatch

    rx.reset()
    rx.always("bench", 500)
    with tempfile.TemporaryDirectory() as d:
        rt = fresh_runtime(Path(d), rx, "retry_schedule = []")  # one attempt, then dead
        emit_events(rt, n)
        res = dispatch.flush(rt)
        assert res["dead"] == n, res
        rt.close()
        rx.reset()
        rx.always("bench", 200)
        t0 = time.perf_counter()
        out = CliRunner().invoke(app, ["webhook-replay", "--status", "dead", "--json"], catch_exceptions=False)
        elapsed = time.perf_counter() - t0
        doc = json.loads(out.stdout)
        assert out.exit_code == 0 and doc["succeeded"] == n, (out.exit_code, out.stderr)
    return elapsed, doc, len(rx.received("bench"))


def main() -> None:
    import keyring

    from tests.standins.webhook_receiver import WebhookReceiver
    from tests.support.keyrings import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    rx = WebhookReceiver().start()
    try:
        n = 5000
        runs = [run_deliveries(rx, n, 4) for _ in range(REPEATS)]
        med = statistics.median(r[0] for r in runs)
        print(f"deliver {n} webhooks, concurrency 4: median {med:.2f} s = {n / med:.0f} deliveries/s "
              f"(runs: {', '.join(f'{r[0]:.2f}' for r in runs)} s; receiver requests per run {runs[0][1]}; "
              f"max in flight {max(r[2] for r in runs)})")

        m, delay = 400, 0.010
        seq = statistics.median(run_deliveries(rx, m, 1, delay)[0] for _ in range(REPEATS))
        par_runs = [run_deliveries(rx, m, 4, delay) for _ in range(REPEATS)]
        par = statistics.median(r[0] for r in par_runs)
        print(f"deliver {m} to a 10 ms receiver: concurrency 1 median {seq:.2f} s ({m / seq:.0f}/s), "
              f"concurrency 4 median {par:.2f} s ({m / par:.0f}/s), speed-up x{seq / par:.1f}; "
              f"max in flight {max(r[2] for r in par_runs)} (bound 4)")

        k = 1000
        reps = [run_replay(rx, k) for _ in range(REPEATS)]
        medr = statistics.median(r[0] for r in reps)
        doc = reps[0][1]
        print(f"replay {k} dead deliveries with one command: median {medr:.2f} s "
              f"(runs: {', '.join(f'{r[0]:.2f}' for r in reps)} s; matched {doc['matched']}, replayed {doc['replayed']}, "
              f"succeeded {doc['succeeded']}; receiver requests {reps[0][2]})")
    finally:
        rx.stop()


if __name__ == "__main__":
    main()
