"""Canonical JSON and its checksum: the identity of a template definition."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(document: Any) -> str:
    """Sorted keys, no insignificant white space, UTF-8 as is: equal documents give equal text."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def checksum(document: Any) -> str:
    """sha256 hex digest of the canonical JSON."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
