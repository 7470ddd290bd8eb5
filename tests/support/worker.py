"""A real Celery worker in a subprocess, talking to the test database and the test broker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
# Every worker process the tests started, so the session can end any left running (see tests/conftest.py).
STARTED: list[subprocess.Popen[bytes]] = []


def wait_for(predicate: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy; fail with a clear message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(interval)


def worker_environment(calls_dir: Path) -> dict[str, str]:
    """The worker's environment: the test database, not the development one."""
    env = {**os.environ, "PHASEGATE_TEST_CALLS_DIR": str(calls_dir), "DJANGO_LOG_LEVEL": "WARNING"}
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    return env


class Worker:
    """Start, kill and restart a `celery worker` process with the test activities loaded.

    By default it takes the work queue; `queues` and `beat=True` make a sweeper (the sweeps' queue, with
    beat inside) as production runs one. `env` adds to the environment it inherits.
    """

    def __init__(
        self,
        calls_dir: Path,
        *,
        queues: list[str] | None = None,
        concurrency: int = 2,
        beat: bool = False,
        env: dict[str, str] | None = None,
        name: str = "worker",
    ) -> None:
        self.calls_dir = calls_dir
        self.queues = queues or [settings.CELERY_TASK_DEFAULT_QUEUE]
        self.concurrency, self.beat, self.env, self.name = concurrency, beat, dict(env or {}), name
        self.process: subprocess.Popen[bytes] | None = None
        self.log = calls_dir / f"{name}.log"

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "warning",
            "-Q",
            ",".join(self.queues),
            "-c",
            str(self.concurrency),
            "-P",
            "prefork",
            "--include",
            "tests.support.activities",
            "-n",
            f"{self.name}-{time.monotonic_ns()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.beat:
            command += ["-B", "-s", str(self.calls_dir / f"{self.name}-beat-schedule")]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env={**worker_environment(self.calls_dir), **self.env},
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group, so kill() takes the pool children too
            )
        STARTED.append(self.process)

    def pool_pids(self) -> list[int]:
        """The pool processes (children of the worker's main process; not beat's)."""
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as a crash or the OOM killer would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def calls(self, activity: str, instance: Any) -> list[str]:
        """The calls of `activity` made for `instance`, one line each: idempotency key, attempt, pid."""
        path = self.calls_dir / f"{activity}.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [line for line in lines if line.startswith(f"{instance.pk}:")]


def purge_broker() -> None:
    """Start from an empty queue: leftovers of an earlier run must not reach this one's worker."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "processed").mkdir(parents=True, exist_ok=True)
        return
    from config.celery import app

    app.control.purge()


def kill_leftover_workers() -> None:
    """SIGKILL the process group of every worker a test started and did not stop."""
    for process in STARTED:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            process.wait(timeout=10)
    STARTED.clear()
