"""`wedsync sync [NAME ...] [--dry-run] [--full] [--json]`: sources first, then every calendar.

Thin: the work is in ``wedsync_cli.calendars.engine`` (calendars) and the sources' own ``sync``.
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

    rt = ctx.obj
    # Start/finish pings, rollups and the wedding-day switch (a dry run touches none of it).
    with contextlib.nullcontext() if dry_run else _monitored(rt):
        runs = run_sync(rt, names or [], dry_run=dry_run, full=full)
        public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in runs]
        if as_json:
            emit_json({"runs": public, "dry_run": dry_run})
        elif not rt.quiet:  # --quiet (cron): only the error sentence, if any
            _print_human(public, dry_run)
            if dry_run:
                info("Dry run: nothing was written.", rt.quiet)
        _exit_for(runs)


def _monitored(rt):
    import contextlib

    try:
        from wedsync_cli.monitoring.export import monitored_job
    except ImportError:  # monitoring not installed: nothing to report to
        return contextlib.nullcontext()
    return monitored_job(rt, "sync")


def run_sync(rt, names: list[str], *, dry_run: bool = False, full: bool = False) -> list[dict[str, Any]]:
    """Run the named (or all enabled) sources, then calendars; one JobRun each. Core entry point."""
    from wedsync_cli.errors import ConfigError, UsageError

    cfg = rt.config
    known = {**{n: ("source", s) for n, s in cfg.sources.items()}, **{n: ("calendar", c) for n, c in cfg.calendars.items()}}
    if not known:
        raise ConfigError(f"No calendars or sources are configured in {cfg.source_file}",
                          fix="run `wedsync init` or add a [calendars.<name>] table (see config.example.toml)")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"There is no calendar or source named {', '.join(repr(n) for n in unknown)} in {cfg.source_file}",
                         fix=f"use one of: {', '.join(sorted(known))}")
    if names:
        selected = [(n, *known[n]) for n in dict.fromkeys(names)]
    else:
        selected = [(n, k, c) for n, (k, c) in known.items() if c.enabled]
    # Sources first, so the calendars get what they just brought in.
    selected.sort(key=lambda t: 0 if t[1] == "source" else 1)
    runs: list[dict[str, Any]] = []
    with rt.job_lock("sync"):
        for name, kind, conf in selected:
            # A scheduled run (no names) slows down during the wedding-day protocol; a run the
            # vendor names explicitly always goes ahead.
            skip_reason = None if (names or dry_run) else _protocol_skip(rt, name)
            if skip_reason:
                runs.append(_skipped(rt, name, kind, conf, skip_reason))
            elif kind == "source":
                runs.append(_run_source(rt, name, conf, dry_run=dry_run, full=full))
            else:
                runs.append(_run_calendar(rt, name, conf, dry_run=dry_run, full=full))
        if not dry_run:
            _queue_timeline_digests(rt)
    return runs


def _queue_timeline_digests(rt) -> None:
    """Opt-in ([email] timeline_notifications): one digest email per couple whose booked wedding's
    events this run changed; `send --flush` delivers them. Never fails the sync itself."""
    from wedsync_cli.errors import WedsyncError

    if not rt.config.email.timeline_notifications:
        return
    from wedsync_cli.email.timeline import queue_timeline_digests

    try:
        queue_timeline_digests(rt)
    except WedsyncError as exc:  # e.g. a template problem: report it, keep the sync's own result
        import logging

        logging.getLogger("wedsync.sync").warning("timeline digests not queued: %s", exc.sentence())


# -- one run each -----------------------------------------------------------------------------------------
def _entry(name: str, provider: str, kind: str) -> dict[str, Any]:
    return {"name": name, "provider": provider, "kind": kind, "status": "ok",
            "pulled": {"created": 0, "updated": 0, "deleted": 0},
            "pushed": {"created": 0, "updated": 0, "deleted": 0},
            "conflicts": 0, "requests": 0, "error": None}


def _job(rt, name: str, dry_run: bool):
    import contextlib

    from wedsync_cli.store.runs import JobRun

    # A dry run writes nothing, not even its run row.
    return contextlib.nullcontext(None) if dry_run else JobRun(rt.store, f"sync:{name}")


def _protocol_skip(rt, name: str) -> str | None:
    try:
        from wedsync_cli.wedding_day.decisions import should_run
    except ImportError:
        return None
    ok, why = should_run(rt, f"sync:{name}")
    return None if ok else why


def _skipped(rt, name: str, kind: str, conf, reason: str) -> dict[str, Any]:
    from wedsync_cli.store.runs import JobRun

    entry = _entry(name, conf.provider, kind)
    entry["status"], entry["reason"] = "skipped", reason
    with JobRun(rt.store, f"sync:{name}") as run:
        run.finish("skipped", reason)
    return entry


def _fail(entry: dict[str, Any], exc: BaseException) -> None:
    from wedsync_cli.errors import WedsyncError

    entry["status"] = "failed"
    if isinstance(exc, WedsyncError):
        entry["error"] = exc.sentence()
        entry["_exit"] = exc.exit_code
    else:
        entry["error"] = f"unexpected error ({type(exc).__name__}: {exc}); rerun with -v and report it"
        entry["_exit"] = 1


def _missing_provider(kind: str, provider: str, exc: BaseException):
    from wedsync_cli.errors import ConfigError

    return ConfigError(f"The {provider} {kind} provider is not available in this installation ({type(exc).__name__}: {exc})",
                       fix="reinstall wedsync (`make venv`) or disable this entry with `enabled = false`")


def _run_source(rt, name: str, conf, *, dry_run: bool, full: bool) -> dict[str, Any]:
    from wedsync_cli import registry

    entry = _entry(name, conf.provider, "source")
    with _job(rt, name, dry_run) as run:
        try:
            try:
                cls = registry.load("source", conf.provider)
            except (ImportError, AttributeError) as exc:
                raise _missing_provider("source", conf.provider, exc) from None
            before = rt.recorder.requests()
            report = cls(rt, name, conf).sync(full=full, dry_run=dry_run)
            entry["requests"] = rt.recorder.requests() - before
            entry["pulled"] = {"created": int(getattr(report, "created", 0)),
                               "updated": int(getattr(report, "updated", 0)), "deleted": 0}
            entry["unchanged"] = int(getattr(report, "unchanged", 0))
            entry["rejected"] = int(getattr(report, "rejected", 0))
            if entry["rejected"]:
                entry["error"] = f"{entry['rejected']} record(s) rejected; see `wedsync import` with --rejects FILE"
        except Exception as exc:  # noqa: BLE001 - one failing run must not stop the others
            _fail(entry, exc)
        _finish(rt, run, entry, dry_run)
    return entry


def _backend_context(rt, name: str, conf):
    from wedsync_cli.calendars.backend import BackendContext

    cfg = rt.config
    calendar = conf.calendar
    if conf.provider == "local" and calendar:
        calendar = str(cfg.resolve_path(calendar))
    extras = dict(conf.model_extra or {})
    return BackendContext(
        name=name, calendar=calendar, provider_config={**rt.provider_settings(conf.provider), **extras},
        credentials=rt.credentials, clock=rt.clock, recorder=rt.recorder, state_dir=rt.paths.state_dir,
        timezone=cfg.timezone, options={"statuses": list(conf.statuses)},
    )


def _run_calendar(rt, name: str, conf, *, dry_run: bool, full: bool) -> dict[str, Any]:
    from wedsync_cli import registry
    from wedsync_cli.calendars.engine import CalendarSpec, SyncEngine, wedding_day_state

    entry = _entry(name, conf.provider, "calendar")
    with _job(rt, name, dry_run) as run:
        backend = None
        try:
            try:
                cls = registry.load("calendar", conf.provider)
            except (ImportError, AttributeError) as exc:
                raise _missing_provider("calendar", conf.provider, exc) from None
            backend = cls(_backend_context(rt, name, conf))
            engine = SyncEngine(rt.store, backend, CalendarSpec.from_config(name, conf), timezone=rt.config.timezone,
                                wedding_day=lambda: wedding_day_state(rt), dry_run=dry_run, full=full)
            result = engine.run()
            entry.update({k: v for k, v in result.items() if k not in ("name", "provider", "plan")})
            entry["plan"] = result["plan"] if dry_run else []
        except Exception as exc:  # noqa: BLE001 - one failing calendar must not stop the others
            _fail(entry, exc)
            if backend is not None:
                entry["requests"] = max(entry["requests"], _requests(backend))
            if not dry_run:
                _emit_failed(rt, entry)
        finally:
            if backend is not None:
                import contextlib

                with contextlib.suppress(Exception):
                    backend.close()
        _finish(rt, run, entry, dry_run)
    return entry


def _requests(backend) -> int:
    try:
        return int(backend.requests)
    except Exception:  # noqa: BLE001
        return 0


def _emit_failed(rt, entry: dict[str, Any]) -> None:
    import contextlib

    from wedsync_cli.notify import emit

    with contextlib.suppress(Exception), rt.store.transaction():
        emit(rt.store, "sync.failed", {"calendar": entry["name"], "provider": entry["provider"],
                                       "error": entry["error"]})


def _finish(rt, run, entry: dict[str, Any], dry_run: bool) -> None:
    if run is None:
        return
    run.counts.update({"pulled": entry["pulled"], "pushed": entry["pushed"], "conflicts": entry["conflicts"],
                       "requests": entry["requests"]})
    for extra in ("unchanged", "rejected"):
        if extra in entry:
            run.counts[extra] = entry[extra]
    if entry.get("deferred"):
        run.counts["deferred"] = len(entry["deferred"])
    if entry["status"] == "failed":
        run.finish("failed", entry["error"])
    elif entry.get("rejected"):
        run.finish("partial", entry["error"])
    else:
        run.finish("ok")


# -- output and exit code ---------------------------------------------------------------------------------
def _print_human(runs: list[dict[str, Any]], dry_run: bool) -> None:
    from wedsync_cli.cli.output import console, table

    def trio(d: dict[str, int]) -> str:
        return f"+{d['created']} ~{d['updated']} -{d['deleted']}"

    out = console()
    out.print(table("Sync (dry run: nothing written)" if dry_run else "Sync",
                    ["name", "kind", "provider", "status", "pulled", "pushed", "conflicts", "requests", "error"],
                    [[r["name"], r["kind"], r["provider"], r["status"], trio(r["pulled"]), trio(r["pushed"]),
                      r["conflicts"], r["requests"], r["error"] or r.get("reason") or ""] for r in runs]))
    for r in runs:
        for p in r.get("plan") or []:
            out.print(f"  would {p['action']}: {p.get('title') or p.get('event_id')} ({r['name']})")
        for d in r.get("deferred") or []:
            out.print(f"Deferred delete in {r['name']}: event {d['event_id']} stays until the wedding-day "
                      "protocol ends (the next sync after that deletes it).")
    seen = set()
    for r in runs:
        for d in r.get("double_bookings") or []:
            a, b = d["a"], d["b"]
            key = (a["event_id"], b.get("event_id") or b.get("remote_id"))
            if key in seen:
                continue
            seen.add(key)
            if b.get("foreign"):
                out.print(f"[bold red]Double booking:[/] {a['client'] or a['title']} ({a['start']}) overlaps "
                          f"'{b['title']}' ({b['start']}), an event in calendar {r['name']} not from wedsync")
            else:
                out.print(f"[bold red]Double booking:[/] {a['client'] or a['title']} ({a['start']}) overlaps "
                          f"{b['client'] or b['title']} ({b['start']})")
    if any(r["conflicts"] for r in runs):
        out.print("Conflicts were recorded with both versions: see `wedsync conflicts list`.")


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
