"""Where things live (contract: config, state folder per profile, secrets service name)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROFILE = "default"


def _xdg(var: str, fallback: str, env: dict[str, str]) -> Path:
    value = env.get(var)
    if value:
        return Path(value)
    return Path(env.get("HOME") or Path.home()) / fallback


@dataclass(frozen=True)
class Paths:
    profile: str
    config_file: Path
    state_dir: Path

    @property
    def db_file(self) -> Path:
        return self.state_dir / "wedsync.db"

    @property
    def locks_dir(self) -> Path:
        return self.state_dir / "locks"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "wedsync.log"

    @property
    def keyring_service(self) -> str:
        return f"wedsync:{self.profile}"

    @classmethod
    def resolve(
        cls,
        config: str | os.PathLike | None = None,
        profile: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Paths:
        env = dict(os.environ) if env is None else env
        profile = profile or env.get("WEDSYNC_PROFILE") or DEFAULT_PROFILE
        if config:
            config_file = Path(config)
        elif env.get("WEDSYNC_CONFIG"):
            config_file = Path(env["WEDSYNC_CONFIG"])
        else:
            config_file = _xdg("XDG_CONFIG_HOME", ".config", env) / "wedsync" / "config.toml"
        if env.get("WEDSYNC_HOME"):
            base = Path(env["WEDSYNC_HOME"])
        else:
            base = _xdg("XDG_DATA_HOME", ".local/share", env) / "wedsync"
        return cls(profile=profile, config_file=config_file.expanduser(), state_dir=(base / profile).expanduser())


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with 0700 on the last component; tighten it if too open."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        if (path.stat().st_mode & 0o777) != 0o700:
            path.chmod(0o700)
    except OSError:
        pass
    return path
