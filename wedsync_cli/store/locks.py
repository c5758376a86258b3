"""Per-job run locks: an OS file lock (flock) per job name.

The kernel drops a flock when its process dies, so a ``kill -9`` never leaves a stale lock
behind, and a second overlapping ``sync`` (or import) gets LockBusy (exit 75) at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from wedsync_cli.errors import LockBusy
from wedsync_cli.paths import ensure_private_dir


@contextlib.contextmanager
def file_lock(path: Path, wait: bool = False, what: str | None = None) -> Iterator[None]:
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                pid = os.pread(fd, 32, 0).decode().strip()
                holder = f" (pid {pid})" if pid else ""
            raise LockBusy(
                f"Another `{what or path.stem}` run is still in progress{holder}",
                fix="wait for it to finish, then run the command again",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def job_lock(state_dir: Path, job: str) -> contextlib.AbstractContextManager[None]:
    """The run lock for one job (``sync``, ``import``, ``send``, ``health``)."""
    return file_lock(state_dir / "locks" / f"{job}.lock", what=job)
