"""kill -9 in the middle of delivering, then a rerun: every delivery arrives at least once, every
duplicate carries the same webhook-id (and body), and the outbox ends with all delivered."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.standins.webhook_receiver import WebhookReceiver
from wedsync_cli import notify
from wedsync_cli.clock import FixedClock, iso
from wedsync_cli.webhooks.dispatch import delivery_key
from wedsync_cli.webhooks.signing import InvalidSignature, message_id_for, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
N = 12


@pytest.fixture
def rx():
    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.mark.parametrize("point", ["webhook.after_response:5", "webhook.after_response:1"])
def test_kill_9_during_delivery_then_rerun_loses_nothing(cli_subprocess, config_file, runtime, rx, point):
    config_file.write_text(f'[webhooks.zap]\nurl = "{rx.url("zap")}"\nevents = ["*"]\nallow_private = true\n')
    r = cli_subprocess("auth", "set", "webhook:zap", "--from-file", "-", input=json.dumps({"secret": SECRET}))
    assert r.exit_code == 0, r.stderr
    t0 = datetime.now(UTC).replace(microsecond=0)
    runtime._clock = FixedClock(t0)
    event_ids = []
    with runtime.store.transaction():
        for i in range(N):
            event_ids.append(notify.emit(runtime.store, "client.created", {"id": f"c{i}"}))
    runtime.close()

    crashed = cli_subprocess("webhooks", "flush", extra_env={"WEDSYNC_TEST_CRASH_AT": point, "WEDSYNC_NOW": iso(t0)})
    assert crashed.exit_code == -9, (crashed.exit_code, crashed.stderr)
    got_before = len(rx.received("zap"))
    assert 1 <= got_before < N  # it really died mid-run

    # The leases of the killed run expire; the next cron run picks those deliveries up again.
    later = iso(t0 + timedelta(minutes=10))
    rerun = cli_subprocess("webhooks", "flush", "--json", extra_env={"WEDSYNC_NOW": later})
    assert rerun.exit_code == 0, rerun.stderr

    expected = {message_id_for(delivery_key("zap", eid)) for eid in event_ids}
    # What a receiver accepts: complete requests whose signature verifies (the kill can cut a
    # request off mid-body; such a fragment fails verification and is not a delivery).
    delivered = []
    for req in rx.received("zap"):
        try:
            verify(SECRET, req.headers, req.body, now=int(req.headers["webhook-timestamp"]))
        except InvalidSignature:
            continue
        delivered.append(req)
    ids = Counter(r.headers["webhook-id"] for r in delivered)
    assert set(ids) == expected  # nothing lost, nothing foreign
    bodies = {}
    for req in delivered:  # a duplicate is the same delivery: same id, same body
        assert bodies.setdefault(req.headers["webhook-id"], req.body) == req.body
    duplicates = sum(ids.values()) - N
    from wedsync_cli.paths import Paths
    from wedsync_cli.store import Store

    store = Store(Paths.resolve().db_file)
    try:
        statuses = Counter(r["status"] for r in store.query("SELECT status FROM outbox WHERE kind='webhook'"))
        assert statuses == {"delivered": N}
        lost = store.scalar("SELECT COUNT(*) FROM outbox_attempts WHERE outcome = 'lease_expired'")
        # the killed run's unfinished deliveries are in the log with an unknown outcome; only those
        # can arrive twice, and the one the receiver answered just before the kill does
        assert 1 <= duplicates <= lost
    finally:
        store.close()
