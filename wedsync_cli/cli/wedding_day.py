"""`wedsync wedding-day status`: the protocol, the day's weddings, and everything putting them at risk."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="The wedding-day protocol: what is protected today and what puts it at risk.",
                  no_args_is_help=True)


@app.command("status")
def status(
    ctx: typer.Context,
    date_: Annotated[str | None, typer.Option("--date", metavar="YYYY-MM-DD",
                                              help="The day to show (default: today in the studio's zone).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when anything puts the day at risk (for monitoring).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """The protocol's state and why, the day's weddings with their events, and every risk."""
    from datetime import date

    from wedsync_cli.cli.output import emit_json
    from wedsync_cli.errors import UsageError
    from wedsync_cli.monitoring.status import wedding_day_status

    rt = ctx.obj
    day = None
    if date_ is not None:
        try:
            day = date.fromisoformat(date_)
        except ValueError:
            raise UsageError(f"--date {date_!r} is not a date in the form YYYY-MM-DD",
                             fix="pass e.g. `--date 2026-06-13`") from None
    doc = wedding_day_status(rt, day)
    if as_json:
        emit_json(doc)
    else:
        _render(doc, rt.config.timezone)
    if check and doc["at_risk"]:
        import sys

        # Always (also with -q: monitoring mails stderr), and whole risks only: the first three.
        risks = [r["message"] for r in doc["risks"]]
        more = f"; and {len(risks) - 3} more" if len(risks) > 3 else ""
        sys.stderr.write(f"{len(risks)} thing(s) put {doc['date']} at risk: " + "; ".join(risks[:3]) + more
                         + ". Fix: run `wedsync wedding-day status` to see them all.\n")
        raise typer.Exit(1)


@app.command("log")
def log(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", metavar="WHEN",
                                              help="ISO date/date-time or a duration back from now (90m, 2h, 3d).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Every decision the wedding-day protocol took (skips, deferrals, refusals, escalations) and why."""
    from wedsync_cli.cli.output import console, emit_json
    from wedsync_cli.clock import parse_when
    from wedsync_cli.errors import UsageError
    from wedsync_cli.wedding_day.decisions import decisions

    rt = ctx.obj
    _ = rt.config  # a broken config is reported (exit 78) first
    when = None
    if since is not None:
        try:
            when = parse_when(since, rt.clock.now())
        except ValueError as exc:
            raise UsageError(f"--since: {exc}", fix="pass e.g. `--since 2d` or `--since 2026-06-13`") from None
    rows = decisions(rt.store, when, limit)
    if as_json:
        emit_json({"decisions": [{k: r[k] for k in ("id", "at", "decision", "subject", "reason")} for r in rows]})
        return
    if not rows:
        console().print("No wedding-day protocol decisions recorded" + (" in that period." if when else " yet."))
        return
    console().print(_table("Wedding-day protocol decisions", ["at", "decision", "subject", "reason"],
                          [[r["at"], r["decision"], r["subject"], r["reason"]] for r in rows]))


def _render(doc, zone_name: str) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from rich.panel import Panel

    from wedsync_cli.cli.output import console

    zone = ZoneInfo(zone_name)
    out = console()

    def local(v):
        if not v:
            return ""
        if len(v) == 10:
            return v
        return datetime.fromisoformat(v).astimezone(zone).strftime("%a %d %b %H:%M")

    pr = doc["protocol"]
    head = (f"[bold green]PROTOCOL ACTIVE[/] {local(pr['since'])} → {local(pr['until'])}" if pr["active"]
            else "[bold]Protocol inactive[/]")
    risk = "[bold red]AT RISK[/]" if doc["at_risk"] else "[green]nothing at risk[/]"
    out.print(Panel(f"{head}\n{_esc(pr['reason'])}\n{risk}", title=f"Wedding day {doc['date']} ({zone_name})",
                    title_align="left"))
    if doc["weddings"]:
        rows = []
        for w in doc["weddings"]:
            evs = w["events"] or [{"title": "(no events today)", "start": "", "end": "", "location": ""}]
            for i, e in enumerate(evs):
                rows.append([w["id"] if i == 0 else "", w["client"] if i == 0 else "", w["venue"] if i == 0 else "",
                             w["status"] if i == 0 else "", e["title"], f"{local(e['start'])} – {local(e['end'])}",
                             e.get("location") or ""])
        out.print(_table("Weddings", ["id", "client", "venue", "status", "event", "when", "location"], rows))
    else:
        out.print("No booked weddings on this day.")
    if doc["providers"]:
        out.print(_table("Providers", ["provider", "state", "last success", "error rate", "p50 ms", "p95 ms", "p99 ms"], [
            [p["name"], p["state"], p["last_success"], f"{p['error_rate']:.0%}", p["p50_ms"], p["p95_ms"], p["p99_ms"]]
            for p in doc["providers"]]))
    out.print(f"Outbox: {doc['outbox']['pending']} pending, {doc['outbox']['dead']} dead   "
              f"Webhooks: {doc['webhooks']['failed']} failed, {doc['webhooks']['dead']} dead   "
              f"Conflicts today: {doc['conflicts']}")
    if doc.get("deferred_deletes"):
        out.print(f"Remote deletes held back by the protocol: {doc['deferred_deletes']} (the first sync after it does them)")
    for r in doc["risks"]:
        out.print(f"[bold red]![/] {_esc(r['message'])}")


def _esc(value) -> str:
    """Data shown through rich: brackets in names or reasons are text, not markup."""
    from rich.markup import escape

    return escape("" if value is None else str(value))


def _table(title, columns, rows):
    from wedsync_cli.cli.output import table

    return table(title, columns, [[_esc(v) for v in r] for r in rows])
