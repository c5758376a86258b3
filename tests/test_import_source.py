"""CsvSource: what `wedsync sync` calls for `[sources.<name>] provider = "csv"`."""

from __future__ import annotations

import pytest

from wedsync_cli import registry
from wedsync_cli.config import SourceConfig
from wedsync_cli.errors import ConfigError, DataError


def test_registered_csv_source_reimports_its_file(runtime, tmp_path):
    f = tmp_path / "clients.csv"
    f.write_text("Client Name;Client Email;Project Date;Project Location;Project Stage\n"
                 "Jane & John Smith;jane@example.com;25/06/2027;Kew;Booked\n", encoding="utf-8")
    cls = registry.load("source", "csv")
    src = cls(runtime, "studio", SourceConfig(provider="csv", path=str(f), preset="honeybook"))

    dry = src.sync(full=False, dry_run=True)
    assert (dry.created, dry.dry_run) == (1, True)
    assert runtime.store.scalar("SELECT COUNT(*) FROM clients") == 0

    first = src.sync(full=False, dry_run=False)
    assert first.as_json()["created"] == 1 and first.source == "csv:studio"
    again = src.sync(full=True, dry_run=False)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)

    f.write_text("Client Name;Client Email;Project Date;Project Location;Project Stage\n"
                 "Jane & John Smith;jane@example.com;25/06/2027;Kew Gardens;Cancelled\n", encoding="utf-8")
    changed = src.sync(full=False, dry_run=False)
    assert changed.updated == 1
    row = runtime.store.one("SELECT w.status, e.location, e.version FROM weddings w JOIN events e ON e.wedding_id = w.id")
    assert row == {"status": "cancelled", "location": "Kew Gardens", "version": 2}


def test_csv_source_without_path_is_a_config_error(runtime):
    with pytest.raises(ConfigError):
        registry.load("source", "csv")(runtime, "x", SourceConfig(provider="csv")).sync()


def test_csv_source_with_a_missing_file_is_a_data_error(runtime, tmp_path):
    src = registry.load("source", "csv")(runtime, "x", SourceConfig(provider="csv", path=str(tmp_path / "nope.csv")))
    with pytest.raises(DataError):
        src.sync()
