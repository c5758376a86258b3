"""`wedsync health check`: probe every configured provider once, record health, send alerts.

One run: observe the wedding-day protocol (activated/ended events) → one cheap authenticated
probe per configured provider (``registry.load("check", provider)(rt, provider)``; providers
without a check are listed as skipped) → fold the calls into rollups → provider states, with
``provider.degraded`` / ``provider.recovered`` domain events on each change → alert rules,
deduplicated, notified (SMS too while the protocol is active) → housekeeping when
``should_run("maintenance")`` allows → textfile and ping.
"""

from __future__ import annotations

import time
from datetime import UTC
from typing import Any

from wedsync_cli.clock import iso


def probe(rt, provider: str) -> dict[str, Any]:
    from wedsync_cli import registry
    from wedsync_cli.errors import WedsyncError
    from wedsync_cli.http.client import CallRecord

    if provider not in registry.REGISTRY.get("check", {}):
        return {"provider": provider, "status": "skipped", "detail": "no health probe for this provider"}
    before = rt.recorder.requests(provider)
    t0 = time.perf_counter()
    try:
        fn = registry.load("check", provider)
        detail = fn(rt, provider)
        result = {"provider": provider, "status": "ok", "detail": str(detail or "ok")}
    except WedsyncError as exc:
        result = {"provider": provider, "status": "failed", "detail": exc.sentence(), "exit_code": exc.exit_code}
    except Exception as exc:  # noqa: BLE001 - one broken probe must not stop the others
        result = {"provider": provider, "status": "failed", "detail": f"{type(exc).__name__}: {exc}", "exit_code": 1}
    latency = round((time.perf_counter() - t0) * 1000, 3)
    result["latency_ms"] = latency
    if rt.recorder.requests(provider) == before and not _config_problem(result):
        # Probes that do not go through HttpClient (SMTP, CalDAV's own client) are recorded here,
        # so every provider's health rests on the same table.
        ok = result["status"] == "ok"
        rt.recorder.record(CallRecord(at=iso(rt.clock.now()) or "", provider=provider, operation="health.check",
                                      method="PROBE", status=None if not ok else 200,
                                      outcome="ok" if ok else "error", latency_ms=latency,
                                      error=None if ok else result["detail"][:300]))
    return result


def _config_problem(result: dict[str, Any]) -> bool:
    # A missing credential or a bad config is our problem, not the provider being down.
    return result.get("exit_code") == 78


def _transitions(rt, providers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from wedsync_cli import notify

    store = rt.store
    now = store.now()
    changes = []
    with store.transaction():
        seen = {r["provider"]: r for r in store.query("SELECT * FROM provider_health")}
        for p in providers:
            prev = seen.get(p["name"])
            prev_state = prev["state"] if prev else "healthy"
            if prev is None or prev_state != p["state"]:
                store.execute(
                    "INSERT OR REPLACE INTO provider_health(provider, state, since, checked_at, detail) VALUES (?,?,?,?,?)",
                    [p["name"], p["state"], now, now, p["reason"]])
            else:
                store.execute("UPDATE provider_health SET checked_at = ?, detail = ? WHERE provider = ?",
                              [now, p["reason"], p["name"]])
            if prev_state == p["state"]:
                continue
            data = {"provider": p["name"], "state": p["state"], "previous": prev_state, "reason": p["reason"],
                    "last_success": p["last_success"]}
            if p["state"] == "healthy":
                notify.emit(store, "provider.recovered", data, dedupe_key=f"provider.recovered:{p['name']}:{now}")
            else:
                notify.emit(store, "provider.degraded", data,
                            dedupe_key=f"provider.degraded:{p['name']}:{p['state']}:{now}")
            changes.append(data)
    return changes


def run_health_check(rt) -> dict[str, Any]:
    from wedsync_cli.monitoring import alerts, export, metrics
    from wedsync_cli.monitoring.health import configured_providers, provider_health
    from wedsync_cli.monitoring.settings import validate
    from wedsync_cli.store.runs import JobRun
    from wedsync_cli.wedding_day.decisions import observe, should_run
    from wedsync_cli.wedding_day.policy import WeddingDayPolicy

    config = rt.config
    validate(config)
    store = rt.store
    export.ping(rt, "health", "start")
    exit_code = 0
    try:
        with rt.job_lock("health"), JobRun(store, "health") as run:
            switch = observe(rt)
            names = configured_providers(config)
            extra = (config.health or {}).get("providers")
            if extra:
                names = [n for n in extra if n]
            probes = [probe(rt, name) for name in names]
            rt.flush_calls()
            metrics.rollup(store)
            now = rt.clock.now().astimezone(UTC)
            providers = provider_health(store, config, now)
            changes = _transitions(rt, providers)
            protocol = WeddingDayPolicy(store, config, rt.clock).state(now)
            conditions = alerts.evaluate(rt, providers, now)
            alert_changes = alerts.reconcile(store, conditions, now)
            sent = alerts.notify(rt, now, protocol.active)
            maintenance, why = should_run(rt, "maintenance")
            pruned = None
            if maintenance and _maintenance_due(store, now):
                with JobRun(store, "maintenance") as mrun:
                    pruned = metrics.prune(store, config, now)
                    mrun.counts.update(pruned)
            failed = [p for p in probes if p["status"] == "failed"]
            run.counts.update({"probed": sum(p["status"] != "skipped" for p in probes), "failed": len(failed),
                               "alerts_open": len(alerts.open_alerts(store)), "notifications": len(sent)})
            if failed:
                run.finish("partial", "; ".join(f"{p['provider']}: {p['detail']}" for p in failed)[:500])
                exit_code = 1
            doc = {"probes": probes, "providers": providers, "changes": changes,
                   "protocol": {"active": protocol.active, "reason": protocol.reason, "since": iso(protocol.since),
                                "until": iso(protocol.until), "switch": switch},
                   "alerts": {"open": [{"key": a["key"], "message": a["message"], "opened_at": a["opened_at"]}
                                       for a in alerts.open_alerts(store)],
                              "opened": alert_changes["opened"], "resolved": alert_changes["resolved"],
                              "notifications": sent},
                   "maintenance": pruned if pruned is not None else {"skipped": why if not maintenance else "not due"},
                   "exit_code": exit_code}
    except Exception as exc:
        from wedsync_cli.errors import WedsyncError

        export.finish_job(rt, "health", exc.exit_code if isinstance(exc, WedsyncError) else 1)
        raise
    export.finish_job(rt, "health", exit_code)
    return doc


def _maintenance_due(store, now) -> bool:
    """Housekeeping (retention) runs at most hourly; it deletes in chunks."""
    from datetime import timedelta

    last = store.scalar("SELECT started_at FROM job_runs WHERE job = 'maintenance' ORDER BY started_at DESC LIMIT 1")
    return last is None or last < iso(now - timedelta(hours=1))
