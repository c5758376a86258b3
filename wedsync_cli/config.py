"""The TOML config: profiles, validation (pydantic), and the error sentence for a bad file.

A config file holds top-level settings and, optionally, ``[profiles.<name>]`` tables whose keys
are deep-merged over the top level when that profile is selected (``--profile``,
``WEDSYNC_PROFILE``). Relative paths in the file resolve against the file's folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wedsync_cli.errors import ConfigError
from wedsync_cli.paths import Paths

CALENDAR_PROVIDERS = ("google", "outlook", "caldav", "local")
SOURCE_PROVIDERS = ("tave", "honeybook", "csv")
EMAIL_PROVIDERS = ("resend", "sendgrid", "smtp", "maildir")
WEDDING_STATUSES = ("lead", "booked", "completed", "cancelled")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    """Provider-specific tables: known keys are checked, unknown ones are kept for the provider."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CalendarConfig(_Open):
    provider: Literal["google", "outlook", "caldav", "local"]
    calendar: str | None = None
    direction: Literal["both", "push", "pull"] = "both"
    conflicts: Literal["newest", "local", "remote", "manual"] = "newest"
    statuses: list[Literal["lead", "booked", "completed", "cancelled"]] = Field(default_factory=lambda: ["booked"])
    # Safety stop: refuse to apply a sync that would delete more than this share of the linked
    # items on the other side because one side suddenly looks empty.
    max_delete_ratio: float = Field(default=0.5, ge=0, le=1)
    enabled: bool = True


class SourceConfig(_Open):
    provider: Literal["tave", "honeybook", "csv"]
    path: str | None = None
    preset: str | None = None
    mapping: str | None = None
    encoding: str | None = None
    date_order: Literal["dmy", "mdy"] | None = None
    enabled: bool = True


class EmailConfig(_Open):
    from_: str | None = Field(default=None, alias="from")
    reply_to: str | None = None
    providers: list[Literal["resend", "sendgrid", "smtp", "maildir"]] = Field(default_factory=lambda: ["maildir"])
    templates_dir: str | None = None
    timeline_notifications: bool = False


class WebhookConfig(_Open):
    url: str
    events: list[str] = Field(default_factory=lambda: ["*"])
    allow_private: bool = False
    enabled: bool = True


class ProviderConfig(_Open):
    base_url: str | None = None
    token_url: str | None = None
    timeout: float | None = Field(default=None, gt=0)


class WeddingDayConfig(_Open):
    lead_hours: float = Field(default=2, ge=0)
    saturdays: bool = True
    days: list[Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]] = Field(
        default_factory=list
    )


class Config(_Strict):
    timezone: str = "UTC"
    # ISO 3166 region for phone numbers written without a country code ("07700 900123").
    region: str | None = None
    date_order: Literal["dmy", "mdy"] | None = None
    calendars: dict[str, CalendarConfig] = Field(default_factory=dict)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    email: EmailConfig = Field(default_factory=EmailConfig)
    webhooks: dict[str, WebhookConfig] = Field(default_factory=dict)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    wedding_day: WeddingDayConfig = Field(default_factory=WeddingDayConfig)
    # Free-form sections that later features own (health, alerts, metrics, schedule, inbound).
    health: dict[str, Any] = Field(default_factory=dict)
    alerts: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    schedule: dict[str, Any] = Field(default_factory=dict)
    inbound: dict[str, Any] = Field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # Set by load(); not config keys.
    source_file: Path | None = Field(default=None, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/London')") from None
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) != 2 or not value.isalpha():
            raise ValueError("region must be a two-letter country code such as 'GB' or 'US'")
        import phonenumbers  # here, not at the top: `wedsync --help` never loads it

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r} (use a country code phone numbers know, such as 'GB' or 'US')")
        return value.upper()

    # -- helpers -------------------------------------------------------------------------------
    def provider(self, name: str) -> ProviderConfig:
        return self.providers.get(name) or ProviderConfig()

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the config: ``~`` expanded, relative ones against the config file's folder."""
        p = Path(value).expanduser()
        if not p.is_absolute() and self.source_file is not None:
            p = self.source_file.parent / p
        return p

    @property
    def zone(self):
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    @property
    def phone_region(self) -> str:
        return self.region or region_for_timezone(self.timezone)


_ZONE_REGIONS = {
    "Europe/London": "GB", "Europe/Dublin": "IE", "Europe/Paris": "FR", "Europe/Berlin": "DE",
    "Europe/Madrid": "ES", "Europe/Rome": "IT", "Europe/Amsterdam": "NL", "Europe/Brussels": "BE",
    "Europe/Lisbon": "PT", "Europe/Zurich": "CH", "Europe/Vienna": "AT", "Europe/Stockholm": "SE",
    "Europe/Oslo": "NO", "Europe/Copenhagen": "DK", "Europe/Athens": "GR", "Australia/Sydney": "AU",
    "Australia/Melbourne": "AU", "Australia/Brisbane": "AU", "Australia/Perth": "AU",
    "Pacific/Auckland": "NZ", "America/Toronto": "CA", "America/Vancouver": "CA",
    "Asia/Kolkata": "IN", "Asia/Singapore": "SG", "Africa/Johannesburg": "ZA",
}


def region_for_timezone(zone: str) -> str:
    if zone in _ZONE_REGIONS:
        return _ZONE_REGIONS[zone]
    if zone.startswith("America/") or zone.startswith("US/"):
        return "US"
    return "GB" if zone.startswith("Europe/") else "US"


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _loc(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def load(paths: Paths, required: bool = False) -> Config:
    """Read and validate the config file for ``paths.profile``.

    A missing file gives the defaults (every command works on a fresh machine) unless
    ``required``. Any problem raises ConfigError naming the file, the key and what is wrong.
    """
    file = paths.config_file
    if not file.exists():
        if required:
            raise ConfigError(f"No config file at {file}", fix="run `wedsync init` to write a starter config")
        cfg = Config()
        cfg.source_file = file
        return cfg
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {file} is not UTF-8 text", fix="save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {file} is not valid TOML: {exc}", fix="correct that line") from None
    except OSError as exc:
        raise ConfigError(f"Config file {file} cannot be read: {exc.strerror}") from None

    profiles = raw.get("profiles") or {}
    if paths.profile != "default" and isinstance(profiles, dict) and paths.profile in profiles:
        override = profiles[paths.profile]
        if isinstance(override, dict):
            raw = _deep_merge({k: v for k, v in raw.items() if k != "profiles"}, override)
            raw["profiles"] = profiles
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _loc(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        raise ConfigError(
            f"Config file {file}: key `{key}`: {msg}", fix=f"edit {file} (see config.example.toml)"
        ) from None
    cfg.source_file = file
    return cfg
