"""The buttons of the pages: claim, release, assign, comment. POST only; each redirects back."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from engine import selectors
from engine.errors import FormInvalid
from engine.pages.forms import AssignForm, CommentForm
from engine.pages.views.common import engine_errors, error_page, safe_next
from engine.services import phases


def _back(request: HttpRequest, instance_id: Any, phase_id: str | None = None) -> HttpResponseRedirect:
    if phase_id:
        default = reverse("pages:phase_detail", kwargs={"instance_id": instance_id, "phase_id": phase_id})
    else:
        default = reverse("pages:workflow_detail", kwargs={"instance_id": instance_id})
    return HttpResponseRedirect(safe_next(request, default))


@login_required
@require_POST
@engine_errors
def phase_claim(request: HttpRequest, instance_id: Any, phase_id: str) -> HttpResponse:
    selectors.instance_for_user(user=request.user, instance_id=instance_id)
    run = phases.phase_claim(instance_id=instance_id, phase_id=phase_id, user=request.user)
    messages.success(request, f"You hold {run.phase_id} now.")
    # After a claim the natural next step is the phase's form, whatever page the button was on.
    target = reverse("pages:phase_detail", kwargs={"instance_id": instance_id, "phase_id": phase_id})
    return HttpResponseRedirect(target)


@login_required
@require_POST
@engine_errors
def phase_release(request: HttpRequest, instance_id: Any, phase_id: str) -> HttpResponse:
    selectors.instance_for_user(user=request.user, instance_id=instance_id)
    phases.phase_release(
        instance_id=instance_id, phase_id=phase_id, user=request.user, reason=request.POST.get("reason", "")
    )
    messages.success(request, f"{phase_id} is free for anyone with its role.")
    return _back(request, instance_id, phase_id)


@login_required
@require_POST
@engine_errors
def phase_assign(request: HttpRequest, instance_id: Any, phase_id: str) -> HttpResponse:
    selectors.instance_for_user(user=request.user, instance_id=instance_id)
    form = AssignForm(request.POST, candidates=get_user_model().objects.filter(is_active=True))
    if not form.is_valid():
        return error_page(request, status=400, title="Could not assign", message=_first_error(form.errors))
    assignee = form.cleaned_data["assignee"]
    try:
        phases.phase_assign(
            instance_id=instance_id,
            phase_id=phase_id,
            user=request.user,
            assignee=assignee,
            reason=form.cleaned_data.get("reason", ""),
        )
    except FormInvalid as exc:
        return error_page(
            request, status=400, title="Could not assign", message=_first_error(exc.extra.get("errors", {}))
        )
    who = assignee.get_username() if assignee else "nobody"
    messages.success(request, f"{phase_id} is assigned to {who}.")
    return _back(request, instance_id, phase_id)


@login_required
@require_POST
@engine_errors
def comment_add(request: HttpRequest, instance_id: Any) -> HttpResponse:
    selectors.instance_for_user(user=request.user, instance_id=instance_id)
    phase_id = request.POST.get("phase_id") or None
    form = CommentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _first_error(form.errors))
        return _back(request, instance_id, phase_id)
    try:
        phases.comment_add(
            instance_id=instance_id, user=request.user, body=form.cleaned_data["body"], phase_id=phase_id
        )
    except FormInvalid as exc:
        messages.error(request, _first_error(exc.extra.get("errors", {})))
    else:
        messages.success(request, "Comment added.")
    return _back(request, instance_id, phase_id)


def _first_error(errors: Any) -> str:
    for messages_ in dict(errors).values():
        for message in messages_:
            return str(message)
    return "invalid input"
