"""manage.py demo_run: the web server, a Celery worker and beat, together, until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the demo: web server, one Celery worker with beat (on the broker configured, by default files)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args: Any, addr: str, **options: Any) -> None:
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "config"]
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        commands = {
            "worker": [
                *celery,
                "worker",
                "-B",
                "-l",
                "warning",
                "-Q",
                queue,
                "-c",
                "2",
                "-s",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
        }
        env = {**os.environ, "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1")}
        processes = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}
        self.stdout.write(
            f"\nPhasegate demo on http://{addr}/ — inbox at /inbox/, admin at /admin/ "
            f"(users printed above; broker: {settings.CELERY_BROKER_URL}). Ctrl-C stops everything.\n"
        )
        try:
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
