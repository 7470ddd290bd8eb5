"""The fault suite: real workers, a sweeper with beat, a ledger table, and the figures each case prints.

`make test` runs it at small sizes; `make chaos` (PHASEGATE_CHAOS=full) at full size on PostgreSQL + Redis.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

import tests.support.activities  # noqa: F401  (registers the test activities)
from tests.support.activities import LEDGER_TABLE
from tests.support.engine import FakeBroker
from tests.support.worker import Worker, purge_broker

FULL = os.environ.get("PHASEGATE_CHAOS") == "full"
LEASE_SECONDS = 4
FIGURES: list[tuple[str, dict[str, Any]]] = []


def size(small: int, full: int) -> int:
    return full if FULL else small


def report(case: str, **figures: Any) -> None:
    """Print a case's figures at the end of the run (and keep them in var/chaos-figures.jsonl)."""
    FIGURES.append((case, figures))
    path = Path(settings.BASE_DIR) / "var" / "chaos-figures.jsonl"
    with path.open("a") as out:
        out.write(json.dumps({"case": case, "full": FULL, **figures}, default=str) + "\n")
    print(f"\n{case}: {figures}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section(f"fault suite figures ({'full' if FULL else 'small'} size)")
        for case, figures in FIGURES:
            terminalreporter.write_line(f"{case}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# Short leases and sweeps, so recovery happens in seconds; the workers inherit these.
CHAOS_ENV = {
    "PHASEGATE_DEFAULT_LEASE_SECONDS": str(LEASE_SECONDS),
    "PHASEGATE_REAP_EVERY": "1",
    "PHASEGATE_DUE_WORK_EVERY": "1",
    "PHASEGATE_RESEND_AFTER_SECONDS": "5",
    "DJANGO_LOG_LEVEL": "ERROR",
}


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    """For the in-process races: the broker replaced by a list."""
    return FakeBroker.installed(monkeypatch)


def create_ledger() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {LEDGER_TABLE}")
        cursor.execute(
            f"CREATE TABLE {LEDGER_TABLE} "
            "(key VARCHAR(200) NOT NULL, attempt INTEGER NOT NULL, pid INTEGER NOT NULL)"
        )


@pytest.fixture
def ledger(transactional_db: None) -> Iterator[None]:
    create_ledger()
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {LEDGER_TABLE}")


class Cluster:
    """A work worker and a sweeper with beat (as production runs them), started and stopped together."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, {**CHAOS_ENV, **env}
        self.worker = Worker(folder, env=self.env, name="worker")
        sweeps = [settings.PHASEGATE_SWEEP_QUEUE]
        self.sweeper = Worker(folder, queues=sweeps, concurrency=1, beat=True, env=self.env, name="sweeper")

    def start(self) -> Cluster:
        purge_broker()
        self.sweeper.start()
        self.worker.start()
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.sweeper.stop()

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in (self.worker.log, self.sweeper.log) if p.exists())


@pytest.fixture
def cluster(tmp_path: Path, ledger: None) -> Iterator[Callable[..., Cluster]]:
    """`cluster(**env)` starts a worker and a sweeper with the chaos settings (plus `env`)."""
    started: list[Cluster] = []

    def start(**env: str) -> Cluster:
        running = Cluster(tmp_path, env).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
