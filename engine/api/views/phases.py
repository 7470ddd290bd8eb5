"""One phase of an instance: its detail, human work (claim, release, assign, complete, comment) and the
administrator overrides (retry, skip, reopen, force-complete, reassign, extend the SLA).

Human work needs only that you can see the instance: the services check the phase's roles (403) and who
holds it (409). Overrides need engine.override_phaserun and a reason, and bypass roles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api import selectors
from engine.api.permissions import CanOverridePhase, CanSeeInstance
from engine.api.serializers import (
    REASON_MAX,
    CommentSerializer,
    PhaseRunDetailSerializer,
    ReasonInputSerializer,
)
from engine.api.views.base import ApiView, EmptyInputSerializer, VisibleInstance, errors, validated
from engine.services import overrides, phases

HUMAN_ERRORS = errors(400, 403, 404, 409, 413)


def optional_reason() -> serializers.CharField:
    return serializers.CharField(
        max_length=REASON_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="kept in the audit trail",
    )


def assignee_field(help_text: str) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        help_text=help_text,
    )


def outcome_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=100,
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="one of the phase's outcomes; may be left out when it has only one",
    )


def data_field(help_text: str) -> serializers.DictField:
    return serializers.DictField(required=False, allow_null=True, default=None, help_text=help_text)


class PhaseView(VisibleInstance, ApiView):
    permission_classes = [IsAuthenticated, CanSeeInstance]

    def phase_response(self, instance: Any, phase_id: str) -> Response:
        return Response(
            PhaseRunDetailSerializer(
                selectors.phase_detail(instance=instance, phase_id=phase_id),
                context={"request": self.request},
            ).data
        )


class PhaseDetailView(PhaseView):
    """One phase run: state, output, form data, definition, items, gate results, dead letters, comments."""

    @extend_schema(responses={200: PhaseRunDetailSerializer, **errors(403, 404)})
    def get(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        return self.phase_response(instance, phase_id)


# --- human work -----------------------------------------------------------------------------------------


class PhaseClaimView(PhaseView):
    """Take an open human phase for yourself: you need one of its roles (403) and nobody may hold it (409)."""

    @extend_schema(request=EmptyInputSerializer, responses={200: PhaseRunDetailSerializer, **HUMAN_ERRORS})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        validated(EmptyInputSerializer, request.data)
        phases.phase_claim(instance_id=pk, phase_id=phase_id, user=request.user)
        return self.phase_response(instance, phase_id)


class PhaseReleaseView(PhaseView):
    """Give a claimed phase back to everyone with its roles: its holder, a manager or an administrator."""

    class InputSerializer(serializers.Serializer):
        reason = optional_reason()

        class Meta:
            ref_name = "PhaseRelease"

    @extend_schema(request=InputSerializer, responses={200: PhaseRunDetailSerializer, **HUMAN_ERRORS})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        data = validated(self.InputSerializer, request.data)
        phases.phase_release(instance_id=pk, phase_id=phase_id, user=request.user, reason=data["reason"])
        return self.phase_response(instance, phase_id)


class PhaseAssignView(PhaseView):
    """Assign an open human phase to a holder of one of its roles (null unassigns); for a manager role or an
    administrator."""

    class InputSerializer(serializers.Serializer):
        assignee = assignee_field("the username of someone holding one of the phase's roles, or null")
        reason = optional_reason()

        class Meta:
            ref_name = "PhaseAssign"

    @extend_schema(request=InputSerializer, responses={200: PhaseRunDetailSerializer, **HUMAN_ERRORS})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        data = validated(self.InputSerializer, request.data)
        phases.phase_assign(
            instance_id=pk,
            phase_id=phase_id,
            user=request.user,
            assignee=data["assignee"],
            reason=data["reason"],
        )
        return self.phase_response(instance, phase_id)


class PhaseCompleteView(PhaseView):
    """Complete an open human phase with an outcome and its form data; an outcome that reopens an earlier
    phase sends the work back. Form problems are a 400 `form_invalid` with `extra.errors` by field and
    `extra.problems`, a list of `{path, message}` with each JSON pointer."""

    class InputSerializer(serializers.Serializer):
        outcome = outcome_field()
        data = data_field("the form data; must satisfy the phase's `form` schema")
        reason = optional_reason()

        class Meta:
            ref_name = "PhaseComplete"

    @extend_schema(request=InputSerializer, responses={200: PhaseRunDetailSerializer, **HUMAN_ERRORS})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        data = validated(self.InputSerializer, request.data)
        phases.phase_complete(
            instance_id=pk,
            phase_id=phase_id,
            user=request.user,
            outcome=data["outcome"] or None,
            data=data["data"],
            reason=data["reason"],
        )
        return self.phase_response(instance, phase_id)


class PhaseCommentView(PhaseView):
    """Leave a note on a phase; anyone who can see the instance may."""

    class InputSerializer(serializers.Serializer):
        body = serializers.CharField(max_length=phases.MAX_COMMENT)

        class Meta:
            ref_name = "CommentInput"

    @extend_schema(request=InputSerializer, responses={201: CommentSerializer, **errors(400, 403, 404, 413)})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        self.visible_instance(request, pk)
        data = validated(self.InputSerializer, request.data)
        comment = phases.comment_add(instance_id=pk, phase_id=phase_id, user=request.user, body=data["body"])
        return Response(CommentSerializer(comment).data, status=201)


# --- administrator overrides ----------------------------------------------------------------------------


class PhaseOverrideView(PhaseView):
    permission_classes = [IsAuthenticated, CanOverridePhase, CanSeeInstance]


class PhaseOperationView(PhaseOverrideView):
    operation: ClassVar[Callable[..., Any]]

    @extend_schema(
        request=ReasonInputSerializer,
        responses={200: PhaseRunDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        data = validated(ReasonInputSerializer, request.data)
        type(self).operation(instance_id=pk, phase_id=phase_id, user=request.user, reason=data["reason"])
        return self.phase_response(instance, phase_id)


class PhaseRetryView(PhaseOperationView):
    """Run a failed phase again; a failed instance goes back to running."""

    operation = overrides.phase_retry


class PhaseSkipView(PhaseOperationView):
    """Skip a phase; the phases after it run as if a choice had skipped it."""

    operation = overrides.phase_skip


class PhaseReopenView(PhaseOperationView):
    """Reset a phase and every phase after it that had started; they run again and the history stays."""

    operation = overrides.phase_reopen


class PhaseForceCompleteView(PhaseOverrideView):
    """Complete a phase whatever it was doing; a human phase gets an outcome (its first by default) and,
    when given, form data checked against its form."""

    class InputSerializer(ReasonInputSerializer):
        outcome = outcome_field()
        data = data_field("form data for a human phase")

        class Meta:
            ref_name = "PhaseForceComplete"

    @extend_schema(request=InputSerializer, responses={200: PhaseRunDetailSerializer, **HUMAN_ERRORS})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        data = validated(self.InputSerializer, request.data)
        overrides.phase_force_complete(
            instance_id=pk,
            phase_id=phase_id,
            user=request.user,
            reason=data["reason"],
            outcome=data["outcome"] or None,
            data=data["data"],
        )
        return self.phase_response(instance, phase_id)


class PhaseReassignView(PhaseOverrideView):
    """Hand an open human phase to anyone (or to nobody with null), roles or not."""

    class InputSerializer(ReasonInputSerializer):
        assignee = assignee_field("the username to hand the phase to, or null")

        class Meta:
            ref_name = "PhaseReassign"

    @extend_schema(request=InputSerializer, responses={200: PhaseRunDetailSerializer, **HUMAN_ERRORS})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        data = validated(self.InputSerializer, request.data)
        overrides.phase_reassign(
            instance_id=pk,
            phase_id=phase_id,
            user=request.user,
            assignee=data["assignee"],
            reason=data["reason"],
        )
        return self.phase_response(instance, phase_id)


class PhaseExtendSlaView(PhaseOverrideView):
    """Give an open human phase a new due time (in the future, with a time zone); its SLA status follows."""

    class InputSerializer(ReasonInputSerializer):
        due_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone")

        class Meta:
            ref_name = "PhaseExtendSla"

    @extend_schema(request=InputSerializer, responses={200: PhaseRunDetailSerializer, **HUMAN_ERRORS})
    def post(self, request: Request, pk: Any, phase_id: str) -> Response:
        instance = self.visible_instance(request, pk)
        data = validated(self.InputSerializer, request.data)
        overrides.phase_sla_extend(
            instance_id=pk, phase_id=phase_id, user=request.user, due_at=data["due_at"], reason=data["reason"]
        )
        return self.phase_response(instance, phase_id)
