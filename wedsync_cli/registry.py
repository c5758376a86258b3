"""Providers by name, imported on first use (so `wedsync --help` never loads msal or caldav).

Adding a provider touches its own module and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from wedsync_cli.errors import ConfigError

REGISTRY: dict[str, dict[str, str]] = {
    # CalendarBackend subclasses (wedsync_cli.calendars.backend)
    "calendar": {
        "local": "wedsync_cli.calendars.local:LocalBackend",
        "google": "wedsync_cli.calendars.google:GoogleBackend",
        "outlook": "wedsync_cli.calendars.outlook:OutlookBackend",
        "caldav": "wedsync_cli.calendars.caldav_backend:CalDAVBackend",
    },
    # Import sources: turn a provider's records into rows for the transformation engine
    "source": {
        "csv": "wedsync_cli.sources.csv_source:CsvSource",
        "tave": "wedsync_cli.sources.tave:TaveSource",
        "honeybook": "wedsync_cli.sources.honeybook:HoneyBookSource",
    },
    # Interactive sign-in flows for `wedsync auth login` (key/password providers use a hidden prompt)
    "login": {
        "google": "wedsync_cli.auth_flows.google:login",
        "outlook": "wedsync_cli.auth_flows.outlook:login",
        "honeybook": "wedsync_cli.sources.honeybook:login",
    },
    # One cheap authenticated call per provider: check(runtime, provider) -> str (what was checked)
    "check": {
        "tave": "wedsync_cli.sources.tave:check",
        "honeybook": "wedsync_cli.sources.honeybook:check",
        "caldav": "wedsync_cli.calendars.caldav_backend:check",
        "google": "wedsync_cli.auth_flows.google:check",
        "outlook": "wedsync_cli.auth_flows.outlook:check",
        "resend": "wedsync_cli.email.resend:check",
        "sendgrid": "wedsync_cli.email.sendgrid:check",
        "smtp": "wedsync_cli.email.smtp:check",
    },
    # Email providers (wedsync_cli.email.providers)
    "email": {
        "resend": "wedsync_cli.email.resend:ResendProvider",
        "sendgrid": "wedsync_cli.email.sendgrid:SendGridProvider",
        "smtp": "wedsync_cli.email.smtp:SmtpProvider",
        "maildir": "wedsync_cli.email.maildir:MaildirProvider",
    },
}

_cache: dict[tuple[str, str], Any] = {}


def names(kind: str) -> list[str]:
    return sorted(REGISTRY[kind])


def load(kind: str, name: str) -> Any:
    key = (kind, name)
    if key not in _cache:
        try:
            spec = REGISTRY[kind][name]
        except KeyError:
            raise ConfigError(
                f"Unknown {kind} provider {name!r}", fix=f"use one of: {', '.join(names(kind))}"
            ) from None
        module, _, attr = spec.partition(":")
        _cache[key] = getattr(importlib.import_module(module), attr)
    return _cache[key]
