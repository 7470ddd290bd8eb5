from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("phasegate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def worker_database_limits(**_: object) -> None:
    """Workers get their own lock and statement timeouts (see config/database.py)."""
    from config.database import apply_role

    apply_role("worker")


@signals.worker_before_create_process.connect
def worker_heap_settle_before_fork(**_: object) -> None:
    """The prefork pool's parent freezes its start-up objects before each fork (config/heap.py), so the
    children share those pages instead of copying them when their collector would have walked them."""
    from config import heap

    heap.settle()


@signals.worker_process_init.connect
def worker_heap_settle(**_: object) -> None:
    """Every pool process (prefork child, solo, threads) freezes what it built before its first task."""
    from config import heap

    heap.settle()


@signals.task_prerun.connect
def database_connections_checked(task: object = None, **_: object) -> None:
    """Before each task, as before each web request: close a connection that is too old or broken.

    With the health check on (DATABASE_CONN_HEALTH_CHECKS), a kept connection is checked once before the
    task uses it, so a restarted database costs no task an error. Not for eager tasks: they run inside the
    caller's transaction.
    """
    request = getattr(task, "request", None)
    if request is not None and not getattr(request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()
