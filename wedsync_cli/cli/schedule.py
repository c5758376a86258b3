"""`wedsync schedule install|remove|show`: the periodic jobs as systemd timers or cron lines."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Install the periodic jobs (systemd timers or cron).", no_args_is_help=True)

SystemdOpt = Annotated[bool, typer.Option("--systemd", help="systemd services + timers (default where systemd runs).")]
CronOpt = Annotated[bool, typer.Option("--cron", help="crontab lines guarded by flock.")]
UserOpt = Annotated[bool, typer.Option("--user", help="systemd user units (~/.config/systemd/user) instead of system units.")]


def _kind(systemd: bool, cron: bool) -> str:
    from wedsync_cli.errors import UsageError
    from wedsync_cli.schedule.units import default_kind

    if systemd and cron:
        raise UsageError("--systemd and --cron exclude each other", fix="pick one")
    return "systemd" if systemd else "cron" if cron else default_kind()


@app.command("install")
def install(
    ctx: typer.Context,
    systemd: SystemdOpt = False,
    cron: CronOpt = False,
    user: UserOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print each unit file (or the crontab lines); install nothing.")] = False,
    no_enable: Annotated[bool, typer.Option("--no-enable", help="Write the units but do not run systemctl.")] = False,
):
    """Install sync (every 15 min), send --flush (every 2) and health check (every 5)."""
    from wedsync_cli.cli.output import info
    from wedsync_cli.monitoring.settings import validate
    from wedsync_cli.schedule import units

    rt = ctx.obj
    validate(rt.config)  # a broken config is reported before anything is installed
    kind = _kind(systemd, cron)
    if dry_run:
        if kind == "systemd":
            folder = units.systemd_dir(rt, user)
            for name, text in units.systemd_units(rt, user).items():
                typer.echo(f"# {folder / name}")
                typer.echo(text)
        else:
            for line in units.cron_lines(rt):
                typer.echo(line)
        return
    if kind == "systemd":
        res = units.install_systemd(rt, user, enable=not no_enable)
        info(f"Wrote {len(res['files'])} unit files to {res['folder']}"
             + ("; timers enabled." if res["enabled"] else "; not enabled (--no-enable)."), rt.quiet)
        if user and res["enabled"]:
            info("User timers run only while you are logged in unless `loginctl enable-linger $USER` is set.", rt.quiet)
    else:
        res = units.install_cron(rt)
        info(f"Installed {len(res['lines']) - 2} crontab lines (see `crontab -l`).", rt.quiet)


@app.command("remove")
def remove(
    ctx: typer.Context,
    systemd: SystemdOpt = False,
    cron: CronOpt = False,
    user: UserOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Remove them even while the wedding-day protocol is active.")] = False,
):
    """Remove the periodic jobs that `schedule install` put in place."""
    from wedsync_cli.cli.output import info
    from wedsync_cli.schedule import units
    from wedsync_cli.wedding_day.decisions import require_force

    rt = ctx.obj
    kind = _kind(systemd, cron)
    # Without the timers nothing syncs, sends or alerts: not on a wedding day, unless forced.
    require_force(rt, "remove the scheduled jobs", force)
    if kind == "systemd":
        res = units.remove_systemd(rt, user)
        info(f"Removed {len(res['removed'])} unit files from {res['folder']}." if res["removed"]
             else f"No wedsync units in {res['folder']}.", rt.quiet)
    else:
        res = units.remove_cron(rt)
        info(f"Removed {res['removed']} crontab lines." if res["removed"] else "No wedsync crontab lines found.",
             rt.quiet)
