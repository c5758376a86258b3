"""What the HTTP email providers share: the client, and turning transport errors into kinds."""

from __future__ import annotations

import time
from typing import Any

from wedsync_cli.email.providers import AMBIGUOUS, AUTH, FAILOVER, SendFailure


def make_client(rt, provider: str, default_base: str, settings: dict[str, Any], *, api_key: str,
                retry_timeouts: bool, classify, retry_after_headers: tuple[str, ...] = ("retry-after",)):
    from wedsync_cli.http import HttpClient
    from wedsync_cli.http.client import Auth, RetryPolicy

    class Bearer(Auth):
        def headers(self) -> dict[str, str]:
            return {"Authorization": f"Bearer {api_key}"}

    # The client only retries what is safe to repeat in place: connection failures (never reached
    # the provider), rate limits (classify -> "ratelimit"), and — for providers that dedupe on our
    # Idempotency-Key — read timeouts with the same key. Everything else comes back to us.
    policy = RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=2.0, max_retry_after=60.0,
                         retry_timeouts=retry_timeouts)
    return HttpClient(provider, settings.get("base_url") or default_base, auth=Bearer(),
                      timeout=settings.get("timeout"), retry=policy, clock=rt.clock, recorder=rt.recorder,
                      classify=classify, retry_after_header=retry_after_headers)


def post(client, path: str, t0: float | None = None, **kw):
    """POST and convert the HTTP layer's errors into SendFailure kinds."""
    import httpx

    from wedsync_cli.errors import AuthRefused, ProviderUnavailable, RateLimited

    t0 = time.perf_counter() if t0 is None else t0
    try:
        return client.post(path, **kw)
    except RateLimited as exc:
        raise SendFailure("retry", exc.message, status_code=429, retry_after=exc.retry_after,
                          latency_ms=_ms(t0)) from None
    except AuthRefused as exc:
        raise SendFailure(AUTH, exc.message, status_code=401, latency_ms=_ms(t0)) from None
    except ProviderUnavailable as exc:
        cause = exc.__cause__
        # Never reached the provider: safe to send elsewhere. Anything else (read timeout, reset
        # mid-reply) may have been accepted.
        never_sent = isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        raise SendFailure(FAILOVER if never_sent else AMBIGUOUS, exc.message, latency_ms=_ms(t0)) from None


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def json_body(resp) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None
