"""The inbound receiver (`wedsync webhooks serve`): verify, store raw, process once.

``POST /webhooks/<source>``:
- ``resend``: Svix headers (``svix-id``/``svix-timestamp``/``svix-signature``), secret ``inbound:resend``;
- ``sendgrid``: signed Event Webhook (ECDSA P-256 over timestamp + raw body), ``inbound:sendgrid``
  ``{"public_key"}`` (base64 DER, as SendGrid shows it);
- ``tave``: Táve REST hooks carry no signature (only the id of what changed, which we fetch with our
  own API key), so the URL carries a shared token: ``?token=<inbound:tave secret>``;
- any other ``<name>`` with an ``inbound:<name>`` secret: Standard Webhooks.

Answers: 2xx once the raw request is stored (a duplicate id is answered 200 and not processed
again), 401 bad/stale/malformed signature (never 500: every verifier error is caught), 404
unknown source (a name with no ``inbound:<name>`` credential; resend/sendgrid/tave without one get
401: known, but unverifiable), 413 over the size limit. Processing errors are kept on the row
(status ``failed``) for `webhook-replay --inbound`; they never change the answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from wedsync_cli.secrets import redact
from wedsync_cli.webhooks import signing

DEFAULT_MAX_BODY = 256 * 1024
TOLERANCE_S = 300
SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SENDGRID_SIG = "x-twilio-email-event-webhook-signature"
SENDGRID_TS = "x-twilio-email-event-webhook-timestamp"
TAVE_EVENTS = ("contact.created", "job.created")
BUILTIN_SOURCES = ("resend", "sendgrid", "tave")


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


class Unverified(Exception):
    pass


def source_kind(source: str) -> str:
    return {"resend": "svix", "sendgrid": "sendgrid", "tave": "tave"}.get(source, "standard")


# -- verification --------------------------------------------------------------------------------
def verify_sendgrid(public_key_b64: str, headers: dict[str, str], body: bytes, now: float) -> str:
    from cryptography.exceptions import InvalidSignature as CryptoInvalid
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

    sig_b64, ts = headers.get(SENDGRID_SIG), headers.get(SENDGRID_TS)
    if not sig_b64 or not ts:
        raise Unverified("missing SendGrid signature or timestamp header")
    try:
        ts_int = int(ts.strip())
    except ValueError:
        raise Unverified("malformed SendGrid timestamp header") from None
    if abs(now - ts_int) > TOLERANCE_S:
        raise Unverified(f"SendGrid timestamp is more than {TOLERANCE_S} seconds away from now")
    try:
        signature = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        raise Unverified("malformed SendGrid signature header") from None
    try:
        key_text = public_key_b64.strip()
        if key_text.startswith("-----BEGIN"):
            key = load_pem_public_key(key_text.encode())
        else:
            key = load_der_public_key(base64.b64decode(key_text))
    except (ValueError, binascii.Error, TypeError):
        raise Unverified("the stored SendGrid public key is unreadable") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Unverified("the stored SendGrid public key is not an EC key")
    try:
        key.verify(signature, ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    except CryptoInvalid:
        raise Unverified("SendGrid signature does not match") from None
    # SendGrid has no delivery id; its retries resend the same batch, so the body identifies it.
    return "sha256:" + hashlib.sha256(body).hexdigest()[:40]


def verify(source: str, cred: dict[str, Any], headers: dict[str, str], body: bytes, query: dict[str, str],
           now: float) -> str:
    """Returns the message id; raises Unverified (never anything else) on a bad request."""
    kind = source_kind(source)
    try:
        if kind == "sendgrid":
            if not cred.get("public_key"):
                raise Unverified("no public_key in the inbound:sendgrid credential")
            return verify_sendgrid(cred["public_key"], headers, body, now)
        if kind == "tave":
            token = query.get("token") or headers.get("x-wedsync-token") or ""
            secret = str(cred.get("secret") or "")
            if not secret or not hmac.compare_digest(token.encode(), secret.encode()):
                raise Unverified("missing or wrong token")
            return "sha256:" + hashlib.sha256(body).hexdigest()[:40]
        secret = cred.get("secret")
        if not secret:
            raise Unverified(f"no secret in the inbound:{source} credential")
        prefix = "svix" if kind == "svix" and "svix-id" in headers else "webhook"
        return signing.verify(secret, headers, body, now=now, tolerance=TOLERANCE_S, prefix=prefix)
    except Unverified:
        raise
    except signing.InvalidSignature as exc:
        raise Unverified(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a malformed header must never become a 500
        raise Unverified(f"unverifiable request ({type(exc).__name__})") from None


# -- the core handler (no HTTP) --------------------------------------------------------------------
class Receiver:
    def __init__(self, rt, *, max_body: int | None = None):
        self.rt = rt
        settings = rt.config.inbound or {}
        self.max_body = int(max_body or settings.get("max_body_bytes") or DEFAULT_MAX_BODY)
        # One SQLite connection and one keyring: the threaded server takes turns on them.
        self.lock = threading.Lock()

    def handle(self, source: str, headers: dict[str, str], body: bytes, query: dict[str, str] | None = None) -> Answer:
        headers = {k.lower(): v for k, v in headers.items()}
        if not SOURCE_RE.match(source or ""):
            return Answer(404, {"error": "unknown source"})
        if len(body) > self.max_body:
            return Answer(413, {"error": f"body over {self.max_body} bytes"})
        with self.lock:
            try:
                cred = self.rt.credentials.get(f"inbound:{source}")
            except Exception:  # noqa: BLE001 - no keyring: we cannot verify anything
                return Answer(503, {"error": "no usable keyring to read the verification secret"})
        if not cred:
            if source in BUILTIN_SOURCES:  # a known source we cannot verify yet: refuse, do not store
                return Answer(401, {"error": f"no inbound:{source} credential is stored, so nothing from "
                                             f"{source} can be verified"})
            return Answer(404, {"error": f"unknown source {source!r} (no inbound:{source} credential)"})
        try:
            msg_id = verify(source, cred, headers, body, query or {}, self.rt.clock.now().timestamp())
        except Unverified as exc:
            return Answer(401, {"error": str(exc)})
        with self.lock:
            row_id, created = store_event(self.rt.store, source, msg_id, headers, body)
            if not created:
                return Answer(200, {"status": "duplicate", "id": row_id})
            outcome = process_stored(self.rt, row_id)
        return Answer(200, {"status": "stored", "id": row_id, "processing": outcome})


def store_event(store, source: str, msg_id: str, headers: dict[str, str], body: bytes) -> tuple[int, bool]:
    keep = {k: v for k, v in headers.items() if k not in ("authorization", "cookie", "x-wedsync-token")}
    event_type = _event_type(source, body)
    with store.transaction():
        cur = store.execute(
            "INSERT INTO inbound_events(source, message_id, event_type, received_at, headers, body)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT(source, message_id) DO NOTHING",
            [source, msg_id, event_type, store.now(), json.dumps(keep, sort_keys=True), body],
        )
        if cur.rowcount:
            return int(cur.lastrowid), True
        return int(store.scalar("SELECT id FROM inbound_events WHERE source = ? AND message_id = ?",
                                [source, msg_id])), False


def _event_type(source: str, body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, list):  # SendGrid batches
        kinds = sorted({str(e.get("event")) for e in doc if isinstance(e, dict)})
        return ",".join(kinds)[:200] or None
    if isinstance(doc, dict):
        t = doc.get("type") or doc.get("event")
        return str(t)[:200] if t else None
    return None


# -- processing ------------------------------------------------------------------------------------
def process_stored(rt, row_id: int) -> str:
    """Process one stored event; the outcome (processed|pending|ignored|failed) is saved on the row."""
    store = rt.store
    row = store.one("SELECT * FROM inbound_events WHERE id = ?", [row_id])
    if row is None:
        return "missing"
    try:
        doc = json.loads(row["body"])
        if source_kind(row["source"]) == "tave":
            # A Táve hook runs a sync (own transactions and job run), so not inside ours.
            status, result = _process_tave(rt, doc)
        with store.transaction():
            if source_kind(row["source"]) != "tave":
                status, result = _process(rt, row["source"], doc)
            store.execute(
                "UPDATE inbound_events SET status = ?, result = ?, error = NULL, attempts = attempts + 1,"
                " processed_at = ? WHERE id = ?",
                [status, json.dumps(result, default=str), store.now(), row_id])
        return status
    except Exception as exc:  # noqa: BLE001 - kept on the row for replay; the sender already has its 200
        err = exc.sentence() if hasattr(exc, "sentence") else f"{type(exc).__name__}: {exc}"
        with store.transaction():
            store.execute("UPDATE inbound_events SET status = 'failed', error = ?, attempts = attempts + 1,"
                          " processed_at = ? WHERE id = ?", [redact(err)[:1000], store.now(), row_id])
        return "failed"


def _process(rt, source: str, doc: Any) -> tuple[str, dict[str, Any]]:
    kind = source_kind(source)
    if kind == "svix":
        return _process_resend(rt, doc)
    if kind == "sendgrid":
        return _process_sendgrid(rt, doc)
    if kind == "tave":
        return _process_tave(rt, doc)
    return "processed", {"stored": True}


def _process_resend(rt, doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    etype = doc.get("type")
    data = doc.get("data") or {}
    if etype not in ("email.bounced", "email.complained"):
        return "ignored", {"type": etype}
    reason = "complaint" if etype == "email.complained" else "bounce"
    detail = (data.get("bounce") or {}).get("message") if isinstance(data.get("bounce"), dict) else None
    to = data.get("to") or []
    to = [to] if isinstance(to, str) else list(to)
    item_id = rt.store.scalar("SELECT id FROM outbox WHERE kind = 'email' AND provider_message_id = ?",
                              [data.get("email_id")]) if data.get("email_id") else None
    marked = [mark_bounce(rt, addr, reason, "resend", item_id, detail) for addr in to]
    return "processed", {"reason": reason, "addresses": to, "message": item_id, "marked": sum(marked)}


def _process_sendgrid(rt, doc: Any) -> tuple[str, dict[str, Any]]:
    events = doc if isinstance(doc, list) else [doc]
    handled = []
    for ev in events:
        if not isinstance(ev, dict):
            continue
        name = ev.get("event")
        if name in ("bounce", "dropped", "blocked"):
            reason = "bounce" if name != "dropped" else "dropped"
        elif name == "spamreport":
            reason = "complaint"
        else:
            continue
        item_id = None
        if ev.get("wedsync_id"):  # our outbox key, sent as a custom arg
            item_id = rt.store.scalar("SELECT id FROM outbox WHERE kind = 'email' AND key = ?", [ev["wedsync_id"]])
        if item_id is None and ev.get("sg_message_id"):
            xid = str(ev["sg_message_id"]).split(".", 1)[0]
            item_id = rt.store.scalar("SELECT id FROM outbox WHERE kind = 'email' AND provider_message_id = ?",
                                      [xid])
        if ev.get("email"):
            mark_bounce(rt, ev["email"], reason, "sendgrid", item_id, ev.get("reason"))
            handled.append({"address": ev["email"], "reason": reason, "message": item_id})
    return ("processed" if handled else "ignored"), {"handled": handled}


def mark_bounce(rt, address: str, reason: str, provider: str, item_id: int | None, detail: str | None) -> bool:
    """Suppress the address, mark the message bounced, emit email.bounced (once per message/address)."""
    from wedsync_cli import notify

    store = rt.store
    addr = str(address).strip().lower()
    store.execute(
        "INSERT INTO email_suppressions(address, reason, source, detail, at) VALUES (?,?,?,?,?)"
        " ON CONFLICT(address) DO UPDATE SET reason = excluded.reason, source = excluded.source,"
        " detail = excluded.detail, at = excluded.at",
        [addr, reason, provider, (detail or "")[:500] or None, store.now()])
    if item_id is not None:
        store.execute("UPDATE outbox SET status = 'bounced', last_error = ?, updated_at = ? WHERE id = ?",
                      [f"{reason} reported by {provider}" + (f": {detail}" if detail else ""), store.now(), item_id])
    notify.emit(store, "email.bounced",
                {"to": addr, "reason": reason, "provider": provider, "message_id": item_id, "detail": detail},
                dedupe_key=f"email.bounced:{item_id if item_id is not None else addr}:{addr}:{reason}")
    return True


def _process_tave(rt, doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A REST hook says only what was created: fetch it through the Táve source and import it.

    The Táve API has no "modified since" filter, so the source's incremental sync (newest first,
    stopping at its bookmark) is the cheapest correct fetch: a page or two per resource.
    """
    import importlib

    from wedsync_cli.errors import LockBusy

    event = doc.get("event") or doc.get("type")
    target = doc.get("targetId") or doc.get("target_id") or doc.get("id")
    if event not in TAVE_EVENTS:
        return "ignored", {"event": event}
    if not target:
        raise ValueError(f"Táve {event} hook without a targetId")
    tave = importlib.import_module("wedsync_cli.sources.tave")
    import_one = getattr(tave, "import_one", None)
    resource = "address-book" if event == "contact.created" else "job"
    if import_one is not None:
        return "processed", {"event": event, "target": target, "outcome": import_one(rt, resource, target)}
    sources = [(n, c) for n, c in rt.config.sources.items() if c.provider == "tave" and c.enabled]
    if not sources:
        return "pending", {"event": event, "target": target,
                           "note": "no [sources.<name>] with provider = \"tave\" is configured"}
    name = sources[0][0]
    from wedsync_cli.sync_runner import run_sync

    try:
        # The same run as `wedsync sync <name>`: sync lock, JobRun "sync:<name>", timeline digests.
        [run] = run_sync(rt, [name])
    except LockBusy:
        return "pending", {"event": event, "target": target, "note": "a sync was running; it or the next one imports it"}
    if run["status"] == "failed":
        raise RuntimeError(f"the {name} sync failed: {run['error']}")
    seen = rt.store.scalar("SELECT 1 FROM tave_objects WHERE resource = ? AND id = ?", [resource, target])
    if not seen:
        return "pending", {"event": event, "target": target, "note": "not in Táve's listing yet; replay later"}
    return "processed", {"event": event, "target": target, "imported_by": f"sync:{name}"}


