"""A migration set that costs nothing to declare: sqlite-utils' own ``Migrations``, built on use.

Feature modules declare their set at import time (``migrations = Migrations("wedsync.x")`` and
``@migrations()`` decorators). Importing sqlite-utils for that costs ~35 ms on every command,
even when the state is already up to date, so this class only records the functions; ``pending``
and ``apply`` hand them to a real ``sqlite_utils.Migrations`` (same ``_sqlite_migrations`` table,
same semantics) the first time they are needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def real_database(db: Any):
    """The sqlite-utils Database behind ``store.db`` (which defers building it)."""
    real = getattr(db, "real", None)
    return real() if callable(real) else db


class Migrations:
    def __init__(self, name: str):
        self.name = name
        # (name, function, transactional) in registration order, as sqlite-utils keeps them
        self._migrations: list[tuple[str, Callable[[Any], None], bool]] = []
        self._real = None

    def __call__(self, *, name: str | None = None, transactional: bool = True):
        def inner(func):
            migration_name = name or func.__name__
            if any(m[0] == migration_name for m in self._migrations):
                raise ValueError(f"Migration '{migration_name}' is already registered in set '{self.name}'")
            self._migrations.append((migration_name, func, transactional))
            self._real = None
            return func

        return inner

    @property
    def names(self) -> list[str]:
        return [m[0] for m in self._migrations]

    def real(self):
        if self._real is None:
            from sqlite_utils import Migrations as SqliteUtilsMigrations

            real = SqliteUtilsMigrations(self.name)
            for name, func, transactional in self._migrations:
                real(name=name, transactional=transactional)(func)
            self._real = real
        return self._real

    def pending(self, db) -> list:
        return self.real().pending(real_database(db))

    def applied(self, db) -> list:
        return self.real().applied(real_database(db))

    def apply(self, db, **kwargs) -> None:
        self.real().apply(real_database(db), **kwargs)
