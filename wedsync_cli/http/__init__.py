"""The one HTTP layer: timeouts, a retry policy that honours Retry-After, auth refresh on 401,
and a hook that records every call's latency and outcome (health, p95/p99, request counts).

Providers build an ``HttpClient`` and call ``request``; they get back the response for anything
the policy does not retry (2xx and the 4xx a provider must interpret: 404, 409, 410, 412 ...).
Exhausted retries raise ProviderUnavailable (69) or RateLimited (75); a refused credential
raises AuthRefused (77).
"""

from wedsync_cli.http.client import Auth, CallRecord, CallRecorder, HttpClient, RetryPolicy

__all__ = ["Auth", "CallRecord", "CallRecorder", "HttpClient", "RetryPolicy"]
