"""`wedsync webhook-replay` and `wedsync webhooks ...` (being built: issue 6)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Outbound webhook endpoints, deliveries, and the inbound receiver.", no_args_is_help=True)


def webhook_replay(ctx: typer.Context):
    """Re-deliver matching outbound webhook deliveries."""
    from wedsync_cli.errors import UsageError

    raise UsageError("`webhook-replay` is not built yet")
