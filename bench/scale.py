"""Every page, list and endpoint at production size: 100,000 instances, 1,000,000 phase runs.

    make bench-scale     (or: .venv/bin/python bench/scale.py [--only inbox] [--requests 30] [--plans])

Builds the dataset of `bench/scale_data.py` once in a PostgreSQL database of its own (`phasegate_scale`;
a few minutes), then applies any new migrations to it and times each row in-process with Django's test
client: p50 and p95 of the wall time over `--requests` requests (after two warm-up requests), the CPU time
of the process beside it, the number of queries, the slowest query and its plan (`EXPLAIN ANALYZE`).
Production settings (DEBUG off) and the start-up objects frozen as config/wsgi.py freezes them
(config/heap.py), so the figures are what a web process does. `--tail` prints, per row, the slowest
requests' wall, CPU, query and cyclic-GC time (a full collection inside a request is the usual tail).
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCALE_URL = os.environ.get(
    "PHASEGATE_SCALE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/phasegate_scale"
)
os.environ["DATABASE_URL"] = SCALE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-scale-only-" + "x" * 40)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
os.environ.setdefault("PHASEGATE_STATIC_MANIFEST", "0")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("PHASEGATE_EXAMPLES", "1")  # the dataset runs the four example templates


def ensure_database() -> None:
    """Create the benchmark's database when it is missing (never touches any other database)."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(SCALE_URL)
    admin = psycopg.connect(
        host=config["HOST"],
        port=config["PORT"] or 5432,
        user=config["USER"],
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{config["NAME"]}"')


def dataset_ready() -> bool:
    from django.db import connection

    from bench.scale_data import DATASET_VERSION

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_scale_meta')")
        if cursor.fetchone()[0] is None:
            return False
        cursor.execute("SELECT version FROM bench_scale_meta")
        row = cursor.fetchone()
    return row is not None and row[0] == DATASET_VERSION


@dataclass
class Row:
    name: str
    user: str
    path: str
    memory: bool = False
    counted: bool = False  # reads the dashboard's hourly counts: the backfill runs first


@dataclass
class Result:
    row: Row
    status: int
    p50: float
    p95: float
    cpu50: float
    queries: int
    slowest_ms: float
    slowest_sql: str
    plan: list[str]
    peak_mib: float = 0.0
    samples: list[Sample] | None = None


@dataclass
class Sample:
    """One timed request: where its wall time went."""

    index: int
    wall_ms: float
    cpu_ms: float
    query_ms: float
    gc_ms: float
    gc_gen2: int


class Probe:
    """Times the queries (through an execute wrapper, so DEBUG stays off) and the cyclic GC's pauses."""

    def __init__(self) -> None:
        self.query_s = 0.0
        self.gc_s = 0.0
        self.gen2 = 0
        self._gc_started = 0.0

    def reset(self) -> None:
        self.query_s = self.gc_s = 0.0
        self.gen2 = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.query_s += time.perf_counter() - started

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        self.gc_s += time.perf_counter() - self._gc_started
        if info["generation"] == 2:
            self.gen2 += 1


def subjects() -> dict[str, Any]:
    """Ids the rows need: the instance with the longest history, a running 500-phase instance, …"""
    from django.db.models import Count

    from engine.models import PhaseRun, WorkflowInstance

    long_history = (
        WorkflowInstance.objects.filter(template__key="dt_testing", state="running")
        .annotate(n=Count("transitions"))
        .filter(n__gt=1000)
        .values_list("pk", flat=True)
        .first()
    )
    chain = (
        WorkflowInstance.objects.filter(template__key="long_review", state="running")
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    chain_phase = (
        PhaseRun.objects.filter(instance_id=chain, state="active").values_list("phase_id", flat=True).first()
    )
    automated = (
        WorkflowInstance.objects.filter(template__key="market_daily", state="running")
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    # The cursor of the API's page 500 (50 a page): the position of the 24,951st newest instance.
    newest = WorkflowInstance.objects.order_by("-created_at", "-pk")
    deep = newest.values_list("created_at", flat=True)[24_950]
    cursor = base64.b64encode(urlencode({"p": str(deep)}).encode()).decode()
    return {
        "long": long_history,
        "chain": chain,
        "chain_phase": chain_phase,
        "auto": automated,
        "cursor": quote(cursor),
    }


def table(ids: dict[str, Any]) -> list[Row]:
    long, chain = ids["long"], ids["chain"]
    return [
        Row("inbox, tester (busy role)", "tester", "/inbox/"),
        Row("inbox, manager", "manager", "/inbox/"),
        Row("inbox, 1.5k per-instance assignments", "assigned", "/inbox/"),
        Row("inbox, tester, page 20", "tester", "/inbox/?page=20"),
        Row("workflow list, administrator", "admin", "/workflows/"),
        Row("workflow list ?state=running", "admin", "/workflows/?state=running"),
        Row("workflow list ?template=dt_testing", "admin", "/workflows/?template=dt_testing"),
        Row("workflow list ?sla=behind_schedule", "admin", "/workflows/?sla=behind_schedule"),
        Row("workflow list ?page=500", "admin", "/workflows/?page=500"),
        Row("workflow list, non-staff tester", "tester", "/workflows/"),
        Row("workflow list, tester ?state=running", "tester", "/workflows/?state=running"),
        Row("workflow list, 1.5k assignments", "assigned", "/workflows/"),
        Row("instances API, administrator", "admin", "/api/instances/"),
        Row("instances API, non-staff tester", "tester", "/api/instances/"),
        Row("instances API ?page=500", "admin", "/api/instances/?page=500"),
        Row("instances API ?cursor= at page 500", "admin", f"/api/instances/?cursor={ids['cursor']}"),
        Row("instances API, two filters", "admin", "/api/instances/?state=running&template=dt_testing"),
        Row(
            "instances API, tester, two filters",
            "tester",
            "/api/instances/?state=running&template=dt_testing",
        ),
        Row("progress page, 1.5k transitions", "admin", f"/workflows/{long}/"),
        Row("progress page, 500 phases", "admin", f"/workflows/{chain}/", memory=True),
        Row("progress page, running market_daily", "admin", f"/workflows/{ids['auto']}/"),
        Row("phase page, long history", "tester", f"/workflows/{long}/phases/testing/"),
        Row("phase page, 500-phase instance", "tester", f"/workflows/{chain}/phases/{ids['chain_phase']}/"),
        Row("history API, long history", "admin", f"/api/instances/{long}/history/"),
        Row("instance detail API, 500 phases", "admin", f"/api/instances/{chain}/"),
        Row("admin instance change, 500 phases", "admin", f"/admin/engine/workflowinstance/{chain}/change/"),
        Row("admin instance change, long history", "admin", f"/admin/engine/workflowinstance/{long}/change/"),
        Row("admin changelist: instances", "admin", "/admin/engine/workflowinstance/"),
        Row(
            "admin changelist: instances ?state",
            "admin",
            "/admin/engine/workflowinstance/?state__exact=running",
        ),
        Row("admin changelist: phase runs", "admin", "/admin/engine/phaserun/"),
        Row("admin changelist: phase runs search", "admin", "/admin/engine/phaserun/?q=review_250"),
        Row("admin changelist: transitions", "admin", "/admin/engine/transition/"),
        Row("admin changelist: events", "admin", "/admin/engine/event/"),
        Row("admin changelist: dead letters", "admin", "/admin/engine/deadletter/"),
        Row("metrics API, 24h", "admin", "/api/metrics/?range=24h", counted=True),
        Row("metrics API, 7d", "admin", "/api/metrics/?range=7d", counted=True),
        Row(
            "metrics API, 30d, one template",
            "admin",
            "/api/metrics/?range=30d&template=dt_testing",
            counted=True,
        ),
        Row("dashboard, 24h", "admin", "/dashboard/", counted=True),
        Row("Prometheus /metrics", "admin", "/metrics", counted=True),
    ]


def backfill() -> None:
    """Count the dashboard's closed hours not counted yet, as beat (or `manage.py backfill_metrics`) does."""
    from django.db import connection

    from engine.services.figures import figures_backfill, figures_count

    started, cpu = time.monotonic(), time.process_time()
    hours = sum(len(batch) for batch in figures_backfill())
    hours += figures_count()  # beat's run: the last closed hours again
    with connection.cursor() as cursor:  # as autovacuum would after the first fill: the planner's statistics
        cursor.execute("ANALYZE engine_hourlycount, engine_countedhour")
    print(
        f"  hourly counts: {hours} hours counted in {time.monotonic() - started:.1f} s "
        f"(CPU {time.process_time() - cpu:.1f} s)",
        flush=True,
    )


def explain(sql: str) -> list[str]:
    from django.db import connection

    if not sql.lstrip().upper().startswith("SELECT"):
        return []
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql)
        return [line for (line,) in cursor.fetchall()]


def measure(row: Row, client: Any, requests: int, tail: bool = False) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    get: Callable[[], Any] = lambda: client.get(row.path)  # noqa: E731
    response = get()
    get()
    walls, cpus = [], []
    samples: list[Sample] = []
    probe = Probe()
    if tail:
        gc.callbacks.append(probe.on_gc)
    try:
        with connection.execute_wrapper(probe) if tail else _nothing():
            for index in range(requests):
                probe.reset()
                cpu, wall = time.process_time(), time.perf_counter()
                get()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                samples.append(
                    Sample(
                        index,
                        walls[-1] * 1000,
                        cpus[-1] * 1000,
                        probe.query_s * 1000,
                        probe.gc_s * 1000,
                        probe.gen2,
                    )
                )
    finally:
        if tail:
            gc.callbacks.remove(probe.on_gc)
    connection.queries_log.clear()  # a bounded deque: once full, a capture would count nothing
    with CaptureQueriesContext(connection) as captured:
        get()
    queries = list(captured.captured_queries)  # a property over the log, which the next request clears
    slowest = max(queries, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    peak = 0.0
    if row.memory:
        tracemalloc.start()
        get()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    walls.sort()
    return Result(
        row=row,
        status=response.status_code,
        p50=statistics.median(walls) * 1000,
        p95=walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))] * 1000,
        cpu50=statistics.median(cpus) * 1000,
        queries=len(queries),
        slowest_ms=float(slowest["time"]) * 1000,
        slowest_sql=slowest["sql"],
        plan=explain(slowest["sql"]),
        peak_mib=peak,
        samples=samples if tail else None,
    )


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def print_tail(r: Result) -> None:
    """The slowest requests of a row, and what their time was spent on."""
    assert r.samples
    slow = sorted(r.samples, key=lambda s: s.wall_ms, reverse=True)[:3]
    gc_total = sum(s.gc_ms for s in r.samples)
    gen2 = sum(s.gc_gen2 for s in r.samples)
    print(
        f"--- {r.row.name}: GC {gc_total:.0f} ms over {len(r.samples)} requests "
        f"({gen2} full collections); slowest requests:"
    )
    for s in slow:
        print(
            f"      #{s.index}: wall {s.wall_ms:.0f} ms, CPU {s.cpu_ms:.0f} ms, queries {s.query_ms:.1f} ms, "
            f"GC {s.gc_ms:.0f} ms ({s.gc_gen2} full)"
        )


