"""GET /api/tasks/: the caller's inbox, as the inbox page shows it (same filters, same SLA fields)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api.pagination import MAX_PAGE_SIZE, requested_page_size
from engine.api.serializers import StateField
from engine.api.views.base import ApiView, errors
from engine.models import SlaStatus
from engine.paging import page_number
from engine.selectors import INBOX_PAGE_SIZE, InboxItem, inbox_get

SLA_FILTER_CHOICES = ("on_schedule", "at_risk", "behind_schedule")


class TaskSerializer(serializers.Serializer):
    instance = serializers.UUIDField(source="run.instance_id", read_only=True)
    template = serializers.CharField(source="plan.key", read_only=True)
    template_name = serializers.CharField(source="plan.name", read_only=True)
    business_key = serializers.CharField(source="run.instance.business_key", read_only=True, allow_null=True)
    phase_id = serializers.CharField(source="run.phase_id", read_only=True)
    phase_name = serializers.CharField(source="spec.name", read_only=True)
    round = serializers.IntegerField(source="run.round", read_only=True)
    roles = serializers.SerializerMethodField()
    assignee = serializers.CharField(
        source="run.assignee.username", read_only=True, allow_null=True, default=None
    )
    mine = serializers.BooleanField(read_only=True, help_text="claimed by (or assigned to) the caller")
    activated_at = serializers.DateTimeField(source="run.activated_at", read_only=True, allow_null=True)
    due_at = serializers.DateTimeField(source="run.due_at", read_only=True, allow_null=True)
    sla_status = StateField(SlaStatus, source="run.sla_status")
    escalated_at = serializers.DateTimeField(source="run.escalated_at", read_only=True, allow_null=True)
    outcomes = serializers.ListField(source="spec.outcomes", child=serializers.CharField(), read_only=True)
    url = serializers.SerializerMethodField(help_text="the phase in the API")
    page_url = serializers.SerializerMethodField(help_text="the phase page in the browser")

    class Meta:
        ref_name = "Task"

    def get_roles(self, item: InboxItem) -> list[dict[str, str]]:
        return [{"key": key, "name": name} for key, name in item.roles]

    def get_url(self, item: InboxItem) -> str:
        return reverse("api:phase-detail", args=[item.run.instance_id, item.run.phase_id])

    def get_page_url(self, item: InboxItem) -> str:
        return reverse("pages:phase_detail", args=[item.run.instance_id, item.run.phase_id])


class TaskListView(ApiView):
    """Open human phases the caller holds or may claim, earliest due first (the inbox page's list)."""

    @extend_schema(
        summary="Your inbox: the human phases you hold or may claim",
        parameters=[
            OpenApiParameter("role", str, description="only phases of this role"),
            OpenApiParameter("template", str, description="only phases of this template (its key)"),
            OpenApiParameter("sla", str, enum=list(SLA_FILTER_CHOICES), description="only this SLA status"),
            OpenApiParameter("page", int),
            OpenApiParameter(
                "page_size", int, description=f"default {INBOX_PAGE_SIZE}, at most {MAX_PAGE_SIZE}"
            ),
            OpenApiParameter("limit", int, description="the same as page_size"),
        ],
        responses={
            200: inline_serializer(
                "TaskPage",
                {
                    "count": serializers.IntegerField(),
                    "count_capped": serializers.BooleanField(help_text="count stopped at 10,000"),
                    "page": serializers.IntegerField(),
                    "page_size": serializers.IntegerField(),
                    "next": serializers.CharField(allow_null=True),
                    "previous": serializers.CharField(allow_null=True),
                    "roles": serializers.ListField(child=serializers.DictField()),
                    "results": TaskSerializer(many=True),
                },
            ),
            **errors(400, 403),
        },
    )
    def get(self, request: Request) -> Response:
        query = request.query_params
        sla = query.get("sla", "")
        if sla and sla not in SLA_FILTER_CHOICES:
            raise serializers.ValidationError({"sla": [f"must be one of {', '.join(SLA_FILTER_CHOICES)}"]})
        size = requested_page_size(query, INBOX_PAGE_SIZE)
        box = inbox_get(
            user=request.user,
            role=query.get("role", ""),
            template=query.get("template", ""),
            sla=sla,
            page=page_number(query.get("page")),
            size=size,
        )
        shown = box.page
        return Response(
            {
                "count": shown.count,
                "count_capped": shown.capped,
                "page": shown.number,
                "page_size": size,
                "next": _page_link(request, shown.number + 1) if shown.has_next else None,
                "previous": _page_link(request, shown.number - 1) if shown.has_previous else None,
                "roles": [{"key": key, "name": name} for key, name in box.roles],
                "results": TaskSerializer(box.items, many=True).data,
            }
        )


def _page_link(request: Request, number: int) -> str:
    query: Any = request.query_params.copy()
    query["page"] = str(number)
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
