"""The dashboard's history, counted once per closed hour so a range's figures are sums over a few rows.

An hour's counts are written by beat (engine.observability.counting) in one transaction with its
`CountedHour` row: an hour without that row has not been counted, and the figures count it from the raw
rows instead. Counts outlive the instances they counted (retention prunes instances, not history).
"""

from __future__ import annotations

from django.db import models

from engine.models.templates import WorkflowTemplate


class Figure(models.TextChoices):
    INSTANCES_FINISHED = "instances_finished", "Instances finished (label: state)"
    PHASES_FINISHED = "phases_finished", "Phase runs finished (label: state)"
    DURATION = "duration", "Completed phase runs by duration bucket (label: upper bound in seconds)"
    RETRIES = "retries", "Attempts beyond the first, of phases and map items that finished"
    FAILURES = "failures", "Dead letters written (label: error category)"


class HourlyCount(models.Model):
    """One count of one hour: a figure of a template's phase (phase_id blank for instance figures)."""

    hour = models.DateTimeField(help_text="the hour's start, UTC")
    template = models.ForeignKey(WorkflowTemplate, on_delete=models.CASCADE, related_name="+")
    phase_id = models.CharField(max_length=63, blank=True)
    figure = models.CharField(max_length=20, choices=Figure.choices)
    label = models.CharField(max_length=40, blank=True)
    value = models.BigIntegerField()

    class Meta:
        ordering = ["hour", "template", "phase_id", "figure", "label"]
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "template", "phase_id", "figure", "label"], name="one_count_per_hour"
            ),
        ]
        # the unique constraint's index serves a range over all templates; this one a range of one template
        indexes = [models.Index(fields=["template", "hour"], name="count_template_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.figure} {self.phase_id} {self.label}: {self.value}"


class CountedHour(models.Model):
    """An hour whose counts are written (when, so a recount shows)."""

    hour = models.DateTimeField(unique=True, help_text="the hour's start, UTC")
    counted_at = models.DateTimeField()

    class Meta:
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h counted at {self.counted_at:%H:%M:%S}"
