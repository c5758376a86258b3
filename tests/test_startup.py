"""`wedsync --help` stays cheap: no heavy library is imported just to show help (lazy imports)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("httpx", "msal", "google_auth_oauthlib", "caldav", "sqlite_utils", "keyring", "jinja2", "icalendar")


def imported_modules(*args: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "wedsync_cli", *args], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    mods = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    assert "wedsync_cli.cli.app" in mods  # the measurement itself worked
    return mods


def test_help_imports_no_heavy_library():
    mods = imported_modules("--help")
    loaded = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert loaded == []


def test_import_help_imports_no_heavy_library():
    mods = imported_modules("import", "csv", "--help")
    assert sorted(m for m in mods if m.split(".")[0] in HEAVY + ("phonenumbers", "email_validator")) == []


def test_cron_commands_import_only_what_they_use(tmp_path, monkeypatch):
    """What cron runs every few minutes loads neither sqlite-utils (the state opens on plain
    sqlite3 once migrated), nor the real click (typer vendors its own), nor rich, nor other
    commands; a sync hashes events without building the domain models."""
    monkeypatch.setenv("WEDSYNC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WEDSYNC_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "cal").mkdir()
    (tmp_path / "config.toml").write_text(f'timezone = "Europe/London"\n[calendars.studio]\nprovider = "local"\n'
                                          f'calendar = "{tmp_path / "cal"}"\n')
    (tmp_path / "clients.csv").write_text("Couple,Email,Wedding Date,Venue\n"
                                          "Jane & John Smith,jane@example.com,2030-06-01,Old Mill\n"
                                          "Ana & Bo Lee,ana@example.com,2030-07-06,The Barn\n")
    imported_modules("import", "csv", str(tmp_path / "clients.csv"))  # creates and migrates the state
    imported_modules("sync")  # pushes both weddings' events; the sync below has nothing to do
    assert len(list((tmp_path / "cal").glob("*.ics"))) == 2
    for args, ran in ((("status", "--json"), "wedsync_cli.monitoring.status"),
                      (("--quiet", "send", "--flush"), "wedsync_cli.delivery.flush"),
                      (("--quiet", "health", "check"), "wedsync_cli.monitoring.checks"),
                      (("--quiet", "sync"), "wedsync_cli.calendars.engine"),
                      (("wedding-day", "status", "--json"), "wedsync_cli.monitoring.status")):
        mods = imported_modules(*args)
        assert ran in mods  # the command really ran
        unwanted = sorted(m for m in mods if m.split(".")[0] in ("sqlite_utils", "click", "rich", "jinja2", "concurrent", "logging")
                          or m in ("wedsync_cli.cli.auth", "wedsync_cli.cli.importing", "wedsync_cli.domain.models",
                                   "wedsync_cli.sources.tave")
                          or (m in ("wedsync_cli.cli.sync", "wedsync_cli.calendars.engine") and args[1] != "sync"))
        assert unwanted == [], args
