"""Query-string filters of the list endpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from engine.models import DeadLetter, DeadLetterState, InstanceState, WorkflowInstance


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time turned into UTC: any offset Python accepts (up to ±23:59) then fits the database,
    which allows ±15:59, and a time whose UTC form falls outside years 1–9999 is a 400, not a 500."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("the time is out of range once converted to UTC") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class InstanceFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__key", help_text="template key")
    # No DISTINCT: a state filter cannot repeat a row, and DISTINCT would sort every match before paging.
    state = django_filters.MultipleChoiceFilter(
        choices=InstanceState.choices, distinct=False, help_text="one or more states"
    )
    business_key = django_filters.CharFilter()
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WorkflowInstance
        fields = ["template", "state", "business_key", "created_after", "created_before"]


class DeadLetterFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=DeadLetterState.choices)
    instance = django_filters.UUIDFilter(field_name="instance_id")
    template = django_filters.CharFilter(field_name="instance__template__key", help_text="template key")
    phase_id = django_filters.CharFilter()
    category = django_filters.CharFilter()

    class Meta:
        model = DeadLetter
        fields = ["state", "instance", "template", "phase_id", "category"]
