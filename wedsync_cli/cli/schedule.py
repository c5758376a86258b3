"""`wedsync schedule install|remove` (being built: issue 7)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Install the periodic jobs (systemd timers or cron).", no_args_is_help=True)
