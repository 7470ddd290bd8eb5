"""Templates and their versions: validate, save a draft, publish, retire, compare, export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from engine.api import selectors
from engine.api.permissions import CanPublishVersion, CanRetireVersion, CanSaveTemplateDraft
from engine.api.serializers import (
    ProblemSerializer,
    TemplateSummarySerializer,
    VersionDetailSerializer,
    VersionSummarySerializer,
)
from engine.api.views.base import (
    ApiView,
    ListView,
    PermissionsByMethod,
    errors,
    validated,
)
from engine.errors import PermissionDenied
from engine.models import TemplateVersion
from engine.roles import unheld_roles
from engine.services import templates as services

DOCUMENT = OpenApiTypes.OBJECT
DOCUMENT_HELP = "a template document in the phasegate/v1 format (TEMPLATE_FORMAT.md)"


class TemplateListView(PermissionsByMethod, ListView):
    """Templates by key, with their latest published and draft version numbers."""

    serializer_class = TemplateSummarySerializer
    write_permission_classes = [IsAuthenticated, CanSaveTemplateDraft]

    class InputSerializer(serializers.Serializer):
        notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "TemplateSaveQuery"

    class OutputSerializer(serializers.Serializer):
        version = VersionSummarySerializer()
        created = serializers.BooleanField(help_text="true when a new draft version was created")
        problems = ProblemSerializer(many=True, help_text="what still stops the draft from being published")

        class Meta:
            ref_name = "SavedDraft"

    def get_queryset(self) -> Any:
        return selectors.template_list()

    @extend_schema(
        operation_id="templates_save_draft",
        summary="Save a draft",
        description=(
            "The body is the template document itself. It becomes the template's draft: a new version "
            "number (201) or, when the template already has a draft, that draft rewritten (200). A draft "
            "may have problems; they are returned and publishing refuses it until they are fixed. Creating "
            "a draft needs engine.add_templateversion, rewriting one needs engine.change_templateversion."
        ),
        parameters=[OpenApiParameter("notes", str, description="a note kept with the version")],
        request={"application/json": DOCUMENT},
        responses={201: OutputSerializer, 200: OutputSerializer, **errors(400, 403, 409, 413)},
    )
    def post(self, request: Request) -> Response:
        query = validated(self.InputSerializer, request.query_params)
        document = request.data
        key = document.get("key") if isinstance(document, dict) else None
        if isinstance(key, str):
            needed = "change" if selectors.template_has_draft(key=key) else "add"
            if not request.user.has_perm(f"engine.{needed}_templateversion"):
                raise PermissionDenied(
                    f"saving this draft needs the engine.{needed}_templateversion permission"
                )
        saved = services.template_draft_save(document=document, user=request.user, notes=query["notes"])
        body = self.OutputSerializer(
            {"version": saved.version, "created": saved.created, "problems": saved.problems}
        )
        return Response(body.data, status=status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK)


class TemplateValidateView(ApiView):
    """Validate a template document without saving it."""

    class OutputSerializer(serializers.Serializer):
        valid = serializers.BooleanField()
        problems = ProblemSerializer(many=True)

        class Meta:
            ref_name = "ValidationReport"

    @extend_schema(
        summary="Validate a template document",
        description="Every problem at once, each with a JSON pointer; 200 for any parsable JSON body.",
        request={"application/json": OpenApiTypes.ANY},
        responses={200: OutputSerializer, **errors(400, 403, 413)},
    )
    def post(self, request: Request) -> Response:
        problems = services.template_validate(request.data)
        return Response(self.OutputSerializer({"valid": not problems, "problems": problems}).data)


class TemplateDetailView(ApiView):
    """One template with all its versions, newest first."""

    class OutputSerializer(TemplateSummarySerializer):
        versions = VersionSummarySerializer(many=True, source="version_rows")

        class Meta:
            ref_name = "Template"

    @extend_schema(responses={200: OutputSerializer, **errors(403, 404)})
    def get(self, request: Request, key: str) -> Response:
        template = selectors.template_get(key=key)
        template.version_rows = selectors.version_list(key=key)
        return Response(self.OutputSerializer(template).data)


class TemplateExportView(ApiView):
    """The document of the latest published version (else the latest version), as a file would hold it."""

    @extend_schema(responses={200: OpenApiResponse(DOCUMENT, description=DOCUMENT_HELP), **errors(403, 404)})
    def get(self, request: Request, key: str) -> Response:
        return Response(services.template_export(key=key))


class VersionListView(ListView):
    """The versions of one template, newest first."""

    serializer_class = VersionSummarySerializer
    queryset = TemplateVersion.objects.none()

    def get_queryset(self) -> Any:
        if self.is_schema_run():
            return TemplateVersion.objects.none()
        return selectors.version_list(key=self.kwargs["key"])

    @extend_schema(responses={200: VersionSummarySerializer(many=True), **errors(403, 404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class VersionDetailView(ApiView):
    """One version with its definition."""

    @extend_schema(responses={200: VersionDetailSerializer, **errors(403, 404)})
    def get(self, request: Request, key: str, number: int) -> Response:
        version = selectors.version_get(key=key, number=number)
        return Response(VersionDetailSerializer(version).data)


class VersionReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text="kept in the audit trail"
    )

    class Meta:
        ref_name = "VersionTransitionInput"


class VersionTransitionView(ApiView):
    """Move a version along draft → published → retired with one service call, audited with a reason."""

    service: ClassVar[Callable[..., TemplateVersion]]

    @extend_schema(
        request=VersionReasonSerializer,
        responses={200: VersionDetailSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, key: str, number: int) -> Response:
        data = validated(VersionReasonSerializer, request.data)
        version = selectors.version_get(key=key, number=number)
        version = type(self).service(version_id=version.pk, user=request.user, reason=data["reason"])
        return Response(self.answer(version))

    def answer(self, version: TemplateVersion) -> dict[str, Any]:
        return dict(VersionDetailSerializer(version).data)


class PublishedVersionSerializer(VersionDetailSerializer):
    warnings = ProblemSerializer(
        many=True,
        read_only=True,
        help_text="what publishing allows but people will meet: roles of human phases nobody holds",
    )

    class Meta:
        ref_name = "PublishedVersion"


class VersionPublishView(VersionTransitionView):
    """Publish a draft: validated again, then frozen; new instances start on it. The answer warns, as the
    designer and the admin do, of roles of human phases that nobody holds yet."""

    permission_classes = [IsAuthenticated, CanPublishVersion]
    service = services.template_version_publish

    @extend_schema(
        request=VersionReasonSerializer,
        responses={200: PublishedVersionSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, key: str, number: int) -> Response:
        return super().post(request, key, number)

    def answer(self, version: TemplateVersion) -> dict[str, Any]:
        return {**super().answer(version), "warnings": unheld_roles(version.definition)}


class VersionRetireView(VersionTransitionView):
    """Retire a published version: it starts no new instances; running ones go on."""

    permission_classes = [IsAuthenticated, CanRetireVersion]
    service = services.template_version_retire


class DiffSummarySerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField(), help_text="phase ids")
    removed = serializers.ListField(child=serializers.CharField(), help_text="phase ids")
    changed = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="phase id -> the names of its changed fields",
    )
    top_level = serializers.ListField(
        child=serializers.CharField(), help_text="changed top-level fields other than phases"
    )

    class Meta:
        ref_name = "TemplateDiffSummary"


class VersionCompareView(ApiView):
    """What changed from version `with` to this one: an RFC 6902 JSON Patch and a summary by phase."""

    class InputSerializer(serializers.Serializer):
        def get_fields(self) -> dict[str, serializers.Field]:
            # `with` is a Python keyword, so the field cannot be declared as a class attribute.
            return {"with": serializers.IntegerField(min_value=1, max_value=selectors.MAX_NUMBER)}

        class Meta:
            ref_name = "CompareQuery"

    class OutputSerializer(serializers.Serializer):
        template = serializers.CharField()
        old = serializers.IntegerField(help_text="the version compared from (`with`)")
        new = serializers.IntegerField(help_text="this version")
        patch = serializers.ListField(
            child=serializers.DictField(), help_text="RFC 6902 operations, old -> new"
        )
        summary = DiffSummarySerializer()

        class Meta:
            ref_name = "TemplateDiff"

    @extend_schema(
        parameters=[OpenApiParameter("with", int, required=True, description="the version to compare from")],
        responses={200: OutputSerializer, **errors(400, 403, 404)},
    )
    def get(self, request: Request, key: str, number: int) -> Response:
        query = validated(self.InputSerializer, request.query_params)
        new = selectors.version_get(key=key, number=number)
        old = selectors.version_get(key=key, number=query["with"])
        diff = services.template_version_compare(old_id=old.pk, new_id=new.pk).as_dict()
        patch = diff.pop("patch")
        body = {"template": key, "old": old.number, "new": new.number, "patch": patch, "summary": diff}
        return Response(self.OutputSerializer(body).data)


class VersionExportView(ApiView):
    """The document of one version, as a file would hold it."""

    @extend_schema(responses={200: OpenApiResponse(DOCUMENT, description=DOCUMENT_HELP), **errors(403, 404)})
    def get(self, request: Request, key: str, number: int) -> Response:
        version = selectors.version_get(key=key, number=number)
        return Response(services.template_export(key=key, number=version.number))
