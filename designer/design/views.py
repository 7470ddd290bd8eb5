"""The designer's views: the page, live validation, save, publish, edit-as-draft, export, import, compare.

Every view is mounted by `designer.admin.DesignerTemplateAdmin.get_urls()` inside
`admin_site.admin_view`, which requires an active staff login and applies CSRF protection to every POST.
Permissions are the template admin's: view permission opens the designer read-only; change permission
edits and saves; add permission also creates new templates. Publishing needs `engine.access.may_publish`,
as at every other door. The JSON endpoints answer `{"problems": [{path, code, message}]}` when a
document is refused, so the page can put each problem on its box and field.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views import View

from designer.design import selectors
from designer.design.forms import DraftSaveInput, TemplateImportForm
from engine import access
from engine.definition.problems import Problem
from engine.definition.validation import MAX_BYTES
from engine.errors import Conflict, EngineError, TemplateInvalid
from engine.models import TemplateVersion, VersionState, WorkflowTemplate
from engine.roles import unheld_roles
from engine.services import templates as template_services


def problems_response(problems: Any, *, status: int, message: str = "") -> JsonResponse:
    listed = [problem.as_dict() for problem in problems]
    return JsonResponse({"code": "template_invalid", "message": message, "problems": listed}, status=status)


def error_response(code: str, message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


class DesignerView(View):
    """Base of the designer views: the template admin's permissions and page context."""

    model_admin: ModelAdmin | None = None

    @property
    def admin(self) -> ModelAdmin:
        assert self.model_admin is not None, "mounted with as_view(model_admin=...)"
        return self.model_admin

    def can_view(self, request: HttpRequest) -> bool:
        return self.admin.has_view_permission(request)

    def can_change(self, request: HttpRequest) -> bool:
        return self.admin.has_change_permission(request)

    def can_add(self, request: HttpRequest) -> bool:
        return self.admin.has_add_permission(request)

    def page_context(self, request: HttpRequest, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin.admin_site.each_context(request),
            "opts": self.admin.model._meta,
            "is_nav_sidebar_enabled": False,  # the canvas needs the width
            **extra,
        }


def read_json(request: HttpRequest) -> tuple[Any, JsonResponse | None]:
    """The parsed JSON body, or the response that refuses it."""
    try:
        body = request.body
    except RequestDataTooBig:
        too_large = Problem(
            "", "too_large", f"the request is over the limit; a template is at most {MAX_BYTES} bytes"
        )
        return None, problems_response([too_large], status=413)
    try:
        return json.loads(body), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, problems_response([Problem("", "schema", f"not valid JSON: {exc}")], status=400)


class DesignerPageView(DesignerView):
    """The designer for a new template, a template (its draft, else its newest version) or one version."""

    def get(
        self, request: HttpRequest, template_id: int | None = None, number: int | None = None
    ) -> HttpResponse:
        if not self.can_view(request):
            raise PermissionDenied
        template, versions, version = None, [], None
        if template_id is None:
            if not (self.can_add(request) and self.can_change(request)):
                raise PermissionDenied
            document = selectors.blank_document()
        else:
            template = get_object_or_404(WorkflowTemplate, pk=template_id)
            versions = selectors.template_versions(template=template)
            version = selectors.version_to_open(versions, number=number)
            if number is not None and version is None:
                raise Http404(f"{template.key} has no version {number}")
            document = (
                version.definition
                if version
                else selectors.blank_document(key=template.key, name=template.name)
            )
        editable = self.can_change(request) and (version is None or version.state == VersionState.DRAFT)
        draft = next((v for v in versions if v.state == VersionState.DRAFT), None)
        config = {
            "mode": "edit" if editable else "read",
            "canChange": self.can_change(request),
            "canPublish": access.may_publish(request.user),
            "document": document,
            "problems": [p.as_dict() for p in template_services.template_validate(document)],
            "warnings": unheld_roles(document),
            "template": selectors.template_payload(template) if template else None,
            "version": selectors.version_payload(version) if version else None,
            "draft": selectors.version_payload(draft) if draft else None,
            "versions": [selectors.version_payload(v) for v in versions],
            "activities": selectors.activity_choices(),
            "templates": selectors.template_choices_published(),
            "urls": {
                "validate": reverse("admin:engine_workflowtemplate_design_validate"),
                "save": reverse("admin:engine_workflowtemplate_design_save"),
                "changelist": reverse("admin:engine_workflowtemplate_changelist"),
            },
        }
        if template is None:
            title = "New template"
        else:
            title = f"Design {template.key}" + (f" v{version.number} ({version.state})" if version else "")
        context = self.page_context(request, title=title, template=template, version=version, config=config)
        return TemplateResponse(request, "admin/engine/designer.html", context)


class ValidateView(DesignerView):
    """POST a template document; answer every problem the engine's validation finds in it."""

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.can_change(request):
            return error_response("permission_denied", "you may not edit templates", status=403)
        try:
            body = request.body
        except RequestDataTooBig:
            return problems_response(
                [Problem("", "too_large", f"the document is over {MAX_BYTES} bytes")], status=413
            )
        # The validator takes the text itself: it measures it and reports bad JSON as a problem at "".
        problems = template_services.template_validate(body)
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        return JsonResponse({"problems": [p.as_dict() for p in problems], "warnings": unheld_roles(document)})


