"""Benchmark: one tick of each periodic sweep with 1,000 due rows (PostgreSQL).

    make bench-sweeps     (or: .venv/bin/python bench/sweeps.py --rows 1000 --repeat 3)

Creates a database of its own (dropped at the end), 1,000 instances per case, puts their rows in the state
the sweep looks for, and times one tick: the lease reaper with 1,000 expired leases, the due-work sweep with
1,000 due retries, the SLA sweep with 1,000 human phases past their due time. Prints the median wall and
CPU time per tick, the queries and the rows handled, and the ratio to the 2-second target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/phasegate")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "ERROR")
TARGET_SECONDS = 2.0


def setup_database() -> str:
    import django
    from django.db import connection

    django.setup()
    connection.settings_dict["TEST"]["NAME"] = f"bench_sweeps_{os.getpid()}"
    return connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)


def template(key: str, phase: dict) -> None:
    from engine.services.templates import template_load

    document = {"format": "phasegate/v1", "key": key, "name": key, "phases": [phase]}
    document["roles"] = {"tester": {"name": "Tester"}}
    template_load(document=document, publish=True)


def start(key: str, rows: int) -> list:
    from engine.runtime.start import start_instance

    return [start_instance(key, {}).pk for _ in range(rows)]


def measure(tick: Callable[[], int], reset: Callable[[], None], repeat: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    walls, cpus, queries, handled = [], [], [], []
    for _ in range(repeat):
        reset()
        connection.queries_log.clear()  # a full log would hide this tick's queries
        with CaptureQueriesContext(connection) as captured:
            wall, cpu = time.perf_counter(), time.process_time()
            handled.append(tick())
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        queries.append(len(captured.captured_queries))
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "queries": statistics.median(queries),
        "handled": statistics.median(handled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup_database()
    from django.db import connection
    from django.utils import timezone

    import bench.activities  # noqa: F401  (registers bench.noop)
    from engine.models import PhaseRun
    from engine.runtime import dispatch

    sent: list = []
    dispatch.celery_send = sent.append  # the sweeps' messages are counted, not delivered
    try:
        from engine.runtime.reaper import leases_reap
    except ImportError:  # before the reaper had its own module
        from engine.runtime.sweeps import leases_reap
    from engine.runtime.sla import sla_sweep
    from engine.runtime.sweeps import due_work_dispatch

    retry = {"max_attempts": 100, "initial_interval": "PT0S"}
    template("bench_lost", {"id": "work", "type": "task", "activity": "bench.noop", "retry": retry})
    template("bench_due", {"id": "work", "type": "task", "activity": "bench.noop", "retry": retry})
    sla = {"duration": "PT1H", "at_risk": 0.5}
    template("bench_sla", {"id": "review", "type": "human", "roles": ["tester"], "sla": sla})
    lost, due, late = (start(key, args.rows) for key in ("bench_lost", "bench_due", "bench_sla"))
    past = timezone.now() - timedelta(days=1)
    has_sent_at = any(field.name == "sent_at" for field in PhaseRun._meta.fields)

    def expire_leases() -> None:
        PhaseRun.objects.filter(instance_id__in=lost).update(
            state="active", lease_token=str(uuid.uuid4()), lease_expires_at=past, attempt=1
        )

    def make_due() -> None:
        extra = {"sent_at": None} if has_sent_at else {}
        PhaseRun.objects.filter(instance_id__in=due).update(state="waiting", next_run_at=past, **extra)

    def make_late() -> None:
        PhaseRun.objects.filter(instance_id__in=late).update(sla_status="on_schedule", escalated_at=None)

    from config import heap

    heap.settle()  # as the sweeper's pool process does at its start (config/celery.py)
    results = {
        f"lease reaper, {args.rows} expired leases": measure(leases_reap, expire_leases, args.repeat),
        f"due-work sweep, {args.rows} due retries": measure(due_work_dispatch, make_due, args.repeat),
        f"SLA sweep, {args.rows} late human phases": measure(
            lambda: sla_sweep(now=timezone.now() + timedelta(hours=2)), make_late, args.repeat
        ),
    }
    print(f"\nOne tick of each sweep on {connection.vendor}, median of {args.repeat}:\n")
    print(f"{'sweep':45} {'wall':>8} {'cpu':>8} {'queries':>8} {'rows':>6} {'wall/2s':>8}")
    for name, figures in results.items():
        print(
            f"{name:45} {figures['wall']:7.2f}s {figures['cpu']:7.2f}s {figures['queries']:8.0f} "
            f"{figures['handled']:6.0f} {figures['wall'] / TARGET_SECONDS:7.2f}x"
        )
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
