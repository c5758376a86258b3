"""Provider health: healthy / degraded / down from recorded calls, and the providers to watch.

Rules (``[health]`` keys, defaults in brackets):
- down: the last ``down_after_failures`` [3] calls to the provider failed (retries count: one
  probe that exhausts its retries is enough) — a failure is no answer, a 5xx, 401/403 or 429;
- degraded: not down, and the latest call failed, or the failure rate of the last
  ``window_minutes`` [60] is at least ``degraded_error_rate`` [0.1] over ``min_calls`` [5] calls
  and a call failed within the last ``quiet_minutes`` [5];
- healthy otherwise (including "no calls yet": ``last_success`` is then null).
Latency quantiles and the reported error rate cover ``[metrics] window_hours`` [24].
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from wedsync_cli.clock import iso
from wedsync_cli.monitoring import metrics

# Providers that make no network calls are never listed.
_LOCAL_PROVIDERS = {"local", "maildir", "csv"}


def configured_providers(config) -> list[str]:
    names: list[str] = []
    for cal in config.calendars.values():
        if getattr(cal, "enabled", True):
            names.append(cal.provider)
    for src in config.sources.values():
        if getattr(src, "enabled", True):
            names.append(src.provider)
    names.extend(config.email.providers)
    out = []
    for n in names:
        if n not in _LOCAL_PROVIDERS and n not in out:
            out.append(n)
    return out


def _setting(config, section: str, key: str, default):
    return (getattr(config, section, None) or {}).get(key, default)


def classify(last: dict[str, Any] | None, recent: metrics.Stats | None, config,
             now: datetime | None = None) -> tuple[str, str]:
    """(state, why) for one provider."""
    down_after = int(_setting(config, "health", "down_after_failures", 3))
    rate_limit = float(_setting(config, "health", "degraded_error_rate", 0.1))
    min_calls = int(_setting(config, "health", "min_calls", 5))
    if last and (last.get("consecutive_failures") or 0) >= down_after:
        err = last.get("last_error") or (f"HTTP {last['last_status']}" if last.get("last_status") else "no answer")
        return "down", f"the last {last['consecutive_failures']} calls failed ({err})"
    if last and (last.get("consecutive_failures") or 0) > 0:
        return "degraded", "the latest call failed"
    quiet = float(_setting(config, "health", "quiet_minutes", 5))
    if (recent is not None and recent.calls >= min_calls and recent.failures / recent.calls >= rate_limit
            and last and last.get("last_fail_at") and now is not None
            and last["last_fail_at"] > (iso(now - timedelta(minutes=quiet)) or "")):
        # Still failing now and then; once it has gone `quiet_minutes` without a failure it is healthy.
        return "degraded", f"{recent.failures} of the last {recent.calls} calls failed"
    return "healthy", "ok"


def provider_health(store, config, now: datetime, names: list[str] | None = None) -> list[dict[str, Any]]:
    """The contract's provider entries: name, state, last_success, error_rate, p50/p95/p99 (ms)."""
    metrics.maybe_rollup(store)
    tail = metrics._tail(store)
    window_h = float(_setting(config, "metrics", "window_hours", 24))
    recent_min = float(_setting(config, "health", "window_minutes", 60))
    stats = metrics.window_stats(store, now - timedelta(hours=window_h), tail=tail)
    recent = metrics.window_stats(store, now - timedelta(minutes=recent_min), tail=tail)
    last = metrics.provider_last(store, tail=tail)
    wanted = list(names) if names is not None else configured_providers(config)
    for p in sorted(set(stats) | set(last)):
        if p not in wanted:
            wanted.append(p)
    out = []
    for name in wanted:
        s = stats.get(name) or metrics.Stats()
        state, why = classify(last.get(name), recent.get(name), config, now)
        lp = last.get(name) or {}
        out.append({"name": name, "state": state, "last_success": lp.get("last_ok_at"),
                    "error_rate": s.error_rate, "p50_ms": s.quantile(0.5), "p95_ms": s.quantile(0.95),
                    "p99_ms": s.quantile(0.99), "calls": s.calls, "last_failure": lp.get("last_fail_at"),
                    "reason": why})
    return out


def operation_stats(store, config, now: datetime) -> list[dict[str, Any]]:
    window_h = float(_setting(config, "metrics", "window_hours", 24))
    stats = metrics.window_stats(store, now - timedelta(hours=window_h), by_operation=True)
    return [{"provider": p, "operation": op, **s.summary()} for (p, op), s in sorted(stats.items())]
