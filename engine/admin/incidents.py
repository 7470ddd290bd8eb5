"""Dead letters in the admin: retry or discard each (a reason is required), in bulk too, and retry after
correcting the attempt's input or the instance's params (checked against their schemas, audited with
before and after). Everything goes through `engine.services.dead_letters`; `engine.resolve_deadletter` is
needed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from engine import access
from engine.admin.common import StoredErrorAdminMixin, pretty_json
from engine.admin.instances import Override, OverrideAdminMixin, ReasonForm, _bulk_action
from engine.admin.lists import BigTableAdmin
from engine.models import DeadLetter
from engine.services import dead_letters as incidents

JSON_AREA = {"rows": 10, "cols": 80, "class": "vLargeTextField pg-json-input"}


class RetryEditedForm(ReasonForm):
    input = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs=JSON_AREA),
        help_text="The input the next attempt gets, instead of the phase's input mapping (checked against "
        "the activity's input schema when it has one). Leave it unchanged to keep the mapping.",
    )
    params = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs=JSON_AREA),
        help_text="The instance's params (checked against the template's params schema). Leave it "
        "unchanged to keep them.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("input", "params"):  # only what the operator changed is corrected (and audited)
            if name not in self.changed_data:
                cleaned[name] = None
        return cleaned


def _retry(letter: DeadLetter, user: Any, data: dict[str, Any]) -> Any:
    return incidents.dead_letter_retry(dead_letter_id=letter.pk, user=user, reason=data["reason"])


def _retry_edited(letter: DeadLetter, user: Any, data: dict[str, Any]) -> Any:
    return incidents.dead_letter_retry(
        dead_letter_id=letter.pk,
        user=user,
        reason=data["reason"],
        input=data.get("input"),
        params=data.get("params"),
    )


def _discard(letter: DeadLetter, user: Any, data: dict[str, Any]) -> Any:
    return incidents.dead_letter_discard(dead_letter_id=letter.pk, user=user, reason=data["reason"])


def _is_open(letter: DeadLetter) -> bool:
    return letter.state == "open"


DEAD_LETTER_ACTIONS: dict[str, Override] = {
    "retry": Override("Retry", "Run the failed work again, as it was.", ReasonForm, _retry, offered=_is_open),
    "retry_edited": Override(
        "Fix and retry",
        "Correct the attempt's input or the instance's params, then run the failed work again.",
        RetryEditedForm,
        _retry_edited,
        bulk=False,
        offered=_is_open,
    ),
    "discard": Override(
        "Discard",
        "Give up on this work: the dead letter is closed; the instance stays as it is (cancel or skip it "
        "separately if it should not wait).",
        ReasonForm,
        _discard,
        offered=_is_open,
    ),
}


@admin.register(DeadLetter)
class DeadLetterAdmin(StoredErrorAdminMixin, BigTableAdmin, OverrideAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "instance", "phase_id", "item_index", "category", "short_message", "state")
    list_filter = ("state", "category")
    search_fields = ("phase_id", "message", "instance__id")
    list_select_related = ("instance__template", "item_run")
    readonly_fields = (
        "instance_link",
        "phase_link",
        "item_index",
        "category",
        "message",
        "attempt",
        "state",
        "created_at",
        "resolved_at",
        "resolved_by",
        "resolution_reason",
        "input_pretty",
        "params_pretty",
        "error_pretty",
    )
    fields = readonly_fields
    change_form_template = "admin/engine/overrides/change_form.html"
    override_allowed = staticmethod(access.may_resolve_dead_letters)
    override_table = DEAD_LETTER_ACTIONS
    actions = [_bulk_action(key, o.label) for key, o in DEAD_LETTER_ACTIONS.items() if o.bulk]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_override_permission(request)

    def get_queryset(self, request: HttpRequest) -> Any:
        # Not the instance's version: a row of the list would decode the template's whole document.
        return super().get_queryset(request).select_related("instance__template", "phase_run", "item_run")

    def override_form(self, override: Override, obj: Any, data: Any = None) -> ReasonForm:
        initial: dict[str, Any] = {}
        if override.form is RetryEditedForm:
            initial = {"params": obj.instance.params}
            attempt_input = incidents.attempt_input(obj)
            if attempt_input is not None:
                initial["input"] = attempt_input
        form = override.form(data, initial=initial)
        if override.form is RetryEditedForm and not incidents.editable_input(obj):
            del form.fields["input"]
        return form

    @admin.display(description="item")
    def item_index(self, obj: DeadLetter) -> Any:
        return obj.item_run.index if obj.item_run_id else "—"

    @admin.display(description="message")
    def short_message(self, obj: DeadLetter) -> str:
        return obj.message[:120]

    @admin.display(description="instance")
    def instance_link(self, obj: DeadLetter) -> str:
        url = reverse("pages:workflow_detail", kwargs={"instance_id": obj.instance_id})
        return format_html('<a href="{}">{}</a>', url, obj.instance)

    @admin.display(description="phase")
    def phase_link(self, obj: DeadLetter) -> str:
        url = reverse("admin:engine_phaserun_change", args=[obj.phase_run_id])
        return format_html('<a href="{}">{}</a>', url, obj.phase_id)

    @admin.display(description="input of the next attempt")
    def input_pretty(self, obj: DeadLetter) -> str:
        value = incidents.attempt_input(obj)
        return pretty_json(value) if value is not None else "—"

    @admin.display(description="instance params")
    def params_pretty(self, obj: DeadLetter) -> str:
        return pretty_json(obj.instance.params)
