"""Thin commands: parse options, resolve config and credentials, format output, call the core.

Nothing below ``cli/`` prints or exits; the core raises WedsyncError subclasses and the group in
``app.py`` turns them into one sentence on stderr and the contract's exit code.
"""


def main(argv: list[str] | None = None) -> None:
    import os

    # Pydantic reads every installed distribution's entry points looking for plugins the first
    # time a model is built (~5 ms a run); wedsync uses none, and typer switches them off for
    # its own adapters too. A user's explicit setting still wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from wedsync_cli.cli.app import app

    app(args=argv, prog_name="wedsync")
