"""Kept for older imports: the helper lives in ``wedsync_cli.crashpoints``."""

from wedsync_cli.crashpoints import crash_point

__all__ = ["crash_point"]
