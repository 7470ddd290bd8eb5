"""Instances: list, start, detail, history, operations (the administrator overrides)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api import selectors
from engine.api.filters import InstanceFilter
from engine.api.permissions import CanOverrideInstance, CanSeeInstance
from engine.api.serializers import (
    InstanceDetailSerializer,
    InstanceStartedSerializer,
    InstanceSummarySerializer,
    ReasonInputSerializer,
    TransitionSerializer,
)
from engine.api.views.base import (
    ApiView,
    ListView,
    PermissionsByMethod,
    VisibleInstance,
    errors,
    validated,
)
from engine.models import Transition, WorkflowInstance
from engine.services import overrides
from engine.services.instances import instance_start_or_find


class InstanceListView(PermissionsByMethod, ListView):
    """The instances you may see, newest first; filter by template, state, business key and creation time."""

    serializer_class = InstanceSummarySerializer
    filterset_class = InstanceFilter
    queryset = WorkflowInstance.objects.none()
    cursor_ordering = ("-created_at", "-pk")  # the list's order (selectors.instance_list): `?cursor=`
    write_permission_classes = [IsAuthenticated]  # who may start which template: the service asks

    class InputSerializer(serializers.Serializer):
        template = serializers.CharField(max_length=80, help_text="the template key")
        params = serializers.DictField(
            required=False, default=dict, help_text="must satisfy the template's `params` schema"
        )
        business_key = serializers.CharField(
            max_length=200,
            required=False,
            allow_null=True,
            allow_blank=True,
            default=None,
            help_text="starting again with this key returns its holder (200; 409 with other params, or "
            "`business_key_used` when the template never reuses keys and its instance finished)",
        )
        version = serializers.IntegerField(
            min_value=1,
            max_value=selectors.MAX_NUMBER,
            required=False,
            allow_null=True,
            default=None,
            help_text="a published version number; the latest published one when left out",
        )

        class Meta:
            ref_name = "InstanceStart"

    def get_queryset(self) -> Any:
        if self.is_schema_run():
            return WorkflowInstance.objects.none()
        return selectors.instance_list(user=self.request.user)

    @extend_schema(
        operation_id="instances_start",
        summary="Start an instance",
        description=(
            "Starts an instance of the template's latest published version (or `version`). Idempotent per "
            "business key: while an instance started with the same template and business key is unfinished, "
            "it is returned with 200 instead of starting another; exactly one caller gets 201, however many "
            "start at once. The holder of the key started with other params is a 409 (`conflict`, "
            "`extra.instance` names it). When the template sets `business_key_reuse: never` and the key's "
            "instance finished, nothing starts: 409 `business_key_used`, its message and `extra` name that "
            "instance, its state and `finished_at`. A new start whose key a finished instance used before "
            "says so in `earlier_run` (a note, not an error)."
        ),
        request=InputSerializer,
        responses={
            201: InstanceStartedSerializer,
            200: InstanceStartedSerializer,
            **errors(400, 403, 404, 409),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(self.InputSerializer, request.data)
        started = instance_start_or_find(
            template_key=data["template"],
            params=data["params"],
            business_key=data["business_key"] or None,
            version=data["version"],
            user=request.user,
        )
        body = InstanceStartedSerializer(
            selectors.instance_detail(selectors.instance_get(instance_id=started.instance.pk)),
            context={"request": request, "start": started},
        ).data
        return Response(body, status=status.HTTP_201_CREATED if started.created else status.HTTP_200_OK)


class InstanceDetailView(VisibleInstance, ApiView):
    """One instance with its phase runs."""

    permission_classes = [IsAuthenticated, CanSeeInstance]

    @extend_schema(responses={200: InstanceDetailSerializer, **errors(403, 404)})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(
            InstanceDetailSerializer(
                selectors.instance_detail(self.visible_instance(request, pk)), context={"request": request}
            ).data
        )


class InstanceHistoryView(VisibleInstance, ListView):
    """The audit trail of an instance, oldest first: every state change and action, who made it and why."""

    serializer_class = TransitionSerializer
    queryset = Transition.objects.none()
    permission_classes = [IsAuthenticated, CanSeeInstance]

    def get_queryset(self) -> Any:
        if self.is_schema_run():
            return Transition.objects.none()
        instance = self.visible_instance(self.request, self.kwargs["pk"])
        return selectors.instance_history(instance=instance)

    @extend_schema(responses={200: TransitionSerializer(many=True), **errors(403, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class InstanceOperationView(VisibleInstance, ApiView):
    permission_classes = [IsAuthenticated, CanOverrideInstance, CanSeeInstance]
    operation: ClassVar[Callable[..., Any]]

    @extend_schema(
        request=ReasonInputSerializer,
        responses={200: InstanceDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: Any) -> Response:
        self.visible_instance(request, pk)
        data = validated(ReasonInputSerializer, request.data)
        type(self).operation(instance_id=pk, user=request.user, reason=data["reason"])
        return Response(
            InstanceDetailSerializer(
                selectors.instance_detail(selectors.instance_get(instance_id=pk)),
                context={"request": request},
            ).data
        )


class InstanceCancelView(InstanceOperationView):
    """Cancel the instance and its open phases."""

    operation = overrides.instance_cancel


class InstanceSuspendView(InstanceOperationView):
    """Suspend a running instance: attempts already running finish, nothing new starts until resume."""

    operation = overrides.instance_suspend


class InstanceResumeView(InstanceOperationView):
    """Resume a suspended instance; phases whose failure suspended it are retried."""

    operation = overrides.instance_resume


class InstanceRetryView(InstanceOperationView):
    """Run a failed instance's failed phases again."""

    operation = overrides.instance_retry


# --- signals --------------------------------------------------------------------------------------------
