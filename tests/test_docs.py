"""Docs that cannot drift: docs/cli.md is generated from --help, and the README names every command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_readme_covers_every_command():
    import typer.main

    from scripts.gen_cli_docs import walk
    from wedsync_cli.cli.app import app

    readme = (ROOT / "README.md").read_text()
    missing = []
    for path, _cmd in walk(typer.main.get_command(app), ["wedsync"]):
        if len(path) < 2:
            continue
        if f"wedsync {' '.join(path[1:])}" not in readme:
            missing.append(" ".join(path))
    assert not missing, f"README does not show: {missing}"
