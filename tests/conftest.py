from __future__ import annotations

import os
from pathlib import Path

import keyring
import pytest
from typer.testing import CliRunner

from tests.support.cli import Result, run_subprocess
from tests.support.keyrings import MemoryKeyring

ISOLATED_VARS = ("WEDSYNC_CONFIG", "WEDSYNC_HOME", "WEDSYNC_PROFILE", "WEDSYNC_NOW", "XDG_CONFIG_HOME",
                 "XDG_DATA_HOME", "PYTHON_KEYRING_BACKEND")


@pytest.fixture(autouse=True)
def memory_keyring():
    """Every test gets a fresh in-memory keyring (no D-Bus, no keyrings.alt)."""
    kr = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(previous)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An isolated WEDSYNC_HOME and config location for the in-process CLI."""
    for var in ISOLATED_VARS:
        monkeypatch.delenv(var, raising=False)
    h = tmp_path / "home"
    monkeypatch.setenv("WEDSYNC_HOME", str(h))
    monkeypatch.setenv("WEDSYNC_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("COLUMNS", "200")
    return h


@pytest.fixture
def config_file(tmp_path, home) -> Path:
    return tmp_path / "config.toml"


@pytest.fixture
def cli(home):
    """cli("import", "csv", path) -> Result, in-process with separate stdout/stderr."""
    from wedsync_cli.cli.app import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        r = runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)
        return Result(r.exit_code, r.stdout, r.stderr)

    return invoke


@pytest.fixture
def cli_subprocess(tmp_path, home):
    """Run `python -m wedsync_cli` in a subprocess with a file-backed test keyring."""
    env = {
        "WEDSYNC_HOME": os.environ["WEDSYNC_HOME"],
        "WEDSYNC_CONFIG": os.environ["WEDSYNC_CONFIG"],
        "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],
        "PYTHON_KEYRING_BACKEND": "tests.support.keyrings.FileKeyring",
        "WEDSYNC_TEST_KEYRING": str(tmp_path / "test-keyring.json"),
        "COLUMNS": "200",
    }

    def invoke(*args: str, input: str | None = None, extra_env: dict[str, str] | None = None,
               timeout: float = 120) -> Result:
        return run_subprocess(list(args), {**env, **(extra_env or {})}, input=input, timeout=timeout)

    invoke.env = env
    return invoke


@pytest.fixture
def runtime(home, tmp_path):
    """A core Runtime with a FixedClock, for testing the library directly."""
    from datetime import UTC, datetime

    from wedsync_cli.clock import FixedClock
    from wedsync_cli.paths import Paths
    from wedsync_cli.runtime import Runtime

    rt = Runtime(paths=Paths.resolve())
    rt._clock = FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    yield rt
    rt.close()
