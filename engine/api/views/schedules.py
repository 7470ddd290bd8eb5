"""Schedules: start instances of a template on a cron expression or an interval; pause and resume them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api.views.base import ApiView, EmptyInputSerializer, PermissionsByMethod, errors, validated
from engine.errors import NotFound
from engine.models import OverlapPolicy, Schedule, WorkflowTemplate
from engine.services.schedules import schedule_pause, schedule_resume, schedule_save, schedule_upcoming

UPCOMING = 5
RECENT_RUNS = 20


def _perm(codename: str, what: str) -> type[BasePermission]:
    class HasPerm(BasePermission):
        message = f"{what} needs the engine.{codename} permission"

        def has_permission(self, request: Request, view: Any) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perm(f"engine.{codename}"))

    HasPerm.__name__ = HasPerm.__qualname__ = f"Can_{codename}"
    HasPerm.__doc__ = f"Holds engine.{codename}."
    return HasPerm


CanViewSchedule = _perm("view_schedule", "seeing schedules")
CanAddSchedule = _perm("add_schedule", "creating a schedule")
CanChangeSchedule = _perm("change_schedule", "changing a schedule")
CanDeleteSchedule = _perm("delete_schedule", "deleting a schedule")
CanPauseSchedule = _perm("pause_schedule", "pausing or resuming a schedule")


class ScheduleRunSerializer(serializers.Serializer):
    tick = serializers.DateTimeField()
    outcome = serializers.CharField()
    instance = serializers.UUIDField(source="instance_id", allow_null=True)
    business_key = serializers.CharField()
    message = serializers.CharField()

    class Meta:
        ref_name = "ScheduleRun"


class ScheduleSerializer(serializers.ModelSerializer):
    """A schedule as the API shows it, with its next run times and its latest fired ticks."""

    template = serializers.SlugRelatedField(slug_field="key", queryset=WorkflowTemplate.objects.all())
    overlap = serializers.ChoiceField(choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    params = serializers.JSONField(required=False)
    tick_params = serializers.JSONField(required=False)
    calendar = serializers.JSONField(required=False)
    upcoming = serializers.SerializerMethodField()
    recent_runs = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        ref_name = "Schedule"
        fields = (
            "name",
            "template",
            *Schedule.TIMING_FIELDS,
            "paused",
            "next_run_at",
            "last_run_at",
            "upcoming",
            "recent_runs",
        )
        read_only_fields = ("paused", "next_run_at", "last_run_at")

    @extend_schema_field(serializers.ListField(child=serializers.DateTimeField()))
    def get_upcoming(self, schedule: Schedule) -> list[str]:
        return [tick.isoformat() for tick in schedule_upcoming(schedule, UPCOMING)]

    @extend_schema_field(ScheduleRunSerializer(many=True))
    def get_recent_runs(self, schedule: Schedule) -> list[dict[str, Any]]:
        runs = schedule.runs.all()[:RECENT_RUNS] if schedule.pk else []
        return ScheduleRunSerializer(runs, many=True).data


def _schedule(name: str) -> Schedule:
    schedule = Schedule.objects.select_related("template").filter(name=name).first()
    if schedule is None:
        raise NotFound(f"no schedule {name!r}")
    return schedule


class ScheduleListView(PermissionsByMethod, ApiView):
    """Every schedule (GET), or a new one (POST): its next run is computed from the cron or interval."""

    permission_classes = [IsAuthenticated, CanViewSchedule]
    write_permission_classes = [IsAuthenticated, CanAddSchedule]

    @extend_schema(responses={200: ScheduleSerializer(many=True), **errors(403)})
    def get(self, request: Request) -> Response:
        schedules = Schedule.objects.select_related("template").order_by("name")
        return Response(ScheduleSerializer(schedules, many=True).data)

    @extend_schema(request=ScheduleSerializer, responses={201: ScheduleSerializer, **errors(400, 403)})
    def post(self, request: Request) -> Response:
        serializer = ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = Schedule(**serializer.validated_data, created_by=request.user)
        schedule_save(schedule=schedule)
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(PermissionsByMethod, ApiView):
    """One schedule (GET), changed (PATCH: the next run is computed again), or deleted (DELETE)."""

    permission_classes = [IsAuthenticated, CanViewSchedule]
    write_permission_classes = [IsAuthenticated, CanChangeSchedule]

    def get_permissions(self) -> list[BasePermission]:
        if getattr(self, "request", None) is not None and self.request.method == "DELETE":
            return [IsAuthenticated(), CanDeleteSchedule()]
        return super().get_permissions()

    @extend_schema(responses={200: ScheduleSerializer, **errors(403, 404)})
    def get(self, request: Request, name: str) -> Response:
        return Response(ScheduleSerializer(_schedule(name)).data)

    @extend_schema(request=ScheduleSerializer, responses={200: ScheduleSerializer, **errors(400, 403, 404)})
    def patch(self, request: Request, name: str) -> Response:
        schedule = _schedule(name)
        serializer = ScheduleSerializer(schedule, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        for field, value in serializer.validated_data.items():
            setattr(schedule, field, value)
        schedule_save(schedule=schedule)
        return Response(ScheduleSerializer(schedule).data)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def delete(self, request: Request, name: str) -> Response:
        _schedule(name).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class SchedulePauseView(ApiView):
    """Stop firing until resumed."""

    permission_classes = [IsAuthenticated, CanPauseSchedule]

    @extend_schema(request=EmptyInputSerializer, responses={200: ScheduleSerializer, **errors(400, 403, 404)})
    def post(self, request: Request, name: str) -> Response:
        validated(EmptyInputSerializer, request.data)
        return Response(ScheduleSerializer(schedule_pause(schedule_id=_schedule(name).pk)).data)


class ScheduleResumeView(ApiView):
    """Fire again from the next tick; ticks missed while paused are not made up."""

    permission_classes = [IsAuthenticated, CanPauseSchedule]

    @extend_schema(request=EmptyInputSerializer, responses={200: ScheduleSerializer, **errors(400, 403, 404)})
    def post(self, request: Request, name: str) -> Response:
        validated(EmptyInputSerializer, request.data)
        return Response(ScheduleSerializer(schedule_resume(schedule_id=_schedule(name).pk)).data)
