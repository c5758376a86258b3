"""Validation of the free-form config sections this feature owns ([health], [alerts], [metrics],
[schedule], [wedding_day.min_interval_minutes]): a wrong value is one sentence naming the key
(exit 78), never a traceback later in the middle of a health check."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthSettings(_S):
    providers: list[str] | None = None
    down_after_failures: int = Field(3, ge=1)
    degraded_error_rate: float = Field(0.1, gt=0, le=1)
    min_calls: int = Field(5, ge=1)
    window_minutes: float = Field(60, gt=0)
    quiet_minutes: float = Field(5, ge=0)
    double_booking_days: float = Field(365, gt=0)


class AlertSettings(_S):
    email: list[str] | str | None = None
    slack: bool = False
    sms: list[str] | str | None = None
    sms_from: str | None = None
    sms_when: Literal["wedding_day", "always", "never"] = "wedding_day"
    sync_failures: int = Field(3, ge=1)
    conflict_hours: float = Field(48, gt=0)
    repeat_hours: float = Field(24, ge=0)
    max_per_hour: int = Field(20, ge=1)


class MetricsSettings(_S):
    raw_days: float = Field(7, gt=0)
    rollup_days: float = Field(90, gt=0)
    runs_days: float = Field(90, gt=0)
    window_hours: float = Field(24, gt=0)
    textfile: str | None = None
    ping_urls: dict[str, str] = Field(default_factory=dict)


class JobSchedule(_S):
    ping_url: str | None = None


def validate(config) -> None:
    from wedsync_cli.errors import ConfigError

    file = config.source_file
    checks: list[tuple[str, Any, Any]] = [
        ("health", HealthSettings, config.health or {}),
        ("alerts", AlertSettings, config.alerts or {}),
        ("metrics", MetricsSettings, config.metrics or {}),
    ]
    for job, section in (config.schedule or {}).items():
        checks.append((f"schedule.{job}", JobSchedule, section if isinstance(section, dict) else {"ping_url": section}))
    intervals = (config.wedding_day.model_extra or {}).get("min_interval_minutes")
    for name, model, raw in checks:
        try:
            model.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join([name, *[str(p) for p in err["loc"]]])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            raise ConfigError(f"Config file {file}: key `{key}`: {msg}",
                              fix=f"edit {file} (see config.example.toml, section wedding-day)") from None
    if intervals is not None:
        bad = (not isinstance(intervals, dict)
               or any(not isinstance(v, int | float) or isinstance(v, bool) or v < 0 for v in intervals.values()))
        if bad:
            raise ConfigError(f"Config file {file}: key `wedding_day.min_interval_minutes`: must map job names "
                              "to minutes (numbers, 0 = urgent)", fix=f"edit {file} (see config.example.toml)")
