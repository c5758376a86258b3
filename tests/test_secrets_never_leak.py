"""Standard 4: secrets stay in the keyring. Drive real commands (with -v) against stand-ins that
use the secrets, including failures whose error paths print provider answers, then look for every
secret in stdout, stderr, the state folder (SQLite file, WAL, logs, mail) and the config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.standins.resend import ResendStandin
from tests.standins.tave import TaveStandin
from tests.standins.webhook_receiver import WebhookReceiver

TAVE_KEY = "tave-SECRET-key-7f3a9c1d2e"
RESEND_KEY = "re_SECRET_4b8e2f6a1c9d"
WRONG_RESEND_KEY = "re_WRONG_SECRET_0a1b2c3d4e"
WEBHOOK_SECRET = "whsec_U0VDUkVUV0VCSE9PS1NFQ1JFVDEyMzQ1Njc4"


@pytest.fixture
def standins():
    tave = TaveStandin(api_key=TAVE_KEY).start()
    tave.populate(5)
    resend = ResendStandin(api_key=RESEND_KEY).start()
    rx = WebhookReceiver()
    rx.server.start()
    yield tave, resend, rx
    tave.stop()
    resend.stop()
    rx.server.stop()


def test_no_secret_reaches_output_state_logs_or_config(cli_subprocess, config_file, home, standins):
    tave, resend, rx = standins
    config_file.write_text(
        'timezone = "Europe/London"\n'
        '[sources.studio]\nprovider = "tave"\n'
        f'[providers.tave]\nbase_url = "{tave.base_url}"\n'
        f'[providers.resend]\nbase_url = "{resend.url}"\n'
        '[email]\nfrom = "Studio <studio@example.com>"\nproviders = ["resend"]\n'
        f'[webhooks.zap]\nurl = "{rx.url("zap")}"\nevents = ["*"]\nallow_private = true\n'
    )
    outputs: list[str] = []

    def run(*args, input=None):
        r = cli_subprocess("-v", *args, input=input)
        outputs.extend([r.stdout, r.stderr])
        return r

    assert run("auth", "set", "tave", "--from-file", "-", input=json.dumps({"api_key": TAVE_KEY})).exit_code == 0
    assert run("auth", "set", "webhook:zap", "--from-file", "-", input=json.dumps({"secret": WEBHOOK_SECRET})).exit_code == 0
    # A refused key first: the error path (exit 77) must not echo what we sent.
    assert run("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": WRONG_RESEND_KEY})).exit_code == 0
    r = run("send", "test", "--to", "couple@example.com", "--json")
    assert r.exit_code == 77, r.stderr
    assert run("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": RESEND_KEY})).exit_code == 0

    r = run("import", "tave", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["created"] > 0
    r = run("send", "--flush", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(resend.accepted) >= 1
    assert rx.server.count("POST") > 0  # signed with the secret: the deliveries really used it
    for args in (["status", "--json"], ["auth", "status", "--json", "--check"], ["wedding-day", "status", "--json"],
                 ["webhooks", "deliveries", "--json"], ["send", "--log", "--json"]):
        r = run(*args)
        assert r.exit_code in (0, 1), (args, r.stderr)

    secrets = [TAVE_KEY, RESEND_KEY, WRONG_RESEND_KEY, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")]
    for text in outputs:
        for s in secrets:
            assert s not in text, f"secret leaked into command output: {text[:300]}"
    files = [p for p in Path(home).rglob("*") if p.is_file()] + [config_file]
    assert any(p.name == "wedsync.db" for p in files)
    for path in files:
        data = path.read_bytes()
        for s in secrets:
            assert s.encode() not in data, f"secret found in {path}"
