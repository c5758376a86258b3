"""Build the RFC 5322 message for SMTP and maildir (stdlib ``email``)."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate

from wedsync_cli.email.providers import OutgoingEmail


def message_id(key: str) -> str:
    """A Message-ID derived from our key, so a re-sent copy is recognisably the same message."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@wedsync.invalid>"


def build(msg: OutgoingEmail, key: str, when: float | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = msg.from_
    m["To"] = ", ".join(msg.to)
    m["Subject"] = msg.subject
    m["Date"] = formatdate(when, localtime=False)
    m["Message-ID"] = message_id(key)
    m["X-Wedsync-Key"] = key
    if msg.reply_to:
        m["Reply-To"] = msg.reply_to
    for k, v in (msg.headers or {}).items():
        m[k] = v
    m.set_content(msg.text or "")
    if msg.html:
        m.add_alternative(msg.html, subtype="html")
    return m
