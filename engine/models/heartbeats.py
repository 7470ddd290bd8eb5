"""When each periodic sweep last ran: the readiness check's beat freshness and the dashboard's lags."""

from __future__ import annotations

from django.db import models


class SweepHeartbeat(models.Model):
    """One row per periodic task, updated each time it finishes (a single-row UPDATE)."""

    name = models.CharField(max_length=100, primary_key=True)
    last_run_at = models.DateTimeField()
    last_result = models.IntegerField(null=True, blank=True, help_text="what the sweep returned (rows)")

    class Meta:
        ordering = ["name"]
        permissions = [("view_dashboard", "Can see the operations dashboard and /api/metrics/")]

    def __str__(self) -> str:
        return f"{self.name} at {self.last_run_at:%Y-%m-%d %H:%M:%S}"
