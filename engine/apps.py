from __future__ import annotations

from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "engine"
    verbose_name = "Workflow engine"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from engine import activities, checks  # noqa: F401  (registers system checks)

        activities.autodiscover()

        from engine.observability import celery_hooks

        celery_hooks.connect()
