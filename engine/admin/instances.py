"""Admin for instances and phase runs: read-only records, plus overrides that each ask for a reason.

Overrides are forms on an object's page (`…/override/<action>/`) and bulk actions on the lists (with an
intermediate page for the reason). They need `engine.override_workflowinstance` (suspend, resume, cancel,
retry an instance) or `engine.override_phaserun` (force-complete, skip, reassign, extend SLA, reopen,
retry, edit data). They call `engine.services.overrides`, which records the administrator, the reason and
what changed; an override that races a worker or a person shows a message, never a 500. The audit trail is
read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django_fsm import can_proceed

from engine import access, selectors
from engine.admin.common import StoredErrorAdminMixin, html_table, pretty_json
from engine.admin.lists import BigTableAdmin, as_uuid, exact_search, recent_values_filter
from engine.admin.migrations import migrate_instances
from engine.errors import FormInvalid, engine_error
from engine.models import (
    STANDING_PHASE_STATES,
    PhaseRun,
    PhaseState,
    Transition,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.services import overrides
from engine.services.overrides import Preview, reopen_preview, settle_preview

RACE_MESSAGE = "someone else changed it first (a worker or a person); reload and look again"

# --- forms ----------------------------------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Required. It is kept in the audit trail with your name.",
    )


class ReassignForm(ReasonForm):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label="— nobody (unassign) —",
        help_text="Anyone, whether or not they hold the phase's roles.",
    )


class ExtendSlaForm(ReasonForm):
    due_at = forms.DateTimeField(
        label="New due time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In the server's time zone.",
    )


class SettleForm(ReasonForm):
    """Skip and force-complete: the page shows what else they settle, and asks to confirm when they do."""

    confirm = forms.BooleanField(
        required=False,
        label="Confirm",
        help_text="I have read which other phases this settles and what happens to the instance.",
    )
    preview: Preview | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.preview is not None and self.preview.has_consequences and not cleaned.get("confirm"):
            self.add_error("confirm", "Tick this to confirm: it settles more than this phase (listed above).")
        return cleaned


class SkipForm(SettleForm):
    pass


class ReopenForm(ReasonForm):
    """Reopen: the page lists the phases it resets and says when a finished instance runs again."""

    preview: Preview | None = None


class BulkConfirmForm(ReasonForm):
    confirm = forms.BooleanField(
        label="Confirm",
        help_text="I have read which other phases this settles and which instances then complete.",
        error_messages={
            "required": "Tick this to confirm: it settles more than the selected phases (listed above)."
        },
    )


class ForceCompleteForm(SettleForm):
    outcome = forms.ChoiceField(required=False, help_text="For a human phase; its first outcome by default.")
    data = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        help_text="For a human phase: form data as JSON, checked against the phase's form. Empty keeps it.",
    )


class DataEditForm(ReasonForm):
    data = forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 10, "cols": 70}), help_text="Checked against the form."
    )


# --- the overrides --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """One override: its label, what it does, its form and the service call."""

    label: str
    description: str
    form: type[ReasonForm]
    apply: Callable[[Any, Any, dict[str, Any]], Any]  # (object, user, cleaned data)
    bulk: bool = True
    offered: Callable[[Any], bool] = lambda obj: (
        True
    )  # whether the object page links it (the service decides)


def _phase_call(service: Callable[..., Any], **fields: str) -> Callable[[PhaseRun, Any, dict[str, Any]], Any]:
    def apply(run: PhaseRun, user: Any, data: dict[str, Any]) -> Any:
        extra = {name: data.get(key) for name, key in fields.items()}
        return service(
            instance_id=run.instance_id, phase_id=run.phase_id, user=user, reason=data["reason"], **extra
        )

    return apply


def _instance_call(service: Callable[..., Any]) -> Callable[[WorkflowInstance, Any, dict[str, Any]], Any]:
    def apply(instance: WorkflowInstance, user: Any, data: dict[str, Any]) -> Any:
        return service(instance_id=instance.pk, user=user, reason=data["reason"])

    return apply


PHASE_OVERRIDES: dict[str, Override] = {
    "force_complete": Override(
        "Force-complete",
        "Complete the phase whatever it is doing; the phases after it start.",
        ForceCompleteForm,
        _phase_call(overrides.phase_force_complete, outcome="outcome", data="data"),
        offered=lambda run: can_proceed(run.force_complete),
    ),
    "skip": Override(
        "Skip",
        "Skip the phase; the phases after it run as if a choice had skipped it.",
        SkipForm,
        _phase_call(overrides.phase_skip),
        offered=lambda run: can_proceed(run.skip),
    ),
    "reassign": Override(
        "Reassign",
        "Hand the open phase to someone else, or to nobody.",
        ReassignForm,
        _phase_call(overrides.phase_reassign, assignee="assignee"),
        bulk=False,
        offered=lambda run: run.is_open_human,
    ),
    "extend_sla": Override(
        "Extend SLA",
        "Give the open phase a new due time; its SLA status follows.",
        ExtendSlaForm,
        _phase_call(overrides.phase_sla_extend, due_at="due_at"),
        bulk=False,
        offered=lambda run: run.is_open_human,
    ),
    "reopen": Override(
        "Reopen",
        "Reset the phase and every phase after it that had started; they run again. History stays.",
        ReopenForm,
        _phase_call(overrides.phase_reopen),
        offered=lambda run: can_proceed(run.reopen),
    ),
    "retry": Override(
        "Retry",
        "Run the failed phase again.",
        ReasonForm,
        _phase_call(overrides.phase_retry),
        offered=lambda run: can_proceed(run.retry),
    ),
    "edit_data": Override(
        "Edit submitted data",
        "Correct what a person submitted on this completed phase.",
        DataEditForm,
        _phase_call(overrides.phase_data_edit, data="data"),
        bulk=False,
        offered=lambda run: run.phase_type == "human" and run.state == PhaseState.COMPLETED,
    ),
}

INSTANCE_OVERRIDES: dict[str, Override] = {
    "suspend": Override(
        "Suspend",
        "Stop the instance: nothing new starts, and SLA time stops counting, until it is resumed.",
        ReasonForm,
        _instance_call(overrides.instance_suspend),
        offered=lambda instance: can_proceed(instance.suspend),
    ),
    "resume": Override(
        "Resume",
        "Run the instance again; due times move out by the time it was suspended.",
        ReasonForm,
        _instance_call(overrides.instance_resume),
        offered=lambda instance: can_proceed(instance.resume),
    ),
    "cancel": Override(
        "Cancel",
        "Cancel the instance and every phase that has not finished.",
        ReasonForm,
        _instance_call(overrides.instance_cancel),
        offered=lambda instance: can_proceed(instance.cancel),
    ),
    "retry": Override(
        "Retry",
        "Run the failed phases of the failed instance again.",
        ReasonForm,
        _instance_call(overrides.instance_retry),
        offered=lambda instance: can_proceed(instance.retry),
    ),
}


def _run_override(request: HttpRequest, override: Override, obj: Any, data: dict[str, Any]) -> str | None:
    """Apply one override: None when it worked, else the message to show (FormInvalid is re-raised)."""
    try:
        override.apply(obj, request.user, data)
    except FormInvalid:
        raise
    except Exception as exc:
        error = engine_error(exc)
        if error is None:
            raise
        return RACE_MESSAGE if error.code == "concurrent_transition" else error.message
    return None


class OverrideAdminMixin:
    """Override forms on the object page and bulk actions with a reason, for one model's admin."""

    override_allowed: Callable[[Any], bool] = staticmethod(lambda user: False)
    override_table: dict[str, Override] = {}

    def has_override_permission(self, request: HttpRequest) -> bool:
        return type(self).override_allowed(request.user)

    def get_urls(self) -> list[Any]:
        info = self.model._meta.app_label, self.model._meta.model_name  # type: ignore[attr-defined]
        view = self.admin_site.admin_view(self.override_view)  # type: ignore[attr-defined]
        return [
            path("<path:object_id>/override/<str:action>/", view, name=f"{info[0]}_{info[1]}_override"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def override_url(self, obj: Any, action: str) -> str:
        info = self.model._meta.app_label, self.model._meta.model_name  # type: ignore[attr-defined]
        return reverse(f"admin:{info[0]}_{info[1]}_override", args=[obj.pk, action])

    def change_url(self, obj: Any) -> str:
        info = self.model._meta.app_label, self.model._meta.model_name  # type: ignore[attr-defined]
        return reverse(f"admin:{info[0]}_{info[1]}_change", args=[obj.pk])

    def override_form(self, override: Override, obj: Any, data: Any = None) -> ReasonForm:
        return override.form(data)

    def override_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        override = self.override_table.get(action)
        if override is None:
            raise DjangoPermissionDenied("no such override")
        if not self.has_override_permission(request):
            raise DjangoPermissionDenied("this override needs an administrator's permission (engine.access)")
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)  # type: ignore[attr-defined]
        status = 200
        if request.method == "POST":
            form = self.override_form(override, obj, request.POST)
            if form.is_valid():
                try:
                    problem = _run_override(request, override, obj, form.cleaned_data)
                except FormInvalid as exc:
                    for field, problems in exc.extra.get("errors", {}).items():
                        # A problem of a field inside the data goes on the data box as it is: its message
                        # names the field in words (its title), so the raw key would only repeat it.
                        target = (
                            field if field in form.fields else ("data" if "data" in form.fields else None)
                        )
                        for message in problems:
                            form.add_error(target, message)
                    status = 400
                else:
                    if problem is None:
                        self.log_override(request, override, obj, form.cleaned_data)
                        self.message_user(request, f"{override.label}: done for {obj}.", messages.SUCCESS)  # type: ignore[attr-defined]
                        return HttpResponseRedirect(self.change_url(obj))
                    self.message_user(request, f"{override.label} refused: {problem}", messages.ERROR)  # type: ignore[attr-defined]
                    status = 409
            else:
                status = 400
        else:
            form = self.override_form(override, obj)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"{override.label}: {obj}",
            "override": override,
            "object": obj,
            "form": form,
            "opts": self.model._meta,  # type: ignore[attr-defined]
            "change_url": self.change_url(obj),
        }
        return TemplateResponse(request, "admin/engine/overrides/override.html", context, status=status)

    def bulk_override(self, request: HttpRequest, queryset: Any, action: str) -> HttpResponse | None:
        """An admin action: ask for the reason on an intermediate page, then apply to each selected object."""
        override = self.override_table[action]
        objects = list(queryset)
        previews = self.bulk_previews(override, objects)
        confirm = any(preview.has_consequences for preview in previews.values())
        form_class = BulkConfirmForm if confirm else ReasonForm
        form = form_class(request.POST if request.POST.get("apply") else None)
        if request.POST.get("apply") and form.is_valid():
            done = 0
            for obj in queryset:
                try:
                    problem = _run_override(request, override, obj, form.cleaned_data)
                except FormInvalid as exc:
                    problem = exc.message
                if problem is None:
                    done += 1
                    self.log_override(request, override, obj, form.cleaned_data)
                else:
                    self.message_user(
                        request, f"{override.label} refused for {obj}: {problem}", messages.ERROR
                    )  # type: ignore[attr-defined]
            if done:
                self.message_user(
                    request, f"{override.label}: done for {done} of {len(queryset)}.", messages.SUCCESS
                )  # type: ignore[attr-defined]
            return None
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"{override.label}: {len(queryset)} selected",
            "override": override,
            "objects": objects,
            "rows": [(obj, previews.get(obj.pk)) for obj in objects],
            "form": form,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,  # type: ignore[attr-defined]
        }
        return TemplateResponse(request, "admin/engine/overrides/override_bulk.html", context)

    def bulk_previews(self, override: Override, objects: list[Any]) -> dict[Any, Preview]:
        """What a bulk override will also settle, per object (only phase skips and force-completes say)."""
        return {}

    def log_override(self, request: HttpRequest, override: Override, obj: Any, data: dict[str, Any]) -> None:
        """The admin's History of the object (and, for a phase, of its instance) lists the override."""
        message = f"{override.label}: {data.get('reason', '')}"
        self.log_change(request, obj, message)  # type: ignore[attr-defined]
        if isinstance(obj, PhaseRun):
            self.log_change(
                request, obj.instance, f"{override.label} of {obj.phase_id}: {data.get('reason', '')}"
            )  # type: ignore[attr-defined]

    def override_links(self, request: HttpRequest, obj: Any) -> list[tuple[str, str]]:
        if obj is None or not self.has_override_permission(request):
            return []
        return [
            (o.label, self.override_url(obj, key)) for key, o in self.override_table.items() if o.offered(obj)
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)  # type: ignore[attr-defined]
        extra = {**(extra_context or {}), "override_links": self.override_links(request, obj)}
        return super().change_view(request, object_id, form_url, extra)  # type: ignore[misc]


