"""Test keyrings: in-memory for in-process tests, a JSON file for subprocess tests
(``PYTHON_KEYRING_BACKEND=tests.support.keyrings.FileKeyring`` + ``WEDSYNC_TEST_KEYRING``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self):
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.data.get((service, username))

    def set_password(self, service, username, password):
        self.data[(service, username)] = password

    def delete_password(self, service, username):
        if (service, username) not in self.data:
            raise PasswordDeleteError("not found")
        del self.data[(service, username)]


class FileKeyring(KeyringBackend):
    """Persists across processes; only for tests (the product never writes secrets to files)."""

    priority = 1

    @property
    def path(self) -> Path:
        return Path(os.environ["WEDSYNC_TEST_KEYRING"])

    def _load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def get_password(self, service, username):
        return self._load().get(f"{service}\x00{username}")

    def set_password(self, service, username, password):
        d = self._load()
        d[f"{service}\x00{username}"] = password
        self.path.write_text(json.dumps(d))

    def delete_password(self, service, username):
        d = self._load()
        if d.pop(f"{service}\x00{username}", None) is None:
            raise PasswordDeleteError("not found")
        self.path.write_text(json.dumps(d))
