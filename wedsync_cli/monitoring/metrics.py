"""Measurements: hourly rollups of ``http_calls``, retention, and per-provider statistics.

The HTTP layer writes one raw row per external call. ``rollup`` folds new raw rows (by id, with a
cursor saved in the same transaction, so a crash never counts a row twice) into hourly rows per
provider and operation with a log-bucket latency histogram; quantiles over any window merge those
histograms (relative error under 5 %). ``prune`` keeps ``[metrics] raw_days`` (default 7) of raw
rows and ``rollup_days`` (default 90) of rollups, so the state stays bounded. Readers add the
not-yet-rolled-up tail in memory, so figures are current without anyone holding a write lock.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wedsync_cli.clock import iso

ROLLUP_CURSOR = "monitoring:rollup"
_GROWTH = 1.1  # bucket i holds latencies in (1.1**(i-1), 1.1**i] ms
_LOG_GROWTH = math.log(_GROWTH)
_CHUNK = 50_000


def bucket(latency_ms: float) -> int:
    if latency_ms <= 1:
        return 0
    return min(200, math.ceil(math.log(latency_ms) / _LOG_GROWTH))


def bucket_value(i: int) -> float:
    """A representative latency for bucket i (geometric middle of its bounds)."""
    if i <= 0:
        return 1.0
    return _GROWTH ** (i - 0.5)


def is_failure(outcome: str, status: int | None) -> bool:
    """Health-relevant failures: no answer, server errors, refused credentials, rate limits.
    A 404 or a 412 etag mismatch is the protocol working, not the provider failing."""
    if outcome == "ok":
        return False
    return status is None or status >= 500 or status in (401, 403, 429)


def hour_of(at: str) -> str:
    return at[:13] + ":00:00+00:00"


@dataclass
class Stats:
    calls: int = 0
    errors: int = 0
    failures: int = 0
    latency_sum: float = 0.0
    hist: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add_call(self, outcome: str, status: int | None, latency_ms: float) -> None:
        self.calls += 1
        if outcome != "ok":
            self.errors += 1
        if is_failure(outcome, status):
            self.failures += 1
        self.latency_sum += latency_ms or 0.0
        self.hist[bucket(latency_ms or 0.0)] += 1

    def merge(self, calls: int, errors: int, failures: int, latency_sum: float, hist: dict) -> None:
        self.calls += calls
        self.errors += errors
        self.failures += failures
        self.latency_sum += latency_sum
        for k, v in hist.items():
            self.hist[int(k)] += v

    def quantile(self, q: float) -> float | None:
        total = sum(self.hist.values())
        if not total:
            return None
        rank = q * total
        seen = 0
        for i in sorted(self.hist):
            seen += self.hist[i]
            if seen >= rank:
                return round(bucket_value(i), 1)
        return round(bucket_value(max(self.hist)), 1)

    @property
    def error_rate(self) -> float:
        return round(self.failures / self.calls, 4) if self.calls else 0.0

    def summary(self) -> dict[str, Any]:
        return {"calls": self.calls, "errors": self.errors, "failures": self.failures,
                "error_rate": self.error_rate, "p50_ms": self.quantile(0.50),
                "p95_ms": self.quantile(0.95), "p99_ms": self.quantile(0.99)}


# -- rollup ------------------------------------------------------------------------------------
def rollup(store, max_rows: int | None = None) -> int:
    """Fold raw calls after the cursor into http_rollups/provider_last. Returns rows folded."""
    done = 0
    while max_rows is None or done < max_rows:
        n = _rollup_chunk(store, _CHUNK if max_rows is None else min(_CHUNK, max_rows - done))
        done += n
        if n == 0:
            break
    return done


def _rollup_chunk(store, limit: int) -> int:
    with store.transaction():
        cur = (store.get_cursor(ROLLUP_CURSOR) or {}).get("id", 0)
        rows = store.db.conn.execute(
            "SELECT id, at, provider, operation, status, outcome, latency_ms, error FROM http_calls "
            "WHERE id > ? ORDER BY id LIMIT ?", [cur, limit]).fetchall()
        if not rows:
            return 0
        groups: dict[tuple[str, str, str], Stats] = defaultdict(Stats)
        last: dict[str, dict[str, Any]] = {}
        for _id, at, provider, operation, status, outcome, latency, error in rows:
            groups[(provider, operation, hour_of(at))].add_call(outcome, status, latency)
            p = last.get(provider)
            if p is None:
                r = store.one("SELECT * FROM provider_last WHERE provider = ?", [provider])
                p = last[provider] = r or {"provider": provider, "last_at": None, "last_ok_at": None,
                                           "last_fail_at": None, "last_status": None, "last_error": None,
                                           "consecutive_failures": 0}
            _apply_last(p, at, outcome, status, error)
        for (provider, operation, hour), s in groups.items():
            old = store.db.conn.execute(
                "SELECT calls, errors, failures, latency_sum, hist FROM http_rollups "
                "WHERE provider = ? AND operation = ? AND hour = ?", [provider, operation, hour]).fetchone()
            if old:
                s.merge(old[0], old[1], old[2], old[3], json.loads(old[4]))
            store.execute(
                "INSERT OR REPLACE INTO http_rollups(provider, operation, hour, calls, errors, failures, latency_sum, hist)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [provider, operation, hour, s.calls, s.errors, s.failures, round(s.latency_sum, 3),
                 json.dumps({str(k): v for k, v in sorted(s.hist.items())}, separators=(",", ":"))])
        for p in last.values():
            store.execute(
                "INSERT OR REPLACE INTO provider_last(provider, last_at, last_ok_at, last_fail_at, last_status,"
                " last_error, consecutive_failures) VALUES (?,?,?,?,?,?,?)",
                [p["provider"], p["last_at"], p["last_ok_at"], p["last_fail_at"], p["last_status"],
                 p["last_error"], p["consecutive_failures"]])
        store.set_cursor(ROLLUP_CURSOR, {"id": rows[-1][0]})
        from wedsync_cli.crashpoints import crash_point

        crash_point("monitoring.rollup")  # kill -9 tests: everything above is one uncommitted transaction
        return len(rows)


def _apply_last(p: dict[str, Any], at: str, outcome: str, status: int | None, error: str | None) -> None:
    if p["last_at"] is None or at >= p["last_at"]:
        p["last_at"], p["last_status"] = at, status
    if outcome == "ok" or not is_failure(outcome, status):
        # A 404/412 still proves the provider answered with our credential.
        if p["last_ok_at"] is None or at >= p["last_ok_at"]:
            p["last_ok_at"] = at
        p["consecutive_failures"] = 0
    else:
        if p["last_fail_at"] is None or at >= p["last_fail_at"]:
            p["last_fail_at"] = at
            p["last_error"] = (error or "")[:300] or None
        p["consecutive_failures"] = (p["consecutive_failures"] or 0) + 1


def maybe_rollup(store, threshold: int = 20_000) -> int:
    """Fold the raw tail first when it has grown large (no health check scheduled yet), so a
    reader never aggregates hundreds of thousands of rows in memory. Never waits on a writer:
    if the database is busy the reader just reads the tail as it is."""
    import sqlite3

    top = store.scalar("SELECT MAX(id) FROM http_calls") or 0
    cursor = (store.get_cursor(ROLLUP_CURSOR) or {}).get("id", 0)
    if top - cursor <= threshold or store.db.conn.in_transaction:
        return 0
    store.execute("PRAGMA busy_timeout=200")
    try:
        return rollup(store)
    except sqlite3.OperationalError:
        return 0
    finally:
        from wedsync_cli.store import BUSY_TIMEOUT_S

        store.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")


# -- retention ---------------------------------------------------------------------------------
def prune(store, config, now: datetime) -> dict[str, int]:
    """Drop raw calls older than raw_days (only those already rolled up) and old rollups/decisions."""
    m = getattr(config, "metrics", None) or {}
    raw_days = float(m.get("raw_days", 7))
    rollup_days = float(m.get("rollup_days", 90))
    runs_days = float(m.get("runs_days", 90))
    cursor = (store.get_cursor(ROLLUP_CURSOR) or {}).get("id", 0)
    raw_cut = iso(now - timedelta(days=raw_days))
    roll_cut = iso(now - timedelta(days=rollup_days))
    runs_cut = iso(now - timedelta(days=runs_days))
    out = {"http_calls": 0, "http_rollups": 0, "job_runs": 0, "protocol_decisions": 0}
    while True:  # in chunks, so no single transaction holds the write lock for long
        with store.transaction():
            n = store.execute(
                "DELETE FROM http_calls WHERE id IN (SELECT id FROM http_calls WHERE at < ? AND id <= ? LIMIT ?)",
                [raw_cut, cursor, _CHUNK]).rowcount
        out["http_calls"] += n
        if n < _CHUNK:
            break
    with store.transaction():
        out["http_rollups"] = store.execute("DELETE FROM http_rollups WHERE hour < ?", [roll_cut]).rowcount
        out["job_runs"] = store.execute(
            "DELETE FROM job_runs WHERE started_at < ? AND outcome != 'running' "
            # the latest run of every job stays, however old: `status` still shows when it last ran
            "AND id NOT IN (SELECT MAX(id) FROM job_runs GROUP BY job)", [runs_cut]).rowcount
        out["protocol_decisions"] = store.execute(
            "DELETE FROM protocol_decisions WHERE at < ?", [roll_cut]).rowcount
        store.execute("DELETE FROM alert_notifications WHERE at < ?", [roll_cut])
    return out


# -- reading -----------------------------------------------------------------------------------
def _tail(store) -> list[tuple]:
    cursor = (store.get_cursor(ROLLUP_CURSOR) or {}).get("id", 0)
    return store.db.conn.execute(
        "SELECT at, provider, operation, status, outcome, latency_ms, error FROM http_calls WHERE id > ? ORDER BY id",
        [cursor]).fetchall()


def window_stats(store, since: datetime, *, by_operation: bool = False,
                 tail: list[tuple] | None = None) -> dict[Any, Stats]:
    """Stats per provider (or per (provider, operation)) for calls at or after ``since``
    (hour-aligned for the rolled-up part)."""
    since_hour = hour_of(iso(since) or "")
    out: dict[Any, Stats] = defaultdict(Stats)
    for provider, operation, calls, errors, failures, lsum, hist in store.db.conn.execute(
            "SELECT provider, operation, calls, errors, failures, latency_sum, hist FROM http_rollups WHERE hour >= ?",
            [since_hour]):
        out[(provider, operation) if by_operation else provider].merge(calls, errors, failures, lsum, json.loads(hist))
    for at, provider, operation, status, outcome, latency, _err in (tail if tail is not None else _tail(store)):
        if at >= since_hour:  # same hour alignment as the rolled-up part
            out[(provider, operation) if by_operation else provider].add_call(outcome, status, latency)
    return dict(out)


def provider_last(store, tail: list[tuple] | None = None) -> dict[str, dict[str, Any]]:
    """provider_last rows with the not-yet-rolled-up tail applied."""
    out = {r["provider"]: r for r in store.query("SELECT * FROM provider_last")}
    for at, provider, _op, status, outcome, _lat, error in (tail if tail is not None else _tail(store)):
        p = out.setdefault(provider, {"provider": provider, "last_at": None, "last_ok_at": None,
                                      "last_fail_at": None, "last_status": None, "last_error": None,
                                      "consecutive_failures": 0})
        _apply_last(p, at, outcome, status, error)
    return out
