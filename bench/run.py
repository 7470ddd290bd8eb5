"""Benchmarks: the engine against a plain Celery chain, side by side, on this machine, in one run.

    make bench          (or: DJANGO_DEBUG=1 .venv/bin/python bench/run.py --steps 200)

Both run the same number of no-op steps in sequence through the same broker and one worker process
(Redis when it answers, else the filesystem broker). The engine does more per step — a database claim
under a lease, the output stored, the audit trail written, the graph advanced — and wins back the broker
round trip by running the next ready attempt in the worker that finished the last one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = ROOT / "var"
VAR.mkdir(exist_ok=True)
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("SQLITE_PATH", str(VAR / "bench.sqlite3"))
os.environ.setdefault(
    "CELERY_RESULT_BACKEND", os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
)
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")


def start_worker(concurrency: int) -> subprocess.Popen[bytes]:
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
        "phasegate",
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "--include",
        "bench.activities",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    log = (VAR / "bench-worker.log").open("ab")
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)


def celery_chain(steps: int) -> float:
    from celery import chain

    from bench.activities import noop_task

    started = time.perf_counter()
    result = chain(noop_task.s(), *[noop_task.s() for _ in range(steps - 1)]).apply_async(queue="phasegate")
    value = result.get(timeout=600)
    elapsed = time.perf_counter() - started
    assert value == steps, value
    return elapsed


def engine_chain(steps: int, run: int) -> tuple[float, int]:
    from engine.models import Transition, WorkflowInstance
    from engine.runtime.start import start_instance
    from engine.services.templates import template_load

    key = f"bench_chain_{steps}"
    phases = [{"id": "s0", "type": "task", "activity": "bench.noop"}]
    phases += [
        {"id": f"s{i}", "type": "task", "activity": "bench.noop", "depends_on": [f"s{i - 1}"]}
        for i in range(1, steps)
    ]
    template_load(
        document={"format": "phasegate/v1", "key": key, "name": key, "phases": phases}, publish=True
    )
    started = time.perf_counter()
    instance = start_instance(key, {}, business_key=f"run-{run}-{time.time_ns()}")
    while True:
        state = WorkflowInstance.objects.filter(pk=instance.pk).values_list("state", flat=True).get()
        if state in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.02)  # poll gently: the worker writes to the same database
    elapsed = time.perf_counter() - started
    assert state == "completed", state
    return elapsed, Transition.objects.filter(instance=instance).count()


def engine_fanout(items: int, concurrency: int) -> float:
    from engine.models import WorkflowInstance
    from engine.runtime.start import start_instance
    from engine.services.templates import template_load

    key = f"bench_map_{items}"
    document = {
        "format": "phasegate/v1",
        "key": key,
        "name": key,
        "phases": [
            {
                "id": "each",
                "type": "map",
                "items": "params.items",
                "activity": "bench.noop",
                "max_concurrency": concurrency * 4,
            }
        ],
    }
    template_load(document=document, publish=True)
    started = time.perf_counter()
    instance = start_instance(key, {"items": list(range(items))})
    while WorkflowInstance.objects.filter(pk=instance.pk).values_list("state", flat=True).get() == "running":
        time.sleep(0.01)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    import bench.activities  # noqa: F401
    from config.celery import app

    call_command("migrate", verbosity=0)
    app.control.purge()
    worker = start_worker(concurrency=1)
    try:
        celery_chain(5)  # warm up: the worker is up and the queues exist
        engine_chain(5, run=0)
        rows = []
        for run in range(1, args.repeat + 1):
            base = celery_chain(args.steps)
            mine, transitions = engine_chain(args.steps, run=run)
            rows.append((base, mine, transitions))
        print(f"\nSequential chain of {args.steps} no-op steps, one worker process, {app.conf.broker_url}")
        print(f"{'run':>4} {'celery chain':>14} {'engine':>14} {'engine/celery':>14} {'audit rows':>11}")
        for index, (base, mine, transitions) in enumerate(rows, 1):
            print(
                f"{index:>4} {args.steps / base:>10.0f} st/s {args.steps / mine:>10.0f} st/s"
                f" {base / mine:>13.2f}x {transitions:>11}"
            )
        best_base = min(row[0] for row in rows)
        best_mine = min(row[1] for row in rows)
        ratio, base_rate, my_rate = best_base / best_mine, args.steps / best_base, args.steps / best_mine
        print(f"best {base_rate:>10.0f} st/s {my_rate:>10.0f} st/s {ratio:>13.2f}x")
        worker.terminate()
        worker.wait(timeout=30)
        worker = start_worker(concurrency=2)
        engine_fanout(10, 2)
        fan = engine_fanout(args.items, 2)
        print(f"\nMap of {args.items} no-op items, two worker processes: {args.items / fan:.0f} items/s")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


if __name__ == "__main__":
    main()
