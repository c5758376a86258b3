"""Alert rules, deduplication, rate limits, recovery notices, and the channels that carry them.

Each rule yields the conditions that hold now, keyed (``provider_down:google``,
``sync_failing:sync:studio``, ``outbox_dead``, ``webhooks_dead``, ``conflict:17``). An alert row
opens the first time a key fires and is notified once; it resolves when the key stops firing and
a recovery notice goes out once. So one outage is exactly one alert and one recovery, however
many health checks run in between. Each channel carries each notice once: a channel that fails
is retried on later runs (up to CHANNEL_ATTEMPTS) without repeating the notice elsewhere. A
still-open alert is repeated at most every ``[alerts] repeat_hours`` (default 24), and no channel
sends more than ``max_per_hour`` (default 20) notifications; over the cap a notice waits for a
later run (recorded as rate_limited). Delivery is at-least-once: a run killed between a send and
its record sends that notice again.

Channels (``[alerts]``): ``email = ["ops@example.com"]`` (queued in the delivery outbox, so
`send --flush` delivers it with failover), ``slack = true`` (incoming-webhook URL in credential
``slack``), ``sms = ["+447700900123"]`` (Twilio REST; credential ``twilio``). SMS is the escalation
channel: used while the wedding-day protocol is active (``sms_when = "wedding_day"``, the default),
or ``"always"`` / ``"never"``.

Why small httpx calls through the shared HttpClient rather than Apprise: two POSTs (Slack's
webhook, Twilio's Messages resource) do not justify a dependency with ~100 plugins, and going
through HttpClient gives them the same retries, Retry-After handling, call recording (so Slack
and Twilio show up in `status`) and redaction as every other provider, testable against a
loopback stand-in with ``[providers.twilio] base_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wedsync_cli.clock import iso


@dataclass
class Condition:
    key: str
    kind: str
    message: str


def _alerts_cfg(config) -> dict[str, Any]:
    return dict(getattr(config, "alerts", None) or {})


# -- rules -----------------------------------------------------------------------------------
def evaluate(rt, providers: list[dict[str, Any]], now: datetime) -> list[Condition]:
    from wedsync_cli.monitoring import status as st

    cfg = _alerts_cfg(rt.config)
    store = rt.store
    out: list[Condition] = []
    for p in providers:
        if p["state"] == "down":
            out.append(Condition(f"provider_down:{p['name']}", "provider_down",
                                 f"{p['name']} is down: {p['reason']}"))
    n = int(cfg.get("sync_failures", 3))
    for (job,) in store.db.conn.execute("SELECT DISTINCT job FROM job_runs WHERE job LIKE 'sync%'").fetchall():
        streak = st.failing_streak(store, job)
        if streak >= n:
            err = store.scalar("SELECT error FROM job_runs WHERE job = ? AND outcome IN ('failed','crashed') "
                               "ORDER BY started_at DESC, id DESC LIMIT 1", [job])
            out.append(Condition(f"sync_failing:{job}", "sync_failing",
                                 f"{job} has failed {streak} times in a row: {err or 'no reason recorded'}"))
    dead = st.outbox_counts(store)["dead"]
    if dead:
        out.append(Condition("outbox_dead", "outbox_dead",
                             f"{dead} email(s) are dead in the outbox and will not be retried"))
    wh = st.webhook_counts(store)["dead"]
    if wh:
        out.append(Condition("webhooks_dead", "webhooks_dead",
                             f"{wh} webhook deliveries are dead (replay with `wedsync webhook-replay --status dead`)"))
    if st._table_exists(store, "webhook_endpoints"):
        for name, reason in store.db.conn.execute(
                "SELECT name, disabled_reason FROM webhook_endpoints WHERE disabled_at IS NOT NULL ORDER BY name"):
            out.append(Condition(f"webhook_disabled:{name}", "webhook_disabled",
                                 f"webhook endpoint {name} is disabled ({reason or 'no reason recorded'}); "
                                 f"re-enable with `wedsync webhooks enable {name}`"))
    hours = float(cfg.get("conflict_hours", 48))
    for c in st.open_conflicts(store, now - timedelta(hours=12), now + timedelta(hours=hours)):
        out.append(Condition(f"conflict:{c['id']}", "conflict",
                             f"unresolved conflict {c['id']} on {c.get('title') or c['event_id']} starting {c['start']} "
                             f"(resolve with `wedsync conflicts resolve {c['id']} --keep local|remote`)"))
    return out


# -- bookkeeping -----------------------------------------------------------------------------
def reconcile(store, conditions: list[Condition], now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Open alerts for new conditions, resolve alerts whose condition is gone. One transaction."""
    firing = {c.key: c for c in conditions}
    opened, resolved = [], []
    with store.transaction():
        open_rows = {r["key"]: r for r in store.query("SELECT * FROM alerts WHERE resolved_at IS NULL")}
        for key, c in firing.items():
            if key not in open_rows:
                store.execute("INSERT INTO alerts(key, kind, message, opened_at) VALUES (?,?,?,?)",
                              [key, c.kind, c.message, iso(now)])
                opened.append({"key": key, "message": c.message})
        for key, r in open_rows.items():
            if key not in firing:
                store.execute("UPDATE alerts SET resolved_at = ? WHERE id = ?", [iso(now), r["id"]])
                resolved.append({"key": key, "message": r["message"]})
    return {"opened": opened, "resolved": resolved}


