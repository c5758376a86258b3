from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from wedsync_cli.clock import Clock, SystemClock, iso
from wedsync_cli.errors import AuthRefused, ProviderUnavailable, RateLimited
from wedsync_cli.secrets import redact

DEFAULT_TIMEOUT = 30.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class CallRecord:
    at: str
    provider: str
    operation: str
    method: str
    status: int | None
    outcome: str  # ok | error | timeout | connect_error
    latency_ms: float
    error: str | None = None


class CallRecorder:
    """Collects CallRecords in memory; ``flush`` writes them to the store's ``http_calls``.

    Buffered (not written per call) so a call made inside a data transaction is not rolled back
    with it, and so recording never takes the write lock in the middle of someone else's work.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: list[CallRecord] = []
        self.counts: Counter[str] = Counter()

    def record(self, rec: CallRecord) -> None:
        with self._lock:
            self._pending.append(rec)
            self.counts[rec.provider] += 1

    def requests(self, provider: str | None = None) -> int:
        with self._lock:
            return sum(self.counts.values()) if provider is None else self.counts[provider]

    def drain(self) -> list[CallRecord]:
        with self._lock:
            out, self._pending = self._pending, []
            return out

    def flush(self, store) -> int:
        if store is None or store.db.conn.in_transaction:
            return 0
        rows = self.drain()
        if not rows:
            return 0
        with store.transaction():
            store.db.conn.executemany(
                "INSERT INTO http_calls(at, provider, operation, method, status, outcome, latency_ms, error)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(r.at, r.provider, r.operation, r.method, r.status, r.outcome, r.latency_ms, r.error) for r in rows],
            )
        return len(rows)


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A Retry-After longer than this ends the run with RateLimited (exit 75) instead of sleeping.
    max_retry_after: float = 120.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    # Whether a read timeout (request maybe delivered) may be retried. Safe for GETs and for
    # writes that carry an idempotency key or a client-chosen id.
    retry_timeouts: bool = True
    jitter: Callable[[float], float] = field(default=lambda cap: random.uniform(0, cap))

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return self.jitter(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


class Auth:
    """Supplies auth headers; ``refresh`` is called once after a 401 (OAuth providers)."""

    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self) -> bool:
        """Return True if a fresh credential is now available."""
        return False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


class HttpClient:
    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        recorder: CallRecorder | None = None,
        headers: dict[str, str] | None = None,
        transport: Any = None,
        follow_redirects: bool = False,
        classify: Callable[[Any], str | None] | None = None,
        retry_after_header: Iterable[str] = ("Retry-After",),
    ):
        import httpx

        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.clock = clock or SystemClock()
        self.recorder = recorder
        # classify(response) -> "retry" | "auth" | "ratelimit" | None lets a provider say, e.g.,
        # that Google's 403 rateLimitExceeded is a retry and its 403 forbidden is not.
        self.classify = classify
        self.retry_after_headers = tuple(retry_after_header)
        t = timeout or DEFAULT_TIMEOUT
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(t, connect=min(10.0, t)),
            headers={"User-Agent": "wedsync/0.1", **(headers or {})},
            transport=transport,
            follow_redirects=follow_redirects,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ----------------------------------------------------------------------------------------
    def _record(self, operation: str, method: str, status: int | None, outcome: str, t0: float,
                error: str | None = None) -> None:
        if self.recorder is None:
            return
        self.recorder.record(CallRecord(
            at=iso(self.clock.now()) or "", provider=self.provider, operation=operation, method=method,
            status=status, outcome=outcome, latency_ms=round((time.perf_counter() - t0) * 1000, 3),
            error=redact(error) if error else None,
        ))

    def _retry_after(self, resp) -> float | None:
        for name in self.retry_after_headers:
            v = parse_retry_after(resp.headers.get(name), self.clock.now())
            if v is not None:
                return v
        return None

    def request(
        self,
        method: str,
        url: str,
        *,
        operation: str | None = None,
        retry: RetryPolicy | None = None,
        auth: bool = True,
        **kwargs: Any,
    ):
        """Send with the retry policy. Returns the final response unless retries ran out."""
        import httpx

        policy = retry or self.retry
        operation = operation or f"{method.upper()} {url.split('?')[0]}"
        refreshed = False
        attempt = 0
        last_error = ""
        while True:
            attempt += 1
            headers = dict(kwargs.pop("headers", None) or {})
            if auth and self.auth is not None:
                headers.update(self.auth.headers())
            t0 = time.perf_counter()
            try:
                resp = self._client.request(method, url, headers=headers, **kwargs)
            except httpx.TimeoutException as exc:
                kind = "timeout" if not isinstance(exc, httpx.ConnectTimeout) else "connect_error"
                self._record(operation, method, None, kind, t0, f"{type(exc).__name__}")
                last_error = f"no answer within the timeout ({type(exc).__name__})"
                retryable = kind == "connect_error" or policy.retry_timeouts
                if retryable and attempt < policy.max_attempts:
                    self.clock.sleep(policy.backoff(attempt))
                    kwargs["headers"] = headers
                    continue
                raise ProviderUnavailable(
                    f"{self.provider} did not answer after {attempt} attempt(s): {last_error}",
                    fix="check the network or the provider's status page, then rerun",
                ) from exc
            except httpx.TransportError as exc:
                self._record(operation, method, None, "connect_error", t0, f"{type(exc).__name__}: {exc}")
                last_error = f"{type(exc).__name__}: {exc}"
                if attempt < policy.max_attempts:
                    self.clock.sleep(policy.backoff(attempt))
                    kwargs["headers"] = headers
                    continue
                raise ProviderUnavailable(
                    f"{self.provider} could not be reached after {attempt} attempt(s) ({redact(last_error)})",
                    fix="check the network, the provider's status page or base_url in the config, then rerun",
                ) from exc

            kind = self.classify(resp) if self.classify else None
            status = resp.status_code
            ok = status < 400
            self._record(operation, method, status, "ok" if ok else "error", t0,
                         None if ok else _short_body(resp))
            if kind is None:
                if status in policy.retry_statuses:
                    kind = "ratelimit" if status == 429 else "retry"
                elif status == 401:
                    kind = "auth"
            if kind == "auth":
                if not refreshed and self.auth is not None and self.auth.refresh():
                    refreshed = True
                    kwargs["headers"] = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                    continue
                raise AuthRefused(
                    f"{self.provider} refused the credential (HTTP {status}: {_short_body(resp)})",
                    fix=f"sign in again with `wedsync auth login {self.provider}`",
                )
            if kind in ("retry", "ratelimit"):
                wait = self._retry_after(resp)
                if wait is not None and wait > policy.max_retry_after:
                    raise RateLimited(
                        f"{self.provider} asked us to wait {int(wait)} s before retrying",
                        fix="the next scheduled run will continue; or rerun later", retry_after=wait,
                    )
                if attempt < policy.max_attempts:
                    self.clock.sleep(wait if wait is not None else policy.backoff(attempt))
                    kwargs["headers"] = headers
                    continue
                if kind == "ratelimit":
                    raise RateLimited(
                        f"{self.provider} kept rate-limiting after {attempt} attempts",
                        fix="the next scheduled run will continue; or rerun later", retry_after=wait,
                    )
                raise ProviderUnavailable(
                    f"{self.provider} stayed unavailable after {attempt} attempts (HTTP {status}: {_short_body(resp)})",
                    fix="check the provider's status page, then rerun",
                )
            return resp

    def get(self, url: str, **kw):
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw):
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw):
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw):
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw):
        return self.request("DELETE", url, **kw)


def _short_body(resp, limit: int = 300) -> str:
    try:
        text = resp.text
    except Exception:  # noqa: BLE001 - undecodable body
        return f"HTTP {resp.status_code}"
    text = " ".join(text.split())
    return redact(text[:limit]) or f"HTTP {resp.status_code}"
