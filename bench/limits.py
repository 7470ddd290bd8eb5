"""How fast validation refuses documents over the limits (the contract: well under a second).

.venv/bin/python bench/limits.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.definition.validation import validate  # noqa: E402  (after the path is set)

TWO_MIB = 2 * 1024 * 1024


def nested(levels: int) -> dict:
    inner: dict = {}
    for _ in range(levels - 2):
        inner = {"not": inner}
    return {"format": "phasegate/v1", "key": "deep", "name": "Deep", "params": inner, "phases": []}


def many_phases(count: int) -> dict:
    phases = [{"id": f"p{i}", "type": "wait", "duration": "PT1M"} for i in range(count)]
    return {"format": "phasegate/v1", "key": "wide", "name": "Wide", "phases": phases}


CASES = {
    "2 MiB of JSON text": json.dumps({"format": "phasegate/v1", "description": "x" * TWO_MIB}),
    "100 levels deep (object)": nested(100),
    "100 levels deep (JSON text)": json.dumps(nested(100)),
    "1,000,000 open brackets": "[" * 1_000_000,
    "501 phases": many_phases(501),
    "500 phases (valid, checked fully)": many_phases(500),
}


def main() -> None:
    print(f"{'document':<36} {'result':<22} {'ms':>8}")
    for name, document in CASES.items():
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            problems = validate(document)
            best = min(best, time.perf_counter() - started)
        result = ", ".join(sorted({p.code for p in problems})) or "valid"
        print(f"{name:<36} {result:<22} {best * 1000:>8.2f}")


if __name__ == "__main__":
    main()
