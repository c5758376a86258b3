"""`wedsync auth login|set|status|logout`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

app = typer.Typer(help="Sign in to providers and manage the credentials kept in the OS keyring.",
                  no_args_is_help=True)


@app.command("login")
def login(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="google, outlook, honeybook, tave, resend, sendgrid, caldav, smtp, webhook:<name> ...")],
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the sign-in URL instead of opening a browser (SSH).")] = False,
    client_secret: Annotated[str | None, typer.Option("--client-secret", help="Google: your OAuth client_secret.json.")] = None,
    username: Annotated[str | None, typer.Option("--username", help="caldav/smtp: the user name (else prompted).")] = None,
):
    """Interactive sign-in: Google (browser), Outlook (device code), others (hidden prompt).

    Example: wedsync auth login tave
    """
    from wedsync_cli import registry
    from wedsync_cli.cli.output import info
    from wedsync_cli.errors import ConfigError, UsageError
    from wedsync_cli.secrets import shape_for

    rt = ctx.obj
    required, _ = shape_for(provider)
    if provider in registry.REGISTRY["login"]:
        flow = registry.load("login", provider)
        flow(rt, no_browser=no_browser, client_secret=client_secret)
        info(f"Signed in to {provider}; the token is in the keyring ({rt.credentials.backend_name()}).", rt.quiet)
        return
    if not sys.stdin.isatty():
        raise UsageError(f"`auth login {provider}` needs a terminal to prompt on",
                         fix=f"use `wedsync auth set {provider} --from-file FILE` in scripts")
    rt.credentials.backend_name()  # fail early (exit 78) before asking anything when there is no keyring
    value: dict[str, str] = {}
    for fld in required:
        if fld == "username" and username:
            value[fld] = username
            continue
        secret = fld in ("password", "api_key", "secret", "auth_token", "webhook_url")
        value[fld] = typer.prompt(f"{provider} {fld.replace('_', ' ')}", hide_input=secret).strip()
        if not value[fld]:
            raise ConfigError(f"No {fld} was entered; nothing was stored", fix=f"run `wedsync auth login {provider}` again")
    rt.credentials.set(provider, value)
    info(f"Stored the {provider} credential in the keyring ({rt.credentials.backend_name()}).", rt.quiet)


@app.command("set")
def set_(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="Provider name (see `auth login --help`).")],
    from_file: Annotated[str | None, typer.Option("--from-file", help="JSON file with the credential, or - for stdin.")] = None,
):
    """Store a credential non-interactively from a JSON object.

    Example: echo '{"api_key": "re_..."}' | wedsync auth set resend --from-file -
    """
    from pathlib import Path

    from wedsync_cli.cli.output import info
    from wedsync_cli.errors import ConfigError, UsageError
    from wedsync_cli.secrets import shape_for

    rt = ctx.obj
    shape_for(provider)  # unknown provider: refused before reading anything
    if from_file in (None, "-"):
        if from_file is None and sys.stdin.isatty():
            raise UsageError("No credential given", fix=f"pass --from-file FILE, or pipe JSON into `wedsync auth set {provider} --from-file -`")
        text = sys.stdin.read()
        where = "standard input"
    else:
        try:
            text = Path(from_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"Credential file {from_file} does not exist", fix="check the path") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Credential file {from_file} cannot be read ({exc})", fix="check the file") from None
        where = from_file
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"The credential from {where} is not valid JSON; nothing was stored",
                          fix=f"pass a JSON object, e.g. {_example(provider)}") from None
    rt.credentials.set(provider, value)
    info(f"Stored the {provider} credential in the keyring ({rt.credentials.backend_name()}).", rt.quiet)


def _example(provider: str) -> str:
    from wedsync_cli.secrets import shape_for

    required, _ = shape_for(provider)
    return json.dumps({f: "..." for f in required})


@app.command("status")
def status(
    ctx: typer.Context,
    check: Annotated[bool, typer.Option("--check", help="Make one cheap authenticated call per stored credential.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Each provider: credential present, where stored, expiry (and with --check, whether it works)."""
    from wedsync_cli.auth_flows.status import credential_rows
    from wedsync_cli.cli.output import console, emit_json, table

    rt = ctx.obj
    backend, rows, failed = credential_rows(rt, check=check)
    if as_json:
        emit_json({"backend": backend, "providers": rows})
    else:
        out = console()
        out.print(f"Keyring backend: {backend}  (service {rt.paths.keyring_service})")
        if not rows:
            out.print("No credentials stored. Add one with `wedsync auth login PROVIDER` or `wedsync auth set PROVIDER`.")
        else:
            out.print(table(None, ["provider", "stored", "expires", "check"], [
                [r["provider"], "yes" if r["present"] else "MISSING",
                 (r["expires_at"] or "") + (" (expired, refreshes on use)" if r["expired"] else ""),
                 "" if r["check"] is None else ("ok" if r["check"]["ok"] else ("-" if r["check"]["ok"] is None else "FAILED: " + r["check"]["detail"]))]
                for r in rows]))
    if failed:
        from wedsync_cli.errors import PartialFailure

        bad = [r["provider"] for r in rows if r["check"] is not None and r["check"]["ok"] is False]
        raise PartialFailure(f"The check failed for {len(bad) or 1} credential(s)"
                             + (f": {', '.join(bad)}" if bad else ""),
                             fix="see the check column (or --json); sign in again with `wedsync auth login PROVIDER` "
                                 "if a key was refused")


@app.command("logout")
def logout(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="Provider whose credential to delete.")],
    force: Annotated[bool, typer.Option("--force", help="Delete it even while the wedding-day protocol is active.")] = False,
):
    """Delete the stored credential. Example: wedsync auth logout google"""
    from wedsync_cli.auth_flows.status import calendar_providers
    from wedsync_cli.cli.output import info
    from wedsync_cli.secrets import shape_for

    rt = ctx.obj
    shape_for(provider)
    if provider in calendar_providers(rt):
        from wedsync_cli.wedding_day.decisions import require_force

        # Without it a calendar stops syncing: not on a wedding day unless forced.
        require_force(rt, f"delete the {provider} credential that a calendar uses", force)
    if rt.credentials.delete(provider):
        info(f"Deleted the {provider} credential.", rt.quiet)
    else:
        info(f"No {provider} credential was stored; nothing to delete.", rt.quiet)
