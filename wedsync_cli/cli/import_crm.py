"""`wedsync import tave|honeybook` (being built: issue 4). ``register`` adds them to `import`."""

from __future__ import annotations


def register(app) -> None:
    pass
