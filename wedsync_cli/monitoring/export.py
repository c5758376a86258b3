"""Exports for outside monitoring: a Prometheus textfile and dead-man's-switch pings.

- ``write_textfile(rt)``: ``[metrics] textfile = "/var/lib/node_exporter/wedsync.prom"``; written
  to a temporary file in the same folder and renamed over the old one (atomic, as node_exporter's
  textfile collector expects; no timestamps in the exposition, per its README).
- ``ping(rt, job, signal, exit_code)``: healthchecks.io-style URL per job (``[schedule.<job>]
  ping_url`` or ``[metrics] ping_urls = {job = url}``): ``<url>/start``, ``<url>`` on success,
  ``<url>/fail`` (or ``/<code>``) on failure. Short timeout, one retry, never fails the job.
- ``finish_job(rt, job, exit_code)``: what every cron job calls at its end (rollup, textfile,
  protocol observation, ping); also never raises.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _log():
    """The module's logger, imported on the error paths only (logging costs ~5 ms per cron run)."""
    import logging

    return logging.getLogger(__name__)


def _esc(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _epoch(iso_value: str | None) -> float | None:
    if not iso_value:
        return None
    return datetime.fromisoformat(iso_value).timestamp()


def render_textfile(rt) -> str:
    from wedsync_cli.monitoring import status as st
    from wedsync_cli.monitoring.health import provider_health
    from wedsync_cli.wedding_day.policy import WeddingDayPolicy

    store, config = rt.store, rt.config
    now = rt.clock.now().astimezone(UTC)
    lines: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[dict[str, Any], float | None]]):
        samples = [(lbl, v) for lbl, v in samples if v is not None]
        if not samples:
            return
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lbl = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{lbl}}} {value:g}" if lbl else f"{name} {value:g}")

    jobs = st.last_runs(store)
    metric("wedsync_last_success_timestamp_seconds", "gauge", "When the job last finished ok (Unix time).",
           [({"job": j["job"]}, _epoch(j["last_success"])) for j in jobs])
    metric("wedsync_last_run_timestamp_seconds", "gauge", "When the job last started (Unix time).",
           [({"job": j["job"]}, _epoch(j["started_at"])) for j in jobs])
    metric("wedsync_last_run_duration_seconds", "gauge", "Duration of the job's last run.",
           [({"job": j["job"]}, j["duration_s"]) for j in jobs])
    metric("wedsync_last_run_ok", "gauge", "1 if the job's last run finished ok, else 0.",
           [({"job": j["job"]}, 1.0 if j["outcome"] == "ok" else 0.0) for j in jobs])
    providers = provider_health(store, config, now)
    states = ("healthy", "degraded", "down")
    metric("wedsync_provider_state", "gauge", "Provider health (1 for the current state).",
           [({"provider": p["name"], "state": s}, 1.0 if p["state"] == s else 0.0) for p in providers for s in states])
    metric("wedsync_provider_last_success_timestamp_seconds", "gauge", "Last successful call (Unix time).",
           [({"provider": p["name"]}, _epoch(p["last_success"])) for p in providers])
    metric("wedsync_provider_calls", "gauge", "Calls in the metrics window.",
           [({"provider": p["name"]}, float(p["calls"])) for p in providers])
    metric("wedsync_provider_error_ratio", "gauge", "Share of failed calls in the metrics window.",
           [({"provider": p["name"]}, p["error_rate"]) for p in providers])
    metric("wedsync_provider_latency_ms", "gauge", "Call latency quantiles in the metrics window (ms).",
           [({"provider": p["name"], "quantile": q}, p[f"p{int(float(q) * 100)}_ms"])
            for p in providers for q in ("0.5", "0.95", "0.99")])
    ob, wh = st.outbox_counts(store), st.webhook_counts(store)
    metric("wedsync_outbox_items", "gauge", "Emails in the outbox by status.",
           [({"status": k}, float(v)) for k, v in ob.items()])
    metric("wedsync_webhook_deliveries", "gauge", "Outbound webhook deliveries by status.",
           [({"status": k}, float(v)) for k, v in wh.items()])
    metric("wedsync_conflicts_open", "gauge", "Unresolved sync conflicts.",
           [({}, float(store.scalar("SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL") or 0))])
    metric("wedsync_alerts_open", "gauge", "Open alerts.",
           [({}, float(store.scalar("SELECT COUNT(*) FROM alerts WHERE resolved_at IS NULL") or 0))])
    state = WeddingDayPolicy(store, config, rt.clock).state(now)
    metric("wedsync_wedding_day_protocol_active", "gauge", "1 while the wedding-day protocol is active.",
           [({}, 1.0 if state.active else 0.0)])
    return "\n".join(lines) + "\n"


