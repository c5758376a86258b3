"""Outbound webhooks: domain events -> one outbox item per (event, matching endpoint) -> signed POSTs.

- ``fan_out`` reads ``domain_events`` after the cursor ``domain_events:webhooks`` and enqueues in
  the same transaction that advances the cursor, so a crash never skips nor repeats an event.
- ``flush`` claims due items per endpoint (leases, fencing: the shared outbox) and POSTs them on a
  small thread pool per endpoint. Threads only do HTTP; every write happens on the calling thread,
  so the single SQLite connection is never shared mid-transaction.
- The ``webhook-id`` is derived from the outbox key: identical on every retry and replay; the
  timestamp and signature are fresh per attempt. Delivery is at-least-once: a crash after the
  receiver answered but before we recorded it means one more POST with the same ``webhook-id``.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from wedsync_cli.clock import iso
from wedsync_cli.webhooks import state
from wedsync_cli.webhooks.signing import message_id_for, signed_headers

if TYPE_CHECKING:  # imported where used: `status` and an idle `send --flush` need no pool (~8 ms)
    from concurrent.futures import Future, ThreadPoolExecutor

KIND = "webhook"
CURSOR_KEY = "domain_events:webhooks"
# Standard Webhooks / Svix: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
DEFAULT_TIMEOUT_S = 15.0
DEFAULT_CONCURRENCY = 4
DEFAULT_DISABLE_AFTER_DAYS = 5.0
MAX_RETRY_AFTER_S = 86400.0
EXCERPT = 2000
JITTER = 0.2
USER_AGENT = "wedsync-webhooks/0.1"


@dataclass
class Endpoint:
    name: str
    url: str
    events: list[str]
    allow_private: bool = False
    enabled: bool = True
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = DEFAULT_TIMEOUT_S
    concurrency: int = DEFAULT_CONCURRENCY
    disable_after_days: float = DEFAULT_DISABLE_AFTER_DAYS

    @property
    def max_attempts(self) -> int:
        return len(self.schedule) + 1

    def wants(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, pat) for pat in self.events)


def endpoint_overview(rt) -> list[dict[str, Any]]:
    """`webhooks list`: each configured endpoint with its state (disabled and why, failing since,
    last success) and its deliveries counted by outbox status."""
    out = []
    for name, ep in endpoints(rt).items():
        st = state.endpoint_state(rt.store, name)
        counts = {r["status"]: r["n"] for r in rt.store.query(
            "SELECT status, COUNT(*) AS n FROM outbox WHERE kind = 'webhook' AND target = ? GROUP BY status", [name])}
        out.append({"name": name, "url": ep.url, "events": ep.events, "enabled": ep.enabled and not st["disabled_at"],
                    "disabled_reason": st["disabled_reason"] or (None if ep.enabled else "enabled = false in the config"),
                    "failing_since": st["failing_since"], "last_success_at": st["last_success_at"], "counts": counts})
    return out


def endpoints(rt) -> dict[str, Endpoint]:
    """``[webhooks.<name>]`` tables as Endpoints (extra keys: retry_schedule, timeout, concurrency,
    disable_after_days)."""
    from wedsync_cli.errors import ConfigError

    out: dict[str, Endpoint] = {}
    for name, cfg in rt.config.webhooks.items():
        extra = cfg.model_extra or {}
        try:
            schedule = tuple(float(s) for s in extra.get("retry_schedule", DEFAULT_SCHEDULE))
            timeout = float(extra.get("timeout", DEFAULT_TIMEOUT_S))
            concurrency = int(extra.get("concurrency", DEFAULT_CONCURRENCY))
            days = float(extra.get("disable_after_days", DEFAULT_DISABLE_AFTER_DAYS))
        except (TypeError, ValueError):
            raise ConfigError(f"[webhooks.{name}] has a non-numeric retry_schedule, timeout, concurrency or "
                              "disable_after_days", fix="edit the config (see config.example.toml)") from None
        if any(s < 0 for s in schedule) or timeout <= 0 or not 1 <= concurrency <= 64 or days <= 0:
            raise ConfigError(f"[webhooks.{name}] has an out-of-range retry_schedule, timeout, concurrency "
                              "(1-64) or disable_after_days", fix="edit the config (see config.example.toml)")
        out[name] = Endpoint(name=name, url=cfg.url, events=list(cfg.events), allow_private=cfg.allow_private,
                             enabled=cfg.enabled, schedule=schedule, timeout=timeout, concurrency=concurrency,
                             disable_after_days=days)
    return out


def outbox(rt, lease_seconds: float = 300):
    from wedsync_cli.delivery.outbox import Outbox

    return Outbox(rt.store, rt.clock, lease_seconds=lease_seconds)


def delivery_key(endpoint: str, event_id: int) -> str:
    return f"webhook:{endpoint}:{event_id}"


# -- fan-out -------------------------------------------------------------------------------------
def fan_out(rt, *, batch: int = 500) -> int:
    """Turn new domain events into outbox items. Returns how many deliveries were queued."""
    from wedsync_cli.notify import events_after

    eps = [ep for ep in endpoints(rt).values() if ep.enabled]
    store, box = rt.store, outbox(rt)
    queued = 0
    while True:
        with store.transaction():
            after = int((store.get_cursor(CURSOR_KEY) or {}).get("id", 0))
            events = events_after(store, after, batch)
            if not events:
                return queued
            for ev in events:
                for ep in eps:
                    if not ep.wants(ev["type"]):
                        continue
                    key = delivery_key(ep.name, ev["id"])
                    payload = {"type": ev["type"], "timestamp": ev["at"], "data": ev["data"]}
                    _, created = box.enqueue(
                        KIND, key, ep.name, payload, max_attempts=ep.max_attempts,
                        meta={"event_type": ev["type"], "event_id": ev["id"], "webhook_id": message_id_for(key)})
                    queued += int(created)
            store.set_cursor(CURSOR_KEY, {"id": events[-1]["id"]})
        if len(events) < batch:
            return queued


# -- one attempt (runs on a worker thread: HTTP only, no DB) ---------------------------------------
@dataclass
class Attempt:
    item: Any
    outcome: str  # ok | fail | gone | refused | skipped
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    retry_after: float | None = None
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] | None = None

    def record(self, provider: str) -> dict[str, Any]:
        return {"provider": provider, "status_code": self.status_code, "latency_ms": self.latency_ms,
                "error": self.error, "request": self.request, "response": self.response}


def body_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def send_once(client, ep: Endpoint, secret: str, msg_id: str, payload: dict[str, Any], clock,
              *, item: Any = None, resolver=None) -> Attempt:
    """POST one signed delivery. Never raises: every outcome is an Attempt."""
    import httpx

    from wedsync_cli.http.client import parse_retry_after
    from wedsync_cli.secrets import redact
    from wedsync_cli.webhooks.ssrf import DestinationRefused, check_destination

    body = body_bytes(payload)
    ts = int(clock.now().timestamp())
    headers = {"content-type": "application/json", "user-agent": USER_AGENT,
               **signed_headers(secret, msg_id, ts, body)}
    request = {"method": "POST", "url": ep.url, "headers": headers, "body": body.decode()[:EXCERPT]}
    try:
        kw = {"resolver": resolver} if resolver else {}
        dest = check_destination(ep.url, allow_private=ep.allow_private, **kw)
    except DestinationRefused as exc:
        return Attempt(item, "refused", error=f"destination refused: {exc}; set allow_private = true on "
                       f"[webhooks.{ep.name}] only if that is intended", request=request)
    send_headers = {**headers, "host": dest.host_header}
    extensions = {"sni_hostname": dest.host} if dest.url.startswith("https:") else {}
    t0 = time.perf_counter()
    try:
        resp = client.post(dest.url, content=body, headers=send_headers, extensions=extensions)
    except httpx.TimeoutException as exc:
        return Attempt(item, "fail", latency_ms=_ms(t0), request=request,
                       error=f"no answer within {ep.timeout:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Attempt(item, "fail", latency_ms=_ms(t0), request=request,
                       error=redact(f"{type(exc).__name__}: {exc}")[:500])
    latency = _ms(t0)
    from wedsync_cli.crashpoints import crash_point

    crash_point("webhook.after_response")  # tests: the receiver has it, we have not recorded it
    response = {"status": resp.status_code, "headers": dict(resp.headers), "body": resp.text[:EXCERPT]}
    code = resp.status_code
    if 200 <= code < 300:
        return Attempt(item, "ok", code, latency, request=request, response=response)
    if code == 410:
        return Attempt(item, "gone", code, latency, error="the endpoint answered 410 Gone", request=request,
                       response=response)
    if 300 <= code < 400:
        err = f"HTTP {code} redirect to {resp.headers.get('location', '?')} (redirects are not followed)"
    else:
        err = f"HTTP {code}: {' '.join(resp.text[:200].split()) or resp.reason_phrase}"
    retry_after = parse_retry_after(resp.headers.get("retry-after"), clock.now())
    return Attempt(item, "fail", code, latency, error=redact(err), retry_after=retry_after, request=request,
                   response=response)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)


def http_client(ep: Endpoint):
    import httpx

    return httpx.Client(timeout=httpx.Timeout(ep.timeout), follow_redirects=False,
                        limits=httpx.Limits(max_connections=ep.concurrency,
                                            max_keepalive_connections=ep.concurrency))


# -- flush -----------------------------------------------------------------------------------------
@dataclass
class _Lane:
    ep: Endpoint
    secret: str
    client: Any
    pool: ThreadPoolExecutor
    inflight: int = 0
    drained: bool = False
    stopped: bool = False
    healthy: bool = False  # the endpoint row already says "not failing" (saves a write per delivery)


def flush(rt, *, limit: int | None = None, only: list[str] | None = None, rng: random.Random | None = None) -> dict:
    """Deliver every due webhook (what `send --flush` calls). Returns counts.

    ``only`` restricts to some endpoints; ``limit`` caps the number of attempts made.
    """
    from wedsync_cli.errors import ConfigError

    rng = rng or random.Random()
    queued = fan_out(rt)
    configured = endpoints(rt)
    # A claimed item may wait behind up to 6 x concurrency others on its lane (one timeout each per
    # worker): the lease must outlast that, or an overlapping run could take it over mid-flight.
    longest = max((ep.timeout for ep in configured.values()), default=DEFAULT_TIMEOUT_S)
    store, clock, box = rt.store, rt.clock, outbox(rt, lease_seconds=max(300.0, 8 * longest))
    result: dict[str, Any] = {"queued": queued, "attempted": 0, "delivered": 0, "retry": 0, "failed": 0,
                              "dead": 0, "released": 0, "disabled": [], "skipped": {}, "missing_secret": []}
    lanes: dict[str, _Lane] = {}
    if only is None:
        _fail_orphans(rt, box, set(configured), result)
    for ep in configured.values():
        if only is not None and ep.name not in only:
            continue
        if not ep.enabled:
            result["skipped"][ep.name] = "enabled = false in the config"
            continue
        if state.is_disabled(store, ep.name):
            result["skipped"][ep.name] = "disabled (`wedsync webhooks enable " + ep.name + "` turns it back on)"
            continue
        try:
            cred = rt.credentials.get(f"webhook:{ep.name}")
        except ConfigError as exc:
            result["skipped"][ep.name] = exc.message
            continue
        if not cred or not cred.get("secret"):
            result["skipped"][ep.name] = (f"no signing secret: store one with `wedsync auth set webhook:{ep.name}`")
            result["missing_secret"].append(ep.name)
            continue
        from concurrent.futures import ThreadPoolExecutor

        lanes[ep.name] = _Lane(ep, cred["secret"], http_client(ep),
                               ThreadPoolExecutor(ep.concurrency, thread_name_prefix=f"webhook-{ep.name}"))

    futures: dict[Future, str] = {}
    budget = limit if limit is not None else float("inf")
    try:
        while True:
            for name, lane in lanes.items():
                if lane.drained or lane.stopped or lane.inflight >= lane.ep.concurrency * 2 or budget <= 0:
                    continue
                want = int(min(lane.ep.concurrency * 4, budget))
                items = box.claim([KIND], limit=want, target=name)
                if len(items) < want:
                    lane.drained = True
                for item in items:
                    budget -= 1
                    lane.inflight += 1
                    futures[lane.pool.submit(_work, lane, item, clock)] = name
            if not futures:
                break
            from concurrent.futures import FIRST_COMPLETED, wait

            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in done:  # one commit per outcome: a kill -9 repeats as little as possible
                name = futures.pop(fut)
                lane = lanes[name]
                lane.inflight -= 1
                _record(rt, box, lane, fut.result(), result, rng)
        with store.transaction():
            for lane in lanes.values():
                if lane.healthy:  # last_success_at = the end of this run's successes
                    state.note_success(store, lane.ep.name)
    finally:
        for lane in lanes.values():
            lane.pool.shutdown(wait=True)
            lane.client.close()
    return result


def _fail_orphans(rt, box, configured: set[str], result: dict) -> None:
    """Deliveries whose endpoint was removed from the config fail (listed, replayable) instead of
    waiting forever."""
    targets = [r["target"] for r in rt.store.query(
        "SELECT DISTINCT target FROM outbox WHERE kind = ? AND status IN ('pending', 'retry')", [KIND])]
    for target in targets:
        if target in configured:
            continue
        while items := box.claim([KIND], limit=200, target=target):
            for item in items:
                box.fail(item, permanent=True, attempt={
                    "provider": f"webhook:{target}",
                    "error": f"the endpoint {target!r} is no longer in the config ([webhooks.{target}])"})
                result["failed"] += 1


def _work(lane: _Lane, item, clock) -> Attempt:
    if lane.stopped:
        return Attempt(item, "skipped")
    return send_once(lane.client, lane.ep, lane.secret, item.meta.get("webhook_id") or message_id_for(item.key),
                     item.payload, clock, item=item)


def _record(rt, box, lane: _Lane, att: Attempt, result: dict, rng: random.Random) -> None:
    from wedsync_cli import notify
    from wedsync_cli.http.client import CallRecord

    store, ep, item = rt.store, lane.ep, att.item
    provider = f"webhook:{ep.name}"
    if att.outcome == "skipped":
        box.release(item)
        result["released"] += 1
        return
    result["attempted"] += 1
    if att.outcome != "refused":
        rt.recorder.record(CallRecord(
            at=iso(rt.clock.now()) or "", provider=provider, operation="POST webhook", method="POST",
            status=att.status_code, outcome="ok" if att.outcome == "ok" else "error",
            latency_ms=att.latency_ms or 0.0, error=att.error))
    attempt = att.record(provider)
    if att.outcome == "ok":  # complete() is its own transaction; the endpoint row is written once per run
        box.complete(item, provider=provider, attempt=attempt)
        lane.healthy = True
        result["delivered"] += 1
        return
    with store.transaction():
        if att.outcome == "refused":
            status = box.fail(item, attempt=attempt, permanent=True)
        elif att.outcome == "gone":
            status = box.fail(item, attempt=attempt, permanent=True)
            _disable(store, ep.name, "the endpoint answered 410 Gone", notify)
            lane.stopped = True
            result["disabled"].append(ep.name)
        else:
            n = max(item.attempts, 1)
            wait_s = ep.schedule[min(n, len(ep.schedule)) - 1] * rng.uniform(1 - JITTER, 1 + JITTER) \
                if ep.schedule else 60.0
            if att.retry_after is not None:
                wait_s = min(max(att.retry_after, 0.0), MAX_RETRY_AFTER_S)
            status = box.fail(item, attempt=attempt, retry_after=wait_s)
            lane.healthy = False
            since = state.note_failure(store, ep.name, att.error or "failed")
            streak = (rt.clock.now() - datetime.fromisoformat(since)).total_seconds()
            if streak >= ep.disable_after_days * 86400 and not lane.stopped:
                _disable(store, ep.name, f"every delivery has failed since {since} "
                         f"(over {ep.disable_after_days:g} days)", notify)
                lane.stopped = True
                result["disabled"].append(ep.name)
        result[status if status in ("retry", "failed", "dead") else "failed"] += 1


def _disable(store, name: str, reason: str, notify) -> None:
    state.set_disabled(store, name, reason)
    # The alert: monitoring/alerting picks provider.degraded up; other endpoints may subscribe to it.
    notify.emit(store, "provider.degraded",
                {"provider": f"webhook:{name}", "state": "disabled", "reason": reason},
                dedupe_key=f"webhook.disabled:{name}:{store.now()}")


# -- reading ---------------------------------------------------------------------------------------
def webhook_counts(store) -> dict[str, int]:
    """For `status --json`: pending (incl. in flight), failed (incl. waiting for a retry), delivered, dead."""
    if store.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name='outbox'") is None:
        return {"pending": 0, "failed": 0, "delivered": 0, "dead": 0}
    c = dict.fromkeys(("pending", "retry", "leased", "failed", "delivered", "dead"), 0)
    for r in store.query("SELECT status, COUNT(*) AS n FROM outbox WHERE kind = ? GROUP BY status", [KIND]):
        c[r["status"]] = r["n"]
    return {"pending": c["pending"] + c["leased"], "failed": c["failed"] + c["retry"],
            "delivered": c["delivered"], "dead": c["dead"]}


def send_test(rt, name: str) -> Attempt:
    """`webhooks test NAME`: one signed ping, straight to the endpoint (not queued)."""
    import uuid

    from wedsync_cli.errors import ConfigError

    eps = endpoints(rt)
    if name not in eps:
        raise ConfigError(f"No webhook endpoint named {name!r} is configured",
                          fix=f"add a [webhooks.{name}] table with url and events to the config")
    ep = eps[name]
    secret = rt.credentials.require(f"webhook:{name}")["secret"]
    payload = {"type": "webhook.test", "timestamp": iso(rt.clock.now()),
               "data": {"endpoint": name, "message": "wedsync test delivery"}}
    client = http_client(ep)
    try:
        return send_once(client, ep, secret, message_id_for(f"webhook:{name}:test:{uuid.uuid4().hex}"), payload,
                         rt.clock)
    finally:
        client.close()
