"""The dead-letter queue: work the engine gave up on, waiting for a person to retry or discard it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api import selectors
from engine.api.filters import DeadLetterFilter
from engine.api.permissions import CanResolveDeadLetter, CanSeeInstance
from engine.api.serializers import DeadLetterSerializer, ReasonInputSerializer
from engine.api.views.base import ApiView, ListView, errors, validated
from engine.models import DeadLetter
from engine.services import dead_letters


class DeadLetterListView(ListView):
    """Dead letters of the instances you may see, newest first; filter by state, instance, template, phase."""

    serializer_class = DeadLetterSerializer
    filterset_class = DeadLetterFilter
    queryset = DeadLetter.objects.none()

    def get_queryset(self) -> Any:
        if self.is_schema_run():
            return DeadLetter.objects.none()
        return selectors.dead_letter_list(user=self.request.user)


class VisibleDeadLetter:
    def visible_dead_letter(self, request: Request, pk: int) -> DeadLetter:
        letter = selectors.dead_letter_get(dead_letter_id=pk)
        self.check_object_permissions(request, letter)  # type: ignore[attr-defined]
        return letter


class DeadLetterDetailView(VisibleDeadLetter, ApiView):
    """One dead letter with its error."""

    permission_classes = [IsAuthenticated, CanSeeInstance]

    @extend_schema(responses={200: DeadLetterSerializer, **errors(403, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(
            DeadLetterSerializer(self.visible_dead_letter(request, pk), context={"request": request}).data
        )


class DeadLetterOperationView(VisibleDeadLetter, ApiView):
    permission_classes = [IsAuthenticated, CanResolveDeadLetter, CanSeeInstance]
    operation: ClassVar[Callable[..., Any]]

    @extend_schema(
        request=ReasonInputSerializer,
        responses={200: DeadLetterSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        self.visible_dead_letter(request, pk)
        data = validated(ReasonInputSerializer, request.data)
        type(self).operation(dead_letter_id=pk, user=request.user, reason=data["reason"])
        return Response(
            DeadLetterSerializer(
                selectors.dead_letter_get(dead_letter_id=pk), context={"request": request}
            ).data
        )


class RetryInputSerializer(ReasonInputSerializer):
    input = serializers.DictField(
        required=False,
        help_text="the attempt's corrected input, used instead of the phase's input mapping (checked against "
        "the activity's input schema)",
    )
    params = serializers.DictField(
        required=False, help_text="the instance's corrected params (checked against the template's schema)"
    )

    class Meta:
        ref_name = "DeadLetterRetryInput"


class DeadLetterRetryView(DeadLetterOperationView):
    """Run the failed phase (or map item) again; optionally correct its input or the instance's params first
    (each audited with before and after)."""

    operation = dead_letters.dead_letter_retry

    @extend_schema(
        request=RetryInputSerializer,
        responses={200: DeadLetterSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        self.visible_dead_letter(request, pk)
        data = validated(RetryInputSerializer, request.data)
        dead_letters.dead_letter_retry(
            dead_letter_id=pk,
            user=request.user,
            reason=data["reason"],
            input=data.get("input"),
            params=data.get("params"),
        )
        return Response(
            DeadLetterSerializer(
                selectors.dead_letter_get(dead_letter_id=pk), context={"request": request}
            ).data
        )


class DeadLetterDiscardView(DeadLetterOperationView):
    """Give up on it for good; the instance stays as it is."""

    operation = dead_letters.dead_letter_discard
