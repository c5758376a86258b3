"""The root command, global options, and the one place errors become exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

from wedsync_cli import __version__
from wedsync_cli.errors import EX_PARTIAL, WedsyncError

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 some items failed; 2 usage; 65 bad input data; 69 provider unavailable; "
    "75 try again later (lock held, rate limited); 77 credential refused, sign in again; "
    "78 configuration error (config, missing credential, no keyring)."
)


def _report(ctx: typer.Context, exc: BaseException) -> int:
    from wedsync_cli.secrets import redact

    obj = ctx.obj
    verbose = getattr(obj, "verbose", 0) or ("-v" in sys.argv or "--verbose" in sys.argv)
    if isinstance(exc, WedsyncError):
        code, sentence = exc.exit_code, exc.sentence()
    else:
        code = EX_PARTIAL
        sentence = (f"wedsync stopped on an unexpected error ({type(exc).__name__}: {exc}). "
                    "Rerun with -v for details and report it.")
    if verbose:
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
    sys.stderr.write(redact(sentence) + "\n")
    return code


def _typer_flow_exceptions() -> tuple[type[BaseException], ...]:
    """typer >= 0.20 vendors click: its Exit/Abort/usage errors are not click's classes."""
    out: list[type[BaseException]] = []
    try:
        from typer import exceptions as tex

        out += [tex.Exit, tex.Abort]
        from typer._click import exceptions as tcx

        out.append(tcx.ClickException)
    except (ImportError, AttributeError):
        pass
    return tuple(out)


_TYPER_FLOW = _typer_flow_exceptions()


def _flow_exceptions() -> tuple[type[BaseException], ...]:
    """Typer's own, plus the real click's when something loaded it (typer no longer needs it,
    and importing it costs ~10 ms on every run)."""
    click = sys.modules.get("click")
    if click is None:
        return _TYPER_FLOW
    return (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, *_TYPER_FLOW)


# Commands in --help order: name -> (module, attribute, kind). A command's module is imported and
# its click command built only when that command runs (or --help lists them all): building all
# 28 commands' parameters from their annotations cost ~25 ms on every cron run.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("wedsync_cli.cli.init_cmd", "init", "command"),
    "sync": ("wedsync_cli.cli.sync", "sync", "command"),
    "send": ("wedsync_cli.cli.send", "send", "command"),
    "webhook-replay": ("wedsync_cli.cli.webhooks", "webhook_replay", "command"),
    "status": ("wedsync_cli.cli.status", "status", "command"),
    "auth": ("wedsync_cli.cli.auth", "app", "group"),
    "import": ("wedsync_cli.cli.importing", "app", "group"),
    "conflicts": ("wedsync_cli.cli.conflicts", "app", "group"),
    "webhooks": ("wedsync_cli.cli.webhooks", "app", "group"),
    "wedding-day": ("wedsync_cli.cli.wedding_day", "app", "group"),
    "health": ("wedsync_cli.cli.health", "app", "group"),
    "schedule": ("wedsync_cli.cli.schedule", "app", "group"),
}


def _build_command(name: str):
    """The click command typer would have built for ``app.command(name)``/``app.add_typer``."""
    from typer.main import get_command_from_info, get_group_from_info
    from typer.models import CommandInfo, TyperInfo

    module, attr, kind = LAZY_COMMANDS[name]
    # __import__ (not importlib.import_module) so `python -X importtime` still reports it
    target = getattr(__import__(module, fromlist=[attr]), attr)
    settings = {"pretty_exceptions_short": app.pretty_exceptions_short, "rich_markup_mode": app.rich_markup_mode}
    if kind == "command":
        return get_command_from_info(CommandInfo(name=name, callback=target), **settings)
    return get_group_from_info(TyperInfo(target, name=name), suggest_commands=app.suggest_commands, **settings)


class WedsyncGroup(TyperGroup):
    """Catches domain errors from any subcommand (CliRunner and the console script alike), and
    builds only the subcommand that runs."""

    def list_commands(self, ctx):  # keep the order commands were added in, for --help
        return [*LAZY_COMMANDS, *(n for n in self.commands if n not in LAZY_COMMANDS)]

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.commands[cmd_name] = _build_command(cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in LAZY_COMMANDS:
            # an unknown name: build them all so typer's "Did you mean ...?" sees every command
            for name in LAZY_COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except _flow_exceptions():
            raise
        except KeyboardInterrupt:
            sys.stderr.write("Interrupted; nothing half-written was kept. Rerun to continue.\n")
            ctx.exit(130)
        except BrokenPipeError:
            # `wedsync ... | head` closed our stdout: stop quietly like any Unix filter (128 + SIGPIPE).
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except WedsyncError as exc:
            ctx.exit(_report(ctx, exc))
        except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback unless -v
            ctx.exit(_report(ctx, exc))
        finally:
            obj = ctx.obj
            if obj is not None and hasattr(obj, "close"):
                obj.close()


app = typer.Typer(
    cls=WedsyncGroup,
    name="wedsync",
    help="Keep a wedding vendor's clients, calendars, emails and webhooks in step, safely.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool):
    if value:
        typer.echo(f"wedsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option("--config", help="Config file (default: $XDG_CONFIG_HOME/wedsync/config.toml; env WEDSYNC_CONFIG).", show_default=False)] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Profile (env WEDSYNC_PROFILE; default 'default').", show_default=False)] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail; shows tracebacks.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr (for cron).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
):
    from wedsync_cli.cli.context import AppContext
    from wedsync_cli.paths import Paths

    if ctx.obj is None:
        ctx.obj = AppContext(paths=Paths.resolve(config=config, profile=profile), verbose=verbose, quiet=quiet)
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")


# Command registration: each module holds its own commands; LAZY_COMMANDS above names them.
