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
