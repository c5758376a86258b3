"""The root command, global options, and the one place errors become exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from wedsync_cli import __version__
from wedsync_cli.errors import EX_PARTIAL, WedsyncError

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 some items failed; 2 usage; 65 bad input data; 69 provider unavailable; "
    "75 try again later (lock held, rate limited); 77 credential refused, sign in again; "
    "78 configuration error (config, missing credential, no keyring)."
)


def _report(ctx: click.Context, exc: BaseException) -> int:
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


class WedsyncGroup(TyperGroup):
    """Catches domain errors from any subcommand (CliRunner and the console script alike)."""

    def list_commands(self, ctx):  # keep the order commands were added in, for --help
        return list(self.commands)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, *_TYPER_FLOW):
            raise
        except KeyboardInterrupt:
            sys.stderr.write("Interrupted; nothing half-written was kept. Rerun to continue.\n")
            ctx.exit(130)
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


# -- command registration: each module holds its own commands ------------------------------------
from wedsync_cli.cli import (  # noqa: E402
    auth,
    conflicts,
    health,
    importing,
    init_cmd,
    schedule,
    send,
    status,
    sync,
    webhooks,
    wedding_day,
)

app.command("init")(init_cmd.init)
app.add_typer(auth.app, name="auth")
app.add_typer(importing.app, name="import")
app.command("sync")(sync.sync)
app.add_typer(conflicts.app, name="conflicts")
app.command("send")(send.send)
app.command("webhook-replay")(webhooks.webhook_replay)
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(wedding_day.app, name="wedding-day")
app.command("status")(status.status)
app.add_typer(health.app, name="health")
app.add_typer(schedule.app, name="schedule")
