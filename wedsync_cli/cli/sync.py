"""`wedsync sync [NAME ...] [--dry-run] [--full] [--json]`: sources first, then every calendar.

Thin: options, output and the exit code. The run itself is ``wedsync_cli.sync_runner.run_sync``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer


def sync(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(metavar="NAME", help="Calendars/sources to run (default: every enabled one).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing here or there.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Ignore saved sync tokens: list every calendar completely.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (contract shape).")] = False,
):
    """Run every configured calendar and source once, incrementally.

    Examples: `wedsync sync` (everything), `wedsync sync studio --dry-run`, `wedsync sync --full --json`.
    """
    import contextlib

    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.monitoring.export import monitored_job
    from wedsync_cli.sync_runner import run_sync

    rt = ctx.obj
    # Start/finish pings, rollups and the wedding-day switch (a dry run touches none of it).
    with contextlib.nullcontext() if dry_run else monitored_job(rt, "sync"):
        runs = run_sync(rt, names or [], dry_run=dry_run, full=full)
        public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs]
        if as_json:
            emit_json({"runs": public, "dry_run": dry_run})
        elif not rt.quiet:  # --quiet (cron): only the error sentence, if any
            _print_human(public, dry_run)
            if dry_run:
                info("Dry run: nothing was written.", rt.quiet)
        _exit_for(runs)


# -- output and exit code ---------------------------------------------------------------------------------
def _print_human(runs: list[dict[str, Any]], dry_run: bool) -> None:
    from wedsync_cli.cli.output import console, table

    def trio(d: dict[str, int]) -> str:
        return f"+{d['created']} ~{d['updated']} -{d['deleted']}"

    out = console()
    out.print(table("Sync (dry run: nothing written)" if dry_run else "Sync",
                    ["name", "kind", "provider", "status", "pulled", "pushed", "conflicts", "requests", "error"],
                    [[r["name"], r["kind"], r["provider"], r["status"], trio(r["pulled"]), trio(r["pushed"]),
                      r["conflicts"], r["requests"], _short(r["error"] or r.get("reason") or "")] for r in runs]))
    for r in runs:
        if r["error"] and _short(r["error"]) != r["error"]:
            # The table cell is cut short so it stays one or two lines; the whole sentence is here.
            out.print(f"{r['name']}: {r['error']}", markup=False, soft_wrap=True)
        for p in r.get("plan") or []:
            out.print(f"  would {p['action']}: {p.get('title') or p.get('event_id')} ({r['name']})")
        for d in r.get("deferred") or []:
            out.print(f"Deferred delete in {r['name']}: event {d['event_id']} stays until the wedding-day "
                      "protocol ends (the next sync after that deletes it).")
    seen = set()
    shown = 0
    for r in runs:
        for d in r.get("double_bookings") or []:
            a, b = d["a"], d["b"]
            key = (a["event_id"], b.get("event_id") or b.get("remote_id"))
            if key in seen:
                continue
            seen.add(key)
            if shown >= MAX_DOUBLE_BOOKING_LINES:
                continue  # counted below: thousands of pairs would bury the table (and cron's mail)
            shown += 1
            if b.get("foreign"):
                out.print(f"[bold red]Double booking:[/] {a['client'] or a['title']} ({a['start']}) overlaps "
                          f"'{b['title']}' ({b['start']}), an event in calendar {r['name']} not from wedsync")
            else:
                out.print(f"[bold red]Double booking:[/] {a['client'] or a['title']} ({a['start']}) overlaps "
                          f"{b['client'] or b['title']} ({b['start']})")
    if len(seen) > shown:
        out.print(f"... and {len(seen) - shown} more double bookings (all of them: `wedsync sync --json`).")
    if any(r["conflicts"] for r in runs):
        out.print("Conflicts were recorded with both versions: see `wedsync conflicts list`.")


MAX_DOUBLE_BOOKING_LINES = 10


def _short(text: str, limit: int = 48) -> str:
    """An error's gist for a table cell: before its "Fix:" and any "(detail)", at most ``limit``."""
    gist = text.split(" Fix:")[0].split(" (")[0].rstrip(". ")
    return gist if len(gist) <= limit else gist[: limit - 1].rstrip() + "…"


def _exit_for(runs: list[dict[str, Any]]) -> None:
    from wedsync_cli.errors import PartialFailure

    failed = [r for r in runs if r["status"] == "failed"]
    if not failed:
        if any(r.get("rejected") for r in runs):
            raise PartialFailure("Sync finished, but some source records were rejected",
                                 fix="run the source's import with --rejects FILE to see why")
        return
    codes = {r.get("_exit", 1) for r in failed}
    if len(failed) == len(runs) and len(codes) == 1 and codes != {1}:
        code = codes.pop()
        err = PartialFailure(failed[0]["error"])
        err.exit_code = code
        err.fix = None
        raise err
    names = ", ".join(r["name"] for r in failed)
    first = failed[0]["error"] or "failed"
    raise PartialFailure(f"Sync finished, but {len(failed)} of {len(runs)} runs failed ({names}): {first}")
