"""Credentials: the OS keyring only, one entry per provider under service ``wedsync:<profile>``.

- Shapes are checked before anything is stored (contract "Credential shapes").
- No usable keyring (headless server, cron without D-Bus) is a ConfigError (exit 78) with the fix;
  we never fall back to plaintext on our own, and the keyring's ``null`` backend (which silently
  stores nothing) counts as no keyring.
- Every secret value read or written in this process is registered with ``redact`` so logs,
  errors and ``--json`` output can be scrubbed.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from wedsync_cli.errors import ConfigError, MissingCredential, NoKeyring

OAUTH_FIELDS = (("access_token", "refresh_token", "expires_at", "client_id"), ("client_secret", "scopes", "tenant", "token_url"))
SHAPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # provider: (required, optional)
    "google": OAUTH_FIELDS,
    "outlook": OAUTH_FIELDS,
    "honeybook": OAUTH_FIELDS,
    "caldav": (("username", "password"), ()),
    "tave": (("api_key",), ()),
    "resend": (("api_key",), ()),
    "sendgrid": (("api_key",), ()),
    "smtp": (("username", "password"), ()),
    "twilio": (("account_sid", "auth_token"), ("from",)),
    "slack": (("webhook_url",), ()),
}
PREFIXED = {"webhook": (("secret",), ()), "inbound": ((), ("secret", "public_key"))}
SECRET_FIELDS = {"access_token", "refresh_token", "client_secret", "password", "api_key", "secret",
                 "auth_token", "webhook_url", "public_key"}

NO_KEYRING_FIX = (
    "start a Secret Service (e.g. `dbus-run-session -- sh -c 'echo PW | gnome-keyring-daemon --unlock; wedsync ...'`) "
    "or choose a backend explicitly with PYTHON_KEYRING_BACKEND; see README, 'No keyring on this server'"
)


# -- redaction ---------------------------------------------------------------------------------
_known: set[str] = set()
_known_lock = threading.Lock()
_BEARER = re.compile(
    r"(?i)(bearer\s+|basic\s+|api[_-]?key[\"'=:\s]+|authorization[\"'=:\s]+(?!bearer\s|basic\s)|whsec_)"
    r"[A-Za-z0-9._~+/=-]{6,}"
)


def register_secret(value: Any) -> None:
    if isinstance(value, str) and len(value) >= 6:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    """Replace every known secret (and anything shaped like a bearer token) with ``***``."""
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    return _BEARER.sub(lambda m: m.group(1) + "***", text)


def redact_obj(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: ("***" if k in SECRET_FIELDS and v else redact_obj(v)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v) for v in obj]
    return obj


# -- shapes ------------------------------------------------------------------------------------
def shape_for(provider: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if provider in SHAPES:
        return SHAPES[provider]
    prefix, _, name = provider.partition(":")
    if name and prefix in PREFIXED:
        return PREFIXED[prefix]
    known = ", ".join(sorted(SHAPES)) + ", webhook:<name>, inbound:<source>"
    raise ConfigError(f"Unknown provider {provider!r}", fix=f"use one of: {known}")


def check_shape(provider: str, value: Any) -> dict[str, Any]:
    required, optional = shape_for(provider)
    if not isinstance(value, dict):
        raise ConfigError(f"The credential for {provider} must be a JSON object", fix=_shape_hint(provider))
    missing = [f for f in required if value.get(f) in (None, "")]
    if provider.startswith("inbound:") and not (value.get("secret") or value.get("public_key")):
        missing = ["secret (or public_key for SendGrid)"]
    if missing:
        raise ConfigError(
            f"The credential for {provider} is missing {', '.join(missing)}", fix=_shape_hint(provider)
        )
    not_text = [f for f in required if f != "expires_at" and not isinstance(value[f], str)]
    if not_text:
        # A number or list would be stored, then break the first request that sends it as a header.
        raise ConfigError(f"The credential for {provider} has {', '.join(not_text)} that is not a string",
                          fix=_shape_hint(provider).replace("a JSON object", "a JSON object of strings", 1))
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise ConfigError(f"The credential for {provider} has unknown field(s) {', '.join(unknown)}",
                          fix=_shape_hint(provider))
    if "expires_at" in value:
        try:
            value = {**value, "expires_at": float(value["expires_at"])}
        except (TypeError, ValueError):
            raise ConfigError(f"expires_at for {provider} must be epoch seconds", fix=_shape_hint(provider)) from None
    if provider.startswith("webhook:") and not str(value.get("secret", "")).startswith("whsec_"):
        raise ConfigError(f"The secret for {provider} must start with whsec_ (Standard Webhooks)",
                          fix="generate one with `python -c \"import base64,os;print('whsec_'+base64.b64encode(os.urandom(24)).decode())\"`")
    return value


def _shape_hint(provider: str) -> str:
    required, optional = shape_for(provider)
    fields = ", ".join(required) + (f" (optional: {', '.join(optional)})" if optional else "")
    return f"pass a JSON object with {fields} to `wedsync auth set {provider}`"


# -- the keyring -------------------------------------------------------------------------------
class CredentialStore:
    def __init__(self, service: str):
        self.service = service
        self._keyring = None

    def _backend(self):
        if self._keyring is None:
            try:
                import keyring
                from keyring.errors import KeyringError

                backend = keyring.get_keyring()
            except KeyringError as exc:  # e.g. PYTHON_KEYRING_BACKEND names an unusable backend
                raise NoKeyring(f"No usable keyring backend: {exc}", fix=NO_KEYRING_FIX) from None
            except (RuntimeError, ImportError, ValueError) as exc:
                raise NoKeyring(f"No usable keyring backend: {exc}", fix=NO_KEYRING_FIX) from None
            mod = type(backend).__module__
            if mod.startswith("keyring.backends.fail") or mod.startswith("keyring.backends.null"):
                raise NoKeyring("No usable keyring backend is available on this machine", fix=NO_KEYRING_FIX)
            self._keyring = backend
        return self._keyring

    def backend_name(self) -> str:
        try:
            b = self._backend()
        except NoKeyring:
            return "none"
        return f"{type(b).__module__}.{type(b).__name__}"

    def _call(self, fn, *args):
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            return fn(*args)
        except PasswordDeleteError:
            return None
        except KeyringError as exc:
            raise NoKeyring(f"The keyring refused the request: {exc}", fix=NO_KEYRING_FIX) from None

    def get(self, provider: str) -> dict[str, Any] | None:
        raw = self._call(self._backend().get_password, self.service, provider)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise ConfigError(f"The stored credential for {provider} is unreadable",
                              fix=f"store it again with `wedsync auth set {provider}`") from None
        for k, v in value.items():
            if k in SECRET_FIELDS:
                register_secret(v)
        return value

    def require(self, provider: str, login_hint: str | None = None) -> dict[str, Any]:
        value = self.get(provider)
        if value is None:
            fix = login_hint or (f"run `wedsync auth login {provider}` or `wedsync auth set {provider}`")
            raise MissingCredential(f"No credential is stored for {provider}", fix=fix)
        return value

    def set(self, provider: str, value: dict[str, Any]) -> None:
        value = check_shape(provider, value)
        for k, v in value.items():
            if k in SECRET_FIELDS:
                register_secret(v)
        # Compact JSON: Windows Credential Manager caps a secret at 2,560 bytes.
        self._call(self._backend().set_password, self.service, provider,
                   json.dumps(value, separators=(",", ":"), sort_keys=True))

    def delete(self, provider: str) -> bool:
        backend = self._backend()
        existed = self._call(backend.get_password, self.service, provider) is not None
        if existed:
            self._call(backend.delete_password, self.service, provider)
        return existed
