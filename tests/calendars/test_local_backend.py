"""The local vdir backend: the shared backend contract plus what is particular to a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.calendars.backend_contract import BackendContract, _fields, _uid
from wedsync_cli.calendars.backend import BackendContext, PreconditionFailed
from wedsync_cli.calendars.local import LocalBackend
from wedsync_cli.errors import ConfigError

FOREIGN = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:other\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
           "DTSTART:20270612T100000Z\r\nDTEND:20270612T110000Z\r\nSUMMARY:{title}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def make(folder: Path | None, state_dir: Path, name: str = "studio") -> LocalBackend:
    return LocalBackend(BackendContext(name=name, calendar=str(folder) if folder else None, provider_config={},
                                       credentials=None, clock=None, recorder=None, state_dir=state_dir,
                                       timezone="Europe/London"))


class TestLocalBackendContract(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path):
        folder = tmp_path / "cal"
        folder.mkdir()
        return make(folder, tmp_path / "state")

    @pytest.fixture
    def add_foreign(self, backend):
        def add(title: str = "Dentist") -> str:
            (backend.folder / "dentist.ics").write_text(FOREIGN.format(uid="dentist-1", title=title))
            return "dentist.ics"

        return add

    @pytest.fixture
    def edit_out_of_band(self, backend):
        def edit(remote, title: str) -> None:
            path = backend.folder / remote.remote_id
            text = path.read_bytes()
            start = text.index(b"SUMMARY:")
            end = text.index(b"\r\n", start)
            path.write_bytes(text[:start] + f"SUMMARY:{title}".encode() + text[end:])

        return edit


def test_default_folder_lives_in_the_state_dir(tmp_path):
    b = make(None, tmp_path / "state", name="weddings")
    assert b.folder == tmp_path / "state" / "calendars" / "weddings" and b.folder.is_dir()


def test_configured_folder_must_exist(tmp_path):
    with pytest.raises(ConfigError) as exc:
        make(tmp_path / "nope", tmp_path / "state")
    assert str(tmp_path / "nope") in exc.value.sentence()


def test_create_never_overwrites_and_leaves_no_temp_files(tmp_path):
    folder = tmp_path / "cal"
    folder.mkdir()
    b = make(folder, tmp_path)
    uid = _uid()
    (folder / f"{uid}.ics").write_text(FOREIGN.format(uid=uid, title="Already here"))
    got = b.create(uid, _fields(title="Ours"))
    assert got.fields.title == "Already here"
    assert sorted(p.name for p in folder.iterdir()) == [f"{uid}.ics"]


def test_foreign_files_cannot_be_changed_even_by_mistake(tmp_path):
    folder = tmp_path / "cal"
    folder.mkdir()
    b = make(folder, tmp_path)
    (folder / "dentist.ics").write_text(FOREIGN.format(uid="dentist-1", title="Dentist"))
    item = b.get("dentist.ics")
    with pytest.raises(Exception) as exc:
        b.delete(item)
    assert not isinstance(exc.value, PreconditionFailed) and (folder / "dentist.ics").exists()


def test_unreadable_files_are_reported_as_present_not_deleted(tmp_path):
    folder = tmp_path / "cal"
    folder.mkdir()
    b = make(folder, tmp_path)
    (folder / "broken.ics").write_text("not a calendar")
    ch = b.changes(None)
    assert ch.unreadable == ["broken.ics"] and ch.items == []
    assert b.changes(ch.cursor).items == [] and b.changes(ch.cursor).unreadable == []


def test_own_writes_are_folded_into_the_cursor(tmp_path):
    folder = tmp_path / "cal"
    folder.mkdir()
    b = make(folder, tmp_path)
    cursor = b.changes(None).cursor
    made = b.create(_uid(), _fields())
    cursor = b.advance_cursor(cursor)
    assert b.changes(cursor).items == []
    (folder / made.remote_id).unlink()  # deleted by hand after our write: seen as deleted
    [tomb] = b.changes(cursor).items
    assert tomb.deleted and tomb.remote_id == made.remote_id and tomb.ours
