"""Canonical JSON and its checksum: the identity of a template definition."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def normalised(value: Any) -> Any:
    """JSON Schema's view of equality: 2.0 and 2 are the same number (a browser writes 2.0 back as 2)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    return value


def canonical_json(document: Any) -> str:
    """Sorted keys, no insignificant white space, UTF-8 as is: equal documents give equal text."""
    return json.dumps(
        normalised(document), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def checksum(document: Any) -> str:
    """sha256 hex digest of the canonical JSON."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
