"""What users compare: the engine against the plain Celery it runs on, side by side, in one run.

    make bench                       (.venv/bin/python bench/run.py --n 1000 --repeat 3)

1. Throughput on PostgreSQL + Redis with one worker of 2 prefork processes: N instances of a linear
   template (7 no-op task phases) and of a fan-out template (1 → 5 → join), against N plain Celery
   `chain`s of 7 no-op tasks and N `chain(step, group(5 steps), join)` (a chord) on the same broker and the
   same worker. Repetitions are interleaved (Celery, engine, Celery, engine, …) so the machine's drift
   hits both. Prints steps/s and the ratio per repetition and the median, and CPU per step of the driver,
   the worker processes and the worker's PostgreSQL backends; then the pool processes' RSS after each
   repetition and over 3 × 10,500 steps of the engine alone.
2. In-process (no broker): ms/step, CPU ms/step and queries/step on PostgreSQL and SQLite for 7 and 60
   phases, and the cost of starting an instance (bench/inprocess.py).

It uses its own PostgreSQL database (`phasegate_bench`) and Redis databases 12 (results) and 13 (broker),
and drops / flushes them at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = ROOT / "var"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_NAME = "phasegate_bench"
BROKER = "redis://127.0.0.1:6379/13"
RESULTS = "redis://127.0.0.1:6379/12"
QUEUE = "bench"
STEPS = 7  # per instance, in both templates
TICKS = os.sysconf("SC_CLK_TCK")
SOAK_ROUNDS, SOAK_INSTANCES = 3, 1500  # the engine alone after the comparison: 3 × 10,500 steps


def environment() -> dict[str, str]:
    # Production settings (DEBUG off), as workers run: with DEBUG on, Django keeps every query in memory and
    # Celery warns of the leak; both sides of the comparison run in the same worker, so both gain.
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-" + "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "PHASEGATE_STATIC_MANIFEST": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_NAME}",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": RESULTS,
        "PHASEGATE_DEFAULT_QUEUE": QUEUE,
    }
    os.environ.update(env)
    return {**os.environ, **env}


# --- what runs -----------------------------------------------------------------------------------------


def linear_document() -> dict:
    phases = [{"id": "s0", "type": "task", "activity": "bench.noop"}]
    phases += [
        {"id": f"s{i}", "type": "task", "activity": "bench.noop", "depends_on": [f"s{i - 1}"]}
        for i in range(1, STEPS)
    ]
    return {"format": "phasegate/v1", "key": "bench_linear", "name": "Bench linear", "phases": phases}


def fanout_document() -> dict:
    branches = [f"f{i}" for i in range(1, 6)]
    phases = [{"id": "s0", "type": "task", "activity": "bench.noop"}]
    phases += [{"id": b, "type": "task", "activity": "bench.noop", "depends_on": ["s0"]} for b in branches]
    phases += [{"id": "join", "type": "task", "activity": "bench.noop", "depends_on": branches}]
    return {"format": "phasegate/v1", "key": "bench_fanout", "name": "Bench fan-out", "phases": phases}


def celery_run(shape: str, n: int) -> float:
    """Send n Celery chains (or chords) and wait for every result; returns wall seconds."""
    from celery import chain, group

    from bench.activities import noop_task

    def one():
        if shape == "linear":
            return chain(*[noop_task.s() for _ in range(STEPS)])
        return chain(noop_task.s(), group(noop_task.s() for _ in range(5)), noop_task.s())

    started = time.perf_counter()
    results = [one().apply_async(queue=QUEUE) for _ in range(n)]
    for result in results:
        value = result.get(timeout=1200)
        assert value == (STEPS if shape == "linear" else 3), value
    return time.perf_counter() - started


def engine_run(shape: str, n: int) -> float:
    """Start n instances back to back and wait until all completed; returns wall seconds."""
    from engine.models import WorkflowInstance
    from engine.runtime.start import start_instance

    key = f"bench_{shape}"
    started = time.perf_counter()
    ids = [start_instance(key, {}).pk for _ in range(n)]
    while True:
        unfinished = WorkflowInstance.objects.filter(pk__in=ids).exclude(state="completed").count()
        if not unfinished:
            break
        failed = WorkflowInstance.objects.filter(pk__in=ids, state__in=["failed", "cancelled"]).count()
        assert not failed, f"{failed} instances did not complete"
        time.sleep(0.1)
    return time.perf_counter() - started


# --- CPU of the processes involved ---------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def worker_pids(worker: subprocess.Popen[bytes]) -> list[int]:
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    kids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return [worker.pid, *kids]


def backend_pids() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [PG_NAME])
        return [row[0] for row in cursor.fetchall()]


class CpuMeter:
    """CPU seconds spent by this process, the worker's processes and the database's backends for them."""

    def __init__(self, worker: subprocess.Popen[bytes]) -> None:
        self.worker = worker

    def snapshot(self) -> dict[int, float]:
        pids = {os.getpid(), *worker_pids(self.worker), *backend_pids()}
        return {pid: process_cpu(pid) for pid in pids}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(max(cpu - before.get(pid, 0.0), 0.0) for pid, cpu in after.items())


def rss_mb(worker: subprocess.Popen[bytes]) -> list[float]:
    sizes = []
    for pid in worker_pids(worker)[1:]:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


# --- setup and cleanup ---------------------------------------------------------------------------------


def create_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_NAME}")


def drop_database() -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")


def flush_redis() -> None:
    import redis

    for url in (BROKER, RESULTS):
        redis.Redis.from_url(url).flushdb()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    VAR.mkdir(exist_ok=True)
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "-Q", QUEUE,
        "-c", "2", "-P", "prefork", "--include", "bench.activities",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    log = (VAR / "bench-worker.log").open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Sample:
    shape: str
    celery_rate: float
    engine_rate: float
    celery_cpu_ms: float
    engine_cpu_ms: float

    @property
    def ratio(self) -> float:
        return self.engine_rate / self.celery_rate


def throughput(
    n: int, repeat: int, env: dict[str, str]
) -> tuple[list[Sample], list[tuple[int, list[float]]], list[tuple[int, list[float]]]]:
    import django

    django.setup()
    from django.core.management import call_command

    import bench.activities  # noqa: F401
    from config.celery import app
    from engine.services.templates import template_load

    call_command("migrate", verbosity=0)
    template_load(document=linear_document(), publish=True)
    template_load(document=fanout_document(), publish=True)
    app.control.purge()
    worker = start_worker(env)
    samples: list[Sample] = []
    try:
        meter = CpuMeter(worker)
        for shape in ("linear", "fanout"):  # warm up: the worker's processes are up, plans are cached
            celery_run(shape, 20)
            engine_run(shape, 20)
        # The pool processes' memory after warm-up, then after each repetition.
        engine_steps = 0
        rss = [(engine_steps, rss_mb(worker))]
        for _ in range(repeat):
            for shape in ("linear", "fanout"):
                before = meter.snapshot()
                celery_wall = celery_run(shape, n)
                middle = meter.snapshot()
                engine_wall = engine_run(shape, n)
                after = meter.snapshot()
                steps = n * STEPS
                sample = Sample(
                    shape=shape,
                    celery_rate=steps / celery_wall,
                    engine_rate=steps / engine_wall,
                    celery_cpu_ms=1000 * CpuMeter.spent(before, middle) / steps,
                    engine_cpu_ms=1000 * CpuMeter.spent(middle, after) / steps,
                )
                samples.append(sample)
                engine_steps += steps
                print(f"  {shape}: celery {sample.celery_rate:.0f}, engine {sample.engine_rate:.0f} st/s",
                      flush=True)  # fmt: skip
            rss.append((engine_steps, rss_mb(worker)))
        # Then the engine alone, so that growth on the Celery side of the shared processes hides nothing.
        soak = [(0, rss_mb(worker))]
        for _ in range(SOAK_ROUNDS):
            engine_run("linear", SOAK_INSTANCES)
            soak.append((soak[-1][0] + SOAK_INSTANCES * STEPS, rss_mb(worker)))
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return samples, rss, soak


MEDIANS = ("celery_rate", "engine_rate", "ratio", "celery_cpu_ms", "engine_cpu_ms")


def print_throughput(
    samples: list[Sample], n: int, rss: list[tuple[int, list[float]]], soak: list[tuple[int, list[float]]]
) -> None:
    print(f"\nThroughput: {n} instances × {STEPS} no-op steps, 1 worker × 2 prefork processes,")
    print("PostgreSQL + Redis; CPU per step of the driver, the worker and its PostgreSQL backends")
    print(f"{'template':<9}{'rep':>4}{'celery st/s':>13}{'engine st/s':>13}{'ratio':>8}"
          f"{'celery cpu/step':>17}{'engine cpu/step':>17}")  # fmt: skip
    for shape in ("linear", "fanout"):
        rows = [s for s in samples if s.shape == shape]
        for index, s in enumerate(rows, 1):
            print(f"{shape:<9}{index:>4}{s.celery_rate:>13.0f}{s.engine_rate:>13.0f}{s.ratio:>7.2f}x"
                  f"{s.celery_cpu_ms:>14.2f} ms{s.engine_cpu_ms:>14.2f} ms")  # fmt: skip
        m = {name: statistics.median(getattr(s, name) for s in rows) for name in MEDIANS}
        print(f"{shape:<9}{'med':>4}{m['celery_rate']:>13.0f}{m['engine_rate']:>13.0f}{m['ratio']:>7.2f}x"
              f"{m['celery_cpu_ms']:>14.2f} ms{m['engine_cpu_ms']:>14.2f} ms")  # fmt: skip
    print("worker pool processes' RSS (after warm-up, then after each repetition; both sides share them):")
    for steps, sizes in rss:
        print(f"  after {steps:>6} engine steps: {', '.join(f'{size:.0f} MB' for size in sizes)}")
    print("then the engine alone in the same processes (linear instances):")
    for steps, sizes in soak:
        print(f"  after {steps:>6} more steps: {', '.join(f'{size:.1f} MB' for size in sizes)}")


def in_process(n: int, repeat: int) -> None:
    """bench/inprocess.py on each database, in its own process (it sets up Django for that database)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    print("\nIn-process, no broker: the engine's own cost per automated step and per start (medians)")
    for db in ("postgres", "sqlite"):
        command = [sys.executable, str(ROOT / "bench" / "inprocess.py"), "--db", db, "--phases", "7", "60",
                   "--n", str(n), "--repeat", str(repeat)]  # fmt: skip
        out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        lines = out.strip().splitlines()
        print("\n".join(lines if db == "postgres" else lines[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="instances (and Celery chains) per repetition")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--inprocess-n", type=int, default=50, help="instances per in-process case")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-inprocess", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the cleanup below runs
    if not args.skip_throughput:
        env = environment()
        create_database()
        try:
            samples, rss, soak = throughput(args.n, args.repeat, env)
            print_throughput(samples, args.n, rss, soak)
        finally:
            drop_database()
            flush_redis()
    if not args.skip_inprocess:
        in_process(args.inprocess_n, args.repeat)


if __name__ == "__main__":
    main()
