"""Moving running instances to another published version: a check (dry run) and the move itself."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine import access
from engine.api.views.base import ApiView, errors, validated
from engine.services.migrations import instances_migrate, target_version

MAX_INSTANCES = 500


class MigrationProblemSerializer(serializers.Serializer):
    code = serializers.CharField()
    phase_id = serializers.CharField()
    message = serializers.CharField()

    class Meta:
        ref_name = "MigrationProblem"


class MigrationReportSerializer(serializers.Serializer):
    instance = serializers.UUIDField()
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    mapped = serializers.DictField(child=serializers.CharField(), help_text="old phase id -> new phase id")
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    problems = MigrationProblemSerializer(many=True)
    can_move = serializers.BooleanField()
    migrated = serializers.BooleanField()

    class Meta:
        ref_name = "MigrationReport"


class InstanceMigrateView(ApiView):
    """Check (`dry_run`) or move instances of a template to another published version of it."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        template = serializers.SlugField(max_length=80)
        to_version = serializers.IntegerField(min_value=1)
        instances = serializers.ListField(
            child=serializers.UUIDField(), min_length=1, max_length=MAX_INSTANCES
        )
        mapping = serializers.DictField(
            child=serializers.CharField(max_length=63),
            required=False,
            default=dict,
            help_text="renamed phases: old phase id -> new phase id",
        )
        reason = serializers.CharField(required=False, allow_blank=True, default="")
        dry_run = serializers.BooleanField(required=False, default=False)

        class Meta:
            ref_name = "InstanceMigrate"

    @extend_schema(
        request=InputSerializer,
        responses={200: MigrationReportSerializer(many=True), **errors(400, 403, 404)},
        description=(
            "One report per instance: the phases mapped by id (or by `mapping`), added and removed, and the "
            "problems that keep it from moving (then `migrated` is false and nothing changed for it). "
            "Without `dry_run` each movable instance is suspended, moved and resumed in one transaction, "
            "audited as `migrate` with the before and after versions."
        ),
    )
    def post(self, request: Request) -> Response:
        access.require_migrate(request.user)
        data = validated(self.InputSerializer, request.data)
        target = target_version(template_key=data["template"], number=data["to_version"])
        reports = instances_migrate(
            instance_ids=list(dict.fromkeys(data["instances"])),
            target=target,
            user=request.user,
            reason=data["reason"],
            mapping=data["mapping"],
            dry_run=data["dry_run"],
        )
        return Response(MigrationReportSerializer([r.as_dict() for r in reports], many=True).data)
