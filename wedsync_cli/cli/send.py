"""`wedsync send`: queue an email from a template and deliver it; --flush drains the outbox
(emails and webhook deliveries: what cron runs); --list shows templates; --log lists deliveries."""

from __future__ import annotations

from typing import Annotated

import typer


def send(
    ctx: typer.Context,
    template: Annotated[str | None, typer.Argument(help="Template name (see --list).", show_default=False)] = None,
    wedding: Annotated[str | None, typer.Option("--wedding", help="Send to this wedding's couple, with its data.", show_default=False)] = None,
    client: Annotated[str | None, typer.Option("--client", help="Send to this client (their next wedding's data).", show_default=False)] = None,
    to: Annotated[list[str] | None, typer.Option("--to", metavar="EMAIL", help="Send to this address (overrides the client's); repeat for one message to several.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Render and show the message; queue and send nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the available templates.")] = False,
    flush: Annotated[bool, typer.Option("--flush", help="Deliver everything due: emails and webhook deliveries (cron).")] = False,
    log: Annotated[bool, typer.Option("--log", help="List email deliveries and their attempts (filters below).")] = False,
    status: Annotated[str | None, typer.Option("--status", help="--log: queued|sent|failed|dead|bounced.", show_default=False)] = None,
    recipient: Annotated[str | None, typer.Option("--recipient", help="--log: address contains this.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", help="--log: created since WHEN (ISO date/time or 90m, 2h, 3d).", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="--log: at most N rows (default 50); --flush: at most N emails.", show_default=False)] = None,
    suppressed: Annotated[bool, typer.Option("--suppressed", help="List addresses that bounced or complained (never emailed).")] = False,
    unsuppress: Annotated[str | None, typer.Option("--unsuppress", metavar="EMAIL", help="Take EMAIL off the suppression list so it can be emailed again.", show_default=False)] = None,
):
    """Queue an email from a template and deliver it.

    \b
    wedsync send booking-confirmation --wedding W123      queue + deliver now
    wedsync send test --to me@example.com --dry-run       render only
    wedsync send --flush                                  deliver everything due (cron)
    wedsync send --list                                   the templates
    wedsync send --log --status failed --since 2d         deliveries and their attempts
    wedsync send --suppressed                             addresses that bounced or complained
    wedsync send --unsuppress jane@example.com            email that address again
    """
    from wedsync_cli.errors import UsageError

    rt = ctx.obj
    modes = [m for m, on in (("--list", list_), ("--flush", flush), ("--log", log), ("--suppressed", suppressed),
                             ("--unsuppress", unsuppress is not None)) if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined", fix="use one of them per command")
    if modes and template:
        raise UsageError(f"{modes[0]} takes no template name", fix=f"run `wedsync send {modes[0]}` on its own")
    if list_:
        return _list(rt, as_json)
    if flush:
        from wedsync_cli.monitoring.export import monitored_job

        # What cron runs: start/finish pings, rollups, the textfile and the wedding-day switch.
        with monitored_job(rt, "send"):
            return _flush(rt, as_json, limit)
    if log:
        return _log(rt, as_json, status, recipient, since, limit or 50)
    if suppressed:
        return _suppressed(rt, as_json)
    if unsuppress is not None:
        return _unsuppress(rt, unsuppress, as_json)
    if not template:
        raise UsageError("Name a template to send", fix="run `wedsync send --list` to see them, e.g. "
                                                         "`wedsync send test --to you@example.com`")
    if wedding and client:
        raise UsageError("--wedding and --client cannot be combined", fix="pass one of them")
    if not (wedding or client or to):
        raise UsageError(f"Say who the {template} email is for", fix="add --wedding ID, --client ID or --to EMAIL")
    return _send_one(rt, template, wedding, client, to, dry_run, as_json)


def _list(rt, as_json: bool) -> None:
    from wedsync_cli.cli.output import console, emit_json, table
    from wedsync_cli.email.templates import available

    tpls = available(rt)
    if as_json:
        emit_json({"templates": [{"name": n, **v} for n, v in tpls.items()]})
        return
    console().print(table(None, ["template", "what it is", "source"],
                          [[n, v["description"], v["source"]] for n, v in tpls.items()]))


def _send_one(rt, template, wedding, client, to, dry_run, as_json) -> None:
    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.email.deliver import message_view, queue, send_now

    if dry_run:
        _, _, msg, key = queue(rt, template, wedding_id=wedding, client_id=client, to=to, dry_run=True)
        if as_json:
            emit_json({"dry_run": True, "messages": [{
                "id": None, "to": ", ".join(msg.to), "template": template, "status": "dry_run", "provider": None,
                "provider_message_id": None, "from": msg.from_, "subject": msg.subject, "text": msg.text,
                "html": msg.html, "key": key}]})
        else:
            import sys

            sys.stdout.write(f"From: {msg.from_}\nTo: {', '.join(msg.to)}\nSubject: {msg.subject}\n\n{msg.text}")
            if not msg.text.endswith("\n"):
                sys.stdout.write("\n")
            info("(dry run: nothing was queued or sent)", rt.quiet)
        return
    sent = send_now(rt, template, wedding_id=wedding, client_id=client, to=to)
    item = sent.item
    if sent.held == "lock_busy":
        info("Another `send` run is delivering right now; the message is queued and it (or the next "
             "`wedsync send --flush`) will deliver it.", rt.quiet)
    elif sent.held == "already_queued":
        info(f"This exact message was already queued (#{item.id}); it is not sent twice.", rt.quiet)
    view = message_view(item)
    if as_json:
        emit_json({"messages": [view]})
    else:
        where = f" via {item.provider}" if item.provider else ""
        info(f"#{item.id} {template} to {item.target}: {view['status']}{where}"
             + (f" ({item.last_error})" if item.last_error and view["status"] != "sent" else ""), rt.quiet)
    _exit_for(sent.result, item)


def _exit_for(result, item=None, webhook: dict | None = None) -> None:
    """Map the run's outcome to the contract's exit codes (raise; the app group prints it)."""
    from wedsync_cli.errors import AuthRefused, PartialFailure, ProviderUnavailable, RateLimited

    if result is not None and result.auth_error:
        raise AuthRefused(f"{result.auth_provider} refused the credential ({result.auth_error}); the email stays queued",
                          fix=f"store a valid key with `wedsync auth set {result.auth_provider}`, then run `wedsync send --flush`")
    failed = (result.failed + result.dead) if result is not None else 0
    wh_failed = (webhook or {}).get("failed", 0) + (webhook or {}).get("dead", 0)
    if item is not None and item.status in ("failed", "dead"):
        raise PartialFailure(f"Email #{item.id} was not delivered: {item.last_error}",
                             fix="check the address or the template; `wedsync send --log --status failed` shows every attempt")
    if failed or wh_failed:
        raise PartialFailure(
            f"{failed} email(s) and {wh_failed} webhook delivery(ies) failed for good in this run",
            fix="see `wedsync send --log --status failed` and `wedsync webhook-replay --status failed --dry-run`")
    if result is not None and result.unavailable:
        raise ProviderUnavailable(
            f"No email provider accepted {result.unavailable} message(s); they stay queued for the next run",
            fix="check the providers with `wedsync auth status --check` and `wedsync status`, then `wedsync send --flush`")
    if result is not None and result.rate_limited and (item is None or item.status != "sent"):
        raise RateLimited(f"The email provider is rate-limiting; {result.rate_limited} message(s) wait for the next run",
                          fix="the next `wedsync send --flush` continues", retry_after=result.retry_after)


def _flush(rt, as_json: bool, limit: int | None) -> None:
    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.delivery.flush import flush_outbox
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.deliver import message_view

    done = flush_outbox(rt, limit=limit)
    result, webhook, webhook_error = done.email, done.webhooks, done.webhook_error
    outbox = Outbox(rt.store, rt.clock)
    items = [outbox.get(i) for i in dict.fromkeys(result.ids)]
    if as_json:
        emit_json({"messages": [message_view(i) for i in items if i is not None], "email": result.as_dict(),
                   "webhooks": webhook})
    else:
        info(f"Email: {result.sent} sent, {result.retry + result.rate_limited + result.unavailable} to retry, "
             f"{result.failed} failed, {result.dead} dead ({result.requests} provider requests)", rt.quiet)
        if webhook:
            info("Webhooks: " + ", ".join(f"{k} {v}" for k, v in webhook.items()
                                         if isinstance(v, int) and not isinstance(v, bool)), rt.quiet)
        for e in result.errors:
            info(f"  {e}", rt.quiet)
        for name, why in (webhook.get("skipped") or {}).items():
            info(f"  webhook {name}: skipped: {why}", rt.quiet)
    if webhook_error is not None and not (result.auth_error or result.failed or result.dead):
        raise webhook_error
    missing = webhook.get("missing_secret") or []
    if missing and not (result.auth_error or result.failed or result.dead or result.unavailable):
        # Cron runs this: an endpoint without its signing secret must not look like success forever.
        from wedsync_cli.errors import MissingCredential

        raise MissingCredential(f"No signing secret is stored for webhook endpoint(s) {', '.join(missing)}; "
                                "their deliveries wait", fix=f"run `wedsync auth set webhook:{missing[0]} --from-file -` "
                                                             'with {"secret": "whsec_..."}')
    _exit_for(result, None, webhook)


def _log(rt, as_json: bool, status: str | None, recipient: str | None, since: str | None, limit: int) -> None:
    from wedsync_cli.cli.output import console, emit_json, table
    from wedsync_cli.email.log import deliveries

    rows = deliveries(rt, status=status, recipient=recipient, since=since, limit=limit)
    if as_json:
        emit_json({"deliveries": rows})
        return
    out = console()
    if not rows:
        out.print("No email deliveries match.")
        return
    out.print(table(None, ["id", "created", "to", "template", "status", "provider", "attempts", "last error"], [
        [r["id"], r["created_at"], r["to"], r["template"], r["status"], r["provider"] or "",
         len(r["attempts"]), (r["error"] or "")[:80]] for r in rows]))
    for r in rows:
        for a in r["attempts"]:
            code = a["status_code"] if a["status_code"] is not None else "-"
            out.print(f"  #{r['id']} try {a['n']} {a['at']} {a['provider'] or '-'} {code} {a['outcome']}"
                      + (f" {a['latency_ms']:.0f} ms" if a["latency_ms"] is not None else "")
                      + (f" — {a['error'][:100]}" if a["error"] else ""))


def _suppressed(rt, as_json: bool) -> None:
    from wedsync_cli.cli.output import console, emit_json, table
    from wedsync_cli.email import suppressions

    rows = suppressions.listing(rt.store)
    if as_json:
        emit_json({"suppressions": rows})
        return
    out = console()
    if not rows:
        out.print("No suppressed addresses.")
        return
    out.print(table(None, ["address", "reason", "reported by", "at", "detail"],
                    [[r["address"], r["reason"], r["source"], r["at"], (r["detail"] or "")[:80]] for r in rows]))
    out.print("Clear one with `wedsync send --unsuppress EMAIL` once the address is fixed.")


def _unsuppress(rt, address: str, as_json: bool) -> None:
    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.email import suppressions
    from wedsync_cli.errors import UsageError

    row = suppressions.clear(rt.store, address)
    if row is None:
        raise UsageError(f"{address} is not on the suppression list",
                         fix="see the listed addresses with `wedsync send --suppressed`")
    if as_json:
        emit_json({"unsuppressed": row["address"], "was": row})
    else:
        info(f"{row['address']} is off the suppression list (it had a {row['reason']} from {row['source']}); "
             "send to it again with `wedsync send TEMPLATE ...`.", rt.quiet)
