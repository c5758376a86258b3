"""The ``local`` backend: a vdir folder, one ``<uid>.ics`` per event (the layout khal and
vdirsyncer's filesystem storage use), so any calendar app can read what wedsync writes.

- remote id = the file name; etag = a hash of the file's bytes (mtimes are too coarse to tell two
  quick writes apart, and a content hash makes If-Match exact).
- cursor = ``{"files": {name: etag}}``, a snapshot: ``changes`` reports new and modified files and
  tombstones for files that disappeared since.
- writes are atomic (temp file + rename); create uses a hard link so it can never overwrite
  (If-None-Match: * semantics); files that are not ``*@wedsync.ics`` are foreign and never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wedsync_cli.calendars.backend import (
    UID_SUFFIX,
    BackendContext,
    CalendarBackend,
    Changes,
    EventFields,
    NotFound,
    PreconditionFailed,
    RemoteEvent,
)
from wedsync_cli.errors import ConfigError, WedsyncError

EXT = ".ics"


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def _safe_name(uid: str) -> str:
    """A file name for a UID: our UIDs are hex + '@wedsync'; anything else gets path-safe."""
    keep = "".join(c if c.isalnum() or c in "@._-" else "_" for c in uid)
    return keep + EXT


class LocalBackend(CalendarBackend):
    provider = "local"

    def __init__(self, ctx: BackendContext):
        super().__init__(ctx)
        if ctx.calendar:
            self.folder = Path(ctx.calendar).expanduser()
            if not self.folder.is_dir():
                raise ConfigError(
                    f"The local calendar folder {self.folder} for calendar '{ctx.name}' does not exist",
                    fix=f"create it (mkdir -p {self.folder}) or fix `calendar` in [calendars.{ctx.name}]",
                )
        else:
            self.folder = Path(ctx.state_dir) / "calendars" / ctx.name
            self.folder.mkdir(parents=True, exist_ok=True)
        self.timezone = ctx.timezone
        self._requests = 0
        self._written: dict[str, str | None] = {}  # this run's writes: name -> etag (None: deleted)

    # -- helpers ----------------------------------------------------------------------------------
    def _now(self) -> datetime:
        clock = self.ctx.clock
        return clock.now() if clock is not None else datetime.now(UTC)

    def _read(self, name: str) -> tuple[bytes, os.stat_result] | None:
        try:
            with open(self.folder / name, "rb") as fh:
                return fh.read(), os.fstat(fh.fileno())
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None

    def _event(self, name: str, data: bytes, st: os.stat_result) -> RemoteEvent | None:
        """Parse one file; None when it is not a usable event."""
        from wedsync_cli.calendars.ics import IcsError, parse_ics

        try:
            parsed = parse_ics(data, default_tz=self.timezone)
        except IcsError:
            return None
        # The file's mtime is when a person last saved it (editors rarely touch LAST-MODIFIED).
        mtime = datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC)
        modified = max(mtime, parsed.last_modified) if parsed.last_modified else mtime
        return RemoteEvent(remote_id=name, etag=_etag(data), uid=parsed.uid, fields=parsed.fields,
                           raw={"file": str(self.folder / name), "sequence": parsed.sequence},
                           modified=modified)

    def _written_event(self, name: str, data: bytes, uid: str | None, fields: EventFields) -> RemoteEvent:
        """What we just wrote, without reading it back (to_ics/parse_ics round-trip exactly)."""
        return RemoteEvent(remote_id=name, etag=_etag(data), uid=uid, fields=fields,
                           raw={"file": str(self.folder / name)}, modified=self._now())

    def _names(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.folder) if e.name.endswith(EXT) and e.is_file())
        except FileNotFoundError:
            raise WedsyncError(
                f"The local calendar folder {self.folder} disappeared",
                fix="restore it, or run `wedsync sync --full` after recreating it",
            ) from None

    def _write_atomic(self, name: str, data: bytes, exclusive: bool) -> None:
        target = self.folder / name
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            if exclusive:
                os.link(tmp, target)  # fails with FileExistsError instead of overwriting
            else:
                os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _own(self, remote: RemoteEvent) -> None:
        name = remote.remote_id
        if not (remote.ours or name.endswith(UID_SUFFIX + EXT)):
            raise WedsyncError(f"Refusing to change {name}: wedsync did not create it")

    # -- reading ----------------------------------------------------------------------------------
    def changes(self, cursor: dict[str, Any] | None) -> Changes:
        self._requests += 1
        before: dict[str, str] | None = (cursor or {}).get("files") if cursor else None
        snapshot: dict[str, str] = {}
        items: list[RemoteEvent] = []
        unreadable: list[str] = []
        for name in self._names():
            got = self._read(name)
            if got is None:
                continue  # removed while we listed
            data, st = got
            etag = _etag(data)
            snapshot[name] = etag
            if before is not None and before.get(name) == etag:
                continue
            ev = self._event(name, data, st)
            if ev is None:
                unreadable.append(name)
            else:
                items.append(ev)
        if before is not None:
            for name in sorted(set(before) - set(snapshot)):
                uid = name[: -len(EXT)]
                items.append(RemoteEvent(remote_id=name, etag=None, uid=uid, fields=None))
        return Changes(items=items, cursor={"files": snapshot}, complete=before is None,
                       requests=1, unreadable=unreadable)

    def get(self, remote_id: str) -> RemoteEvent | None:
        self._requests += 1
        got = self._read(remote_id)
        if got is None:
            return None
        return self._event(remote_id, *got)

    def find_by_uid(self, uid: str) -> RemoteEvent | None:
        return self.get(_safe_name(uid))

    # -- writing ----------------------------------------------------------------------------------
    def create(self, uid: str, fields: EventFields) -> RemoteEvent:
        from wedsync_cli.calendars.ics import to_ics

        self._requests += 1
        name = _safe_name(uid)
        data = to_ics(uid, fields, sequence=0, now=self._now())
        try:
            self._write_atomic(name, data, exclusive=True)
        except FileExistsError:
            existing = self.get(name)
            if existing is not None:
                self._written[name] = existing.etag
                return existing  # a retried create: the item is already there
            raise
        self._written[name] = _etag(data)
        return self._written_event(name, data, uid, fields)

    def update(self, remote: RemoteEvent, fields: EventFields) -> RemoteEvent:
        from wedsync_cli.calendars.ics import IcsError, parse_ics, to_ics

        self._own(remote)
        self._requests += 1
        got = self._read(remote.remote_id)
        if got is None:
            raise NotFound(f"{remote.remote_id} no longer exists")
        current, _ = got
        if remote.etag is not None and _etag(current) != remote.etag:
            raise PreconditionFailed(f"{remote.remote_id} changed since it was read")
        try:
            parsed = parse_ics(current, default_tz=self.timezone)
            seq, uid = parsed.sequence + 1, parsed.uid or remote.uid
        except IcsError:
            seq, uid = 1, remote.uid
        data = to_ics(uid or remote.remote_id[: -len(EXT)], fields, sequence=seq, now=self._now())
        self._write_atomic(remote.remote_id, data, exclusive=False)
        self._written[remote.remote_id] = _etag(data)
        return self._written_event(remote.remote_id, data, uid, fields)

    def delete(self, remote: RemoteEvent) -> None:
        self._own(remote)
        self._requests += 1
        got = self._read(remote.remote_id)
        if got is None:
            return  # already gone: done
        if remote.etag is not None and _etag(got[0]) != remote.etag:
            raise PreconditionFailed(f"{remote.remote_id} changed since it was read")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.folder / remote.remote_id)
        self._written[remote.remote_id] = None

    def advance_cursor(self, cursor: dict[str, Any] | None) -> dict[str, Any] | None:
        """Fold this run's writes into the snapshot: the etag we wrote, not what is there now, so
        an edit someone makes right after our write is still reported next time."""
        if cursor is None:
            return None
        files = dict(cursor.get("files") or {})
        for name, etag in self._written.items():
            if etag is None:
                files.pop(name, None)
            else:
                files[name] = etag
        self._written.clear()
        return {**cursor, "files": files}

    def check(self) -> None:
        self._names()

    @property
    def requests(self) -> int:
        return self._requests
