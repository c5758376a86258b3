"""The shared BackendContract run against CalDAVBackend on a real Radicale (a fresh calendar each test)."""

from __future__ import annotations

import uuid

import pytest

from tests.calendars.backend_contract import BackendContract
from tests.calendars.test_caldav_backend import make_backend
from tests.standins.radicale_server import vevent_ics

pytest_plugins = ["tests.standins.radicale_fixtures"]


class TestCalDAVBackendContract(BackendContract):
    @pytest.fixture
    def backend(self, fresh_radicale):
        backend = make_backend(fresh_radicale.make_calendar("alice", f"c{uuid.uuid4().hex[:10]}"))
        yield backend
        backend.close()

    @pytest.fixture
    def add_foreign(self, backend, fresh_radicale):
        def add(title: str = "Dentist") -> str:
            url = backend.ctx.calendar
            obj = fresh_radicale.calendar(url).add_event(vevent_ics(f"foreign-{uuid.uuid4().hex[:6]}", title))
            from urllib.parse import unquote, urlsplit

            return unquote(urlsplit(str(obj.url)).path)

        return add

    @pytest.fixture
    def edit_out_of_band(self, backend, fresh_radicale):
        def edit(remote, title: str) -> None:
            cal = fresh_radicale.calendar(backend.ctx.calendar)
            obj = cal.event_by_url(fresh_radicale.url.rstrip("/") + remote.remote_id)
            obj.load()
            obj.icalendar_component["SUMMARY"] = title
            obj.save(precondition="etag", increase_seqno=False)

        return edit