CHANNEL_ATTEMPTS = 12  # a channel that failed this often for one notice (an hour of 5-min checks) gives up on it


def _channel_state(store, alert_id: int, kind: str, since: str | None = None) -> dict[str, dict[str, int]]:
    """Per channel: how many sent/queued and failed attempts one notice of an alert has had."""
    q = "SELECT channel, status, COUNT(*) AS n FROM alert_notifications WHERE alert_id = ? AND kind = ?"
    params: list[Any] = [alert_id, kind]
    if since:
        q += " AND at >= ?"
        params.append(since)
    out: dict[str, dict[str, int]] = {}
    for r in store.query(q + " GROUP BY channel, status", params):
        d = out.setdefault(r["channel"], {"ok": 0, "failed": 0})
        if r["status"] in ("sent", "queued"):
            d["ok"] += r["n"]
        elif r["status"] == "failed":
            d["failed"] += r["n"]  # rate_limited is not the channel's fault: no attempt used up
    return out


def _pending_notifications(store, now: datetime, repeat_hours: float) -> list[tuple[str, dict[str, Any]]]:
    """Notices still owed: new alerts, reminders of long-open ones, recoveries of alerts someone heard."""
    todo: list[tuple[str, dict[str, Any]]] = []
    for r in store.query("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id"):
        if r["notified_at"] is None or not r["alert_done"]:
            todo.append(("alert", r))
        elif repeat_hours > 0 and r["last_notified_at"] < iso(now - timedelta(hours=repeat_hours)):
            todo.append(("reminder", r))
    # A recovery is only news to someone who heard the alert.
    for r in store.query("SELECT * FROM alerts WHERE resolved_at IS NOT NULL AND notified_at IS NOT NULL "
                         "AND recovery_notified_at IS NULL ORDER BY id"):
        todo.append(("recovery", r))
    return todo


def _text(kind: str, alert: dict[str, Any], profile: str) -> tuple[str, str]:
    if kind == "recovery":
        subject = f"[wedsync:{profile}] RECOVERED: {alert['message']}"
        body = (f"Recovered at {alert['resolved_at']}: {alert['message']}\n"
                f"(alert opened {alert['opened_at']})")
    else:
        tag = "STILL FAILING" if kind == "reminder" else "ALERT"
        subject = f"[wedsync:{profile}] {tag}: {alert['message']}"
        body = f"{alert['message']}\nSince {alert['opened_at']}. Run `wedsync status` or `wedsync wedding-day status` for details."
    return subject[:200], body


