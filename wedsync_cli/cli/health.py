"""`wedsync health check`: probe providers, record health, send alerts (what cron runs every 5 min)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Probe providers, record health, send alerts.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Probe every configured provider once, record health, send alerts. Exit 1 if a probe failed."""
    from wedsync_cli.cli.output import console, emit_json, info
    from wedsync_cli.monitoring.checks import run_health_check

    rt = ctx.obj
    doc = run_health_check(rt)
    if as_json:
        emit_json(doc)
    elif not rt.quiet:  # --quiet (cron, every 5 minutes): only the error sentence, if any
        out = console()
        if doc["probes"]:
            out.print(_table("Probes", ["provider", "result", "detail", "ms"], [
                [p["provider"], p["status"], p["detail"], f"{p.get('latency_ms', 0):.0f}"] for p in doc["probes"]]))
        else:
            out.print("No network providers are configured; nothing to probe.")
        if doc["providers"]:
            out.print(_table("Providers", ["provider", "state", "why", "last success"], [
                [p["name"], p["state"], p["reason"], p["last_success"]] for p in doc["providers"]]))
        pr = doc["protocol"]
        out.print(f"Wedding-day protocol: {'ACTIVE' if pr['active'] else 'inactive'} ({_esc(pr['reason'])})")
        for a in doc["alerts"]["open"]:
            out.print(f"[bold red]alert[/] {_esc(a['message'])} (since {a['opened_at']})")
        for n in doc["alerts"]["notifications"]:
            info(f"{n['kind']} {n['alert']} via {n['channel']}: {n['status']}" + (f" ({n['error']})" if n["error"] else ""),
                 rt.quiet)
    if doc["exit_code"]:
        import sys

        from wedsync_cli.secrets import redact

        failed = [p for p in doc["probes"] if p["status"] == "failed"]
        # One sentence (cron mails stderr): which probes failed and why, and where to look next.
        sys.stderr.write(redact(
            f"Health check finished but {len(failed)} provider probe(s) failed: "
            + "; ".join(f"{p['provider']}: {p['detail'].rstrip('.')}" for p in failed)
            + ". Run `wedsync status` for details.") + "\n")
        raise typer.Exit(doc["exit_code"])


def _esc(value) -> str:
    """Data shown through rich: brackets in names or reasons are text, not markup."""
    from rich.markup import escape

    return escape("" if value is None else str(value))


def _table(title, columns, rows):
    from wedsync_cli.cli.output import table

    return table(title, columns, [[_esc(v) for v in r] for r in rows])
