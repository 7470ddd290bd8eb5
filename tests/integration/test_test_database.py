"""A test run drops its PostgreSQL test database at the end, even while another process holds a connection."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

pytestmark = [pytest.mark.requires_postgres, pytest.mark.django_db]


def test_the_test_database_is_dropped_even_when_a_process_holds_a_connection(tmp_path: Path) -> None:
    out = tmp_path / "probe.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/support/probe_held_connection.py", "-q", "-p", "no:randomly"]
        + ["-o", "python_files=probe_*.py"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "PROBE_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    probe = json.loads(out.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(probe["holder"], signal.SIGKILL)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [probe["name"]])
        assert cursor.fetchone()[0] == 0, f"{probe['name']} was left behind"
