"""Deliver queued emails: provider failover without double sends, batches, breaker, attempt log.

Per message (or batch), in ``[email] providers`` order, skipping providers whose breaker is open:
- accepted                      -> ``sent`` with the provider's message id (one transaction per batch)
- provably not accepted         -> log the hop, count a breaker failure, try the next provider now
- ambiguous (read timeout ...)  -> ``retry`` pinned to the SAME provider (same key / same batch)
- rate limited / key in flight  -> ``retry`` after the provider's wait, same provider, not counted
- rejected as invalid (4xx)     -> ``failed`` with the provider's reason; ``email.failed`` event
- credential refused (401/403)  -> stays queued; the run stops with exit 77; ops is alerted once
Before a request leaves, the row notes the provider in flight (and a batch's membership), so a
run killed at any point resumes on the same provider with the same idempotency key.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Any

from wedsync_cli.crashpoints import crash_point
from wedsync_cli.delivery.breaker import DEFAULT_THRESHOLD, WEDDING_DAY_THRESHOLD, Breaker
from wedsync_cli.delivery.outbox import LeaseLost, Outbox, OutboxItem
from wedsync_cli.email.providers import (
    AMBIGUOUS,
    AUTH,
    FAILOVER,
    RETRY,
    EmailProvider,
    OutgoingEmail,
    SendFailure,
    provider_for,
)

KIND = "email"
CLAIM_BATCH = 100
JSON_STATUS = {"pending": "queued", "retry": "queued", "leased": "queued", "sent": "sent", "failed": "failed",
               "dead": "dead", "bounced": "bounced"}


@dataclass
class FlushResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    retry: int = 0
    rate_limited: int = 0
    unavailable: int = 0
    requests: int = 0
    auth_error: str | None = None
    auth_provider: str | None = None
    retry_after: float | None = None
    ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead, "retry": self.retry,
                "rate_limited": self.rate_limited, "unavailable": self.unavailable, "requests": self.requests,
                "auth_error": self.auth_error}


def wedding_day_active(rt) -> bool:
    try:
        from wedsync_cli.wedding_day.policy import WeddingDayPolicy
    except ImportError:
        return False
    try:
        return bool(WeddingDayPolicy.from_runtime(rt).state().active)
    except Exception:  # noqa: BLE001 - the protocol only tunes the breaker; never block mail on it
        return False


def batch_key(items: list[OutboxItem]) -> str:
    return "batch/" + hashlib.sha256("\n".join(i.key for i in items).encode()).hexdigest()[:40]


class Deliverer:
    def __init__(self, rt, *, providers: list[str] | None = None):
        self.rt = rt
        self.store = rt.store
        self.outbox = Outbox(rt.store, rt.clock)
        self.order = list(providers or rt.config.email.providers)
        threshold = WEDDING_DAY_THRESHOLD if wedding_day_active(rt) else DEFAULT_THRESHOLD
        self.breaker = Breaker(rt.store, rt.clock, threshold=threshold)
        self._providers: dict[str, EmailProvider] = {}
        self.result = FlushResult()
        self.stop = False

    def provider(self, name: str) -> EmailProvider:
        if name not in self._providers:
            self._providers[name] = provider_for(self.rt, name)
        return self._providers[name]

    def close(self) -> None:
        for p in self._providers.values():
            p.close()
            self.result.requests += getattr(p, "requests", 0)

    # -- the loop ------------------------------------------------------------------------------
    def flush(self, *, limit: int | None = None, ids: list[int] | None = None) -> FlushResult:
        self.outbox.recover_orphans([KIND])
        seen: set[int] = set()
        try:
            while not self.stop:
                n = CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - len(seen))
                if n <= 0:
                    break
                items = self.outbox.claim([KIND], limit=n, ids=ids)
                items = self._complete_groups(items)
                items = [i for i in items if i.id not in seen or self._release(i)]
                if not items:
                    break
                seen.update(i.id for i in items)
                self.result.ids.extend(i.id for i in items)
                items = self._refuse_suppressed(items)
                try:
                    self._process(items)
                except BaseException:
                    # A missing credential or a bad config stops the run: hand back what we still
                    # hold untouched, so it does not wait for a lease to expire or count an attempt.
                    for it in items:
                        if it.lease_token:
                            with contextlib.suppress(Exception):
                                self.outbox.release(it)
                    raise
        finally:
            self.close()
        return self.result

    def _refuse_suppressed(self, items: list[OutboxItem]) -> list[OutboxItem]:
        """Refuse (``failed``, not retried) messages to an address that bounced or complained.

        A message already in flight with a provider (pinned after an ambiguous answer) goes on:
        it may have been accepted, and resending it under the same key cannot double it."""
        from wedsync_cli.email import suppressions

        free = {i.id: i for i in items if not (i.meta.get("sticky_provider") or i.meta.get("inflight_provider"))}
        listed = suppressions.find(self.store, [a for i in free.values() for a in i.payload.get("to") or []])
        if not listed:
            return items
        keep = []
        for it in items:
            hit = None if it.id not in free else next(
                (listed[k] for k in (suppressions.normalise(a) for a in it.payload.get("to") or []) if k in listed), None)
            if hit is None:
                keep.append(it)
                continue
            self.outbox.fail(it, attempt={"error": suppressions.refusal(hit), "outcome": "suppressed"},
                             permanent=True, count_attempt=False, meta={"suppressed": hit["address"]})
            self.result.failed += 1
            self.result.errors.append(suppressions.refusal(hit))
        return keep

    def _release(self, item: OutboxItem) -> bool:
        # Became due again within this run (a short rate-limit wait): leave it to the next run.
        self.outbox.release(item)
        return False

    def _complete_groups(self, items: list[OutboxItem]) -> list[OutboxItem]:
        """Pull in the other waiting members of any batch we claimed a member of."""
        have = {i.id for i in items}
        for gk in sorted({i.group_key for i in items if i.group_key}):
            for extra in self.outbox.claim([KIND], limit=CLAIM_BATCH, group_key=gk):
                if extra.id not in have:
                    items.append(extra)
                    have.add(extra.id)
        return sorted(items, key=lambda i: i.id)

    def _process(self, items: list[OutboxItem]) -> None:
        # Items pinned to a provider (ambiguous outcome, or a run that died mid-request) go back to
        # it alone, in their recorded batches; the rest go down the failover order.
        pinned: dict[tuple[str, str | None], list[OutboxItem]] = {}
        free: list[OutboxItem] = []
        for it in items:
            sticky = it.meta.get("sticky_provider") or it.meta.get("inflight_provider")
            if sticky:
                pinned.setdefault((sticky, it.group_key), []).append(it)
            else:
                free.append(it)
        for (name, gk), group in pinned.items():
            # A recorded batch goes again exactly as it was; single messages go one by one, each
            # under its own key (a new grouping would be a different request to the provider).
            for part in ([group] if gk and len(group) > 1 else [[g] for g in group]):
                if self.stop:
                    self._give_back(part)
                    continue
                self._send(part, [name], batch=gk if len(part) > 1 else None, pinned=True)
        if free:
            self._deliver(free, [p for p in self.order])

    def _give_back(self, items: list[OutboxItem]) -> None:
        for it in items:
            if it.lease_token:
                self.outbox.release(it)

    def _deliver(self, items: list[OutboxItem], candidates: list[str]) -> None:
        if self.stop:
            self._give_back(items)
            return
        while candidates and not self.breaker.allow(candidates[0]):
            candidates = candidates[1:]
        if not candidates:
            self._unavailable(items)
            return
        prov = self.provider(candidates[0])
        size = max(1, prov.max_batch)
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            self._send(chunk, candidates, batch=batch_key(chunk) if len(chunk) > 1 else None)

    def _unavailable(self, items: list[OutboxItem]) -> None:
        retry_at = [self.breaker.retry_at(p) for p in self.order]
        wait = self.outbox.backoff(KIND, max(i.attempts for i in items))
        for it in items:
            st = self.outbox.fail(it, attempt={"error": "every configured email provider is unavailable",
                                               "outcome": "unavailable"},
                                  retry_after=wait, meta={"inflight_provider": None})
            if st == "dead":
                self._count(st, it)
            else:
                self.result.unavailable += 1
        self.result.errors.append("no email provider accepted the messages; next try after "
                                  + (min(r for r in retry_at if r) if any(retry_at) else "the backoff"))

    # -- one request ---------------------------------------------------------------------------
    def _send(self, chunk: list[OutboxItem], candidates: list[str], *, batch: str | None, pinned: bool = False) -> None:
        name = candidates[0]
        prov = self.provider(name)
        try:
            self.outbox.set_group(chunk, batch, inflight_provider=name)
        except LeaseLost:
            return
        msgs = [(OutgoingEmail.from_payload(i.payload), i.key) for i in chunk]
        crash_point("email.before_send")
        try:
            if batch and len(chunk) > 1:
                results = prov.send_batch(msgs, batch)
            else:
                results = [prov.send(*msgs[0])] if len(chunk) == 1 else prov.send_batch(msgs, batch or chunk[0].key)
        except SendFailure as f:
            self._failed(chunk, candidates, f, batch=batch, pinned=pinned)
            return
        crash_point("email.after_send")
        with self.store.transaction():
            for it, acc in zip(chunk, results, strict=False):
                it.meta.pop("inflight_provider", None)
                it.meta.pop("sticky_provider", None)
                self.outbox.complete(it, provider=name, provider_message_id=acc.provider_message_id, attempt={
                    "status_code": acc.status_code, "latency_ms": acc.latency_ms, "response": acc.response,
                    "request": {"provider": name, "batch": batch, "to": it.payload.get("to"),
                                "subject": it.payload.get("subject")}})
                self.result.sent += 1
        self.breaker.success(name)
        crash_point("email.after_record")

    def _attempt(self, name: str, f: SendFailure, batch: str | None, outcome: str | None = None) -> dict[str, Any]:
        return {"provider": name, "status_code": f.status_code, "error": f.error, "latency_ms": f.latency_ms,
                "response": f.response, "request": {"provider": name, "batch": batch}, "outcome": outcome}

    def _failed(self, chunk: list[OutboxItem], candidates: list[str], f: SendFailure, *, batch: str | None,
                pinned: bool) -> None:
        name = candidates[0]
        if f.kind == FAILOVER:
            self.breaker.failure(name, f.error)
            for it in chunk:
                self.outbox.log_attempt(it, self._attempt(name, f, batch), "failover")
            # After a pin (ambiguous earlier), a definite "not accepted" lifts it: any other provider.
            rest = [p for p in self.order if p != name] if pinned else candidates[1:]
            self._unpin(chunk)
            if rest:
                self._deliver(chunk, rest)
            else:
                self._unavailable(chunk)
            return
        if f.kind == AMBIGUOUS:
            self.breaker.failure(name, f.error)
            # Same wait for every member so the batch comes back together, on the same provider.
            wait = self.outbox.backoff(KIND, max(i.attempts for i in chunk))
            for it in chunk:
                st = self.outbox.fail(it, attempt=self._attempt(name, f, batch, "unknown"), retry_after=wait,
                                      meta={"sticky_provider": name, "inflight_provider": None})
                self._count(st, it)
            return
        if f.kind == RETRY:
            wait = f.retry_after if f.retry_after is not None else 1.0
            for it in chunk:
                self.outbox.fail(it, attempt=self._attempt(name, f, batch, "rate_limited"), retry_after=wait,
                                 count_attempt=False, meta={"sticky_provider": name, "inflight_provider": None})
                self.result.rate_limited += 1
            self.result.retry_after = max(self.result.retry_after or 0, wait)
            return
        if f.kind == AUTH:
            first = self.breaker.auth_refused(name, f.error)
            for it in chunk:
                self.outbox.fail(it, attempt=self._attempt(name, f, batch, "auth_refused"), retry_after=0,
                                 count_attempt=False, meta={"inflight_provider": None})
            self.result.auth_error = f.error
            self.result.auth_provider = name
            self.result.errors.append(f"{name} refused the credential" + ("" if first else " (already reported)"))
            self.stop = True
            return
        # PERMANENT
        if len(chunk) > 1:
            # A strict batch is refused whole for one bad message: nothing was sent, so send them
            # one by one (each under its own key) to find the bad one.
            for it in chunk:
                self.outbox.log_attempt(it, self._attempt(name, f, batch), "batch_rejected")
            self._unpin(chunk)
            for it in chunk:
                if self.stop:
                    self._give_back([it])
                else:
                    self._send([it], candidates, batch=None, pinned=pinned)
            return
        from wedsync_cli import notify

        for it in chunk:
            self.outbox.fail(it, attempt=self._attempt(name, f, batch, "failed"), permanent=True,
                             meta={"inflight_provider": None, "sticky_provider": None})
            with self.store.transaction():
                notify.emit(self.store, "email.failed", {"id": it.id, "key": it.key, "to": it.payload.get("to"),
                                                         "provider": name, "reason": f.error,
                                                         "template": it.meta.get("template")},
                            dedupe_key=f"email.failed:{it.id}:{it.attempts}")
            self.result.failed += 1

    def _unpin(self, chunk: list[OutboxItem]) -> None:
        for it in chunk:
            it.meta.pop("sticky_provider", None)
        try:
            self.outbox.set_group(chunk, None, inflight_provider=None, sticky_provider=None)
        except LeaseLost:
            pass

    def _count(self, status: str, item: OutboxItem | None = None) -> None:
        if status == "dead":
            self.result.dead += 1
            if item is not None:  # out of attempts: subscribers hear of it like a refused message
                from wedsync_cli import notify

                with self.store.transaction():
                    notify.emit(self.store, "email.failed",
                                {"id": item.id, "key": item.key, "to": item.payload.get("to"), "status": "dead",
                                 "reason": item.last_error or "out of attempts", "template": item.meta.get("template")},
                                dedupe_key=f"email.failed:{item.id}:dead")
        elif status == "retry":
            self.result.retry += 1
        elif status == "failed":
            self.result.failed += 1


def flush_email(rt, *, limit: int | None = None, ids: list[int] | None = None,
                providers: list[str] | None = None) -> FlushResult:
    """Deliver every due email (or just ``ids``). Call it holding the ``send`` job lock."""
    return Deliverer(rt, providers=providers).flush(limit=limit, ids=ids)


# -- queueing ----------------------------------------------------------------------------------
def queue(rt, template: str, *, wedding_id: str | None = None, client_id: str | None = None,
          to: str | list[str] | None = None, extra: dict[str, Any] | None = None, dry_run: bool = False,
          key: str | None = None) -> tuple[int | None, bool, OutgoingEmail, str]:
    """Render ``template`` for its recipients and put it in the outbox (unless ``dry_run``).

    Returns (outbox id, newly created, the message, the key)."""
    from wedsync_cli.email.compose import build_message, resolve

    entity, recipients, ctx = resolve(rt, wedding_id=wedding_id, client_id=client_id, to=to)
    ctx.update(extra or {})
    content_key, msg = build_message(rt, template, recipients, ctx, entity)
    key = key or content_key
    if dry_run:
        return None, False, msg, key
    meta = {"template": template, "wedding_id": wedding_id, "client_id": client_id}
    outbox = Outbox(rt.store, rt.clock)
    item_id, created = outbox.enqueue(KIND, key, ", ".join(recipients), msg.to_payload(), meta=meta)
    if not created:
        _requeue_if_unsuppressed(rt, outbox, item_id)
    return item_id, created, msg, key


@dataclass
class SendNow:
    item: OutboxItem
    result: FlushResult | None   # None: nothing was delivered in this call (see ``held``)
    held: str | None = None      # "lock_busy" (another run delivers it) | "already_queued" (never twice)


def send_now(rt, template: str, *, wedding_id: str | None = None, client_id: str | None = None,
             to: str | list[str] | None = None) -> SendNow:
    """`wedsync send TEMPLATE ...`: queue the message and deliver it at once (under the send lock).

    The same message asked for twice is one outbox row: the second ask delivers nothing new."""
    from wedsync_cli.errors import LockBusy

    item_id, created, _msg, _key = queue(rt, template, wedding_id=wedding_id, client_id=client_id, to=to)
    outbox = Outbox(rt.store, rt.clock)
    result, held = None, None
    if created or outbox.get(item_id).status in ("pending", "retry"):
        try:
            with rt.job_lock("send"):
                result = flush_email(rt, ids=[item_id])
        except LockBusy:
            held = "lock_busy"
    else:
        held = "already_queued"
    return SendNow(outbox.get(item_id), result, held)


def _requeue_if_unsuppressed(rt, outbox: Outbox, item_id: int) -> None:
    """Asked again for a message refused only because its address was suppressed, and the
    address has been cleared since: it was never sent, so it goes out now (same row, same key)."""
    from wedsync_cli.email import suppressions

    item = outbox.get(item_id)
    if item is None or item.status != "failed" or not item.meta.get("suppressed"):
        return
    if not suppressions.find(rt.store, item.payload.get("to") or []):
        outbox.replay([item_id])


def queue_timeline_digests(rt) -> int:
    """See wedsync_cli.email.timeline (re-exported for the sync command)."""
    from wedsync_cli.email.timeline import queue_timeline_digests as q

    return q(rt)


def message_view(item: OutboxItem) -> dict[str, Any]:
    """The contract's `send --json` message shape."""
    return {"id": item.id, "to": item.target, "template": item.meta.get("template"),
            "status": JSON_STATUS.get(item.status, item.status), "provider": item.provider,
            "provider_message_id": item.provider_message_id, "subject": item.payload.get("subject"),
            "error": item.last_error}