def _bulk_action(key: str, label: str) -> Any:
    def action(self: OverrideAdminMixin, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self.bulk_override(request, queryset, key)

    action.__name__ = f"override_{key}"
    return admin.action(description=f"{label} selected…", permissions=["override"])(action)


# --- instances ------------------------------------------------------------------------------------------


PHASE_CHANGE = "admin:engine_phaserun_change"
TRAIL_SHOWN = 100  # audit rows on an object's page; the transitions list has the rest
PHASES_SHOWN = 100  # phase runs on an instance's page; the phase-run list has the rest


def _trail_link(instance_id: Any, more: bool) -> str:
    url = reverse("admin:engine_transition_changelist") + f"?q={instance_id}"
    more_text = f"the newest {TRAIL_SHOWN} shown; " if more else ""
    return format_html('<p>{}<a href="{}">the whole audit trail</a></p>', more_text, url)


def _trail_table(queryset: Any, *, with_phase: bool) -> tuple[str, bool]:
    columns = ("created_at", "phase_id", "round", "name", "source", "target", "actor_label", "reason")
    rows = list(queryset.order_by("-id").values_list(*columns)[: TRAIL_SHOWN + 1])
    headers = ["when", *(["phase"] if with_phase else []), "round", "name", "from", "to", "by", "reason"]
    cells = [
        [
            created_at.strftime("%Y-%m-%d %H:%M:%S"),
            *([phase_id or "instance"] if with_phase else []),
            *rest,
        ]
        for created_at, phase_id, *rest in rows[:TRAIL_SHOWN]
    ]
    return html_table(headers, cells), len(rows) > TRAIL_SHOWN


@admin.register(WorkflowInstance)
class WorkflowInstanceAdmin(StoredErrorAdminMixin, BigTableAdmin, OverrideAdminMixin, admin.ModelAdmin):
    list_display = ("id", "template", "business_key", "state", "created_at", "finished_at")
    list_filter = ("state", "template")
    search_fields = ("business_key",)
    search_help_text = "an instance id, a business key or a template key"

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        term = search_term.strip()
        templates = list(WorkflowTemplate.objects.filter(key=term).values_list("pk", flat=True))
        lookups = {"pk": as_uuid(term), "business_key": term, "template_id__in": templates}
        return exact_search(queryset, term, lookups), False

    readonly_fields: tuple[str, ...] = (
        "id",
        "template",
        "version",
        "business_key",
        "state",
        "started_by",
        "created_at",
        "started_at",
        "finished_at",
        "suspended_at",
        "suspended_seconds",
        "params_pretty",
        "error_pretty",
        "progress_page",
        "phases",
        "role_assignments",
        "audit_trail",
    )
    exclude = ("params", "error")
    fields = readonly_fields
    change_form_template = "admin/engine/overrides/change_form.html"
    override_allowed = staticmethod(access.may_override_instances)
    override_table = INSTANCE_OVERRIDES
    actions = [
        *(_bulk_action(key, o.label) for key, o in INSTANCE_OVERRIDES.items() if o.bulk),
        migrate_instances,
    ]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("template", "version")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # everything changes through the overrides, never by editing fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_override_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="params")
    def params_pretty(self, obj: WorkflowInstance) -> str:
        return pretty_json(obj.params)

    @admin.display(description="progress page")
    def progress_page(self, obj: WorkflowInstance) -> str:
        url = reverse("pages:workflow_detail", kwargs={"instance_id": obj.pk})
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.display(description="phases")
    def phases(self, obj: WorkflowInstance) -> str:
        """At most `PHASES_SHOWN` phase runs (the page of them where the instance stands), as a table
        linking to each run's page; the phase-run list, searched by the instance's id, has them all."""
        runs = list(
            PhaseRun.objects.filter(instance=obj)
            .order_by("position", "id")
            .values_list(
                "pk",
                "phase_id",
                "phase_type",
                "state",
                "attempt",
                "assignee__username",
                "due_at",
                "sla_status",
                "next_run_at",
            )
        )
        first = next((i for i, run in enumerate(runs) if run[3] in STANDING_PHASE_STATES), 0)
        start = first - first % PHASES_SHOWN
        shown = runs[start : start + PHASES_SHOWN]
        # One reverse() for the page, not one per row.
        change = reverse(PHASE_CHANGE, args=[0]).removesuffix("0/change/")
        headers = ["phase", "type", "state", "attempt", "assignee", "due", "SLA", "next run"]
        cells = [
            [
                format_html('<a href="{}{}/change/">{}</a>', change, pk, phase_id),
                phase_type,
                state,
                attempt,
                assignee or "—",
                due_at.strftime("%Y-%m-%d %H:%M") if due_at else "—",
                sla_status or "—",
                next_run_at.strftime("%Y-%m-%d %H:%M:%S") if next_run_at else "—",
            ]
            for pk, phase_id, phase_type, state, attempt, assignee, due_at, sla_status, next_run_at in shown
        ]
        if len(shown) == len(runs):
            return html_table(headers, cells)
        url = reverse("admin:engine_phaserun_changelist") + f"?q={obj.pk}"
        return format_html(
            '{}<p>phases {}–{} of {} shown (where the instance stands); <a href="{}">all its phase runs</a>'
            "</p>",
            html_table(headers, cells),
            start + 1,
            start + len(shown),
            len(runs),
            url,
        )

    @admin.display(description="roles given on this instance")
    def role_assignments(self, obj: WorkflowInstance) -> str:
        from engine.admin.roles import instance_role_assignments

        return instance_role_assignments(obj)

    @admin.display(description="audit trail")
    def audit_trail(self, obj: WorkflowInstance) -> str:
        table, more = _trail_table(
            Transition.objects.filter(instance=obj, item_run__isnull=True), with_phase=True
        )
        return format_html("{}{}", table, _trail_link(obj.pk, more))


# --- phase runs -----------------------------------------------------------------------------------------


@admin.register(PhaseRun)
class PhaseRunAdmin(StoredErrorAdminMixin, BigTableAdmin, OverrideAdminMixin, admin.ModelAdmin):
    list_display = (
        "phase_id",
        "instance",
        "phase_type",
        "state",
        "round",
        "assignee",
        "due_at",
        "sla_status",
    )
    list_filter = ("state", recent_values_filter("phase_type", "type"), "sla_status")
    search_fields = ("phase_id",)
    search_help_text = "a phase id, an instance id or business key, or an assignee's username"
    list_select_related = ("instance__template", "assignee")
    ordering = ("-id",)

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        term = search_term.strip()
        # ids first (two index lookups), so the database can OR three index scans instead of reading every run
        by_key = list(WorkflowInstance.objects.filter(business_key=term).values_list("pk", flat=True)[:1000])
        by_username = list(get_user_model().objects.filter(username=term).values_list("pk", flat=True))
        lookups = {
            "phase_id": term,
            "instance_id": as_uuid(term),
            "instance_id__in": by_key,
            "assignee_id__in": by_username,
        }
        return exact_search(queryset, term, lookups), False

    readonly_fields = (
        "instance",
        "phase_id",
        "phase_type",
        "state",
        "round",
        "attempt",
        "assignee",
        "claimed_at",
        "completed_by",
        "outcome",
        "data_pretty",
        "activated_at",
        "due_at",
        "at_risk_at",
        "sla_status",
        "escalated_at",
        "next_run_at",
        "started_at",
        "finished_at",
        "output_pretty",
        "error_pretty",
        "progress_page",
        "audit_trail",
    )
    fields = readonly_fields
    change_form_template = "admin/engine/overrides/change_form.html"
    override_allowed = staticmethod(access.may_override_phases)
    override_table = PHASE_OVERRIDES
    actions = [_bulk_action(key, o.label) for key, o in PHASE_OVERRIDES.items() if o.bulk]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_override_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def bulk_previews(self, override: Override, objects: list[Any]) -> dict[Any, Preview]:
        if not issubclass(override.form, SettleForm):
            return {}
        action = "skip" if issubclass(override.form, SkipForm) else "force_complete"
        return {
            run.pk: settle_preview(instance_id=run.instance_id, phase_id=run.phase_id, action=action)
            for run in objects
        }

    def override_form(self, override: Override, obj: Any, data: Any = None) -> ReasonForm:
        form = override.form(data, initial=self._initial(override, obj))
        if isinstance(form, SettleForm):
            action = "skip" if isinstance(form, SkipForm) else "force_complete"
            outcome = (data or {}).get("outcome") or None  # the preview follows the outcome chosen
            form.preview = settle_preview(
                instance_id=obj.instance_id, phase_id=obj.phase_id, action=action, outcome=outcome
            )
            if not form.preview.has_consequences:
                del form.fields["confirm"]
        if isinstance(form, ReopenForm):
            form.preview = reopen_preview(instance_id=obj.instance_id, phase_id=obj.phase_id)
        if isinstance(form, ForceCompleteForm):
            outcomes = self._outcomes(obj)
            form.fields["outcome"].choices = [("", "—")] + [(o, o) for o in outcomes]
        return form

    def _outcomes(self, run: PhaseRun) -> tuple[str, ...]:
        spec = selectors.version_plan(run.instance.version).phases.get(run.phase_id)
        return spec.outcomes if spec is not None and spec.type == "human" else ()

    def _initial(self, override: Override, run: PhaseRun) -> dict[str, Any]:
        if override.form is DataEditForm:
            return {"data": run.data or {}}
        if override.form is ReassignForm:
            return {"assignee": run.assignee_id}
        if override.form is ExtendSlaForm and run.due_at:
            return {"due_at": run.due_at}
        return {}

    @admin.display(description="data")
    def data_pretty(self, obj: PhaseRun) -> str:
        return pretty_json(obj.data) if obj.data is not None else "—"

    @admin.display(description="output")
    def output_pretty(self, obj: PhaseRun) -> str:
        return pretty_json(obj.output) if obj.output is not None else "—"

    @admin.display(description="audit trail of this phase")
    def audit_trail(self, obj: PhaseRun) -> str:
        table, more = _trail_table(Transition.objects.filter(phase_run=obj), with_phase=False)
        return format_html("{}{}", table, _trail_link(obj.instance_id, more))

    @admin.display(description="phase page")
    def progress_page(self, obj: PhaseRun) -> str:
        url = reverse("pages:phase_detail", kwargs={"instance_id": obj.instance_id, "phase_id": obj.phase_id})
        return format_html('<a href="{}">{}</a>', url, url)
