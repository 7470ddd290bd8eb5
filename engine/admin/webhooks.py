"""Admin for webhooks (the secret is shown once, then only its start) and their read-only deliveries."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from engine.admin.common import ReadOnlyAdmin, pretty_json
from engine.models import DeliveryState, Webhook, WebhookDelivery
from engine.services.webhooks import webhook_deliveries_retry, webhook_save_new, webhook_secret_rotate


def https_by_default(field: models.Field, **kwargs: Any) -> forms.Field | None:
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class WebhookForm(forms.ModelForm):
    class Meta:
        model = Webhook
        fields = ("name", "url", "secret", "events", "template", "active")
        formfield_callback = https_by_default

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "secret" in self.fields:
            self.fields["secret"].initial = ""
            self.fields["secret"].required = False
            self.fields["secret"].widget = forms.PasswordInput(render_value=False)


def secret_hint(webhook: Webhook) -> str:
    return f"{webhook.secret[:4]}… (shown in full once, when created or rotated)" if webhook.secret else "—"


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "url", "active", "template", "event_patterns", "created_at")
    list_filter = ("active", "template")
    search_fields = ("name", "url")
    list_select_related = ("template",)
    actions = ("rotate_secret",)

    def get_fields(self, request: HttpRequest, obj: Webhook | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "url", "secret", "events", "template", "active")
        return (
            "name",
            "url",
            "secret_display",
            "events",
            "template",
            "active",
            *self.get_readonly_fields(request, obj)[1:],
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Webhook | None = None) -> tuple[str, ...]:
        return () if obj is None else ("secret_display", "last_event_id", "created_at")

    @admin.display(description="secret")
    def secret_display(self, obj: Webhook) -> str:
        return secret_hint(obj)

    @admin.display(description="events")
    def event_patterns(self, obj: Webhook) -> str:
        return ", ".join(obj.events) if obj.events else "all"

    def save_model(self, request: HttpRequest, obj: Webhook, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        webhook_save_new(webhook=obj)
        messages.warning(
            request,
            f"The secret of {obj.name!r} is {obj.secret}; copy it now, it is not shown again.",
        )

    @admin.action(description="Rotate the secret of the selected webhooks (shows the new ones once)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        for webhook in queryset:
            secret = webhook_secret_rotate(webhook_id=webhook.pk)
            messages.warning(request, f"New secret of {webhook.name!r}: {secret} — it is not shown again.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "webhook",
        "event_name",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "short_error",
    )
    list_filter = ("state", "webhook")
    search_fields = ("event__name", "last_error", "webhook__name")
    list_select_related = ("webhook", "event")
    readonly_fields = (
        "webhook",
        "event",
        "event_name",
        "event_payload",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    )
    fields = readonly_fields
    actions = ("retry_deliveries",)

    @admin.display(description="event", ordering="event__name")
    def event_name(self, obj: WebhookDelivery) -> str:
        return obj.event.name

    @admin.display(description="payload")
    def event_payload(self, obj: WebhookDelivery) -> str:
        return pretty_json(obj.event.payload)

    @admin.display(description="last error")
    def short_error(self, obj: WebhookDelivery) -> str:
        return obj.last_error[:120]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("engine.change_webhook"):
            actions.pop("retry_deliveries", None)
        return actions

    @admin.action(description="Retry the selected dead or failed deliveries")
    def retry_deliveries(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        ids = list(
            queryset.filter(state__in=(DeliveryState.DEAD, DeliveryState.FAILED)).values_list("pk", flat=True)
        )
        count = webhook_deliveries_retry(delivery_ids=ids)
        messages.success(request, f"{count} deliveries will be sent again.")
