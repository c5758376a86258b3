"""Content hashes of records (change detection), apart from the pydantic models so the sync's
hot path can hash without building every domain model (~8 ms a run)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()).hexdigest()[:32]
