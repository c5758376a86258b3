"""SMTP through smtplib: ``[providers.smtp] host, port, starttls``; credential ``smtp`` (optional).

Reply codes decide the kind: a connection that never opened, or a 4xx before DATA completed,
means the server did not take the message (fail over); a 5xx for the recipients or the content is
permanent; 535 is a refused credential; a connection lost after DATA was sent is ambiguous.
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

from wedsync_cli.email.providers import (
    AMBIGUOUS,
    AUTH,
    FAILOVER,
    PERMANENT,
    Accepted,
    EmailProvider,
    OutgoingEmail,
    SendFailure,
)


class SmtpProvider(EmailProvider):
    name = "smtp"

    def __init__(self, rt, settings: dict[str, Any] | None = None):
        super().__init__(rt, settings)
        self.host = self.settings.get("host") or "localhost"
        self.port = int(self.settings.get("port") or 587)
        self.starttls = bool(self.settings.get("starttls", self.port == 587))
        self.timeout = float(self.settings.get("timeout") or 30)
        self.cafile = self.settings.get("cafile")  # a private CA (and the tests' self-signed server)

    def _tls_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.cafile) if self.cafile else ssl.create_default_context()
        return ctx

    def _connect(self):
        import smtplib

        try:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.starttls:
                conn.starttls(context=self._tls_context())
                conn.ehlo()
        except (TimeoutError, ConnectionError, socket.gaierror, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, smtplib.SMTPNotSupportedError, ssl.SSLError, OSError) as exc:
            raise SendFailure(FAILOVER, f"SMTP {self.host}:{self.port} could not be reached: "
                                        f"{type(exc).__name__}: {exc}") from None
        cred = self.rt.credentials.get("smtp")
        if cred:
            try:
                conn.login(cred["username"], cred["password"])
            except smtplib.SMTPAuthenticationError as exc:
                conn.close()
                raise SendFailure(AUTH, f"SMTP {self.host} refused the login ({exc.smtp_code})",
                                  status_code=exc.smtp_code) from None
            except smtplib.SMTPException as exc:
                conn.close()
                raise SendFailure(FAILOVER, f"SMTP login failed: {exc}") from None
        return conn

    def send(self, msg: OutgoingEmail, key: str) -> Accepted:
        t0 = time.perf_counter()
        try:
            acc = self._send(msg, key, t0)
        except SendFailure as exc:
            self._record(t0, exc.status_code, "connect_error" if exc.kind == FAILOVER and not exc.status_code
                         else "error", exc.error)
            raise
        self._record(t0, 250, "ok", None)
        return acc

    def _record(self, t0: float, status: int | None, outcome: str, error: str | None) -> None:
        """Into the same call log as the HTTP providers, so `status` shows SMTP's health too."""
        from wedsync_cli.clock import iso
        from wedsync_cli.http.client import CallRecord
        from wedsync_cli.secrets import redact

        self.rt.recorder.record(CallRecord(
            at=iso(self.rt.clock.now()) or "", provider="smtp", operation="SMTP send", method="SMTP",
            status=status, outcome=outcome, latency_ms=round((time.perf_counter() - t0) * 1000, 3),
            error=redact(error) if error else None))

    def _send(self, msg: OutgoingEmail, key: str, t0: float) -> Accepted:
        import smtplib

        from wedsync_cli.email.mime import build, message_id

        conn = self._connect()
        try:
            conn.send_message(build(msg, key, self.rt.clock.now().timestamp()))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            detail = "; ".join(f"{r}: {c} {m.decode(errors='replace') if isinstance(m, bytes) else m}"
                               for r, (c, m) in exc.recipients.items())
            kind = PERMANENT if all(c >= 500 for c in codes) else FAILOVER
            raise SendFailure(kind, f"SMTP refused the recipients ({detail})", status_code=max(codes)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            kind = PERMANENT if exc.smtp_code >= 500 else FAILOVER
            err = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise SendFailure(kind, f"SMTP refused the message ({exc.smtp_code} {err})",
                              status_code=exc.smtp_code) from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            raise SendFailure(AMBIGUOUS, f"SMTP connection lost while sending ({type(exc).__name__})") from None
        finally:
            try:
                conn.quit()
            except Exception:  # noqa: BLE001 - the message outcome is already decided
                conn.close()
        return Accepted(message_id(key).strip("<>"), 250, None, round((time.perf_counter() - t0) * 1000, 3))

    def check(self) -> str:
        from wedsync_cli.errors import AuthRefused, ProviderUnavailable

        try:
            conn = self._connect()
        except SendFailure as exc:
            if exc.kind == AUTH:
                raise AuthRefused(exc.error, fix="store the right login with `wedsync auth set smtp`") from None
            raise ProviderUnavailable(exc.error, fix="check [providers.smtp] host/port, then rerun") from None
        code, _ = conn.noop()
        conn.quit()
        return f"smtp: {self.host}:{self.port} answered NOOP {code}"


def check(rt, provider: str = "smtp") -> str:
    return SmtpProvider(rt, rt.provider_settings("smtp")).check()
