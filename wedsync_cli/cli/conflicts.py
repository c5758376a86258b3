"""`wedsync conflicts list|show|resolve`: what the sync engine could not (or was told not to) decide.

A conflict keeps both versions. ``resolve --keep remote`` makes their version ours at once;
``--keep local`` marks ours to be pushed: the next `wedsync sync` writes it to the calendar
(with If-Match on their version, so an even newer edit there becomes a new conflict, never a loss).
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Conflicts the sync engine recorded; both versions are kept until resolved.",
                  no_args_is_help=True)


def _summary(f: dict | None) -> str:
    if not f:
        return "(deleted)"
    when = f["start"] if f.get("all_day") else f["start"].replace("T", " ")[:16]
    return f"{f.get('title') or ''} @ {when}" + (f" ({f['location']})" if f.get("location") else "")


def _doc(c: dict) -> dict:
    return {"id": c["id"], "calendar": c["calendar"], "event_id": c["event_id"], "reason": c["reason"],
            "detected_at": c["detected_at"], "resolved_at": c["resolved_at"], "resolution": c["resolution"],
            "local": c["local"], "remote": c["remote"]}


@app.command("list")
def list_(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved ones (policies resolve most automatically).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Open conflicts (both versions kept). Example: wedsync conflicts list --json"""
    from wedsync_cli.calendars.engine import open_conflicts
    from wedsync_cli.cli.output import console, emit_json, table

    rows = open_conflicts(ctx.obj.store, include_resolved=all_)
    if as_json:
        emit_json({"conflicts": [_doc(c) for c in rows]})
        return
    out = console()
    if not rows:
        out.print("No open conflicts." if not all_ else "No conflicts recorded.")
        return
    out.print(table("Conflicts", ["id", "calendar", "event", "ours", "theirs", "detected", "resolution"], [
        [c["id"], c["calendar"], c["event_id"], _summary(c["local"].get("fields")), _summary(c["remote"].get("fields")),
         c["detected_at"], c["resolution"] or "open"] for c in rows]))
    if any(c["resolved_at"] is None for c in rows):
        out.print("Resolve one with `wedsync conflicts resolve ID --keep local|remote`.")


@app.command("show")
def show(
    ctx: typer.Context,
    conflict_id: Annotated[int, typer.Argument(metavar="ID", help="The conflict's id (see `conflicts list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Both versions side by side. Example: wedsync conflicts show 3"""
    from wedsync_cli.calendars.engine import open_conflicts
    from wedsync_cli.cli.output import console, emit_json, table
    from wedsync_cli.errors import UsageError

    found = [c for c in open_conflicts(ctx.obj.store, include_resolved=True) if c["id"] == conflict_id]
    if not found:
        raise UsageError(f"There is no conflict {conflict_id}", fix="see `wedsync conflicts list --all`")
    c = found[0]
    if as_json:
        emit_json(_doc(c))
        return
    lf, rf = c["local"].get("fields") or {}, c["remote"].get("fields") or {}
    keys = ["title", "start", "end", "all_day", "tz", "location", "description"]
    rows = [[k, lf.get(k) if lf else "(deleted)", rf.get(k) if rf else "(deleted)",
             "" if (lf.get(k) == rf.get(k)) else "≠"] for k in keys]
    out = console()
    out.print(f"Conflict {c['id']} in calendar '{c['calendar']}' for event {c['event_id']}: {c['reason']}")
    out.print(table(None, ["field", "ours (wedsync)", "theirs (calendar)", ""], rows))
    out.print(f"Detected {c['detected_at']}; "
              + (f"resolved {c['resolved_at']} keeping {c['resolution']}." if c["resolved_at"]
                 else f"open: `wedsync conflicts resolve {c['id']} --keep local|remote`."))


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    conflict_id: Annotated[int, typer.Argument(metavar="ID", help="The conflict's id (see `conflicts list`).")],
    keep: Annotated[str, typer.Option("--keep", help="local: ours wins (pushed on the next sync); remote: theirs wins (applied now).", show_default=False)] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Resolve even while the wedding-day protocol is active.")] = False,
):
    """Settle a conflict. Example: wedsync conflicts resolve 3 --keep remote"""
    from wedsync_cli.calendars.engine import resolve_conflict
    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.errors import UsageError
    from wedsync_cli.wedding_day.decisions import require_force

    if keep not in ("local", "remote"):
        raise UsageError("Say which version to keep", fix=f"run `wedsync conflicts resolve {conflict_id} --keep local` or `--keep remote`")
    rt = ctx.obj
    # Resolving rewrites an event (here now, or in the calendar on the next sync): not on a wedding day unforced.
    require_force(rt, f"resolve conflict {conflict_id}", force)
    row = rt.store.one("SELECT calendar FROM conflicts WHERE id = ?", [conflict_id])
    cal = rt.config.calendars.get(row["calendar"]) if row else None
    statuses = tuple(cal.statuses) if cal is not None else ("booked",)
    done = resolve_conflict(rt.store, conflict_id, keep, timezone=rt.config.timezone, statuses=statuses)
    if as_json:
        emit_json(done)
        return
    if keep == "local":
        info(f"Conflict {conflict_id} resolved: ours is kept and goes to '{done['calendar']}' on the next `wedsync sync`.", rt.quiet)
    else:
        info(f"Conflict {conflict_id} resolved: the calendar's version is now ours.", rt.quiet)
