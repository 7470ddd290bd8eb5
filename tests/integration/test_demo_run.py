"""`manage.py demo_run` (what `make demo` ends in) stops cleanly on SIGTERM: every process it started is gone
within 10 seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.worker import wait_for, worker_environment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children of children too)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_demo_run_stops_everything_within_ten_seconds_of_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**worker_environment(tmp_path), "PHASEGATE_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "1"}
    env["PHASEGATE_BROKER_DIR"] = str(tmp_path / "broker")
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo_run", "--addr", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:

        def serving() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_for(serving, timeout=60)

        # the worker's pool processes are up too: demo_run, web, worker main, beat, pool processes
        def everything_started() -> set[int] | None:
            found = descendants(demo.pid)
            return found if len(found) >= 5 else None

        started = wait_for(everything_started, timeout=60)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=10) == 0, (tmp_path / "demo.log").read_text()[-2000:]
        left = [pid for pid in started if alive(pid)]
        assert left == [], f"still running after demo_run stopped: {left}"
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in descendants(demo.pid):
            os.kill(pid, signal.SIGKILL)


def test_the_checks_migrate_runs_against_the_database_report_nothing() -> None:
    # `make demo` begins with `migrate`, which runs the model checks against the database (SQLite there).
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=err)
    assert err.getvalue() == ""
    assert "System check identified no issues" in out.getvalue()
