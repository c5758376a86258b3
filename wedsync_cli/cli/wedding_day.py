"""`wedsync wedding-day status` (being built: issue 7)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The wedding-day protocol: what is protected today and what puts it at risk.",
                  no_args_is_help=True)
