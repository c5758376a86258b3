"""`wedsync sync` (being built: issue 2 / issue 3)."""

from __future__ import annotations

import typer


def sync(ctx: typer.Context):
    """Run every configured calendar and source once, incrementally."""
    from wedsync_cli.errors import UsageError

    raise UsageError("`sync` is not built yet")
