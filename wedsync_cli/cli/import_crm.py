"""`wedsync import tave` and `wedsync import honeybook`: thin commands over the CRM sources.

``register(app)`` adds them to the `import` group. Both take the import job lock (a second import
exits 75), record a JobRun ``import:<provider>``, print a data-quality summary (what was created,
updated, merged, rejected and why, which source fields we keep raw but don't map) and exit 1 when
any record was rejected.
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


def _source_config(rt, provider: str, name: str | None) -> tuple[str, Any]:
    from wedsync_cli.errors import ConfigError

    sources = {n: s for n, s in rt.config.sources.items() if s.provider == provider}
    if name is not None:
        if name not in sources:
            raise ConfigError(f"There is no [sources.{name}] with provider = \"{provider}\" in the config",
                              fix=f"add it to {rt.paths.config_file} or pick one of: {', '.join(sources) or 'none'}")
        return name, sources[name]
    if len(sources) > 1:
        raise ConfigError(f"Several {provider} sources are configured ({', '.join(sources)})",
                          fix="choose one with --source NAME")
    if sources:
        return next(iter(sources.items()))
    return provider, None


def _run(ctx: typer.Context, provider: str, name: str | None, full: bool, dry_run: bool, rejects: str | None,
         as_json: bool) -> None:
    from wedsync_cli import registry
    from wedsync_cli.store.runs import JobRun

    rt = ctx.obj
    src_name, cfg = _source_config(rt, provider, name)
    source = registry.load("source", provider)(rt, src_name, cfg)
    with rt.job_lock("import"), JobRun(rt.store, f"import:{provider}") as run:
        report = source.sync(full=full, dry_run=dry_run)
        doc = summary_doc(source, report)
        run.counts.update({k: doc[k] for k in ("read", "created", "updated", "unchanged", "rejected")})
        if report.rejected:
            run.finish("partial", f"{report.rejected} record(s) rejected")
    rt.flush_calls()
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


def summary_doc(source, report) -> dict[str, Any]:
    doc = report.as_json()
    doc.update({
        "mode": getattr(source, "mode", None),
        "requests": getattr(source, "requests", {}),
        "deleted": getattr(source, "deleted", {}),
        "skipped": list(getattr(source, "skipped", [])),
        "rejects": [{"reason": r.reason, "record": _record_label(r)} for r in report.rejects],
    })
    return doc


def _record_label(rejected) -> str:
    raw = rejected.raw or {}
    job = raw.get("job") if isinstance(raw, dict) else None
    if isinstance(job, dict):
        return f"job {job.get('id')}"
    for key in ("id", "project_id", "external_id"):
        if isinstance(raw, dict) and raw.get(key):
            return f"{key} {raw[key]}"
    return f"row {rejected.row_number}" if rejected.row_number else ""


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


def write_rejects(path: str, rejects: list) -> None:
    """CSV: record, reason, raw (the source's record as JSON). Written whole or not at all."""
    import csv
    import json
    import os
    import tempfile
    from pathlib import Path

    from wedsync_cli.errors import ConfigError

    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"Cannot write the rejects file {path} ({exc.strerror})", fix="choose a writable path") from None
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "record", "reason", "raw"])
        for r in rejects:
            w.writerow([r.source, _record_label(r), r.reason, json.dumps(r.raw, ensure_ascii=False, default=str)])
    os.replace(tmp, target)


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
