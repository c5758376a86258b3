"""The delivery engine: a SQLite outbox with leases, fencing, backoff and an attempt log.

Generic over what is delivered: emails (``wedsync_cli.email``) and outbound webhooks
(``wedsync_cli.webhooks``) both queue here and are drained by ``wedsync send --flush``.
"""

from wedsync_cli.delivery.outbox import Outbox, OutboxItem, outbox_counts

__all__ = ["Outbox", "OutboxItem", "outbox_counts"]
