"""pytest fixtures for the Radicale stand-in. Test modules opt in with
``pytest_plugins = ["tests.standins.radicale_fixtures"]``."""

from __future__ import annotations

import pytest

from tests.standins.radicale_server import RadicaleServer


@pytest.fixture(scope="module")
def radicale():
    """One no-auth Radicale per test module; tests make their own calendars on it."""
    srv = RadicaleServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def radicale_auth():
    """Radicale with htpasswd plain auth: user ``alice``, password ``right-password``."""
    srv = RadicaleServer(users={"alice": "right-password"}).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_radicale(radicale):
    """The module's Radicale with faults, holds and request log reset."""
    radicale.faults.queue.clear()
    radicale.faults.rate = 0.0
    radicale.faults.path_filter = radicale.faults.method_filter = None
    radicale.faults.retry_after = "1"
    radicale.hold = None
    radicale.held.clear()
    radicale.release.clear()
    radicale.reset_requests()
    return radicale
