"""Thin commands: parse options, resolve config and credentials, format output, call the core.

Nothing below ``cli/`` prints or exits; the core raises WedsyncError subclasses and the group in
``app.py`` turns them into one sentence on stderr and the contract's exit code.
"""


def main(argv: list[str] | None = None) -> None:
    from wedsync_cli.cli.app import app

    app(args=argv, prog_name="wedsync")
