"""Compensation of a failed or cancelled instance: start it (with a reason) and list its steps."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api.permissions import CanOverrideInstance, CanSeeInstance
from engine.api.serializers import ReasonInputSerializer, StoredErrorField
from engine.api.views.base import ApiView, VisibleInstance, errors, validated
from engine.models import CompensationRun
from engine.services.overrides import instance_compensate


class CompensationSerializer(serializers.ModelSerializer):
    error = StoredErrorField(allow_null=True)

    class Meta:
        model = CompensationRun
        ref_name = "Compensation"
        fields = (
            "order",
            "phase_id",
            "activity",
            "state",
            "attempt",
            "input",
            "output",
            "error",
            "reason",
            "started_at",
            "finished_at",
        )


class InstanceCompensationsView(VisibleInstance, ApiView):
    """The compensation steps of an instance, in the order they run."""

    permission_classes = [IsAuthenticated, CanSeeInstance]

    @extend_schema(responses={200: CompensationSerializer(many=True), **errors(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        instance = self.visible_instance(request, pk)
        steps = CompensationRun.objects.filter(instance=instance).order_by("order")
        return Response(CompensationSerializer(steps, many=True, context={"request": request}).data)


class InstanceCompensateView(VisibleInstance, ApiView):
    """Undo the completed phases of a failed or cancelled instance (their `compensate` activities)."""

    permission_classes = [IsAuthenticated, CanOverrideInstance, CanSeeInstance]

    @extend_schema(
        request=ReasonInputSerializer,
        responses={200: CompensationSerializer(many=True), **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: Any) -> Response:
        self.visible_instance(request, pk)
        data = validated(ReasonInputSerializer, request.data)
        steps = instance_compensate(instance_id=pk, user=request.user, reason=data["reason"])
        return Response(CompensationSerializer(steps, many=True, context={"request": request}).data)
