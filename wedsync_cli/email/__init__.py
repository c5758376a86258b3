"""Email: templates, providers (resend, sendgrid, smtp, maildir) and the failover deliverer.

Messages are queued in the delivery outbox (kind ``email``) and delivered by
``wedsync_cli.email.deliver.flush_email``; ``wedsync send`` is the CLI over it.
"""
