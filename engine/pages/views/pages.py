"""The pages people work in: inbox, workflows, an instance's progress, one phase, starting a workflow.

Views read through `engine.selectors` and write through the runtime services; a GET never writes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from engine import access, selectors
from engine.errors import Conflict, FormInvalid, NotFound, ParamsInvalid, PermissionDenied
from engine.models import InstanceState, SlaStatus
from engine.pages.addresses import Addresses
from engine.pages.attempts import attempts_of
from engine.pages.forms import AssignForm, CommentForm, CompleteForm, StartForm, initial_from
from engine.pages.graph import graph_of, ui_hints
from engine.pages.progress import progress_summary
from engine.pages.views.common import engine_errors
from engine.pages.waiting import waiting_reason
from engine.paging import page_number
from engine.services.instances import instance_start_or_find
from engine.services.phases import phase_complete

PAGE_SIZE = 25
SLA_FILTERS = [
    (SlaStatus.ON_SCHEDULE, "On schedule"),
    (SlaStatus.AT_RISK, "At risk"),
    (SlaStatus.BEHIND_SCHEDULE, "Behind schedule"),
    (SlaStatus.MISSED, "Missed"),
    (SlaStatus.MET, "Met"),
]


@login_required
@require_http_methods(["GET"])
def inbox(request: HttpRequest) -> HttpResponse:
    role = request.GET.get("role", "")
    template = request.GET.get("template", "")
    sla = request.GET.get("sla", "")
    now = timezone.now()
    box = selectors.inbox_get(
        user=request.user, role=role, template=template, sla=sla, page=page_number(request.GET.get("page"))
    )
    addresses = Addresses()
    for item in box.items:
        run = item.run
        item.why = waiting_reason(run.instance, item.plan, run, {}, now)
        item.phase_url = addresses.phase(run.instance_id, run.phase_id)
        item.claim_url = addresses.claim(run.instance_id, run.phase_id)
        item.workflow_url = addresses.workflow(run.instance_id)
    context = {
        "inbox": box,
        "filters": {"role": role, "template": template, "sla": sla},
        "query": _without_page(request),
        "sla_choices": SLA_FILTERS[:3],
        "now": now,
    }
    return render(request, "pages/inbox.html", context)


@login_required
@require_http_methods(["GET"])
def workflow_list(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "").strip() for name in ("state", "template", "sla", "q")}
    queryset = selectors.instance_list(
        user=request.user,
        state=filters["state"],
        template=filters["template"],
        sla=filters["sla"],
        search=filters["q"],
    )
    page = selectors.instance_page(queryset, page_number(request.GET.get("page")), PAGE_SIZE)
    context = {
        "page": page,
        "instances": [_list_row(instance) for instance in page.object_list],
        "filters": filters,
        "query": _without_page(request),
        "states": InstanceState.choices,
        "templates": selectors.template_choices(),
        "sla_choices": SLA_FILTERS,
        "can_start": True,
    }
    return render(request, "pages/workflow_list.html", context)


def _history_before(request: HttpRequest) -> int | None:
    """`?history_before=<id>`: show the audit rows older than that one."""
    raw = request.GET.get("history_before")
    return page_number(raw) if raw else None


def _without_page(request: HttpRequest) -> str:
    """The query string of the request without its page number, for the pager's links."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _list_row(instance: Any) -> dict[str, Any]:
    total, finished = instance.phase_total, instance.phase_finished
    return {
        "instance": instance,
        "percent": round(100 * finished / total) if total else 0,
        "finished": finished,
        "total": total,
        "summary": progress_summary(getattr(instance, "phase_counts", {}), total),
        "sla": selectors.RANK_SLA.get(instance.sla_rank or 0, ""),
        "open_runs": instance.open_runs,
    }