def notify(rt, now: datetime, protocol_active: bool) -> list[dict[str, Any]]:
    """Send every owed notice on each configured channel that has not had it yet. Returns what was done.

    Per channel and notice: sent once; a failing channel is retried on the next runs (up to
    CHANNEL_ATTEMPTS) without repeating it on the channels that already carried it. SMS carries
    alerts raised while the protocol is active, and the recoveries of alerts it carried.
    """
    cfg = _alerts_cfg(rt.config)
    store = rt.store
    repeat_hours = float(cfg.get("repeat_hours", 24))
    cap = int(cfg.get("max_per_hour", 20))
    sms_when = cfg.get("sms_when", "wedding_day")
    base_channels = [ch for ch in ("email", "slack") if cfg.get(ch)]
    sms_configured = bool(cfg.get("sms")) and sms_when != "never"
    sms_now = sms_configured and (sms_when == "always" or protocol_active)
    done: list[dict[str, Any]] = []
    if not base_channels and not sms_configured:
        return done
    hour_ago = iso(now - timedelta(hours=1))
    sent_last_hour: dict[str, int] = {}
    for kind, alert in _pending_notifications(store, now, repeat_hours):
        channels = list(base_channels)
        if kind == "recovery":
            if sms_configured and alert["escalated"]:
                channels.append("sms")
        elif sms_now:
            channels.append("sms")
        if not channels:
            continue
        since = iso(now) if kind == "reminder" else None
        state = _channel_state(store, alert["id"], kind, since)
        subject, body = _text(kind, alert, rt.paths.profile)
        any_ok, settled, sms_ok = False, True, False
        for ch in channels:
            st = state.get(ch, {"ok": 0, "failed": 0})
            if st["ok"]:
                any_ok = True
                sms_ok = sms_ok or ch == "sms"
                continue
            if st["failed"] >= CHANNEL_ATTEMPTS:
                continue  # given up on this notice for this channel
            if ch not in sent_last_hour:
                sent_last_hour[ch] = store.scalar(
                    "SELECT COUNT(*) FROM alert_notifications WHERE channel = ? AND at >= ? "
                    "AND status IN ('sent','queued')", [ch, hour_ago]) or 0
            if sent_last_hour[ch] >= cap:
                status, error = "rate_limited", f"more than {cap} notifications in the last hour"
            else:
                try:
                    status = _send(rt, ch, kind, alert, subject, body, now)
                    error = None
                    sent_last_hour[ch] += 1
                except Exception as exc:  # noqa: BLE001 - one broken channel must not silence the others
                    from wedsync_cli.errors import WedsyncError
                    from wedsync_cli.secrets import redact

                    status = "failed"
                    error = redact(exc.sentence() if isinstance(exc, WedsyncError) else f"{type(exc).__name__}: {exc}")
            ok = status in ("sent", "queued")
            any_ok = any_ok or ok
            sms_ok = sms_ok or (ok and ch == "sms")
            if not ok and not (status == "failed" and st["failed"] + 1 >= CHANNEL_ATTEMPTS):
                settled = False  # this channel still owes the notice: try again next run
            with store.transaction():
                store.execute("INSERT INTO alert_notifications(alert_id, kind, channel, at, status, error) "
                              "VALUES (?,?,?,?,?,?)", [alert["id"], kind, ch, iso(now), status, error])
                if ok and ch == "sms" and kind != "recovery":
                    from wedsync_cli.wedding_day.decisions import record

                    record(store, "escalate", alert["key"], "wedding-day protocol active: alert also sent by SMS")
            done.append({"alert": alert["key"], "kind": kind, "channel": ch, "status": status, "error": error})
        with store.transaction():
            if kind == "recovery":
                if settled:
                    store.execute("UPDATE alerts SET recovery_notified_at = ? WHERE id = ?", [iso(now), alert["id"]])
            elif any_ok:
                store.execute(
                    "UPDATE alerts SET notified_at = COALESCE(notified_at, ?), last_notified_at = ?, "
                    "alert_done = CASE WHEN alert_done = 1 OR ? = 'reminder' THEN 1 ELSE ? END, "
                    "escalated = MAX(escalated, ?) WHERE id = ?",
                    [iso(now), iso(now) if kind == "reminder" or alert["last_notified_at"] is None
                     else alert["last_notified_at"], kind, 1 if settled else 0, 1 if sms_ok else 0, alert["id"]])
    return done


