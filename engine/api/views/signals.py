"""Signals: to an instance by id, or to the unfinished instance of a template with a business key."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api.permissions import CanSeeInstance
from engine.api.views.base import ApiView, VisibleInstance, errors, validated
from engine.services.instances import Delivery, signal_deliver, signal_deliver_by_key


class SignalDeliveredSerializer(serializers.Serializer):
    instance = serializers.UUIDField()
    signal = serializers.CharField()
    completed = serializers.ListField(child=serializers.CharField(), help_text="the phases it completed")
    buffered = serializers.BooleanField(help_text="kept until a phase waiting for it opens")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="when a buffered signal is dropped")
    duplicate = serializers.BooleanField(help_text="a delivery with this id was made before; nothing changed")
    delivery_id = serializers.CharField(allow_null=True)

    class Meta:
        ref_name = "SignalDelivered"


def delivery_response(instance_id: Any, delivery: Delivery) -> Response:
    """200 when delivered (or a repeat), 202 when kept for a wait phase that has not opened yet."""
    body = SignalDeliveredSerializer({"instance": instance_id, **asdict(delivery)}).data
    fresh_buffer = delivery.buffered and not delivery.duplicate
    return Response(body, status=status.HTTP_202_ACCEPTED if fresh_buffer else status.HTTP_200_OK)


DELIVERY_ID_HEADER = "Idempotency-Key"
MAX_DELIVERY_ID = 200


def delivery_id_of(request: Request, body_value: Any = None) -> str | None:
    value = body_value if body_value is not None else request.headers.get(DELIVERY_ID_HEADER)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_DELIVERY_ID:
        raise ValidationError({"id": [f"a delivery id is text of at most {MAX_DELIVERY_ID} characters"]})
    return value


class SignalView(VisibleInstance, ApiView):
    """Deliver signal `name` to the instance: every phase waiting for it completes with the body as output."""

    permission_classes = [IsAuthenticated, CanSeeInstance]

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter(
                DELIVERY_ID_HEADER, str, OpenApiParameter.HEADER, description="repeat-safe delivery id"
            )
        ],
        responses={
            200: SignalDeliveredSerializer,
            202: SignalDeliveredSerializer,
            **errors(400, 403, 404, 409, 413),
        },
        description=(
            "The body (a JSON object, or empty) becomes the output of the waiting phases. When no phase "
            "waits yet but one will (its wait phase has not opened), the signal is kept for the phase's "
            "`buffer` and 202 is returned; 409 when no phase of the instance waits or will wait for it. "
            "A repeated `Idempotency-Key` returns the first delivery's result and changes nothing."
        ),
    )
    def post(self, request: Request, pk: Any, name: str) -> Response:
        self.visible_instance(request, pk)
        payload = serializers.DictField().run_validation(request.data)
        delivery = signal_deliver(
            instance_id=pk,
            name=name,
            payload=payload,
            user=request.user,
            delivery_id=delivery_id_of(request),
        )
        return delivery_response(pk, delivery)


class CorrelatedSignalView(ApiView):
    """Deliver a signal to the unfinished instance of a template with a business key."""

    permission_classes = [IsAuthenticated, CanSeeInstance]

    class InputSerializer(serializers.Serializer):
        template = serializers.SlugField(max_length=80)
        business_key = serializers.CharField(max_length=200)
        name = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$", help_text="the signal's name")
        payload = serializers.DictField(required=False, default=dict)
        id = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_DELIVERY_ID, help_text="repeat-safe delivery id"
        )

        class Meta:
            ref_name = "CorrelatedSignal"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: SignalDeliveredSerializer,
            202: SignalDeliveredSerializer,
            **errors(400, 403, 404, 409, 413),
        },
        description=(
            "As `POST /api/instances/<id>/signals/<name>/`, addressed by template key and business key; "
            "404 when no unfinished instance has them. `id` (or the `Idempotency-Key` header) makes a repeat "
            "a no-op."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        instance, delivery = signal_deliver_by_key(
            template_key=data["template"],
            business_key=data["business_key"],
            name=data["name"],
            payload=data["payload"],
            user=request.user,
            delivery_id=delivery_id_of(request, data.get("id") or None),
        )
        return delivery_response(instance.pk, delivery)
