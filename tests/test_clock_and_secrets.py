from datetime import UTC, datetime, timedelta

import pytest

from wedsync_cli.clock import parse_when
from wedsync_cli.errors import ConfigError
from wedsync_cli.secrets import check_shape, redact, redact_obj, register_secret

NOW = datetime(2026, 6, 13, 12, tzinfo=UTC)


@pytest.mark.parametrize("value, expected", [
    ("90m", NOW - timedelta(minutes=90)),
    ("2h", NOW - timedelta(hours=2)),
    ("3d", NOW - timedelta(days=3)),
    ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
    ("2026-06-01T10:00:00+02:00", datetime(2026, 6, 1, 8, tzinfo=UTC)),
])
def test_parse_when(value, expected):
    assert parse_when(value, NOW) == expected


def test_parse_when_rejects_garbage():
    with pytest.raises(ValueError):
        parse_when("yesterday-ish", NOW)


def test_redaction_scrubs_known_secrets_and_token_shapes():
    register_secret("sk_live_abcdefgh12345")
    assert "sk_live" not in redact("failed with key sk_live_abcdefgh12345 today")
    assert "abc.def.ghi" not in redact("Authorization: Bearer abc.def.ghi")
    assert redact_obj({"api_key": "zzz", "note": "ok"}) == {"api_key": "***", "note": "ok"}


def test_shapes():
    assert check_shape("google", {"access_token": "a", "refresh_token": "r", "expires_at": "17", "client_id": "c"})["expires_at"] == 17.0
    with pytest.raises(ConfigError, match="missing refresh_token"):
        check_shape("outlook", {"access_token": "a", "expires_at": 1, "client_id": "c"})
    with pytest.raises(ConfigError, match="whsec_"):
        check_shape("webhook:zapier", {"secret": "plain"})
    assert check_shape("inbound:sendgrid", {"public_key": "MFkw..."})
