from __future__ import annotations

from typing import Annotated

import typer


def init(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Set up the embedded local-only profile (local calendar folder, maildir email).")] = False,
    timezone: Annotated[str | None, typer.Option("--timezone", help="The studio's IANA time zone, e.g. Europe/London.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config file.")] = False,
):
    """Write a starter config and create the state. Example: wedsync init --timezone Europe/London"""
    from importlib.resources import files

    from wedsync_cli.cli.output import info
    from wedsync_cli.config import load
    from wedsync_cli.errors import ConfigError
    from wedsync_cli.paths import ensure_private_dir

    app = ctx.obj
    paths = app.paths
    cfg_file = paths.config_file
    tz = timezone or ("Europe/London" if demo else _local_zone())
    wrote = False
    if cfg_file.exists() and not force:
        info(f"Config already exists at {cfg_file}; left as it is (use --force to overwrite).", app.quiet)
    else:
        template = files("wedsync_cli.data").joinpath("starter_config.toml").read_text(encoding="utf-8")
        text = template.format(
            timezone=tz,
            calendar_dir=str(paths.state_dir / "calendars" / "studio"),
            email_from="Demo Studio <studio@example.com>" if demo else "Studio <studio@example.com>",
        )
        cfg_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cfg_file.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(cfg_file)
        wrote = True
    try:
        app._config = load(paths)
    except ConfigError:
        if wrote:
            cfg_file.unlink(missing_ok=True)
        raise
    ensure_private_dir(paths.state_dir)
    _ = app.store  # creates the state file (0600) and applies migrations
    if wrote:
        info(f"Wrote {cfg_file}", app.quiet)
    info(f"State: {paths.db_file}", app.quiet)
    if wrote or demo:
        # The starter config names this folder as calendar 'studio'; `sync` refuses a missing one.
        (paths.state_dir / "calendars" / "studio").mkdir(parents=True, exist_ok=True)
    if demo:
        info("Demo profile ready: import a CSV with `wedsync import csv FILE`, then `wedsync sync`.", app.quiet)
    else:
        info("Next: `wedsync import csv clients.csv`, then `wedsync sync`.", app.quiet)


def _local_zone() -> str:
    import os
    from pathlib import Path

    if os.environ.get("TZ") and "/" in os.environ["TZ"]:
        return os.environ["TZ"].lstrip(":")
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return "UTC"