# -- channels --------------------------------------------------------------------------------
def _send(rt, channel: str, kind: str, alert: dict[str, Any], subject: str, body: str, now: datetime) -> str:
    if channel == "email":
        return _send_email(rt, kind, alert, subject, body)
    if channel == "slack":
        return _send_slack(rt, subject, body)
    if channel == "sms":
        return _send_sms(rt, subject)
    raise ValueError(channel)


def _send_email(rt, kind: str, alert: dict[str, Any], subject: str, body: str) -> str:
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.providers import OutgoingEmail

    cfg = _alerts_cfg(rt.config)
    to = cfg["email"] if isinstance(cfg["email"], list) else [cfg["email"]]
    sender = rt.config.email.from_ or "wedsync <wedsync@localhost>"
    msg = OutgoingEmail(from_=sender, to=list(to), subject=subject, text=body)
    # One outbox row per alert notification: a rerun after a crash finds the same key, never doubles.
    key = f"alert:{alert['id']}:{kind}:{alert.get('last_notified_at') or ''}"
    Outbox(rt.store, rt.clock).enqueue("email", key, ", ".join(to), msg.to_payload(),
                                       meta={"template": "alert", "alert": alert["key"]})
    return "queued"


def _client(rt, provider: str, base_url: str, auth=None):
    from wedsync_cli.http.client import HttpClient, RetryPolicy

    # Few quick attempts: an alert that waits minutes on a slow channel is not an alert.
    return HttpClient(provider, base_url, auth=auth, timeout=10, clock=rt.clock, recorder=rt.recorder,
                      retry=RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=5, max_retry_after=30))


def _send_slack(rt, subject: str, body: str) -> str:
    from urllib.parse import urlsplit

    from wedsync_cli.errors import ProviderUnavailable

    url = rt.credentials.require("slack")["webhook_url"]
    parts = urlsplit(url)
    with _client(rt, "slack", f"{parts.scheme}://{parts.netloc}") as client:
        resp = client.post(parts.path + (f"?{parts.query}" if parts.query else ""), operation="alert",
                           json={"text": f"*{subject}*\n{body}"})
    if resp.status_code >= 300:
        raise ProviderUnavailable(f"Slack refused the alert (HTTP {resp.status_code})")
    return "sent"


def _send_sms(rt, subject: str) -> str:
    import base64

    from wedsync_cli.errors import ConfigError, ProviderUnavailable
    from wedsync_cli.http.client import Auth
    from wedsync_cli.secrets import register_secret

    cfg = _alerts_cfg(rt.config)
    cred = rt.credentials.require("twilio")
    sender = cred.get("from") or cfg.get("sms_from")
    if not sender:
        raise ConfigError("No sender number for SMS alerts", fix="set [alerts] sms_from or `from` in the twilio credential")
    numbers = cfg["sms"] if isinstance(cfg["sms"], list) else [cfg["sms"]]
    base = rt.provider_settings("twilio").get("base_url") or "https://api.twilio.com"

    token = base64.b64encode(f"{cred['account_sid']}:{cred['auth_token']}".encode()).decode()
    register_secret(token)

    class _Basic(Auth):  # Twilio: HTTP Basic with the account SID and auth token
        def headers(self):
            return {"Authorization": f"Basic {token}"}

    with _client(rt, "twilio", base, auth=_Basic()) as client:
        for number in numbers:
            resp = client.post(f"/2010-04-01/Accounts/{cred['account_sid']}/Messages.json", operation="alert",
                               data={"To": number, "From": sender, "Body": subject[:300]})
            if resp.status_code >= 300:
                raise ProviderUnavailable(f"Twilio refused the SMS to {number} (HTTP {resp.status_code})")
    return "sent"


def open_alerts(store) -> list[dict[str, Any]]:
    return store.query("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id")

