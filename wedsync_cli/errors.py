"""Domain errors and the one place that maps them to sysexits exit codes.

Every error carries one plain sentence (what happened) and, where there is one, the command
that fixes it. The CLI prints ``message`` (+ `` Fix: `` hint) on stderr and exits ``exit_code``.
Nothing below ``cli/`` prints or exits; it raises these.
"""

from __future__ import annotations

# sysexits, as fixed by the contract
EX_OK = 0
EX_PARTIAL = 1
EX_USAGE = 2
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78


class WedsyncError(Exception):
    """Base error: a sentence for the user and the exit code the contract gives it."""

    exit_code = EX_PARTIAL

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def sentence(self) -> str:
        msg = self.message.rstrip()
        if self.fix:
            if not msg.endswith((".", "!", "?")):
                msg += "."
            msg += f" Fix: {self.fix}"
        return msg


class UsageError(WedsyncError):
    exit_code = EX_USAGE


class DataError(WedsyncError):
    """The input data is bad: unreadable file, wrong encoding, no usable rows."""

    exit_code = EX_DATAERR


class ProviderUnavailable(WedsyncError):
    """A provider stayed unavailable after the retries."""

    exit_code = EX_UNAVAILABLE


class TryAgainLater(WedsyncError):
    """Another run holds the lock, or a rate limit outlasts the run."""

    exit_code = EX_TEMPFAIL


class LockBusy(TryAgainLater):
    pass


class RateLimited(TryAgainLater):
    def __init__(self, message: str, fix: str | None = None, retry_after: float | None = None):
        super().__init__(message, fix)
        self.retry_after = retry_after


class AuthRefused(WedsyncError):
    """A provider refused the credential: sign in again."""

    exit_code = EX_NOPERM


class ConfigError(WedsyncError):
    """Invalid config, missing credential, no usable keyring."""

    exit_code = EX_CONFIG


class MissingCredential(ConfigError):
    pass


class NoKeyring(ConfigError):
    pass


class PartialFailure(WedsyncError):
    """The run finished but some items failed (each recorded and listed)."""

    exit_code = EX_PARTIAL
