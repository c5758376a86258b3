"""Opt-in timeline digests: one email per couple per run, cursor saved with the enqueue."""

from __future__ import annotations

from tests.test_send_cli import add_wedding
from wedsync_cli import notify
from wedsync_cli.email.timeline import queue_timeline_digests


def _emit(store, type_, **data):
    with store.transaction():
        notify.emit(store, type_, data)


def test_one_digest_per_booked_couple_per_run(runtime, config_file):
    config_file.write_text('timezone = "Europe/London"\n[email]\nfrom = "Studio <studio@example.com>"\n'
                           "timeline_notifications = true\n")
    add_wedding()
    store = runtime.store
    with store.transaction():
        store.execute("UPDATE weddings SET status = 'booked'")
        store.execute("INSERT INTO weddings(id, client_id, date, status, content_hash, created_at, updated_at)"
                      " VALUES ('w2', 'c1', '2027-01-01', 'lead', 'h', 'x', 'x')")
    _emit(store, "event.created", event_id="e1", wedding_id="w1")  # history before opting in
    assert queue_timeline_digests(runtime) == 0  # first run starts from now
    _emit(store, "event.updated", event_id="e1", wedding_id="w1", changed={"start": "x"})
    _emit(store, "event.updated", event_id="e1", wedding_id="w1", changed={"location": "Kew"})
    _emit(store, "event.updated", event_id="e1", wedding_id="w2", changed={"start": "x"})  # a lead: no mail
    _emit(store, "client.updated", client_id="c1")
    assert queue_timeline_digests(runtime) == 1
    (row,) = store.query("SELECT * FROM outbox")
    import json

    payload = json.loads(row["payload"])
    assert payload["subject"].startswith("Your wedding timeline for Saturday 13 June 2026")
    assert "Changed (time)" in payload["text"] and "Changed (location)" in payload["text"]
    assert payload["to"] == ["jane@example.com", "john@example.com"]
    assert queue_timeline_digests(runtime) == 0  # nothing new: nothing queued
    assert store.get_cursor("domain_events:timeline")["id"] == store.scalar("SELECT MAX(id) FROM domain_events")


def test_off_by_default(runtime, config_file):
    config_file.write_text("")
    add_wedding()
    _emit(runtime.store, "event.updated", event_id="e1", wedding_id="w1", changed={"start": "x"})
    assert queue_timeline_digests(runtime) == 0
    assert runtime.store.get_cursor("domain_events:timeline") is None
