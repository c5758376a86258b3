"""One `sync` run, below the CLI: the named (or all enabled) CRM sources first, then the calendars.

``run_sync(rt, names)`` takes the sync job lock, runs each source/calendar in its own JobRun (one
failing run never stops the others), lets the wedding-day protocol hold back scheduled runs
(recorded as skipped), and queues the opt-in timeline digests. It returns one dict per run in the
contract's ``--json`` shape (plus ``_exit``: the exit code a failed run maps to); it prints nothing.
Used by `wedsync sync` and by the inbound Táve webhook.
"""

from __future__ import annotations

from typing import Any


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
    """A run the protocol held back: one 'skipped' job_runs row with the reason, for `status`."""
    from wedsync_cli.wedding_day.decisions import record_skip

    entry = _entry(name, conf.provider, kind)
    entry["status"], entry["reason"] = "skipped", reason
    record_skip(rt.store, f"sync:{name}", reason)
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
