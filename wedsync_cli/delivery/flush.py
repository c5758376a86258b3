"""`send --flush` below the CLI: deliver everything due in the outbox, emails and webhook
deliveries alike (what cron runs), under the ``send`` job lock with a JobRun ``send``.

Prints nothing and raises only for what stops the whole run (lock busy, bad config); a webhook
problem is kept on the result so the emails' outcome is still reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class OutboxFlush:
    email: Any                                   # wedsync_cli.email.deliver.FlushResult
    webhooks: dict[str, Any] = field(default_factory=dict)
    webhook_error: Exception | None = None       # a WedsyncError from the webhook side


def flush_outbox(rt, *, limit: int | None = None) -> OutboxFlush:
    from wedsync_cli.email.deliver import flush_email
    from wedsync_cli.errors import WedsyncError
    from wedsync_cli.store.runs import JobRun

    with rt.job_lock("send"), JobRun(rt.store, "send") as run:
        out = OutboxFlush(flush_email(rt, limit=limit))
        try:
            from wedsync_cli.webhooks.dispatch import flush as flush_webhooks
        except ImportError:
            flush_webhooks = None
            if rt.config.webhooks:
                out.webhooks["error"] = "webhook delivery is not available in this build"
        if flush_webhooks is not None:
            try:
                out.webhooks = flush_webhooks(rt, limit=limit) or {}
            except WedsyncError as exc:
                out.webhook_error = exc
                out.webhooks = {"error": exc.sentence()}
        result = out.email
        run.counts.update({"email": result.as_dict(), "webhooks": {k: v for k, v in out.webhooks.items()
                                                                   if isinstance(v, int | str)}})
        bad = result.auth_error or result.failed or result.dead or result.unavailable or out.webhook_error
        run.finish("partial" if bad else "ok")
    return out
