import json
import stat


def test_init_creates_private_state_and_config(cli, home, config_file):
    r = cli("init", "--timezone", "Europe/London")
    assert r.exit_code == 0, r.stderr
    db = home / "default" / "wedsync.db"
    assert db.exists()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "default").stat().st_mode) == 0o700
    assert 'timezone = "Europe/London"' in config_file.read_text()


def test_status_json_on_fresh_state(cli):
    r = cli("status", "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) >= {"jobs", "providers", "outbox", "webhooks", "conflicts"}
    assert doc["jobs"] == []


def test_invalid_config_exits_78_naming_file_and_key(cli, config_file):
    config_file.write_text('[calendars.main]\nprovider = "google"\ndirection = "sideways"\n')
    r = cli("status")
    assert r.exit_code == 78
    assert str(config_file) in r.stderr
    assert "calendars.main.direction" in r.stderr
    assert "Traceback" not in r.stderr


def test_auth_set_status_logout(cli, memory_keyring):
    r = cli("auth", "set", "tave", "--from-file", "-", input='{"api_key": "tave-secret-123456"}')
    assert r.exit_code == 0, r.stderr
    r = cli("auth", "status", "--json")
    doc = json.loads(r.stdout)
    assert any(p["provider"] == "tave" and p["present"] for p in doc["providers"])
    assert "tave-secret-123456" not in r.stdout
    r = cli("auth", "set", "tave", "--from-file", "-", input='{"key": "x"}')
    assert r.exit_code == 78 and "api_key" in r.stderr
    r = cli("auth", "set", "nosuch", "--from-file", "-", input="{}")
    assert r.exit_code == 78 and "Unknown provider" in r.stderr
    r = cli("auth", "logout", "tave")
    assert r.exit_code == 0
    assert memory_keyring.data == {}


def test_no_keyring_exits_78_with_fix(cli_subprocess):
    r = cli_subprocess("auth", "set", "tave", "--from-file", "-", input='{"api_key": "abcdefgh"}',
                       extra_env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert r.exit_code == 78, r.stderr
    assert "keyring" in r.stderr.lower() and "Traceback" not in r.stderr
