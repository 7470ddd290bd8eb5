"""Workflow templates and their immutable, numbered versions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, transition

from engine.definition.canonical import checksum
from engine.errors import VersionImmutable
from engine.models.fsm import ConcurrentTransitionModel
from engine.models.states import VersionState

FROZEN_VERSION_FIELDS = frozenset({"definition", "checksum", "number", "template", "template_id"})


class WorkflowTemplate(models.Model):
    """A workflow by its stable key; what it does lives in its versions."""

    key = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name or self.key


class TemplateVersionQuerySet(models.QuerySet["TemplateVersion"]):
    def update(self, **kwargs: Any) -> int:
        # Bulk updates bypass save(); refuse the ones that would rewrite a published definition.
        if FROZEN_VERSION_FIELDS & kwargs.keys() and self.exclude(state=VersionState.DRAFT).exists():
            raise VersionImmutable("a published or retired template version never changes")
        return super().update(**kwargs)

    def published(self) -> TemplateVersionQuerySet:
        return self.filter(state=VersionState.PUBLISHED)


class TemplateVersion(ConcurrentTransitionModel, models.Model):
    """One numbered version of a template's JSON definition: draft, then published (frozen), then retired."""

    template = models.ForeignKey(WorkflowTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    checksum = models.CharField(max_length=64, help_text="sha256 of the canonical JSON of the definition")
    schema_version = models.CharField(max_length=32, default="phasegate/v1")
    state = FSMField(choices=VersionState.choices, default=VersionState.DRAFT, protected=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = TemplateVersionQuerySet.as_manager()

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="version_number_unique"),
            models.UniqueConstraint(
                fields=["template"], condition=Q(state="draft"), name="one_draft_per_template"
            ),
        ]
        permissions = [
            ("publish_templateversion", "Can publish template versions"),
            ("retire_templateversion", "Can retire template versions"),
        ]

    def __str__(self) -> str:
        return f"{self.template.key} v{self.number} ({self.state})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and self.is_frozen:
            self._refuse_frozen_change()
        super().save(*args, **kwargs)

    @property
    def is_frozen(self) -> bool:
        return self.state != VersionState.DRAFT

    @property
    def phase_count(self) -> int:
        phases = self.definition.get("phases") if isinstance(self.definition, dict) else None
        return len(phases) if isinstance(phases, list) else 0

    def _refuse_frozen_change(self) -> None:
        # Compare against what is stored, recomputing the checksum, so a changed definition cannot slip
        # through with its old checksum.
        stored = type(self).objects.filter(pk=self.pk).values("checksum", "number", "template_id").first()
        mine = (checksum(self.definition), self.checksum, self.number, self.template_id)
        if stored and mine != (
            stored["checksum"],
            stored["checksum"],
            stored["number"],
            stored["template_id"],
        ):
            raise VersionImmutable(f"{self} is {self.state}; edit a new draft instead")

    @transition(field="state", source=VersionState.DRAFT, target=VersionState.PUBLISHED)
    def publish(self, *, by: Any = None) -> None:
        self.published_by, self.published_at = by, timezone.now()

    @transition(field="state", source=VersionState.PUBLISHED, target=VersionState.RETIRED)
    def retire(self) -> None:
        self.retired_at = timezone.now()


class VersionChange(models.Model):
    """One append-only audit row for a template version's publish or retire: who, when, why."""

    version = models.ForeignKey(TemplateVersion, on_delete=models.CASCADE, related_name="changes")
    name = models.CharField(max_length=20)
    source = models.CharField(max_length=20)
    target = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text="a username, or system:files, …")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.version}: {self.name} {self.source}→{self.target} by {self.actor_label}"
