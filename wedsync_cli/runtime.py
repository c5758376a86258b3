"""The runtime the core works in: paths, config, store, credentials, clock, HTTP call recorder.

Built lazily so a command only pays for what it touches. The CLI creates one per invocation
(``cli/context.py``); tests build one directly with an in-memory keyring and a FixedClock.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from wedsync_cli.paths import Paths


@dataclass
class Runtime:
    paths: Paths
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    _config: Any = None
    _store: Any = None
    _credentials: Any = None
    _clock: Any = None
    _recorder: Any = None

    @property
    def config(self):
        if self._config is None:
            from wedsync_cli import config as config_mod

            self._config = config_mod.load(self.paths)
        return self._config

    @property
    def clock(self):
        if self._clock is None:
            from wedsync_cli.clock import default_clock

            self._clock = default_clock(self.env)
        return self._clock

    @property
    def store(self):
        if self._store is None:
            from wedsync_cli.store import Store

            self._store = Store(self.paths.db_file, self.clock)
        return self._store

    @property
    def credentials(self):
        if self._credentials is None:
            from wedsync_cli.secrets import CredentialStore

            self._credentials = CredentialStore(self.paths.keyring_service)
        return self._credentials

    @property
    def recorder(self):
        if self._recorder is None:
            from wedsync_cli.http import CallRecorder

            self._recorder = CallRecorder()
        return self._recorder

    def provider_settings(self, provider: str) -> dict[str, Any]:
        """``[providers.<provider>]`` as a plain dict (base_url, token_url, extras)."""
        p = self.config.providers.get(provider)
        return p.model_dump(exclude_none=True) if p is not None else {}

    def job_lock(self, job: str):
        from wedsync_cli.store.locks import job_lock

        return job_lock(self.paths.state_dir, job)

    def flush_calls(self) -> None:
        if self._recorder is not None and self._store is not None:
            with contextlib.suppress(Exception):
                self._recorder.flush(self._store)

    def close(self) -> None:
        self.flush_calls()
        if self._store is not None:
            self._store.close()
            self._store = None
