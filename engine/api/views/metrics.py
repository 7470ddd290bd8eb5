"""GET /api/metrics/: the dashboard's figures as JSON."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api.views.base import ApiView, errors
from engine.observability import figures
from engine.observability.access import may_see_dashboard


class CanSeeDashboard(BasePermission):
    message = "the metrics need staff status or the engine.view_dashboard permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return may_see_dashboard(request.user)


class MetricsView(ApiView):
    permission_classes = [CanSeeDashboard]

    @extend_schema(
        summary="The operators' figures: instances by state, throughput, durations, failures, lags",
        parameters=[
            OpenApiParameter("range", str, enum=list(figures.RANGES), description="default 24h"),
            OpenApiParameter("template", str, description="a template key; all templates when absent"),
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(400, 403)},
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        try:
            scope = figures.Scope.parse(
                range_name=request.query_params.get("range"),
                template_key=request.query_params.get("template"),
                now=now,
            )
        except figures.FigureError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from None
        return Response(figures.dashboard(scope, now=now))
