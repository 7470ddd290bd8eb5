"""The engine's own cost per automated step and per start, in one process, without a broker.

    .venv/bin/python bench/inprocess.py --db postgres --phases 7 60
    .venv/bin/python bench/inprocess.py --db sqlite

Each case starts `--n` instances of a chain of no-op task phases and runs each instance to the end the way a
worker does (claim the first attempt, then record + claim the next in one transaction per step). It prints
the median over `--repeat` repetitions of wall ms and CPU ms per step and per start, and the queries per
step and per start (BEGIN/COMMIT/SAVEPOINT not counted). Uses its own database (`phasegate_bench_inproc`
on PostgreSQL, `var/bench-inproc.sqlite3` on SQLite) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_NAME = "phasegate_bench_inproc"
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "PRAGMA")


@dataclass
class Figures:
    phases: int
    step_ms: float
    step_cpu_ms: float
    step_queries: float
    start_ms: float
    start_cpu_ms: float
    start_queries: float


def configure(db: str) -> None:
    # Production settings (DEBUG off), as a worker runs; the query count is captured all the same.
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-" + "x" * 50)
    os.environ.setdefault("PHASEGATE_STATIC_MANIFEST", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    os.environ.pop("CELERY_BROKER_URL", None)
    if db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_NAME}")
        os.environ["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_NAME}"
    else:
        os.environ.pop("DATABASE_URL", None)
        path = ROOT / "var" / "bench-inproc.sqlite3"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["SQLITE_PATH"] = str(path)


def cleanup(db: str) -> None:
    from django.db import connections

    connections.close_all()
    if db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
    else:
        path = Path(os.environ["SQLITE_PATH"])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def chain_document(key: str, length: int) -> dict:
    phases = [{"id": "s0", "type": "task", "activity": "bench.noop"}]
    phases += [
        {"id": f"s{i}", "type": "task", "activity": "bench.noop", "depends_on": [f"s{i - 1}"]}
        for i in range(1, length)
    ]
    return {"format": "phasegate/v1", "key": key, "name": key, "phases": phases}


def counted(queries: list[dict]) -> int:
    return sum(1 for query in queries if not query["sql"].startswith(CONTROL))


def measure(length: int, n: int) -> Figures:
    """Start `n` instances of a `length`-phase chain and run each to the end; per-step and per-start costs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from engine.models import WorkflowInstance
    from engine.runtime import dispatch
    from engine.runtime.actors import Actor
    from engine.runtime.attempts import attempt_run
    from engine.services.templates import template_load

    key = f"bench_inproc_{length}"
    template_load(document=chain_document(key, length), publish=True)
    sent: list = []
    dispatch.send_to_broker, original = sent.append, dispatch.send_to_broker
    actor = Actor(label="worker:bench")
    from engine.runtime.start import start_instance

    try:
        start_instance(key, {})  # warm: the plan is compiled and cached, the statements prepared
        attempt_run(sent.pop(), actor=actor, chain_limit=length)
        start_wall = start_cpu = 0.0
        start_queries = 0
        refs, started = [], []
        for _ in range(n):
            connection.queries_log.clear()  # the log is capped: a full one captures nothing
            with CaptureQueriesContext(connection) as captured:
                wall, cpu = time.perf_counter(), time.process_time()
                started.append(start_instance(key, {}).pk)
                start_wall += time.perf_counter() - wall
                start_cpu += time.process_time() - cpu
            start_queries += counted(captured.captured_queries)
            refs.append(sent.pop())
        step_wall = step_cpu = 0.0
        step_queries = steps = 0
        for ref in refs:
            connection.queries_log.clear()  # the log is capped: a full one captures nothing
            with CaptureQueriesContext(connection) as captured:
                wall, cpu = time.perf_counter(), time.process_time()
                steps += attempt_run(ref, actor=actor, chain_limit=length)
                step_wall += time.perf_counter() - wall
                step_cpu += time.process_time() - cpu
            step_queries += counted(captured.captured_queries)
        assert not sent, sent
        assert WorkflowInstance.objects.filter(pk__in=started, state="completed").count() == n
    finally:
        dispatch.send_to_broker = original
    return Figures(
        phases=length,
        step_ms=1000 * step_wall / steps,
        step_cpu_ms=1000 * step_cpu / steps,
        step_queries=step_queries / steps,
        start_ms=1000 * start_wall / n,
        start_cpu_ms=1000 * start_cpu / n,
        start_queries=start_queries / n,
    )


def run(db: str, phases: list[int], n: int, repeat: int) -> list[Figures]:
    """Median figures per template size (repetitions interleaved across sizes)."""
    configure(db)
    import django

    django.setup()
    from django.core.management import call_command

    import bench.activities  # noqa: F401

    try:
        call_command("migrate", verbosity=0)
        samples: dict[int, list[Figures]] = {length: [] for length in phases}
        for _ in range(repeat):
            for length in phases:
                samples[length].append(measure(length, n))
        return [median_figures(samples[length]) for length in phases]
    finally:
        cleanup(db)


def median_figures(samples: list[Figures]) -> Figures:
    fields = [name for name in Figures.__dataclass_fields__ if name != "phases"]
    values = {name: statistics.median(getattr(s, name) for s in samples) for name in fields}
    return Figures(phases=samples[0].phases, **values)


def table(db: str, rows: list[Figures]) -> str:
    lines = [
        f"{'database':<11}{'phases':>7}{'ms/step':>9}{'cpu ms':>8}{'q/step':>8}"
        f"{'start ms':>10}{'cpu ms':>8}{'q/start':>9}"
    ]
    for row in rows:
        lines.append(
            f"{db:<11}{row.phases:>7}{row.step_ms:>9.2f}{row.step_cpu_ms:>8.2f}{row.step_queries:>8.1f}"
            f"{row.start_ms:>10.2f}{row.start_cpu_ms:>8.2f}{row.start_queries:>9.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--phases", type=int, nargs="+", default=[7, 60])
    parser.add_argument("--n", type=int, default=30, help="instances per case")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(table(args.db, run(args.db, args.phases, args.n, args.repeat)))


if __name__ == "__main__":
    main()