def textfile_path(rt) -> Path | None:
    value = (rt.config.metrics or {}).get("textfile")
    return rt.config.resolve_path(value) if value else None


def write_textfile(rt) -> Path | None:
    """Write the Prometheus textfile if ``[metrics] textfile`` is set (atomic rename)."""
    path = textfile_path(rt)
    if path is None:
        return None
    text = render_textfile(rt)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # node_exporter runs as another user; it holds no secrets
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


# -- pings -----------------------------------------------------------------------------------
def ping_url(rt, job: str) -> str | None:
    base = job.split(":", 1)[0]
    sched = rt.config.schedule or {}
    for name in (job, base):
        section = sched.get(name)
        if isinstance(section, dict) and section.get("ping_url"):
            return section["ping_url"]
    urls = (rt.config.metrics or {}).get("ping_urls") or {}
    return urls.get(job) or urls.get(base)


def ping(rt, job: str, signal: str, exit_code: int | None = None) -> bool:
    """signal: start | success | fail. Returns whether the ping got through; never raises."""
    url = ping_url(rt, job)
    if not url:
        return False
    try:
        from urllib.parse import urlsplit

        from wedsync_cli.http.client import HttpClient, RetryPolicy

        parts = urlsplit(url.rstrip("/"))
        path = parts.path
        if signal == "start":
            path += "/start"
        elif signal == "fail":
            path += f"/{exit_code}" if exit_code not in (None, 0) else "/fail"
        with HttpClient("ping", f"{parts.scheme}://{parts.netloc}", timeout=5, clock=rt.clock, recorder=rt.recorder,
                        retry=RetryPolicy(max_attempts=2, base_delay=0.2, max_delay=1, max_retry_after=2)) as c:
            resp = c.get(path + (f"?{parts.query}" if parts.query else ""), operation=f"ping {signal}")
        return resp.status_code < 300
    except Exception as exc:  # noqa: BLE001 - a dead-man's switch must never fail the job it watches
        _log().info("ping for %s (%s) failed: %s", job, signal, exc)
        return False


def finish_job(rt, job: str, exit_code: int = 0) -> None:
    """End-of-cron-job housekeeping: fold new calls into rollups, observe the protocol switch,
    refresh the textfile, ping. Never raises (monitoring must not fail the job)."""
    from wedsync_cli.monitoring import metrics
    from wedsync_cli.wedding_day.decisions import observe

    for step in (rt.flush_calls, lambda: metrics.rollup(rt.store), lambda: observe(rt), lambda: write_textfile(rt)):
        try:
            step()
        except Exception as exc:  # noqa: BLE001
            _log().info("monitoring step after %s failed: %s", job, exc)
    ping(rt, job, "success" if exit_code == 0 else "fail", exit_code)


@contextlib.contextmanager
def monitored_job(rt, job: str) -> Iterator[None]:
    """``with monitored_job(rt, "sync"): ...`` — start ping, then finish_job with the exit code."""
    from wedsync_cli.errors import WedsyncError

    ping(rt, job, "start")
    code = 0
    try:
        yield
    except WedsyncError as exc:
        code = exc.exit_code
        raise
    except BaseException:
        code = 1
        raise
    finally:
        finish_job(rt, job, code)

