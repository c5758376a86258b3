"""Outbox drain benchmark (self-contained: starts its own loopback Resend stand-in).

1,000 queued emails drained by the real deliverer (`flush_email`, what `wedsync send --flush` runs)
against the Resend stand-in enforcing 2 requests per second (fixed one-second windows, with the
documented ratelimit-* headers and 429 + retry-after when exceeded).

Prints, as medians over BENCH_REPEATS runs (default 3):
- requests used (goal about 10: batches of 100 on /emails/batch), and how many the limiter refused;
- the achieved request rate against the allowed rate (goal >= 90%). The achieved rate counts the
  last window in full: requests / (time from first to last request + one window), so a drain that
  fills every window exactly scores 100%;
- the drain's wall time, and emails per second.
Run: .venv/bin/python benchmarks/outbox_drain.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_EMAILS = int(os.environ.get("BENCH_EMAILS", "1000"))
RATE = 2
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
KEY = "re_bench_key"


def run_once(tmp: Path) -> dict:
    from tests.standins.resend import ResendStandin
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.deliver import flush_email
    from wedsync_cli.email.providers import OutgoingEmail
    from wedsync_cli.paths import Paths
    from wedsync_cli.runtime import Runtime

    srv = ResendStandin(KEY, rate_per_s=RATE)
    stamps: list[float] = []
    inner = srv.dispatch

    def timed(req):
        stamps.append(time.monotonic())
        return inner(req)

    srv.dispatch = timed
    srv.start()
    try:
        home, cfg = tmp / "home", tmp / "config.toml"
        cfg.write_text(f'[email]\nfrom = "Studio <studio@example.com>"\nproviders = ["resend"]\n'
                       f'[providers.resend]\nbase_url = "{srv.url}"\n')
        os.environ["WEDSYNC_HOME"], os.environ["WEDSYNC_CONFIG"] = str(home), str(cfg)
        rt = Runtime(paths=Paths.resolve())
        rt.credentials.set("resend", {"api_key": KEY})
        ob = Outbox(rt.store, rt.clock)
        with rt.store.transaction():
            for i in range(N_EMAILS):
                m = OutgoingEmail(from_="Studio <studio@example.com>", to=[f"c{i}@example.com"],
                                  subject=f"bench {i}", text="Your timeline has changed.")
                ob.enqueue("email", f"bench/{i}", m.to[0], m.to_payload())
        t0 = time.monotonic()
        result = flush_email(rt)
        wall = time.monotonic() - t0
        rt.close()
    finally:
        srv.stop()
    assert result.sent == N_EMAILS, result
    assert len(srv.accepted) == N_EMAILS and len({a["email"]["subject"] for a in srv.accepted}) == N_EMAILS
    span = (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    achieved = len(stamps) / (span + 1.0)
    return {"requests": len(stamps), "refused": srv.rate_limited, "achieved_rate": achieved,
            "ratio": achieved / RATE, "wall_s": wall, "emails_per_s": N_EMAILS / wall}


def main() -> None:
    import keyring

    from tests.support.keyrings import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    runs = []
    for i in range(REPEATS):
        with tempfile.TemporaryDirectory(prefix="wedsync-bench-outbox-") as d:
            runs.append(run_once(Path(d)))
            r = runs[-1]
            print(f"run {i + 1}: {r['requests']} requests ({r['refused']} refused with 429), "
                  f"{r['achieved_rate']:.2f} req/s of {RATE} allowed ({r['ratio']:.0%}), "
                  f"{r['wall_s']:.2f} s, {r['emails_per_s']:.0f} emails/s")

    def med(k):
        return statistics.median(r[k] for r in runs)

    print(f"outbox drain: {N_EMAILS} emails, Resend stand-in limited to {RATE} req/s")
    print(f"  requests used (median): {med('requests'):.0f}   (goal ~10 with /emails/batch of 100)")
    print(f"  refused by the limiter (median): {med('refused'):.0f}")
    print(f"  achieved rate (median): {med('achieved_rate'):.2f} req/s = {med('ratio'):.0%} of allowed (goal >= 90%)")
    print(f"  drain time (median): {med('wall_s'):.2f} s   throughput: {med('emails_per_s'):.0f} emails/s")


if __name__ == "__main__":
    main()
