"""Output rules: ``--json`` is one document on stdout via the json module; tables and progress go
to the terminal through rich; messages go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(doc: Any) -> None:
    from wedsync_cli.secrets import redact_obj

    sys.stdout.write(json.dumps(redact_obj(doc), indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def info(message: str, quiet: bool = False) -> None:
    """A progress/info message on stderr (silenced by --quiet)."""
    if not quiet:
        from wedsync_cli.secrets import redact

        sys.stderr.write(redact(message) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]):
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        if c in ("id", "ID"):  # ids are for copying into the next command: never cut them
            width = max([len(str(r[i])) for r in rows if i < len(r) and r[i] is not None] or [2])
            t.add_column(c, no_wrap=True, min_width=width)
        else:
            t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    return t
