"""`wedsync import csv|tave|honeybook` (being built: issue 2 / issue 4)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import clients, weddings and their events into the state.", no_args_is_help=True)

from wedsync_cli.cli import import_crm  # noqa: E402

import_crm.register(app)