# -- replay ----------------------------------------------------------------------------------------
INBOUND_STATUS_FILTER = {"failed": ("failed", "pending"), "dead": ("failed",), "delivered": ("processed",)}


def select_inbound(store, *, ids=None, source=None, event=None, status=None, since=None, until=None,
                   limit=None) -> list[dict[str, Any]]:
    where, params = [], []
    if ids:
        where.append(f"id IN ({','.join('?' * len(ids))})")
        params += list(ids)
    if source:
        where.append("source = ?")
        params.append(source)
    if event:
        where.append("(event_type = ? OR event_type LIKE ?)")
        params += [event, f"%{event}%"]
    statuses = INBOUND_STATUS_FILTER.get(status) if status else (None if ids else ("failed", "pending"))
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        params += list(statuses)
    if since:
        where.append("received_at >= ?")
        params.append(since)
    if until:
        where.append("received_at <= ?")
        params.append(until)
    sql = "SELECT id, source, message_id, event_type, received_at, status, attempts, error FROM inbound_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return store.query(sql, params)


# -- the HTTP face (werkzeug) ----------------------------------------------------------------------
def wsgi_app(receiver: Receiver):
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
    from werkzeug.wrappers import Request, Response

    route = re.compile(r"^/webhooks/([^/]+)/?$")

    def reply(status: int, body: dict[str, Any]) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    @Request.application
    def app(request: Request) -> Response:
        request.max_content_length = receiver.max_body
        if request.path in ("/healthz", "/"):
            return reply(200, {"ok": True})
        m = route.match(request.path)
        if not m:
            return reply(404, {"error": "not found"})
        if request.method != "POST":
            return reply(405, {"error": "use POST"})
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return reply(413, {"error": f"body over {receiver.max_body} bytes"})
        except HTTPException as exc:
            return reply(exc.code or 400, {"error": exc.description or "bad request"})
        try:
            ans = receiver.handle(m.group(1), dict(request.headers), body, request.args.to_dict())
        except Exception as exc:  # noqa: BLE001 - storage trouble: ask the sender to retry
            return reply(503, {"error": f"could not store the request ({type(exc).__name__})"})
        return reply(ans.status, ans.body)

    return app


def make_server(rt, host: str = "127.0.0.1", port: int = 8787, *, max_body: int | None = None):
    """A threaded werkzeug server; ``server.serve_forever()`` / ``server.shutdown()``."""
    from werkzeug.serving import make_server as wz_make_server

    receiver = Receiver(rt, max_body=max_body)
    return wz_make_server(host, port, wsgi_app(receiver), threaded=True)
