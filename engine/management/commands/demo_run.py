"""manage.py demo_run: the web server, a Celery worker and beat, together, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

# SIGTERM or Ctrl-C stops everything within this long: the children get SIGTERM, and whatever still runs
# after STOP_GRACE seconds (a worker finishing a long activity) is killed; its lease brings the work back.
STOP_GRACE = 6.0


class Stop(Exception):
    """SIGTERM arrived."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stop


class Command(BaseCommand):
    help = (
        "Run the demo: web server, one Celery worker with beat (on the broker configured, by default files)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args: Any, addr: str, **options: Any) -> None:
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "config"]
        # The demo's one worker takes the work and the sweeps; production runs a worker for each queue.
        queues = f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.PHASEGATE_SWEEP_QUEUE}"
        schedule = str(settings.VAR_DIR / "celerybeat-schedule")
        commands = {
            "worker": [*celery, "worker", "-B", "-l", "warning", "-Q", queues, "-c", "2", "-s", schedule],
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
        }
        env = {**os.environ, "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1")}
        # The whole demo starts now: the Prometheus counters of its last run's processes go (multiprocess mode
        # keeps a file per process id, and pids are reused).
        for stale in Path(settings.PROMETHEUS_MULTIPROC_DIR).glob("*.db"):
            stale.unlink(missing_ok=True)
        previous = signal.signal(signal.SIGTERM, _raise_stop)
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, command in commands.items():
                # Each in its own process group, so stopping takes the worker's pool processes too.
                processes[name] = subprocess.Popen(command, env=env, start_new_session=True)
            self.stdout.write(
                f"\nPhasegate demo on http://{addr}/ — inbox at /inbox/, admin at /admin/ "
                f"(users printed above; broker: {settings.CELERY_BROKER_URL}). Ctrl-C stops everything.\n"
            )
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.2)
        except (KeyboardInterrupt, Stop):
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
            stop_all(list(processes.values()))
            signal.signal(signal.SIGTERM, previous)


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group, wait up to STOP_GRACE seconds, then SIGKILL what is left."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.0))
    for process in processes:
        _signal_group(process, signal.SIGKILL)  # the group may outlive its leader (pool processes)
        process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
