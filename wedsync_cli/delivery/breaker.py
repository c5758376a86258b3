"""Per-provider circuit breaker and health, kept in the state so cron runs share it.

closed --N consecutive failures--> open --cooldown passes--> half_open (one probe) --ok--> closed
                                                                             \\--fail--> open
Only "the provider did not accept" outcomes count (5xx, refused connections, ambiguous timeouts);
a message the provider rejects as invalid says nothing about its health. During the wedding-day
protocol the breaker trips sooner (fewer failures), so mail moves to the next provider quickly.
A refused credential is recorded once per episode (``auth_refused_at``) so ops is paged once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wedsync_cli.clock import iso, parse_instant

DEFAULT_THRESHOLD = 5
WEDDING_DAY_THRESHOLD = 2
DEFAULT_COOLDOWN_S = 60.0


class Breaker:
    def __init__(self, store, clock, *, threshold: int = DEFAULT_THRESHOLD, cooldown_s: float = DEFAULT_COOLDOWN_S):
        self.store = store
        self.clock = clock
        self.threshold = threshold
        self.cooldown_s = cooldown_s

    def _row(self, provider: str) -> dict[str, Any]:
        row = self.store.one("SELECT * FROM provider_breakers WHERE provider = ?", [provider])
        if row is None:
            now = iso(self.clock.now())
            self.store.execute("INSERT OR IGNORE INTO provider_breakers(provider, state, updated_at) VALUES (?, 'closed', ?)",
                               [provider, now])
            row = self.store.one("SELECT * FROM provider_breakers WHERE provider = ?", [provider])
        return row  # type: ignore[return-value]

    def state(self, provider: str) -> str:
        row = self.store.one("SELECT state FROM provider_breakers WHERE provider = ?", [provider])
        return row["state"] if row else "closed"

    def allow(self, provider: str) -> bool:
        """May a request go to ``provider`` now? An open breaker past its cooldown lets one probe."""
        with self.store.transaction():
            row = self._row(provider)
            if row["state"] != "open":
                return True
            if row["retry_at"] and parse_instant(row["retry_at"]) <= self.clock.now():
                self.store.execute("UPDATE provider_breakers SET state = 'half_open', updated_at = ? WHERE provider = ?",
                                   [iso(self.clock.now()), provider])
                return True
            return False

    def retry_at(self, provider: str) -> str | None:
        return self.store.scalar("SELECT retry_at FROM provider_breakers WHERE provider = ?", [provider])

    def success(self, provider: str) -> None:
        from wedsync_cli import notify

        now = iso(self.clock.now())
        with self.store.transaction():
            row = self._row(provider)
            self.store.execute(
                "UPDATE provider_breakers SET state = 'closed', consecutive_failures = 0, opened_at = NULL,"
                " retry_at = NULL, last_success = ?, auth_refused_at = NULL, updated_at = ? WHERE provider = ?",
                [now, now, provider])
            if row["state"] != "closed" or row["auth_refused_at"]:
                notify.emit(self.store, "provider.recovered", {"provider": provider, "at": now})

    def failure(self, provider: str, error: str) -> bool:
        """Count a failure; returns True when this one opened the breaker."""
        from wedsync_cli import notify
        from wedsync_cli.secrets import redact

        now = self.clock.now()
        with self.store.transaction():
            row = self._row(provider)
            failures = row["consecutive_failures"] + 1
            opens = row["state"] == "half_open" or (row["state"] == "closed" and failures >= self.threshold)
            state = "open" if opens or row["state"] == "open" else row["state"]
            retry_at = iso(now + timedelta(seconds=self.cooldown_s)) if opens else row["retry_at"]
            self.store.execute(
                "UPDATE provider_breakers SET state = ?, consecutive_failures = ?, opened_at = CASE WHEN ? THEN ?"
                " ELSE opened_at END, retry_at = ?, last_failure = ?, last_error = ?, updated_at = ? WHERE provider = ?",
                [state, failures, opens, iso(now), retry_at, iso(now), redact(error)[:500], iso(now), provider])
            if opens and row["state"] == "closed":
                notify.emit(self.store, "provider.degraded",
                            {"provider": provider, "at": iso(now), "reason": redact(error)[:300],
                             "consecutive_failures": failures})
        return opens

    def auth_refused(self, provider: str, error: str) -> bool:
        """Record a refused credential. True only the first time in an episode: page once."""
        from wedsync_cli import notify
        from wedsync_cli.secrets import redact

        now = iso(self.clock.now())
        with self.store.transaction():
            row = self._row(provider)
            first = not row["auth_refused_at"]
            self.store.execute(
                "UPDATE provider_breakers SET auth_refused_at = COALESCE(auth_refused_at, ?), last_failure = ?,"
                " last_error = ?, updated_at = ? WHERE provider = ?",
                [now, now, redact(error)[:500], now, provider])
            if first:
                notify.emit(self.store, "provider.degraded",
                            {"provider": provider, "at": now, "reason": "credential refused: " + redact(error)[:300]})
        return first


def breaker_states(store) -> list[dict[str, Any]]:
    """Every provider's breaker row, for `status`."""
    if store.scalar("SELECT 1 FROM sqlite_master WHERE type='table' AND name='provider_breakers'") is None:
        return []
    return store.query("SELECT * FROM provider_breakers ORDER BY provider")
