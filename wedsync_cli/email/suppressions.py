"""Addresses we must not email: they bounced or complained (the inbound webhook receiver records
them in ``email_suppressions``; see wedsync_cli.webhooks.inbound.mark_bounce).

The sender checks every message before it leaves: one with a suppressed recipient is refused
(``failed``, with a reason naming the address and the command that clears it) instead of being
handed to a provider — sending again to a hard bounce or a spam complaint hurts the studio's
sender reputation with every provider. A support person clears an address with
``wedsync send --unsuppress EMAIL`` once the couple has fixed it; the next explicit `send` of a
refused message then goes out (nothing refused is re-sent behind their back).
"""

from __future__ import annotations

from typing import Any

REASON_WORDS = {"bounce": "bounced", "complaint": "was reported as spam", "dropped": "was dropped by the provider"}


def normalise(address: str) -> str:
    """The table's key: trimmed, lower-cased, the bare address of "Name <addr>"."""
    from email.utils import parseaddr

    addr = parseaddr(str(address))[1] or str(address)
    return addr.strip().lower()


def find(store, addresses: list[str]) -> dict[str, dict[str, Any]]:
    """The suppression rows of those ``addresses`` that are suppressed, keyed by normalised address."""
    keys = sorted({normalise(a) for a in addresses if a})
    if not keys:
        return {}
    rows = store.query(f"SELECT * FROM email_suppressions WHERE address IN ({','.join('?' * len(keys))})", keys)
    return {r["address"]: r for r in rows}


def refusal(row: dict[str, Any]) -> str:
    """The sentence stored as the message's error (and shown by `send`)."""
    what = REASON_WORDS.get(row["reason"], row["reason"])
    return (f"{row['address']} is on the suppression list: it {what} (reported by {row['source']} at {row['at']}); "
            f"clear it with `wedsync send --unsuppress {row['address']}` once the address is fixed")


def listing(store) -> list[dict[str, Any]]:
    return store.query("SELECT address, reason, source, detail, at FROM email_suppressions ORDER BY at DESC, address")


def clear(store, address: str) -> dict[str, Any] | None:
    """Remove ``address`` from the list; returns the row it had (None when it was not listed)."""
    key = normalise(address)
    with store.transaction():
        row = store.one("SELECT * FROM email_suppressions WHERE address = ?", [key])
        if row is not None:
            store.execute("DELETE FROM email_suppressions WHERE address = ?", [key])
    return row
