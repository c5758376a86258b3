"""`import tave` / `import honeybook` below the CLI: pick the source, run it once under the import
lock with a JobRun ``import:<provider>``, and shape its report (the `--json` document and the
rejects file). Prints nothing; the command formats what this returns.
"""

from __future__ import annotations

from typing import Any


def source_config(rt, provider: str, name: str | None) -> tuple[str, Any]:
    """The ``[sources.<name>]`` to use: the named one, the only one, or none (provider defaults)."""
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


def run_import(rt, provider: str, name: str | None, *, full: bool = False, dry_run: bool = False):
    """One import run; returns (report, summary document). A second overlapping import exits 75."""
    from wedsync_cli import registry
    from wedsync_cli.store.runs import JobRun

    src_name, cfg = source_config(rt, provider, name)
    source = registry.load("source", provider)(rt, src_name, cfg)
    with rt.job_lock("import"), JobRun(rt.store, f"import:{provider}") as run:
        report = source.sync(full=full, dry_run=dry_run)
        doc = summary_doc(source, report)
        run.counts.update({k: doc[k] for k in ("read", "created", "updated", "unchanged", "rejected")})
        if report.rejected:
            run.finish("partial", f"{report.rejected} record(s) rejected")
    rt.flush_calls()
    return report, doc


def summary_doc(source, report) -> dict[str, Any]:
    doc = report.as_json()
    doc.update({
        "mode": getattr(source, "mode", None),
        "requests": getattr(source, "requests", {}),
        "deleted": getattr(source, "deleted", {}),
        "skipped": list(getattr(source, "skipped", [])),
        "rejects": [{"reason": r.reason, "record": record_label(r)} for r in report.rejects],
    })
    return doc


def record_label(rejected) -> str:
    raw = rejected.raw or {}
    job = raw.get("job") if isinstance(raw, dict) else None
    if isinstance(job, dict):
        return f"job {job.get('id')}"
    for key in ("id", "project_id", "external_id"):
        if isinstance(raw, dict) and raw.get(key):
            return f"{key} {raw[key]}"
    return f"row {rejected.row_number}" if rejected.row_number else ""


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
            w.writerow([r.source, record_label(r), r.reason, json.dumps(r.raw, ensure_ascii=False, default=str)])
    os.replace(tmp, target)
