"""manage.py without the settings' environment says what to set, in one line, and exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_manage_py_without_a_secret_key_or_debug_says_so_in_one_line() -> None:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    finished = subprocess.run(
        [sys.executable, "manage.py", "start_workflow", "market_daily"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert finished.stderr.splitlines() == [
        "manage.py: Set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 for local development)."
    ]
    assert finished.stdout == ""
