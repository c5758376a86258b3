"""A local Maildir any mail client (mutt, Thunderbird, Evolution) can open: the embedded default.

Idempotent by construction: the file name in ``new/`` is derived from our key, written to
``tmp/`` first and renamed into place (atomic), so a re-run after a crash finds it and does not
write a second copy (also if a client has since moved it to ``cur/``).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from wedsync_cli.email.providers import Accepted, EmailProvider, OutgoingEmail


class MaildirProvider(EmailProvider):
    name = "maildir"
    idempotent = True

    def __init__(self, rt, settings: dict[str, Any] | None = None):
        super().__init__(rt, settings)
        path = self.settings.get("path")
        self.path = rt.config.resolve_path(path) if path else rt.paths.state_dir / "mail"

    def _ensure(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    def send(self, msg: OutgoingEmail, key: str) -> Accepted:
        from wedsync_cli.email.mime import build

        t0 = time.perf_counter()
        self._ensure()
        name = f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.wedsync"
        if (self.path / "new" / name).exists() or any((self.path / "cur").glob(name + ":*")):
            return Accepted(name, None, "already in the maildir", 0.0)
        tmp = self.path / "tmp" / f"{name}.{os.getpid()}"
        data = build(msg, key, self.rt.clock.now().timestamp()).as_bytes()
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / "new" / name)
        return Accepted(name, None, str(Path(self.path) / "new" / name),
                        round((time.perf_counter() - t0) * 1000, 3))

    def check(self) -> str:
        self._ensure()
        return f"maildir: {self.path} is writable"
