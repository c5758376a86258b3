"""Test-only crash injection for imports: ``WEDSYNC_TEST_CRASH_AT=<point>[:<n>]`` SIGKILLs the
process the n-th time (default 1st) the code passes ``crash_point("<point>")`` — the same
convention as ``wedsync_cli.delivery.crashpoints``, so kill -9 tests stop at an exact place
instead of racing a timer. Costs one environment lookup when unset.
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
