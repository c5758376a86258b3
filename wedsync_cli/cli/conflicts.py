"""`wedsync conflicts list|show|resolve` (being built: issue 2 / issue 3)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Conflicts the sync engine recorded; both versions are kept until resolved.",
                  no_args_is_help=True)