@login_required
@require_http_methods(["GET"])
@engine_errors
def workflow_detail(request: HttpRequest, instance_id: Any) -> HttpResponse:
    now = timezone.now()
    phase_page = request.GET.get("phases")
    progress = selectors.instance_progress_get(
        user=request.user,
        instance_id=instance_id,
        history_before=_history_before(request),
        phase_page=page_number(phase_page) if phase_page else None,
    )
    for row in progress.rows:
        row.why = waiting_reason(
            progress.instance, progress.plan, row.run, progress.runs, now, items=row.items
        )
    addresses = Addresses()
    annotate_changes(progress.history, addresses)
    graph = graph_of(progress.plan, progress.runs, ui=ui_hints(progress.instance.version.definition))
    # One reverse() for the instance, not one per phase: the rows and the graph's boxes add the phase id.
    phases_url = phase_url(instance_id, "-").removesuffix("-/")
    for row in progress.rows:
        row.url = f"{phases_url}{quote(row.run.phase_id)}/"
        row.claim_url = addresses.claim(instance_id, row.run.phase_id) if row.can_claim else ""
    query = request.GET.copy()
    query.pop("phases", None)
    context = {
        "progress": progress,
        "summary": progress_summary(progress.counts, progress.total),
        "graph_payload": graph.payload(phases_url),
        "phases": progress.phases,
        "phases_query": query.urlencode(),
        "instance": progress.instance,
        "plan": progress.plan,
        "comment_form": CommentForm(),
        "now": now,
        "can_override": access.may_override_instances(request.user)
        or access.may_override_phases(request.user),
        "compensations": selectors.instance_compensations(instance_id=progress.instance.pk),
        "children": selectors.instance_children(instance_id=progress.instance.pk),
        "parent_run": progress.instance.parent_phase_run,
    }
    return render(request, "pages/workflow_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@engine_errors
def phase_detail(request: HttpRequest, instance_id: Any, phase_id: str) -> HttpResponse:
    """The per-phase page; POST submits its form and completes the phase."""
    now = timezone.now()
    detail = selectors.phase_detail_get(
        user=request.user,
        instance_id=instance_id,
        phase_id=phase_id,
        history_before=_history_before(request),
    )
    spec, run = detail.spec, detail.run
    detail.row.why = waiting_reason(
        detail.instance, detail.plan, run, detail.runs, now, items=detail.row.items
    )
    status = 200
    form = None
    if request.method == "POST":
        form = CompleteForm(spec.form, spec.outcomes, request.POST)
        if form.is_valid():
            try:
                phase_complete(
                    instance_id=instance_id,
                    phase_id=phase_id,
                    user=request.user,
                    outcome=form.outcome,
                    data=form.to_json(),
                )
            except FormInvalid as exc:
                form.add_problems(exc.extra.get("errors", {}))
            else:
                outcome = form.outcome or ""
                done = f"{spec.name or phase_id} completed" + (
                    f" ({outcome})" if len(spec.outcomes) > 1 else ""
                )
                messages.success(request, done + ".")
                return redirect("pages:workflow_detail", instance_id=instance_id)
        status = 400
    elif detail.row.can_complete:
        # A rework round opens with the last submission filled in, not an empty form.
        last = run.data if run.data is not None else last_submission(detail.submissions)
        form = CompleteForm(spec.form, spec.outcomes, initial=initial_from(spec.form, last))
    assign_form = None
    if detail.row.can_assign:
        candidates = access.role_holders(detail.instance, spec.roles)
        ids = [user.pk for user in candidates]
        assign_form = AssignForm(
            candidates=get_user_model().objects.filter(pk__in=ids).order_by("username"),
            initial={"assignee": run.assignee_id},
        )
    annotate_changes(detail.history, Addresses())
    context = {
        "detail": detail,
        "attempts": attempts_of(detail.history) if spec.is_automated else [],
        "attempt_input": selectors.phase_input(detail.instance, spec, run) if spec.is_automated else None,
        "data_rows": data_rows(spec.form, run.data),
        "submissions": [
            (t, data_rows(spec.form, t.metadata.get("data") or (t.metadata.get("after") or {}).get("data")))
            for t in detail.submissions
        ],
        "instance": detail.instance,
        "plan": detail.plan,
        "run": run,
        "shown_error": access.error_shown_to(request.user, run.error),
        "spec": spec,
        "row": detail.row,
        "form": form,
        "assign_form": assign_form,
        "comment_form": CommentForm(),
        "now": now,
        "can_override": access.may_override_phases(request.user),
        "sla_text": sla_text(spec.sla) if spec.sla else "",
    }
    return render(request, "pages/phase_detail.html", context, status=status)


# --- starting a workflow --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def workflow_start_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/workflow_start_list.html",
        {"versions": selectors.startable_versions(user=request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
@engine_errors
def workflow_start(request: HttpRequest, key: str) -> HttpResponse:
    version = next(
        (v for v in selectors.startable_versions(user=request.user) if v.template.key == key), None
    )
    if version is None:
        if selectors.published_template_exists(key=key):
            raise PermissionDenied("you may not start this workflow: it needs one of its roles")
        raise NotFound(f"no published workflow {key!r}")
    plan = selectors.version_plan(version)
    status = 200
    if request.method == "POST":
        status = 400  # unless it starts (a redirect) or the business key's history refuses it (409)
        form = StartForm(plan.params_schema, request.POST)
        if form.is_valid():
            business_key = form.cleaned_data.get("pg_business_key") or None
            try:
                started = instance_start_or_find(
                    template_key=key, params=form.to_json(), business_key=business_key, user=request.user
                )
            except ParamsInvalid as exc:
                for problem in exc.extra.get("errors", []):
                    field = problem.get("path", "").strip("/").split("/")[0]
                    form.add_error(field if field in form.fields else None, problem.get("message", ""))
            except Conflict as exc:  # the key's holder has other params, or a kept key was used: say which
                status = 409
                form.add_error("pg_business_key" if "pg_business_key" in form.fields else None, exc.message)
            else:
                if started.created:
                    messages.success(request, f"{plan.name} started.")
                else:
                    messages.info(
                        request, f"{plan.name} with business key {business_key!r} runs already: here it is."
                    )
                if started.note:
                    messages.info(request, started.note)
                return redirect("pages:workflow_detail", instance_id=started.instance.pk)
    else:
        form = StartForm(plan.params_schema)
    context = {"version": version, "plan": plan, "form": form}
    return render(request, "pages/workflow_start.html", context, status=status)


def phase_url(instance_id: Any, phase_id: str) -> str:
    return reverse("pages:phase_detail", kwargs={"instance_id": instance_id, "phase_id": phase_id})


# --- display helpers ------------------------------------------------------------------------------------


def human_duration(duration: timedelta) -> str:
    """`P1DT12H` as "1 day 12 hours"."""
    seconds = int(duration.total_seconds())
    parts = []
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts) or "no time"


def sla_text(sla: Any) -> str:
    """How long a phase may take, as people say it: "5 business days; escalates to test_manager"."""
    text = human_duration(sla.duration)
    if sla.business_days:
        text = text.replace("day", "business day")
    if sla.escalate_to:
        text += "; escalates to " + ", ".join(sla.escalate_to)
    return text


def display(value: Any) -> str:
    """A JSON value as people read it: lists joined, booleans as yes/no, nothing as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(display(item) for item in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {display(item)}" for key, item in value.items()) or "—"
    return str(value)


def data_rows(schema: Any, data: Any) -> list[tuple[str, str]]:
    """(label, value) for submitted data, in the form's order, labelled by the form's titles."""
    if not isinstance(data, dict):
        return []
    properties = (schema or {}).get("properties") or {}
    ordered = [key for key in properties if key in data] + [key for key in data if key not in properties]
    return [(str((properties.get(key) or {}).get("title") or key), display(data[key])) for key in ordered]


def last_submission(submissions: list[Any]) -> dict[str, Any] | None:
    """The data of the newest earlier submission (submit, force-complete or data edit), if any."""
    for row in submissions:
        meta = row.metadata if isinstance(row.metadata, dict) else {}
        data = meta.get("data") or (meta.get("after") or {}).get("data")
        if isinstance(data, dict):
            return data
    return None


def annotate_changes(history: list[Any], addresses: Addresses) -> list[Any]:
    """Give each audit row `changes`: (what, before, after) from its before/after metadata, and
    `phase_url`, its phase's page."""
    for row in history:
        row.phase_url = addresses.phase(row.instance_id, row.phase_id) if row.phase_id else ""
        meta = row.metadata if isinstance(row.metadata, dict) else {}
        before, after = meta.get("before"), meta.get("after")
        changes = []
        if isinstance(before, dict) or isinstance(after, dict):
            before, after = before or {}, after or {}
            for key in list(dict.fromkeys([*before, *after])):
                if before.get(key) != after.get(key):
                    changes.append((key, display(before.get(key)), display(after.get(key))))
        row.changes = changes
    return history
