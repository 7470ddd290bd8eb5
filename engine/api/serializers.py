"""Output shapes shared by several views, and the schema pieces they need. Input shapes live with their views.

No business logic here: these only turn rows into JSON.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engine import access
from engine.models import DeadLetterState, InstanceState, PhaseState, SlaStatus, VersionState

REASON_MAX = 2000


class StateField(serializers.ChoiceField):
    """A choice field whose choices are one of the engine's state enums, named in the schema after it."""

    def __init__(self, choices_class: type[models.TextChoices], **kwargs: Any) -> None:
        self.enum_name = choices_class.__name__
        kwargs.setdefault("read_only", True)
        super().__init__(choices=choices_class.choices, **kwargs)


class StateFieldExtension(OpenApiSerializerFieldExtension):
    """Each state enum is one named component, so the same field name can carry different enums."""

    target_class = StateField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field: StateField = self.target
        component = ResolvedComponent(
            name=field.enum_name,
            type=ResolvedComponent.SCHEMA,
            object=field.enum_name,
            schema={"type": "string", "enum": list(field.choices)},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class StoredErrorField(serializers.DictField):
    """A stored failure (`{category, message, attempt, at, ...}`); its `traceback` only for operators.

    The user comes from the serializer's context: without a request nobody is an operator, so a view that
    forgets to pass one shows less, never more.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault(
            "help_text",
            "the failure: category, message, attempt, at; `traceback` only for operators (who may override "
            "the instance or its phases, or resolve its dead letters)",
        )
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        request = self.context.get("request")
        return super().to_representation(access.error_shown_to(getattr(request, "user", None), value))


def username(source: str) -> serializers.CharField:
    return serializers.CharField(source=f"{source}.username", read_only=True, allow_null=True, default=None)


class ErrorSerializer(serializers.Serializer):
    """Every error the API returns."""

    code = serializers.CharField(
        help_text="a stable code: not_found, template_invalid, transition_rejected, …"
    )
    message = serializers.CharField()
    extra = serializers.DictField(
        help_text="details; `errors` holds the problems of a template or params (each with its JSON pointer) "
        "or of a form (by field, with `problems` giving each JSON pointer)"
    )

    class Meta:
        ref_name = "Error"


class ReasonInputSerializer(serializers.Serializer):
    """The body of every override: why, for the audit trail."""

    reason = serializers.CharField(max_length=REASON_MAX, help_text="why; kept in the audit trail")

    class Meta:
        ref_name = "ReasonInput"


class ProblemSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="JSON pointer into the document")
    code = serializers.CharField()
    message = serializers.CharField()

    class Meta:
        ref_name = "Problem"


# --- templates ------------------------------------------------------------------------------------------


class VersionSummarySerializer(serializers.Serializer):
    template = serializers.CharField(source="template.key", read_only=True)
    number = serializers.IntegerField(read_only=True)
    state = StateField(VersionState)
    checksum = serializers.CharField(read_only=True)
    schema_version = serializers.CharField(read_only=True)
    notes = serializers.CharField(read_only=True)
    phase_count = serializers.IntegerField(read_only=True)
    created_by = username("created_by")
    created_at = serializers.DateTimeField(read_only=True)
    published_by = username("published_by")
    published_at = serializers.DateTimeField(read_only=True, allow_null=True)
    retired_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        ref_name = "TemplateVersionSummary"


class VersionDetailSerializer(VersionSummarySerializer):
    definition = serializers.DictField(read_only=True, help_text="the template document (TEMPLATE_FORMAT.md)")

    class Meta:
        ref_name = "TemplateVersion"


class TemplateSummarySerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    published_version = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="the latest published version number"
    )
    draft_version = serializers.IntegerField(read_only=True, allow_null=True, help_text="the draft's number")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        ref_name = "TemplateSummary"


# --- instances and phases -------------------------------------------------------------------------------


class PhaseRunSummarySerializer(serializers.Serializer):
    phase_id = serializers.CharField(read_only=True)
    phase_type = serializers.CharField(read_only=True)
    state = StateField(PhaseState)
    round = serializers.IntegerField(read_only=True)
    attempt = serializers.IntegerField(read_only=True)
    outcome = serializers.CharField(read_only=True)
    assignee = username("assignee")
    activated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    due_at = serializers.DateTimeField(read_only=True, allow_null=True)
    sla_status = StateField(SlaStatus)
    next_run_at = serializers.DateTimeField(read_only=True, allow_null=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    error = StoredErrorField(allow_null=True)

    class Meta:
        ref_name = "PhaseRunSummary"


class GateResultSerializer(serializers.Serializer):
    round = serializers.IntegerField(read_only=True)
    passed = serializers.BooleanField(read_only=True)
    reason = serializers.CharField(read_only=True)
    action = serializers.CharField(read_only=True)
    values = serializers.DictField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        ref_name = "GateResult"


class DeadLetterSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    instance = serializers.UUIDField(source="instance_id", read_only=True)
    template = serializers.CharField(source="instance.template.key", read_only=True)
    phase_id = serializers.CharField(read_only=True)
    item_index = serializers.IntegerField(
        source="item_run.index", read_only=True, allow_null=True, default=None
    )
    category = serializers.CharField(read_only=True)
    message = serializers.CharField(read_only=True)
    error = StoredErrorField()
    attempt = serializers.IntegerField(read_only=True)
    state = StateField(DeadLetterState)
    created_at = serializers.DateTimeField(read_only=True)
    resolved_at = serializers.DateTimeField(read_only=True, allow_null=True)
    resolved_by = username("resolved_by")
    resolution_reason = serializers.CharField(read_only=True)

    class Meta:
        ref_name = "DeadLetter"


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    instance = serializers.UUIDField(source="instance_id", read_only=True)
    phase_id = serializers.CharField(
        source="phase_run.phase_id", read_only=True, allow_null=True, default=None
    )
    author = username("author")
    body = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    class Meta:
        ref_name = "Comment"


class PhaseRunDetailSerializer(PhaseRunSummarySerializer):
    instance = serializers.UUIDField(source="instance_id", read_only=True)
    output = serializers.JSONField(read_only=True, allow_null=True)
    data = serializers.JSONField(read_only=True, allow_null=True, help_text="what a person submitted")
    claimed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    completed_by = username("completed_by")
    # Read beforehand by `selectors.phase_detail` (the serializer runs no query of its own).
    definition = serializers.DictField(read_only=True, help_text="the phase as the pinned version defines it")
    items = serializers.DictField(
        child=serializers.IntegerField(),
        source="item_counts",
        read_only=True,
        help_text="map items of the current round, counted by state",
    )
    gate_results = GateResultSerializer(many=True, read_only=True, source="gate_rows")
    dead_letters = DeadLetterSerializer(many=True, read_only=True, source="dead_letter_rows")
    comments = CommentSerializer(many=True, read_only=True, source="comment_rows")

    class Meta:
        ref_name = "PhaseRun"


class InstanceSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    template = serializers.CharField(source="template.key", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    business_key = serializers.CharField(read_only=True, allow_null=True)
    state = StateField(InstanceState)
    started_by = username("started_by")
    created_at = serializers.DateTimeField(read_only=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    updated_at = serializers.DateTimeField(read_only=True)

    class Meta:
        ref_name = "InstanceSummary"


class InstanceDetailSerializer(InstanceSummarySerializer):
    params = serializers.DictField(read_only=True)
    error = StoredErrorField(allow_null=True)
    suspended_at = serializers.DateTimeField(read_only=True, allow_null=True)
    # Read beforehand by `selectors.instance_detail` (the serializer runs no query of its own).
    phases = PhaseRunSummarySerializer(many=True, read_only=True, source="phase_rows")

    class Meta:
        ref_name = "Instance"


class EarlierRunSerializer(serializers.Serializer):
    """The finished instance that used a start's business key before it (`StartAnswer.earlier`)."""

    instance = serializers.UUIDField(source="earlier.pk", read_only=True)
    state = StateField(InstanceState, source="earlier.state")
    finished_at = serializers.DateTimeField(source="earlier.finished_at", read_only=True, allow_null=True)
    message = serializers.CharField(source="note", read_only=True)

    class Meta:
        ref_name = "EarlierRun"


class InstanceStartedSerializer(InstanceDetailSerializer):
    """A start's answer: the instance, and the earlier finished run of its business key if there was one."""

    earlier_run = serializers.SerializerMethodField()

    class Meta:
        ref_name = "InstanceStarted"

    @extend_schema_field(EarlierRunSerializer(allow_null=True))
    def get_earlier_run(self, instance: Any) -> Any:
        start = self.context.get("start")
        if start is None or start.earlier is None:
            return None
        return EarlierRunSerializer(start).data


class TransitionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    phase_id = serializers.CharField(read_only=True, help_text="empty for the instance itself")
    round = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    source = serializers.CharField(read_only=True)
    target = serializers.CharField(read_only=True)
    actor = serializers.CharField(source="actor_label", read_only=True)
    reason = serializers.CharField(read_only=True)
    metadata = serializers.DictField(read_only=True)

    class Meta:
        ref_name = "Transition"