def report(results: list[Result], plans: bool) -> None:
    print()
    print("| what | p50 | p95 | CPU p50 | queries | slowest query | target p95 < 100 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        status = "" if r.status == 200 else f" (HTTP {r.status})"
        memory = f", peak {r.peak_mib:.1f} MiB allocated" if r.row.memory else ""
        met = "met" if r.p95 < 100 and r.status == 200 else "**missed**"
        print(
            f"| {r.row.name}{status}{memory} | {r.p50:,.0f} ms | {r.p95:,.0f} ms | {r.cpu50:,.0f} ms | "
            f"{r.queries} | {r.slowest_ms:,.1f} ms | {met} |"
        )
    print()
    for r in results:
        if r.samples:
            print_tail(r)
    for r in results:
        print(f"--- {r.row.name}: slowest query {r.slowest_ms:.1f} ms")
        print("    " + r.slowest_sql[: 300 if not plans else None])
        for line in r.plan if plans else r.plan[:6]:
            print("      " + (line if plans else line[:200]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="timed requests per row (at least 30)")
    parser.add_argument("--only", default="", help="rows whose name contains this text")
    parser.add_argument("--plans", action="store_true", help="print whole plans and queries")
    parser.add_argument(
        "--tail", action="store_true", help="per request: wall, CPU, query and GC time of the slowest"
    )
    parser.add_argument("--rebuild", action="store_true", help="drop the dataset and build it again")
    parser.add_argument("--build-only", action="store_true", help="build the dataset and stop")
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bench import scale_data

    if args.rebuild:
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    scale_data.log("migrations applied", started)
    if not dataset_ready():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM engine_workflowinstance")
            if cursor.fetchone()[0]:
                sys.exit("the scale database holds another dataset: run with --rebuild")
        print("building the dataset (a few minutes) …", flush=True)
        scale_data.build()
    if args.build_only:
        return
    ids = subjects()
    users = {
        user.username: user
        for user in get_user_model().objects.filter(username__in=["admin", "tester", "manager", "assigned"])
    }
    from config import heap

    heap.settle()  # what config/wsgi.py does once Django is set up: the rows time a web process
    clients: dict[str, Any] = {}
    results = []
    counted = False
    for row in table(ids):
        if args.only and args.only not in row.name:
            continue
        if row.counted and not counted:
            backfill()
            counted = True
        if row.user not in clients:
            clients[row.user] = Client()
            clients[row.user].force_login(users[row.user])
        result = measure(row, clients[row.user], max(args.requests, 1), tail=args.tail)
        print(
            f"  {row.name}: p50 {result.p50:,.0f} ms, p95 {result.p95:,.0f} ms, {result.queries} queries",
            flush=True,
        )
        results.append(result)
    report(results, args.plans)


if __name__ == "__main__":
    main()