class SaveView(DesignerView):
    """POST `{"document", "notes"}`: save it as its template's draft, problems and all."""

    def post(self, request: HttpRequest) -> HttpResponse:
        if not self.can_change(request):
            return error_response("permission_denied", "you may not edit templates", status=403)
        body, refused = read_json(request)
        if refused:
            return refused
        form = DraftSaveInput.from_body(body)
        if not form.is_valid():
            message = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
            return problems_response([Problem("", "schema", message)], status=400, message=message)
        document = form.cleaned_data["document"]
        if not self.can_add(request) and not selectors.template_exists(key=document.get("key")):
            return error_response("permission_denied", "you may not create templates", status=403)
        try:
            saved = template_services.template_draft_save(
                document=document,
                user=request.user,
                notes=form.cleaned_data["notes"],
                **({"base_checksum": body.get("base_checksum")} if "base_checksum" in body else {}),
            )
        except TemplateInvalid as exc:
            return problems_response(exc.problems, status=400, message="the draft was not saved")
        except Conflict as exc:
            return error_response(exc.code, exc.message, status=exc.status)
        template = saved.version.template
        return JsonResponse(
            {
                "created": saved.created,
                "problems": [p.as_dict() for p in saved.problems],
                "version": selectors.version_payload(saved.version),
                "template": selectors.template_payload(template),
                "versions": [
                    selectors.version_payload(v) for v in selectors.template_versions(template=template)
                ],
            }
        )


class PublishView(DesignerView):
    """POST: publish a draft, or refuse with every problem it has."""

    def post(self, request: HttpRequest, version_id: int) -> HttpResponse:
        if not self.can_change(request) or not access.may_publish(request.user):
            return error_response("permission_denied", "you may not publish templates", status=403)
        get_object_or_404(TemplateVersion, pk=version_id)
        try:
            version = template_services.template_version_publish(version_id=version_id, user=request.user)
        except TemplateInvalid as exc:
            return problems_response(exc.problems, status=400, message=f"not published: {exc.message}")
        except EngineError as exc:
            return error_response(exc.code, exc.message, status=exc.status)
        return JsonResponse(
            {"version": selectors.version_payload(version), "warnings": unheld_roles(version.definition)}
        )


class DraftFromView(DesignerView):
    """POST: make a frozen version's document the template's draft, and say where to edit it."""

    def post(self, request: HttpRequest, version_id: int) -> HttpResponse:
        if not self.can_change(request):
            return error_response("permission_denied", "you may not edit templates", status=403)
        get_object_or_404(TemplateVersion, pk=version_id)
        try:
            draft = template_services.template_version_draft_from(version_id=version_id, user=request.user)
        except TemplateInvalid as exc:
            return problems_response(exc.problems, status=400)
        except EngineError as exc:
            return error_response(exc.code, exc.message, status=exc.status)
        payload = selectors.version_payload(draft)
        return JsonResponse({"version": payload, "url": payload["urls"]["open"]})


class ExportView(DesignerView):
    """GET: download one version's document as a JSON file."""

    def get(self, request: HttpRequest, version_id: int) -> HttpResponse:
        if not self.can_view(request):
            raise PermissionDenied
        version = get_object_or_404(TemplateVersion.objects.select_related("template"), pk=version_id)
        document = template_services.template_export(key=version.template.key, number=version.number)
        response = HttpResponse(
            json.dumps(document, indent=2, ensure_ascii=False) + "\n", content_type="application/json"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{version.template.key}-v{version.number}.json"'
        )
        return response


class ImportView(DesignerView):
    """Upload a template file: it is saved as its template's draft and opened in the designer."""

    template_name = "admin/engine/designer_import.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (self.can_add(request) and self.can_change(request)):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def render(self, request: HttpRequest, form: TemplateImportForm, problems: Any = ()) -> HttpResponse:
        context = self.page_context(request, title="Import a template", form=form, problems=problems)
        return TemplateResponse(request, self.template_name, context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render(request, TemplateImportForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = TemplateImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render(request, form)
        notes = form.cleaned_data["notes"] or f"imported from {request.FILES['file'].name}"
        try:
            saved = template_services.template_draft_save(
                document=form.cleaned_data["file"], user=request.user, notes=notes[:2000]
            )
        except TemplateInvalid as exc:
            form.add_error("file", "The template was not imported: it has no usable key.")
            return self.render(request, form, problems=exc.problems)
        version = saved.version
        level, suffix = (
            (messages.WARNING, f" with {len(saved.problems)} problem(s)")
            if saved.problems
            else (messages.SUCCESS, "")
        )
        messages.add_message(
            request, level, f"Imported as {version.template.key} v{version.number} (draft){suffix}."
        )
        return HttpResponseRedirect(selectors.version_urls(version)["open"])


class CompareView(DesignerView):
    """Two versions side by side: phases added, removed and changed, and the JSON Patch between them."""

    def get(self, request: HttpRequest, template_id: int) -> HttpResponse:
        if not self.can_view(request):
            raise PermissionDenied
        template = get_object_or_404(WorkflowTemplate, pk=template_id)
        versions = selectors.template_versions(template=template)
        if not versions:
            raise Http404(f"{template.key} has no versions to compare")
        by_id = {v.pk: v for v in versions}
        new = by_id.get(_int(request.GET.get("new"))) or versions[0]
        older = [v for v in versions if v.number < new.number]
        old = by_id.get(_int(request.GET.get("old"))) or (older[0] if older else new)
        diff = template_services.template_version_compare(old_id=old.pk, new_id=new.pk)
        config = {
            "template": selectors.template_payload(template),
            "old": {"version": selectors.version_payload(old), "document": old.definition},
            "new": {"version": selectors.version_payload(new), "document": new.definition},
            "diff": diff.as_dict(),
        }
        context = self.page_context(
            request,
            title=f"Compare {template.key} v{old.number} → v{new.number}",
            template=template,
            versions=versions,
            old=old,
            new=new,
            config=config,
        )
        return TemplateResponse(request, "admin/engine/designer_compare.html", context)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
