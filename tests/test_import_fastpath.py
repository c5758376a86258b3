"""The import's fast paths keep its behaviour: rows hashed from their raw cells are converted only
when they changed, and chunk boundaries (the engine forgets each chunk once it is written) change
nothing about matching and merging."""

from __future__ import annotations

import pytest

from wedsync_cli.sources import csv_source
from wedsync_cli.sources.csv_source import CsvOptions, import_csv
from wedsync_cli.transform import engine as engine_mod

HEADER = "ID,Couple,Email,Wedding Date,Venue,Status\n"


@pytest.fixture
def converted(monkeypatch):
    """Counts the rows the CSV source really converts (normalises and validates)."""
    seen: list[int] = []
    real = csv_source.RowConverter.convert

    def counting(self, line, cells):
        seen.append(line)
        return real(self, line, cells)

    monkeypatch.setattr(csv_source.RowConverter, "convert", counting)
    return seen


def rows(n: int, venue: str = "Kew Gardens") -> str:
    return HEADER + "".join(f"C{i},Jane{i} & John Smith,jane{i}@example.com,2027-06-{1 + i % 28:02d},{venue},booked\n"
                            for i in range(n))


def run(runtime, path, **opts):
    return import_csv(runtime, path, CsvOptions(**opts)).report


def test_unchanged_rows_are_not_converted_again(runtime, tmp_path, converted):
    f = tmp_path / "clients.csv"
    f.write_text(rows(5))
    first = run(runtime, f)
    assert (first.created, len(converted)) == (5, 5)
    converted.clear()

    again = run(runtime, f)
    assert (again.read, again.created, again.updated, again.unchanged) == (5, 0, 0, 5)
    assert converted == []

    text = rows(5).replace("C3,Jane3 & John Smith,jane3@example.com,2027-06-04,Kew Gardens",
                           "C3,Jane3 & John Smith,jane3@example.com,2027-06-04,Hengrave Hall")
    f.write_text(text)
    changed = run(runtime, f)
    assert (changed.updated, changed.unchanged) == (1, 4)
    assert converted == [5]  # only line 5 (C3) was read again
    assert runtime.store.scalar("SELECT venue FROM weddings WHERE external_id = 'C3'") == "Hengrave Hall"


def test_a_changed_setting_reconverts_every_row(runtime, tmp_path, converted):
    f = tmp_path / "clients.csv"
    f.write_text(HEADER + "C1,Jane & John Smith,jane@example.com,05/06/2027,Kew,booked\n")
    run(runtime, f, date_order="dmy")
    assert runtime.store.scalar("SELECT date FROM weddings") == "2027-06-05"
    converted.clear()

    report = run(runtime, f, date_order="mdy")
    assert converted == [2]
    assert report.updated == 1
    assert runtime.store.scalar("SELECT date FROM weddings") == "2027-05-06"


def test_an_all_rejected_file_still_writes_nothing_on_reimport(runtime, tmp_path):
    from wedsync_cli.errors import DataError

    f = tmp_path / "clients.csv"
    f.write_text(HEADER + "C1,Jane,not-an-email,2027-06-05,Kew,booked\n")
    with pytest.raises(DataError, match="no usable rows"):
        run(runtime, f)
    assert runtime.store.scalar("SELECT COUNT(*) FROM clients") == 0


def test_matching_and_merging_across_chunk_boundaries(runtime, tmp_path, monkeypatch):
    monkeypatch.setattr(engine_mod, "CHUNK", 2)
    f = tmp_path / "clients.csv"
    # Row 5 is row 1's couple again (same email, no id) and lands three chunks later.
    f.write_text("Couple,Email,Wedding Date,Venue,Phone\n"
                 "Jane & John Smith,jane@example.com,2027-06-05,Kew,\n"
                 "Amy Lee,amy@example.com,2027-07-01,Barn,\n"
                 "Bea Cole,bea@example.com,2027-08-01,Hall,\n"
                 "Cat Dee,cat@example.com,2027-09-01,Ned,\n"
                 "Jane & John Smith,jane@example.com,2027-06-05,Kew,+44 7911 123456\n"
                 "Amy Lee,amy@example.com,2027-07-01,Barn,\n")
    report = run(runtime, f)
    assert (report.read, report.created, report.updated, report.unchanged, report.merged) == (6, 4, 1, 1, 2)
    store = runtime.store
    assert store.scalar("SELECT COUNT(*) FROM clients") == 4
    assert store.scalar("SELECT COUNT(*) FROM weddings") == 4
    assert store.scalar("SELECT COUNT(*) FROM events") == 4
    assert store.scalar("SELECT p1_phone FROM clients WHERE p1_email = 'jane@example.com'") == "+447911123456"

    again = run(runtime, f)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


def test_same_id_twice_in_one_chunk_with_the_stored_content_second(runtime, tmp_path):
    f = tmp_path / "clients.csv"
    f.write_text(HEADER + "C1,Jane & John Smith,jane@example.com,2027-06-05,Kew Gardens,booked\n")
    run(runtime, f)
    # The first C1 row changes the venue; the second is what was stored before and changes it back.
    f.write_text(HEADER + "C1,Jane & John Smith,jane@example.com,2027-06-05,Hengrave Hall,booked\n"
                 "C1,Jane & John Smith,jane@example.com,2027-06-05,Kew Gardens,booked\n")
    report = run(runtime, f)
    assert (report.read, report.updated) == (2, 2)
    assert runtime.store.scalar("SELECT venue FROM weddings") == "Kew Gardens"
    assert runtime.store.scalar("SELECT COUNT(*) FROM clients") == 1


def test_new_conversion_code_reconverts_every_row_once(runtime, tmp_path, converted, monkeypatch):
    f = tmp_path / "clients.csv"
    f.write_text(rows(3))
    run(runtime, f)
    converted.clear()
    # An upgrade that changes the conversion code: stored hashes came from the old code.
    monkeypatch.setattr(csv_source, "conversion_fingerprint", lambda: "upgraded")
    report = run(runtime, f)
    assert len(converted) == 3
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    converted.clear()
    assert run(runtime, f).unchanged == 3 and converted == []
