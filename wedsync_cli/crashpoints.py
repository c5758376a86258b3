"""Test-only crash injection: ``WEDSYNC_TEST_CRASH_AT=<point>[:<n>]`` SIGKILLs the process the
n-th time (default 1st) the code passes ``crash_point("<point>")``.

This is how the kill -9 tests stop a run at an exact place (e.g. after the provider accepted a
message but before we recorded it, or mid-import) without racing a timer. Costs one environment
lookup when unset. One helper for every feature: imports, delivery, sync, rollups.
"""

from __future__ import annotations

import os
import signal

_seen: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("WEDSYNC_TEST_CRASH_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
