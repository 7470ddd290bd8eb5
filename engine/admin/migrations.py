"""The admin's bulk action that checks and moves selected instances to another published version."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from engine import access
from engine.errors import EngineError
from engine.models import TemplateVersion, VersionState
from engine.services.migrations import instances_migrate


class MigrateForm(forms.Form):
    target = forms.ModelChoiceField(queryset=TemplateVersion.objects.none(), label="Move to version")
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Renamed phases as JSON, old id to new id, e.g. {"request_info": "information_request"}',
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, template_id: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["target"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = TemplateVersion.objects.filter(
            template_id=template_id, state=VersionState.PUBLISHED
        ).order_by("-number")

    def clean_mapping(self) -> dict[str, str]:
        text = self.cleaned_data["mapping"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("a JSON object of old phase id to new phase id")
        return value


@admin.action(description="Move to another version (check first)")
def migrate_instances(modeladmin: Any, request: HttpRequest, queryset: Any) -> HttpResponse | None:
    if not access.may_migrate(request.user):
        modeladmin.message_user(
            request, f"Moving instances needs the {access.MIGRATE_PERMISSION} permission.", messages.ERROR
        )
        return None
    templates = set(queryset.values_list("template_id", flat=True))
    if len(templates) != 1:
        modeladmin.message_user(request, "Select instances of one template to move them.", messages.ERROR)
        return None
    submitted = request.POST.get("step") in ("check", "migrate")
    form = MigrateForm(request.POST if submitted else None, template_id=templates.pop())
    reports = None
    if submitted and form.is_valid():
        dry_run = request.POST["step"] == "check"
        try:
            reports = instances_migrate(
                instance_ids=list(queryset.values_list("pk", flat=True)),
                target=form.cleaned_data["target"],
                user=request.user,
                reason=form.cleaned_data["reason"],
                mapping=form.cleaned_data["mapping"],
                dry_run=dry_run,
            )
        except EngineError as exc:
            form.add_error("reason" if "reason" in str(exc.extra) else None, exc.message)
        else:
            if not dry_run:
                moved = sum(1 for report in reports if report.migrated)
                level = messages.SUCCESS if moved == len(reports) else messages.WARNING
                modeladmin.message_user(request, f"Moved {moved} of {len(reports)} instance(s).", level)
                for report in reports:
                    for problem in report.problems:
                        modeladmin.message_user(
                            request,
                            f"{report.instance_id}: {problem['code']}: {problem['message']}",
                            messages.ERROR,
                        )
                return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Move {queryset.count()} instance(s) to another version",
        "objects": list(queryset.select_related("template", "version")),
        "form": form,
        "reports": reports,
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/engine/migrate.html", context)
