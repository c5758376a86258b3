"""Generate docs/cli.md from every command's --help (like sqlite-utils/llm with cog).

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is stale (the test suite runs this)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "cli.md"


def walk(cmd, path):
    yield path, cmd
    if hasattr(cmd, "list_commands"):  # a group (typer may vendor its own click)
        ctx = cmd.context_class(cmd, info_name=path[-1])
        for name in cmd.list_commands(ctx):
            yield from walk(cmd.get_command(ctx, name), [*path, name])


def render() -> str:
    os.environ["COLUMNS"] = "100"
    import typer.main
    from typer.testing import CliRunner

    from wedsync_cli.cli.app import app

    root = typer.main.get_command(app)
    runner = CliRunner()
    parts = ["# wedsync command reference\n",
             "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.\n"]
    for path, _cmd in walk(root, ["wedsync"]):
        res = runner.invoke(app, [*path[1:], "--help"], env={"COLUMNS": "100"}, terminal_width=100)
        parts.append(f"\n## `{' '.join(path)}`\n\n```\n{res.output.rstrip()}\n```\n")
    return "".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/cli.md is out of date: run `python scripts/gen_cli_docs.py`", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
