"""Query-string filters of the list endpoints."""

from __future__ import annotations

import django_filters

from engine.models import DeadLetter, DeadLetterState, InstanceState, WorkflowInstance


class InstanceFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="template__key", help_text="template key")
    state = django_filters.MultipleChoiceFilter(choices=InstanceState.choices, help_text="one or more states")
    business_key = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

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
