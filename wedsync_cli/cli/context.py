"""The per-invocation environment of a command: the core Runtime plus terminal settings."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from wedsync_cli.runtime import Runtime


@dataclass
class AppContext(Runtime):
    verbose: int = 0
    quiet: bool = False

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and sys.stderr.isatty()
