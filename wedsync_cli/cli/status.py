"""`wedsync status`: last runs per job, provider health, queues, conflicts."""

from __future__ import annotations

from typing import Annotated

import typer


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Overall health: last runs per job, provider health with p50/p95/p99, queues, conflicts."""
    from wedsync_cli.cli.output import console, emit_json
    from wedsync_cli.monitoring.status import overall_status

    rt = ctx.obj
    doc = overall_status(rt)
    if as_json:
        emit_json(doc)
        return
    out = console()
    if not doc["jobs"]:
        out.print("No runs yet. Start with `wedsync import csv FILE` and `wedsync sync`.")
    else:
        out.print(_table("Last runs", ["job", "outcome", "started", "duration", "counts", "error"], [
            [j["job"], j["outcome"], j["started_at"], _dur(j.get("duration_s")),
             ", ".join(f"{k}={v}" for k, v in (j.get("counts") or {}).items() if not isinstance(v, dict)),
             j.get("error") or ""] for j in doc["jobs"]]))
    if doc["providers"]:
        out.print(_table("Providers", ["provider", "state", "last success", "error rate", "p50 ms", "p95 ms", "p99 ms"], [
            [p["name"], p["state"], p.get("last_success"), f"{p.get('error_rate') or 0:.0%}", p.get("p50_ms"),
             p.get("p95_ms"), p.get("p99_ms")] for p in doc["providers"]]))
    ob, wh = doc["outbox"], doc["webhooks"]
    out.print(f"Outbox: {ob.get('pending', 0)} pending, {ob.get('dead', 0)} dead   "
              f"Webhooks: {wh.get('pending', 0)} pending, {wh.get('failed', 0)} failed, {wh.get('dead', 0)} dead   "
              f"Conflicts: {doc['conflicts']}")
    for a in doc.get("alerts", []):
        out.print(f"[bold red]alert[/] {_esc(a['message'])} (since {a['opened_at']})")
    if doc.get("deferred_deletes"):
        out.print(f"Remote deletes held back by the wedding-day protocol: {doc['deferred_deletes']}")
    pr = doc.get("protocol") or {}
    if pr:
        out.print(f"Wedding-day protocol: {'ACTIVE' if pr['active'] else 'inactive'} ({_esc(pr['reason'])})")
    for line in doc.get("problems", []):
        out.print(f"[bold red]![/] {_esc(line)}")


def _dur(s):
    return "" if s is None else f"{s:.1f}s"


def _esc(value) -> str:
    """Data shown through rich: brackets in names or reasons are text, not markup."""
    from rich.markup import escape

    return escape("" if value is None else str(value))


def _table(title, columns, rows):
    from wedsync_cli.cli.output import table

    return table(title, columns, [[_esc(v) for v in r] for r in rows])
