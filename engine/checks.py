"""System checks for configuration the engine depends on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def engine_settings(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    options = getattr(settings, "PHASEGATE", {})
    for name in ("MAX_LOST_ATTEMPTS", "DEFAULT_LEASE_SECONDS", "LOCAL_CHAIN_LIMIT"):
        value = options.get(name)
        if not isinstance(value, int) or value < 1:
            problems.append(Error(f"PHASEGATE[{name!r}] must be a positive integer", id="engine.E001"))
    backlog = options.get("KEEP_LOCAL_BACKLOG", 0)
    if not isinstance(backlog, int) or backlog < 0:
        message = "PHASEGATE['KEEP_LOCAL_BACKLOG'] must be 0 or a positive integer"
        problems.append(Error(message, id="engine.E001"))
    if not getattr(settings, "CELERY_TASK_ACKS_LATE", False):
        problems.append(
            Warning(
                "CELERY_TASK_ACKS_LATE should be True so a message is acknowledged after its work",
                id="engine.W001",
            )
        )
    return problems


@register(deploy=True)
def base_url(app_configs: Any, **kwargs: Any) -> list[Any]:
    """Mail links are absolute: a deployment says where it lives."""
    value = getattr(settings, "PHASEGATE_BASE_URL", "")
    if not value.startswith(("https://", "http://")):
        return [
            Warning(
                "PHASEGATE_BASE_URL is not set: links in escalation mail cannot be absolute",
                hint="Set it to the site's public address, e.g. https://flows.example.com",
                id="engine.W002",
            )
        ]
    return []
