"""The small interface every calendar backend implements (local folder, Google, Outlook, CalDAV).

The sync algorithm lives in ``engine.py`` and never does I/O itself; a backend only knows how to
list changes since a cursor, read one item, and write with optimistic concurrency (etags).

Identity: every event we create carries our ``uid`` (``<event_id>@wedsync``) in the provider's
own place for it (iCalendar UID, Google ``extendedProperties.private.wedsyncId`` + a client-chosen
id, Graph ``transactionId`` + a single-value extended property). ``RemoteEvent.ours`` is True only
for items carrying that marker: the engine never edits or deletes anything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from wedsync_cli.errors import WedsyncError

UID_SUFFIX = "@wedsync"


def uid_for(event_id: str) -> str:
    return f"{event_id}{UID_SUFFIX}"


def event_id_from_uid(uid: str | None) -> str | None:
    if uid and uid.endswith(UID_SUFFIX):
        return uid[: -len(UID_SUFFIX)]
    return None


@dataclass(frozen=True)
class EventFields:
    """The content a calendar holds for one event: what is compared and synced both ways."""

    title: str
    start: date | datetime
    end: date | datetime
    all_day: bool = False
    tz: str | None = None
    location: str | None = None
    description: str | None = None

    def comparable(self) -> dict[str, Any]:
        """Normalised form for change detection: instants in UTC, empty strings as None."""
        from datetime import UTC

        def norm(v):
            if isinstance(v, datetime):
                return v.astimezone(UTC).replace(microsecond=0).isoformat()
            return v.isoformat()

        return {
            "title": (self.title or "").strip(),
            "start": norm(self.start),
            "end": norm(self.end),
            "all_day": bool(self.all_day),
            "location": (self.location or "").strip() or None,
            "description": (self.description or "").strip() or None,
        }

    def hash(self) -> str:
        from wedsync_cli.domain.hashing import content_hash

        return content_hash(self.comparable())


@dataclass
class RemoteEvent:
    remote_id: str                  # the provider's id for the item (event id, href, file name)
    etag: str | None = None
    uid: str | None = None          # our marker if present
    fields: EventFields | None = None  # None for a tombstone (deleted / cancelled)
    raw: dict[str, Any] = field(default_factory=dict)  # provider payload, for conflicts display
    # When the item last changed remotely (Google `updated`, Graph `lastModifiedDateTime`, CalDAV
    # LAST-MODIFIED, file mtime); the `newest` conflict policy compares it with our updated_at.
    modified: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.fields is None

    @property
    def ours(self) -> bool:
        return event_id_from_uid(self.uid) is not None

    @property
    def event_id(self) -> str | None:
        return event_id_from_uid(self.uid)


@dataclass
class Changes:
    items: list[RemoteEvent]
    cursor: dict[str, Any] | None  # to save (same transaction as the applied changes)
    complete: bool                 # True when ``items`` is the whole calendar (a full listing)
    requests: int = 0
    # remote ids that exist but could not be read (e.g. a hand-broken .ics): present, not deleted.
    unreadable: list[str] = field(default_factory=list)


class CursorExpired(WedsyncError):
    """The saved sync token / delta link is no longer valid (Google 410, Graph syncStateNotFound,
    CalDAV valid-sync-token): the engine drops it and does a full listing, without duplicates."""


class PreconditionFailed(WedsyncError):
    """If-Match / If-None-Match failed (HTTP 412): the item changed remotely; take the conflict path."""


class NotFound(WedsyncError):
    pass


@dataclass
class BackendContext:
    """What a backend gets from the CLI layer: resolved config, credentials, clock, HTTP recorder."""

    name: str                        # the calendar's config name
    calendar: str | None             # provider calendar id / collection URL / folder
    provider_config: dict[str, Any]  # [providers.<provider>] merged with [calendars.<name>] extras
    credentials: Any                 # CredentialStore (lazy .require(provider))
    clock: Any
    recorder: Any                    # CallRecorder
    state_dir: Path
    timezone: str = "UTC"
    options: dict[str, Any] = field(default_factory=dict)


class CalendarBackend(ABC):
    provider: str = ""

    def __init__(self, ctx: BackendContext):
        self.ctx = ctx

    # -- reading ----------------------------------------------------------------------------------
    @abstractmethod
    def changes(self, cursor: dict[str, Any] | None) -> Changes:
        """Items changed since ``cursor`` (None: a full listing, ``complete=True``).

        Raises CursorExpired when the provider no longer accepts the cursor.
        """

    @abstractmethod
    def get(self, remote_id: str) -> RemoteEvent | None:
        """One item, or None if it does not exist."""

    def find_by_uid(self, uid: str) -> RemoteEvent | None:
        """Recover a create that may have reached the provider before a crash."""
        return None

    # -- writing (optimistic concurrency) ---------------------------------------------------------
    @abstractmethod
    def create(self, uid: str, fields: EventFields) -> RemoteEvent:
        """Create with our marker. Must not duplicate when retried with the same ``uid``
        (client-chosen id, transactionId, If-None-Match: *); if the item already exists,
        return it."""

    @abstractmethod
    def update(self, remote: RemoteEvent, fields: EventFields) -> RemoteEvent:
        """Replace with If-Match ``remote.etag``; raise PreconditionFailed on a mismatch."""

    @abstractmethod
    def delete(self, remote: RemoteEvent) -> None:
        """Delete with If-Match; NotFound counts as done; PreconditionFailed on a mismatch."""

    def advance_cursor(self, cursor: dict[str, Any] | None) -> dict[str, Any] | None:
        """The cursor after this run's own writes (called after the push, saved by the engine).

        Token-based providers return it unchanged (their next listing echoes our writes, which the
        engine recognises by hash); snapshot-based ones (the local folder) fold their writes in so a
        file we wrote and someone then deleted is seen as deleted."""
        return cursor

    # -- misc ---------------------------------------------------------------------------------------
    def check(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """One cheap authenticated call (``auth status --check``, ``health check``)."""

    @property
    def requests(self) -> int:
        rec = self.ctx.recorder
        return rec.requests(self.provider) if rec is not None else 0

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
