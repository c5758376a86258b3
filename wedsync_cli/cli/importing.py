"""`wedsync import csv PATH` (and, registered below by import_crm, `import tave|honeybook`)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Import clients, weddings and their events into the state.", no_args_is_help=True)


@app.command("csv")
def import_csv_cmd(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The CSV file (UTF-8 with or without BOM, or Windows-1252).",
                                        metavar="PATH", show_default=False)],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count everything; write nothing.")] = False,
    rejects: Annotated[str | None, typer.Option("--rejects", metavar="FILE",
                                                help="Write rejected rows (original columns + reason) to FILE.")] = None,
    mapping: Annotated[str | None, typer.Option("--mapping", metavar="FILE",
                                                help='TOML or JSON {our_field = "Their Column"}; see README.')] = None,
    preset: Annotated[str | None, typer.Option("--preset", metavar="NAME",
                                               help="A known export's columns: honeybook, dubsado, tave, couple-per-row.")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", metavar="NAME", help="The file's encoding (default: UTF-8, then cp1252).")] = None,
    date_order: Annotated[str | None, typer.Option("--date-order", metavar="dmy|mdy",
                                                   help="How to read 05/06/2027 (default: decided from the file).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
):
    """Import clients, weddings and wedding-day events from a CSV file (one transaction)."""
    import sys

    from wedsync_cli.errors import UsageError
    from wedsync_cli.sources.csv_source import CsvOptions, import_csv, write_rejects
    from wedsync_cli.store.runs import JobRun

    rt = ctx.obj
    if date_order is not None and date_order not in ("dmy", "mdy"):
        raise UsageError(f"--date-order must be dmy or mdy, not {date_order!r}",
                         fix="use --date-order dmy (25/12/2027) or --date-order mdy (12/25/2027)")
    if rejects:
        from pathlib import Path

        if Path(rejects).resolve() == Path(path).resolve():
            raise UsageError(f"--rejects {rejects} is the file being imported, which it would overwrite",
                             fix="give --rejects another name, e.g. --rejects rejects.csv")
        _check_writable(rejects)  # before importing: the rows are committed before the file is written
    opts = CsvOptions(mapping=mapping, preset=preset, encoding=encoding, date_order=date_order)
    show_progress = not as_json and not rt.quiet and sys.stderr.isatty()

    # A dry run writes nothing, not even a run record.
    with rt.job_lock("import"), (_DryRunRecord() if dry_run else JobRun(rt.store, "import:csv")) as run:
        if show_progress:
            from rich.progress import Progress

            from wedsync_cli.cli.output import err_console

            with Progress(console=err_console(), transient=True) as bar:
                task = bar.add_task("Importing", total=None)
                result = import_csv(rt, path, opts, dry_run=dry_run,
                                    on_start=lambda n: bar.update(task, total=n),
                                    progress=lambda n: bar.advance(task, n))
        else:
            result = import_csv(rt, path, opts, dry_run=dry_run)
        report = result.report
        from wedsync_cli.crashpoints import crash_point

        crash_point("import.committed")  # tests: the data is committed, the run record not yet
        run.counts.update({k: v for k, v in report.as_json().items()
                           if k in ("read", "created", "updated", "unchanged", "rejected", "dry_run", "merged")})
        run.finish("partial" if report.rejected else "ok")
        if rejects:
            write_rejects(rejects, result.headers, report.rejects)

    if as_json:
        from wedsync_cli.cli.output import emit_json

        doc = report.as_json()
        doc["file"] = str(result.table.path)
        doc["encoding"] = result.table.encoding
        doc["delimiter"] = result.table.delimiter
        if rejects:
            doc["rejects_file"] = rejects
        emit_json(doc)
    elif not rt.quiet:
        _print_summary(report, result, rejects)
    if report.rejected:
        from wedsync_cli.errors import PartialFailure

        first = report.rejects[0]
        raise PartialFailure(
            f"{report.rejected} of {report.read} rows were rejected (first: line {first.row_number}: {first.reason})",
            fix=(f"correct them in {rejects} and import that file" if rejects
                 else "rerun with --rejects FILE to get them with their reasons, correct them and import that file"))


def _check_writable(path: str) -> None:
    import os
    from pathlib import Path

    from wedsync_cli.errors import UsageError

    p = Path(path)
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if p.is_dir() or not os.access(parent if not p.exists() else p, os.W_OK):
        raise UsageError(f"Cannot write the rejects file {p}", fix="give --rejects a path in a folder you can write to")


class _DryRunRecord:
    """Stands in for JobRun during --dry-run."""

    def __init__(self):
        self.counts: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def finish(self, outcome: str, error: str | None = None) -> None:
        pass


def _print_summary(report, result, rejects_path) -> None:
    from wedsync_cli.cli.output import console, info, table

    out = console()
    title = f"Import of {result.table.path.name}" + (" (dry run: nothing written)" if report.dry_run else "")
    out.print(table(title, ["read", "created", "updated", "unchanged", "rejected", "merged duplicates"], [
        [report.read, report.created, report.updated, report.unchanged, report.rejected, report.merged]]))
    if report.unmapped_fields:
        info("Kept as extra fields (no matching wedsync field): " + ", ".join(sorted(report.unmapped_fields)))
    for note in result.notes:
        info(note)
    if report.rejects:
        shown = report.rejects[:10]
        info(f"{report.rejected} row(s) rejected:")
        for r in shown:
            info(f"  line {r.row_number}: {r.reason}")
        if len(report.rejects) > len(shown):
            info(f"  ... and {len(report.rejects) - len(shown)} more")
        if rejects_path:
            info(f"Rejected rows with their reasons: {rejects_path}")


from wedsync_cli.cli import import_crm  # noqa: E402

import_crm.register(app)
