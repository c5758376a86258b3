import pytest

from wedsync_cli.config import load
from wedsync_cli.errors import ConfigError
from wedsync_cli.paths import Paths


def paths(tmp_path, profile="default"):
    return Paths(profile=profile, config_file=tmp_path / "config.toml", state_dir=tmp_path / "state" / profile)


def test_missing_file_gives_defaults(tmp_path):
    cfg = load(paths(tmp_path))
    assert cfg.timezone == "UTC" and cfg.calendars == {}


def test_profiles_merge_over_top_level(tmp_path):
    (tmp_path / "config.toml").write_text(
        'timezone = "Europe/London"\n[calendars.a]\nprovider = "local"\n'
        '[profiles.ny]\ntimezone = "America/New_York"\n[profiles.ny.calendars.a]\nconflicts = "manual"\n'
    )
    base = load(paths(tmp_path))
    ny = load(paths(tmp_path, "ny"))
    assert base.timezone == "Europe/London" and base.calendars["a"].conflicts == "newest"
    assert ny.timezone == "America/New_York" and ny.calendars["a"].conflicts == "manual"
    assert ny.phone_region == "US" and base.phone_region == "GB"


@pytest.mark.parametrize(
    "text, key, words",
    [
        ('timezone = "Mars/Olympus"', "timezone", "unknown time zone"),
        ('tmezone = "UTC"', "tmezone", "unknown key"),
        ('[calendars.x]\nprovider = "gmail"', "calendars.x.provider", "google"),
        ('[email]\nproviders = ["pigeon"]', "email.providers[0]", "resend"),
        ("timezone = ", None, "not valid TOML"),
    ],
)
def test_invalid_config_names_file_key_and_problem(tmp_path, text, key, words):
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        load(paths(tmp_path))
    msg = exc.value.sentence()
    assert exc.value.exit_code == 78
    assert str(tmp_path / "config.toml") in msg
    if key:
        assert f"`{key}`" in msg
    assert words in msg


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "config.toml").write_text("")
    cfg = load(paths(tmp_path))
    assert cfg.resolve_path("clients.csv") == tmp_path / "clients.csv"


def test_env_overrides_choose_files(tmp_path):
    env = {"WEDSYNC_CONFIG": str(tmp_path / "c.toml"), "WEDSYNC_HOME": str(tmp_path / "h"), "WEDSYNC_PROFILE": "p2",
           "HOME": str(tmp_path)}
    p = Paths.resolve(env=env)
    assert p.config_file == tmp_path / "c.toml"
    assert p.state_dir == tmp_path / "h" / "p2"
    assert p.keyring_service == "wedsync:p2"
    p = Paths.resolve(env={"HOME": str(tmp_path)})
    assert p.config_file == tmp_path / ".config" / "wedsync" / "config.toml"
    assert p.state_dir == tmp_path / ".local/share/wedsync/default"


def test_config_example_is_a_valid_config(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "config.example.toml"
    cfg = load(Paths(profile="default", config_file=example, state_dir=tmp_path / "s"))
    assert cfg.timezone == "Europe/London"
    assert "studio" in cfg.calendars
