"""`wedsync send` (being built: issue 5)."""

from __future__ import annotations

import typer


def send(ctx: typer.Context):
    """Queue an email from a template and deliver it; --flush delivers everything due."""
    from wedsync_cli.errors import UsageError

    raise UsageError("`send` is not built yet")
