"""The smtp provider against a real aiosmtpd server with STARTTLS and AUTH (self-signed CA)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
from email import message_from_bytes

import pytest

USER, PASSWORD = "studio", "smtp-pass-123"


def _free_port() -> int:
    # aiosmtpd 1.4 cannot bind port 0 (aio-libs/aiosmtpd#388): pick a free one first.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _self_signed(tmp) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        if address.startswith("greylisted@"):
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    tmp = tmp_path_factory.mktemp("smtp")
    cert, key = _self_signed(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)

    sink = Sink()
    port = _free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                     authenticator=authenticator, auth_require_tls=True)
    ctl.start()
    yield sink, port, cert
    ctl.stop()


@pytest.fixture
def smtp_config(config_file, smtp_server, runtime):
    sink, port, cert = smtp_server
    sink.messages.clear()
    config_file.write_text(
        '[email]\nfrom = "Studio <studio@example.com>"\nproviders = ["smtp", "maildir"]\n'
        f'[providers.smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = true\ncafile = "{cert}"\ntimeout = 5\n')
    runtime.credentials.set("smtp", {"username": USER, "password": PASSWORD})
    return sink


def _queue(runtime, to: str, subject: str = "hello") -> int:
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.providers import OutgoingEmail

    msg = OutgoingEmail(from_="Studio <studio@example.com>", to=[to], subject=subject, text="plain",
                        html="<p>rich</p>")
    return Outbox(runtime.store, runtime.clock).enqueue("email", f"smtp/{to}/{subject}", to, msg.to_payload())[0]


def test_starttls_auth_and_delivery(runtime, smtp_config):
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.deliver import flush_email

    item_id = _queue(runtime, "jane@example.com")
    result = flush_email(runtime)
    assert result.sent == 1
    (env,) = smtp_config.messages
    assert env.rcpt_tos == ["jane@example.com"]
    msg = message_from_bytes(env.original_content)
    assert msg["Subject"] == "hello" and msg["X-Wedsync-Key"] == "smtp/jane@example.com/hello"
    row = Outbox(runtime.store, runtime.clock).get(item_id)
    assert (row.status, row.provider) == ("sent", "smtp")
    assert row.provider_message_id in msg["Message-ID"]


def test_rejected_recipient_is_permanent(runtime, smtp_config):
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.deliver import flush_email

    item_id = _queue(runtime, "nobody@example.com")
    flush_email(runtime)
    row = Outbox(runtime.store, runtime.clock).get(item_id)
    assert row.status == "failed" and "550" in row.last_error
    assert not smtp_config.messages


def test_temporary_refusal_fails_over_to_the_next_provider(runtime, smtp_config, home):
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.deliver import flush_email

    item_id = _queue(runtime, "greylisted@example.com")
    flush_email(runtime)
    row = Outbox(runtime.store, runtime.clock).get(item_id)
    assert (row.status, row.provider) == ("sent", "maildir")  # 451 before DATA: SMTP did not take it
    assert len(list((home / "default" / "mail" / "new").iterdir())) == 1


def test_wrong_password_is_auth_refused(runtime, smtp_config):
    from wedsync_cli.email.deliver import flush_email
    from wedsync_cli.errors import AuthRefused
    from wedsync_cli.registry import load

    runtime.credentials.set("smtp", {"username": USER, "password": "wrong"})
    _queue(runtime, "jane@example.com")
    result = flush_email(runtime)
    assert result.auth_error and "535" in result.auth_error and not smtp_config.messages
    with pytest.raises(AuthRefused):
        load("check", "smtp")(runtime, "smtp")


def test_smtp_check_and_cli_send(runtime, smtp_config, cli):
    from wedsync_cli.registry import load

    assert "NOOP 250" in load("check", "smtp")(runtime, "smtp")
    cli("auth", "set", "smtp", "--from-file", "-", input=json.dumps({"username": USER, "password": PASSWORD}))
    r = cli("send", "test", "--to", "ops@example.com", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["messages"][0]["provider"] == "smtp"
    assert smtp_config.messages[-1].rcpt_tos == ["ops@example.com"]
