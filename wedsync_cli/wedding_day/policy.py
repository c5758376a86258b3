"""When the wedding-day protocol is active, and why.

Active from ``[wedding_day] lead_hours`` (default 2) before a booked wedding's first event of
its day until that day's last event ends, and all day (studio time zone) on Saturdays
(``saturdays = true``) and on any ``days = [...]``. Overlapping windows merge, so ``since`` /
``until`` describe the whole protected stretch that contains the instant asked about.

Pure and cheap: one indexed range query on ``events.start`` around the instant; nothing is
written. Other features call ``WeddingDayPolicy.from_runtime(rt).state().active`` (sync defers
remote deletes, email failover trips sooner, alerts escalate to SMS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A wedding's day may run past midnight, and stored offsets vary: look this far either side.
_SLACK_DAYS = 2


@dataclass
class ProtocolState:
    active: bool
    reason: str
    since: datetime | None
    until: datetime | None
    weddings: list[str] = field(default_factory=list)
    # When inactive: when the next known protected stretch starts (None if none is near).
    next_start: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        from wedsync_cli.clock import iso

        return {"active": self.active, "reason": self.reason, "since": iso(self.since),
                "until": iso(self.until), "weddings": list(self.weddings), "next_start": iso(self.next_start)}


@dataclass
class Window:
    start: datetime
    end: datetime
    reason: str
    wedding_id: str | None = None
    label: str | None = None


def _parse_point(value: str, zone, *, is_end: bool = False) -> datetime:
    """An events.start/end value (ISO date for all-day, date-time otherwise) as an aware UTC instant."""
    if len(value) == 10:  # all-day: local midnight in the studio zone (end is exclusive already)
        d = date.fromisoformat(value)
        return datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(UTC)


class WeddingDayPolicy:
    def __init__(self, store, config, clock):
        self.store = store
        self.config = config
        self.clock = clock
        wd = getattr(config, "wedding_day", None)
        self.lead = timedelta(hours=float(getattr(wd, "lead_hours", 2) if wd is not None else 2))
        self.saturdays = bool(getattr(wd, "saturdays", True) if wd is not None else True)
        days = set(getattr(wd, "days", None) or []) if wd is not None else set()
        if self.saturdays:
            days.add("saturday")
        self.protected_weekdays = {WEEKDAYS.index(d) for d in days if d in WEEKDAYS}
        self.zone = config.zone

    @classmethod
    def from_runtime(cls, rt) -> WeddingDayPolicy:
        return cls(rt.store, rt.config, rt.clock)

    # -- windows -------------------------------------------------------------------------------
    def wedding_windows(self, lo: datetime, hi: datetime) -> list[Window]:
        """Protection windows of booked weddings whose day's events start between lo and hi."""
        zone = self.zone
        lo_key = (lo.astimezone(zone).date() - timedelta(days=_SLACK_DAYS)).isoformat()
        hi_key = (hi.astimezone(zone).date() + timedelta(days=_SLACK_DAYS + 1)).isoformat()
        rows = self.store.db.conn.execute(
            """
            SELECT e.wedding_id, e.start, e."end", e.kind, w.date, c.display_name
            FROM events e
            JOIN weddings w ON w.id = e.wedding_id
            LEFT JOIN clients c ON c.id = w.client_id
            WHERE e.start >= ? AND e.start < ? AND e.deleted = 0 AND w.status = 'booked'
            """,
            [lo_key, hi_key],
        ).fetchall()
        per_day: dict[tuple[str, date], list[tuple[datetime, datetime, str]]] = {}
        names: dict[str, str] = {}
        for wedding_id, start, end, kind, wdate, name in rows:
            try:
                s = _parse_point(start, zone)
                e = _parse_point(end, zone, is_end=True)
            except ValueError:
                continue  # a malformed row never stops the protocol from deciding
            local_day = s.astimezone(zone).date()
            # A wedding's *day* is its date (or, without one, its 'wedding' events): a consultation
            # months earlier does not open a protection window.
            if wdate:
                if local_day.isoformat() != wdate:
                    continue
            elif kind != "wedding":
                continue
            per_day.setdefault((wedding_id, local_day), []).append((s, e, kind))
            names[wedding_id] = name or wedding_id
        out = []
        for (wedding_id, day), evs in per_day.items():
            first = min(s for s, _, _ in evs)
            last = max(e for _, e, _ in evs)
            w = Window(first - self.lead, last,
                       f"wedding {wedding_id} ({names[wedding_id]}) on {day.isoformat()}: "
                       f"first event {first.astimezone(self.zone):%H:%M}, protected from "
                       f"{self.lead.total_seconds() / 3600:g} h before until its last event ends",
                       wedding_id=wedding_id, label=names[wedding_id])
            if w.end > lo and w.start < hi:
                out.append(w)
        return out

    def day_windows(self, lo: datetime, hi: datetime) -> list[Window]:
        """Whole protected days (Saturdays, configured weekdays) overlapping [lo, hi)."""
        out = []
        d = lo.astimezone(self.zone).date() - timedelta(days=1)
        last = hi.astimezone(self.zone).date() + timedelta(days=1)
        while d <= last:
            if d.weekday() in self.protected_weekdays:
                s = datetime.combine(d, time(0), tzinfo=self.zone).astimezone(UTC)
                e = datetime.combine(d + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)
                if e > lo and s < hi:
                    why = ("Saturday (all day: [wedding_day] saturdays = true)" if d.weekday() == 5 and self.saturdays
                           else f"{WEEKDAYS[d.weekday()].capitalize()} (all day: [wedding_day] days)")
                    out.append(Window(s, e, why))
            d += timedelta(days=1)
        return out

    def windows(self, lo: datetime, hi: datetime) -> list[Window]:
        return sorted(self.day_windows(lo, hi) + self.wedding_windows(lo, hi), key=lambda w: (w.start, w.end))

    # -- the state -----------------------------------------------------------------------------
    def state(self, at: datetime | None = None) -> ProtocolState:
        at = (at or self.clock.now()).astimezone(UTC)
        horizon = timedelta(days=1) + self.lead
        wins = self.windows(at - timedelta(days=1), at + horizon)
        containing = [w for w in wins if w.start <= at < w.end]
        if not containing:
            upcoming = [w.start for w in wins if w.start > at]
            nxt = min(upcoming) if upcoming else None
            reason = ("no booked wedding within "
                      f"{self.lead.total_seconds() / 3600:g} h and not a protected day")
            if nxt is not None:
                reason += f"; next protection starts {nxt.astimezone(self.zone):%a %Y-%m-%d %H:%M} ({self.config.timezone})"
            return ProtocolState(False, reason, None, None, [], next_start=nxt)
        # Grow the stretch over every window that overlaps it (a wedding running past midnight
        # into a Saturday, two weddings back to back), so since/until bound the whole stretch.
        since = min(w.start for w in containing)
        until = max(w.end for w in containing)
        members = list(containing)
        changed = True
        while changed:
            changed = False
            for w in wins:
                if w not in members and w.start <= until and w.end >= since:
                    members.append(w)
                    since, until = min(since, w.start), max(until, w.end)
                    changed = True
        weddings = sorted({w.wedding_id for w in containing if w.wedding_id})
        return ProtocolState(True, self._reason(containing), since, until, weddings)

    def _reason(self, wins: list[Window]) -> str:
        """One line: every protected day, and the weddings (in full for one or two, else summed up)."""
        days = [w.reason for w in wins if not w.wedding_id]
        weds = [w for w in wins if w.wedding_id]
        if len(weds) <= 2:
            return "; ".join(days + [w.reason for w in weds])
        names = ", ".join(f"{w.wedding_id} ({w.label})" for w in weds[:3])
        summary = (f"{len(weds)} booked weddings: {names}{', ...' if len(weds) > 3 else ''}; each protected from "
                   f"{self.lead.total_seconds() / 3600:g} h before its first event until its last event ends")
        return "; ".join(days + [summary])

    def day_state(self, day: date) -> ProtocolState:
        """The protocol for a whole local day: active if any protection window touches it."""
        s = datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)
        e = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone).astimezone(UTC)
        now = self.clock.now().astimezone(UTC)
        if s <= now < e:
            st = self.state(now)
            if st.active:
                return st
        wins = [w for w in self.windows(s, e) if w.end > s and w.start < e]
        if not wins:
            return ProtocolState(False, f"no booked wedding on {day.isoformat()} and not a protected day",
                                 None, None, [])
        # Today and not active right now (protection starts later or has ended): inactive;
        # another day: active means "protected on that day".
        return ProtocolState(
            not (s <= now < e),
            self._reason(wins),
            min(w.start for w in wins), max(w.end for w in wins),
            sorted({w.wedding_id for w in wins if w.wedding_id}),
        )
