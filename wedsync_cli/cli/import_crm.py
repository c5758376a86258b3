"""`wedsync import tave` and `wedsync import honeybook`: thin commands over the CRM sources.

``register(app)`` adds them to the `import` group. The run (import job lock: a second import exits
75; JobRun ``import:<provider>``) is ``wedsync_cli.sources.crm_import.run_import``; here: a
data-quality summary (what was created, updated, merged, rejected and why, which source fields we
keep raw but don't map) and exit 1 when any record was rejected.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

DryRun = Annotated[bool, typer.Option("--dry-run", help="Read and check everything, write nothing.")]
Rejects = Annotated[str | None, typer.Option("--rejects", metavar="FILE", help="Write rejected records with the reason to this CSV file.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
Full = Annotated[bool, typer.Option("--full", help="Read everything (not just what changed) and catch deletions.")]
SourceName = Annotated[str | None, typer.Option("--source", metavar="NAME", help="Which [sources.<name>] to use when several are configured.")]


def register(app: typer.Typer) -> None:
    app.command("tave")(import_tave)
    app.command("honeybook")(import_honeybook)


def _run(ctx: typer.Context, provider: str, name: str | None, full: bool, dry_run: bool, rejects: str | None,
         as_json: bool) -> None:
    from wedsync_cli.sources.crm_import import run_import, write_rejects

    rt = ctx.obj
    report, doc = run_import(rt, provider, name, full=full, dry_run=dry_run)
    if rejects:
        write_rejects(rejects, report.rejects)
    if as_json:
        from wedsync_cli.cli.output import emit_json

        emit_json(doc)
    elif not rt.quiet:
        print_summary(doc)
    if report.rejected:
        from wedsync_cli.errors import PartialFailure

        first = report.rejects[0]
        where = {"tave": "Táve", "honeybook": "HoneyBook"}.get(provider, provider)
        raise PartialFailure(
            f"{report.rejected} of {report.read} records were rejected (first: {first.reason})",
            fix=f"correct them in {where}; the next `wedsync import {provider}` or `wedsync sync` checks them again"
                + ("" if rejects else " (--rejects FILE lists them all with their reasons)"))


def print_summary(doc: dict[str, Any]) -> None:
    from wedsync_cli.cli.output import console, table

    out = console()
    title = f"{doc['source']} import ({doc.get('mode') or 'run'}{', dry run: nothing written' if doc['dry_run'] else ''})"
    out.print(table(title, ["read", "created", "updated", "unchanged", "rejected", "merged", "requests"], [[
        doc["read"], doc["created"], doc["updated"], doc["unchanged"], doc["rejected"], doc.get("merged", 0),
        sum((doc.get("requests") or {}).values())]]))
    if doc.get("merged"):
        out.print(f"{doc['merged']} record(s) were merged into a client another record had already matched.")
    for r in doc.get("rejects", []):
        out.print(f"Rejected {r['record']}: {r['reason']}")
    for s in doc.get("skipped", []):
        out.print(f"Skipped {s}")
    if doc.get("deleted"):
        out.print("Gone from the CRM (weddings cancelled, events removed): "
                  + ", ".join(f"{n} {k}" for k, n in sorted(doc["deleted"].items())))
    if doc.get("unmapped_fields"):
        out.print("Fields kept raw but not mapped: " + ", ".join(doc["unmapped_fields"]))


def import_tave(
    ctx: typer.Context,
    dry_run: DryRun = False,
    rejects: Rejects = None,
    as_json: AsJson = False,
    full: Full = False,
    source: SourceName = None,
):
    """Import clients, weddings and events from Táve / VSCO Workspace (API key: `wedsync auth login tave`).

    Reads only what changed since the last run; --full reads everything and catches deletions.
    Example: wedsync import tave --rejects rejects.csv
    """
    _run(ctx, "tave", source, full, dry_run, rejects, as_json)


def import_honeybook(
    ctx: typer.Context,
    dry_run: DryRun = False,
    rejects: Rejects = None,
    as_json: AsJson = False,
    full: Full = False,
    source: SourceName = None,
):
    """Import from HoneyBook's partner API (needs partner access and a [sources.<name>] provider = "honeybook").

    Without partner access, export your clients from HoneyBook as CSV and run
    `wedsync import csv FILE --preset honeybook`.
    """
    _run(ctx, "honeybook", source, full, dry_run, rejects, as_json)
