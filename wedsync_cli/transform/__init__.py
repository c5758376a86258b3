"""The transformation engine and the normalisation helpers every import source uses.

``ImportEngine(store, source=..., timezone=...).apply(records) -> ImportReport`` is the one way
clients, weddings and events are written from a source (CSV, Táve, HoneyBook).
"""

from wedsync_cli.transform.engine import ImportEngine, ImportReport, wedding_day_event

__all__ = ["ImportEngine", "ImportReport", "wedding_day_event"]
