"""`wedsync health check` (being built: issue 7)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Probe providers, record health, send alerts.", no_args_is_help=True)
