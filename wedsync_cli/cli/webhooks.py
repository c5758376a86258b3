"""`wedsync webhook-replay` and `wedsync webhooks deliveries|show|list|enable|disable|test|flush|serve`."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

app = typer.Typer(help="Outbound webhook endpoints, deliveries, and the inbound receiver.", no_args_is_help=True)

CONFIRM_ABOVE = 20  # replays bigger than this ask first on a terminal (never when not a TTY)


class ReplayStatus(enum.StrEnum):
    failed = "failed"
    dead = "dead"
    delivered = "delivered"


def _when(rt, value: str | None, option: str):
    if value is None:
        return None
    from wedsync_cli.clock import parse_when
    from wedsync_cli.errors import UsageError

    try:
        return parse_when(value, rt.clock.now())
    except ValueError as exc:
        raise UsageError(f"{option} {exc}", fix=f"pass {option} as 2026-06-01, 2026-06-01T09:00 or a duration such as 2h or 3d") from None


def _filters(rt, ids, endpoint, event, status, since, until, limit):
    from wedsync_cli.errors import UsageError
    from wedsync_cli.webhooks.replay import Filters

    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1", fix="pass --limit N with N >= 1")
    f = Filters(ids=list(ids) if ids else None, endpoint=endpoint, event=event,
                status=status.value if status else None, since=_when(rt, since, "--since"),
                until=_when(rt, until, "--until"), limit=limit)
    if f.since and f.until and f.since > f.until:
        raise UsageError("--since is after --until", fix="swap the two values")
    return f


def webhook_replay(
    ctx: typer.Context,
    id_: Annotated[list[str] | None, typer.Option("--id", help="A delivery id or webhook-id (msg_...); repeatable. With --inbound: a stored event id.", show_default=False)] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Only this endpoint ([webhooks.NAME]); with --inbound: the source.", show_default=False)] = None,
    event: Annotated[str | None, typer.Option("--event", help="Only this event type; globs work (client.*).", show_default=False)] = None,
    status: Annotated[ReplayStatus | None, typer.Option("--status", help="failed (incl. waiting for a retry) | dead | delivered (force a resend). Default: failed and dead.", show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="WHEN", help="Created at or after WHEN (ISO date/date-time, or 90m, 2h, 3d back).", show_default=False)] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="WHEN", help="Created at or before WHEN.", show_default=False)] = None,
    inbound: Annotated[bool, typer.Option("--inbound", help="Re-process stored inbound events instead.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", metavar="N", help="At most N deliveries (oldest first).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count and list what would be replayed.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=f"Do not ask before replaying more than {CONFIRM_ABOVE} on a terminal.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Re-deliver matching outbound webhook deliveries (same webhook-id, fresh signature).

    Examples: wedsync webhook-replay --endpoint zapier --since 1d --dry-run;
    wedsync webhook-replay --id msg_abc --status delivered; wedsync webhook-replay --inbound --status failed
    """
    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.errors import PartialFailure, UsageError
    from wedsync_cli.webhooks import replay as rp

    rt = ctx.obj
    f = _filters(rt, id_, endpoint, event, status, since, until, limit)
    if not inbound and endpoint and endpoint not in rt.config.webhooks and not rp.select_deliveries(
            rt.store, rp.Filters(endpoint=endpoint, limit=1)):
        raise UsageError(f"No webhook endpoint named {endpoint!r}",
                         fix="use a name from `wedsync webhooks list` (or --inbound for a source)")
    run = rp.replay_inbound if inbound else rp.replay
    preview = run(rt, f, dry_run=True)
    matched = preview["matched"]
    if id_ and not inbound and not matched:
        # A mistyped id must not look like "nothing needed replaying".
        found = rp.select_deliveries(rt.store, rp.Filters(ids=list(id_)), statuses=())
        if not found:
            raise UsageError(f"No outbound webhook delivery has the id {', '.join(id_)}",
                             fix="find ids (number or msg_...) with `wedsync webhooks deliveries`")
        states = ", ".join(sorted({d["status"] for d in found}))
        raise UsageError(f"Delivery {', '.join(id_)} is {states}, which "
                         + (f"--status {status.value} leaves out" if status else "is not replayable (still queued)"),
                         fix="drop --status to replay it whatever its state" if status
                         else "see it with `wedsync webhooks show ID`; `wedsync send --flush` delivers queued ones")
    if not dry_run and matched > CONFIRM_ABOVE and not yes and rt.interactive and not as_json:
        what = "stored inbound events" if inbound else "deliveries"
        if not typer.confirm(f"Replay {matched} {what}?", default=False, err=True):
            info("Nothing was replayed.", rt.quiet)
            raise typer.Exit(0)
    result = preview if dry_run else run(rt, f, dry_run=False)
    doc = {k: result[k] for k in ("matched", "replayed", "succeeded", "failed", "dry_run")}
    if as_json:
        emit_json({**doc, "pending": result["pending"], "ids": result["ids"]})
    else:
        noun = "inbound events" if inbound else "deliveries"
        if dry_run:
            info(f"{matched} {noun} match; nothing was replayed (--dry-run). Ids: "
                 + (", ".join(map(str, result["ids"][:50])) or "none")
                 + (" ..." if matched > 50 else ""), rt.quiet)
        else:
            info(f"Matched {matched} {noun}; replayed {result['replayed']}: {result['succeeded']} succeeded, "
                 f"{result['failed']} failed" + (f", {result['pending']} still waiting" if result["pending"] else "")
                 + ".", rt.quiet)
            for name, why in (result.get("skipped") or {}).items():
                info(f"  {name}: not delivered: {why}", rt.quiet)
    if not dry_run and result["failed"]:
        fix = ("see `wedsync webhook-replay --inbound --dry-run --status failed`" if inbound
               else "see `wedsync webhooks deliveries --status failed` and `wedsync webhooks show ID`")
        raise PartialFailure(f"{result['failed']} of {result['replayed']} replayed {'events' if inbound else 'deliveries'} failed again",
                             fix=fix)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Only this endpoint.", show_default=False)] = None,
    event: Annotated[str | None, typer.Option("--event", help="Event type or glob.", show_default=False)] = None,
    status: Annotated[str | None, typer.Option("--status", help="pending | failed | dead | delivered (or a raw outbox status).", show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="WHEN", show_default=False)] = None,
    until: Annotated[str | None, typer.Option("--until", metavar="WHEN", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most N rows.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """List outbound deliveries (newest last) with their status, attempts and last error."""
    from wedsync_cli.cli.output import console, emit_json, table
    from wedsync_cli.webhooks import dispatch
    from wedsync_cli.webhooks import replay as rp

    rt = ctx.obj
    dispatch.fan_out(rt)
    f = _filters(rt, None, endpoint, event, None, since, until, None)
    statuses = None
    if status:
        statuses = {"pending": ("pending", "leased"), **rp.STATUS_FILTER}.get(status, (status,))
    rows = rp.select_deliveries(rt.store, f, statuses=statuses)
    rows = rows[-limit:] if limit else rows
    if as_json:
        emit_json({"deliveries": rows})
        return
    console().print(table(None, ["id", "endpoint", "event", "status", "tries", "created", "webhook-id", "last error"], [
        [r["id"], r["endpoint"], r["event"], r["status"], r["attempts"], r["created_at"], r["webhook_id"],
         (r["last_error"] or "")[:60]] for r in rows]))


@app.command("show")
def show(
    ctx: typer.Context,
    delivery: Annotated[str, typer.Argument(help="Delivery id or webhook-id (msg_...).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """One delivery and every attempt: request headers and body, response status and body, latency, error."""
    import json

    from wedsync_cli.cli.output import console, emit_json
    from wedsync_cli.errors import UsageError
    from wedsync_cli.webhooks import replay as rp

    rt = ctx.obj
    d = rp.delivery_detail(rt, delivery)
    if d is None:
        raise UsageError(f"No webhook delivery {delivery!r}", fix="list them with `wedsync webhooks deliveries`")
    if as_json:
        emit_json(d)
        return
    out = console()
    out.print(f"Delivery {d['id']} to {d['endpoint']}: {d['event']} ({d['webhook_id']})", markup=False)
    out.print(f"status {d['status']}, {d['tries']}/{d['max_attempts']} attempts, created {d['created_at']}"
              + (f", next try {d['not_before']}" if d["status"] == "retry" else ""), markup=False)
    for i, a in enumerate(d["attempts"], 1):
        out.print(f"\n#{i} {a['at']} {a['outcome']} HTTP {a['status_code'] or '-'} "
                  f"{a['latency_ms'] if a['latency_ms'] is not None else '-'} ms", markup=False)
        if a.get("error"):
            out.print(f"  error: {a['error']}", markup=False)
        req, resp = a.get("request"), a.get("response")
        if isinstance(req, dict):
            for k, v in (req.get("headers") or {}).items():
                out.print(f"  > {k}: {v}", markup=False)
            out.print(f"  > {req.get('body', '')}", markup=False)
        if isinstance(resp, dict):
            out.print(f"  < HTTP {resp.get('status')}", markup=False)
            out.print(f"  < {resp.get('body', '')}", markup=False)
        elif resp:
            out.print(f"  < {json.dumps(resp)[:500]}", markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Configured endpoints: URL, events, enabled/disabled (and why), delivery counts."""
    from wedsync_cli.cli.output import console, emit_json, table
    from wedsync_cli.webhooks import dispatch

    rt = ctx.obj
    rows = dispatch.endpoint_overview(rt)
    if as_json:
        emit_json({"endpoints": rows})
        return
    console().print(table(None, ["name", "url", "events", "state", "delivered", "failed", "dead"], [
        [r["name"], r["url"], ", ".join(r["events"]), "enabled" if r["enabled"] else f"disabled: {r['disabled_reason']}",
         r["counts"].get("delivered", 0), r["counts"].get("failed", 0) + r["counts"].get("retry", 0),
         r["counts"].get("dead", 0)] for r in rows]))


def _require_endpoint(rt, name: str) -> None:
    from wedsync_cli.errors import ConfigError

    if name not in rt.config.webhooks:
        raise ConfigError(f"No webhook endpoint named {name!r} is configured",
                          fix=f"add a [webhooks.{name}] table with url and events to {rt.paths.config_file}")


@app.command("enable")
def enable(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Endpoint name.")]):
    """Turn a disabled endpoint back on (after a 410 or days of failures); waiting deliveries resume."""
    from wedsync_cli.cli.output import info
    from wedsync_cli.webhooks import state

    rt = ctx.obj
    _require_endpoint(rt, name)
    state.set_disabled(rt.store, name, None)
    info(f"Endpoint {name} is enabled; `wedsync send --flush` delivers what is waiting.", rt.quiet)


@app.command("disable")
def disable(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown in `webhooks list`).")] = "disabled by hand",
    force: Annotated[bool, typer.Option("--force", help="Disable it even while the wedding-day protocol is active.")] = False,
):
    """Stop delivering to an endpoint; deliveries keep queueing and resume on `enable`."""
    from wedsync_cli.cli.output import info
    from wedsync_cli.webhooks import state
    from wedsync_cli.wedding_day.decisions import require_force

    rt = ctx.obj
    _require_endpoint(rt, name)
    require_force(rt, f"disable webhook endpoint {name}", force)
    state.set_disabled(rt.store, name, reason)
    info(f"Endpoint {name} is disabled; new deliveries wait until `wedsync webhooks enable {name}`.", rt.quiet)


@app.command("test")
def test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Send one signed `webhook.test` ping to the endpoint now and show the answer."""
    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.errors import ProviderUnavailable
    from wedsync_cli.webhooks import dispatch

    rt = ctx.obj
    att = dispatch.send_test(rt, name)
    doc = {"endpoint": name, "ok": att.outcome == "ok", "status_code": att.status_code,
           "latency_ms": att.latency_ms, "error": att.error, "webhook_id": att.request.get("headers", {}).get("webhook-id")}
    if as_json:
        emit_json(doc)
    elif att.outcome == "ok":
        info(f"{name} answered HTTP {att.status_code} in {att.latency_ms} ms; the signed test ping was accepted.", rt.quiet)
    if att.outcome != "ok":
        raise ProviderUnavailable(f"The test ping to {name} failed: {att.error}",
                                  fix=f"check [webhooks.{name}] url and the receiver, then rerun `wedsync webhooks test {name}`")


@app.command("flush")
def flush_cmd(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option("--limit", metavar="N", help="At most N attempts.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
):
    """Deliver the webhooks that are due now (`wedsync send --flush` does this and the emails)."""
    from wedsync_cli.cli.output import emit_json, info
    from wedsync_cli.errors import PartialFailure
    from wedsync_cli.webhooks import dispatch

    rt = ctx.obj
    res = dispatch.flush(rt, limit=limit)
    if as_json:
        emit_json(res)
    else:
        info(f"Webhooks: {res['attempted']} attempted, {res['delivered']} delivered, {res['retry']} will retry, "
             f"{res['failed']} failed, {res['dead']} dead.", rt.quiet)
        for name, why in res["skipped"].items():
            info(f"  {name}: skipped: {why}", rt.quiet)
    if res["missing_secret"]:
        from wedsync_cli.errors import MissingCredential

        names = ", ".join(res["missing_secret"])
        raise MissingCredential(f"No signing secret is stored for webhook endpoint(s) {names}; their deliveries wait",
                                fix=f"run `wedsync auth set webhook:{res['missing_secret'][0]} --from-file -` with "
                                    '{"secret": "whsec_..."}')
    if res["failed"] or res["dead"]:
        raise PartialFailure(f"{res['failed'] + res['dead']} webhook deliveries failed for good",
                             fix="see `wedsync webhooks deliveries --status failed`, then `wedsync webhook-replay`")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (put a TLS proxy in front for the internet).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8787,
):
    """Receive inbound webhooks on POST /webhooks/<source>: resend, sendgrid, tave, or any Standard
    Webhooks sender whose secret is stored as `inbound:<source>`."""
    import sys

    from wedsync_cli.cli.output import info
    from wedsync_cli.errors import UsageError
    from wedsync_cli.webhooks import inbound

    rt = ctx.obj
    _ = rt.store  # create/migrate the state before the first request
    try:
        server = inbound.make_server(rt, host, port)
    except OSError as exc:
        raise UsageError(f"Cannot listen on {host}:{port}: {exc.strerror}", fix="pick another --port") from None
    info(f"Receiving webhooks on http://{host}:{server.server_port}/webhooks/<source> (Ctrl-C stops).", rt.quiet)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        info("Stopped.", rt.quiet)
    finally:
        server.server_close()
