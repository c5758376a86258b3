"""kill -9 during `wedsync send --flush`, then a rerun: every message accepted by Resend exactly once.

The subprocess is SIGKILLed at an exact point (WEDSYNC_TEST_CRASH_AT, see wedsync_cli/crashpoints.py):
before a batch request leaves, after Resend accepted it but before we recorded it, and after
recording. The rerun must neither lose nor double anything.
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.standins.resend import ResendStandin

KEY = "re_crash_test_key"
N = 250  # three batches: 100, 100, 50


@pytest.fixture(scope="module")
def resend():
    srv = ResendStandin(KEY).start()
    yield srv
    srv.stop()


def _queue(n: int) -> None:
    from wedsync_cli.delivery.outbox import Outbox
    from wedsync_cli.email.providers import OutgoingEmail
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    ob = Outbox(store)
    for i in range(n):
        msg = OutgoingEmail(from_="Studio <studio@example.com>", to=[f"c{i}@example.com"], subject=f"msg-{i}", text="hi")
        ob.enqueue("email", f"crash/{i}", msg.to[0], msg.to_payload(), meta={"template": "test"})
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["email.before_send:2", "email.after_send:2", "email.after_record:1"])
def test_kill9_during_flush_then_rerun_delivers_each_once(point, cli_subprocess, config_file, resend):
    resend.accepted.clear()
    resend.idem.clear()
    resend.reset_requests()
    config_file.write_text(f'[email]\nfrom = "Studio <studio@example.com>"\nproviders = ["resend"]\n'
                           f'[providers.resend]\nbase_url = "{resend.url}"\n')
    r = cli_subprocess("auth", "set", "resend", "--from-file", "-", input=json.dumps({"api_key": KEY}))
    assert r.exit_code == 0, r.stderr
    _queue(N)

    killed = cli_subprocess("send", "--flush", extra_env={"WEDSYNC_TEST_CRASH_AT": point})
    assert killed.exit_code == -signal.SIGKILL
    before = len(resend.accepted)
    assert 0 < before < N or point == "email.before_send:2" and before == 100

    rerun = cli_subprocess("send", "--flush", "--json")
    assert rerun.exit_code == 0, rerun.stderr
    subjects = resend.subjects()
    assert len(subjects) == N and len(set(subjects)) == N  # each exactly once at the far side
    assert rerun.json["email"]["sent"] == N - (before if point != "email.after_send:2" else 100)

    status = cli_subprocess("send", "--log", "--status", "sent", "--limit", "1000", "--json")
    rows = status.json["deliveries"]
    assert len(rows) == N
    # every row carries the id Resend gave the message it accepted (a replayed batch got the same ids)
    assert {r["provider_message_id"] for r in rows} == {a["id"] for a in resend.accepted}
    if point == "email.after_send:2":
        # the batch Resend accepted before the kill was sent again under the same key: answered from
        # Resend's idempotency cache, not sent twice
        keys = [r.headers.get("idempotency-key") for r in resend.requests if r.path == "/emails/batch"]
        assert len(keys) == 4 and keys[1] == keys[2]
