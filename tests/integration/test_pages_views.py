"""The pages: inbox, workflows, progress and phase pages, start, login; forms, escaping, no writes on GET."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from engine.models import Comment, InstanceState, PhaseRun, Transition, WorkflowInstance
from engine.pages.graph import graph_of, ui_hints
from engine.runtime import human
from engine.runtime.plans import plan_for
from engine.services import overrides
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    people,
    run_of,
    start,
    states,
)

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def html(response) -> str:
    return response.content.decode()


def phase_url(instance, phase_id, action=""):
    if action:
        return reverse(f"pages:phase_{action}", args=[instance.pk, phase_id])
    return reverse("pages:phase_detail", args=[instance.pk, phase_id])


def writes(queries) -> list[str]:
    return [q["sql"] for q in queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.IGNORECASE)]


# --- login and layout -----------------------------------------------------------------------------------


def test_login_page_logs_in_and_lands_in_the_inbox(client, people):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'name="username"' in html(page)
    response = client.post(reverse("login"), {"username": "tester", "password": "pw-123456"})
    assert response.status_code == 302 and response["Location"] == reverse("pages:inbox")


def test_the_base_layout_has_the_navigation_and_a_logout_form(client, people, dt_testing):
    page = html(login(client, people["tester"]).get(reverse("pages:inbox")))
    assert 'href="/inbox/"' in page and 'href="/workflows/"' in page
    assert 'href="/admin/"' not in page  # not staff
    assert re.search(r'<form method="post" action="/accounts/logout/"', page)
    staff_page = html(login(client, people["admin"]).get(reverse("pages:inbox")))
    assert 'href="/admin/"' in staff_page


def test_the_root_goes_to_the_inbox(client, people):
    response = login(client, people["tester"]).get("/")
    assert response.status_code == 302 and response["Location"] == reverse("pages:inbox")


# --- inbox ----------------------------------------------------------------------------------------------


def test_inbox_lists_what_my_roles_allow_with_due_time_and_sla(client, dt_testing, people):
    instance = start()
    page = html(login(client, people["tester"]).get(reverse("pages:inbox")))
    assert f'data-instance="{instance.pk}"' in page and 'data-phase="planning"' in page
    assert "On schedule" in page and "Claim" in page
    assert 'data-phase="planning"' not in html(login(client, people["cdo"]).get(reverse("pages:inbox")))


def test_inbox_hides_phases_someone_else_holds_and_shows_mine(client, dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    assert 'data-phase="planning"' not in html(login(client, people["tester2"]).get(reverse("pages:inbox")))
    mine = html(login(client, people["tester"]).get(reverse("pages:inbox")))
    assert 'data-phase="planning"' in mine and "Yours since" in mine


def test_inbox_filters_by_role_template_and_sla(client, dt_testing, people):
    start()
    client = login(client, people["manager"])
    inbox = reverse("pages:inbox")
    assert 'data-phase="planning"' in html(client.get(inbox, {"role": "test_manager"}))
    assert 'data-phase="planning"' not in html(client.get(inbox, {"role": "tester"}))
    assert 'data-phase="planning"' in html(client.get(inbox, {"template": "dt_testing"}))
    assert 'data-phase="planning"' not in html(client.get(inbox, {"template": "other"}))
    assert 'data-phase="planning"' in html(client.get(inbox, {"sla": "on_schedule"}))
    assert 'data-phase="planning"' not in html(client.get(inbox, {"sla": "at_risk"}))


def test_inbox_is_sorted_by_due_time(client, dt_testing, people):
    late, early = start(), start(params={"report_id": 8})
    PhaseRun.objects.filter(instance=early, phase_id="planning").update(due_at="2026-01-01T00:00:00Z")
    page = html(login(client, people["tester"]).get(reverse("pages:inbox")))
    assert page.index(str(early.pk)) < page.index(str(late.pk))


def test_claim_from_the_inbox_goes_to_the_phase_page(client, dt_testing, people):
    instance = start()
    response = login(client, people["tester"]).post(phase_url(instance, "planning", "claim"))
    assert response.status_code == 302 and response["Location"] == phase_url(instance, "planning")
    assert run_of(instance, "planning").assignee == people["tester"]


# --- workflows ------------------------------------------------------------------------------------------


def test_workflow_list_shows_progress_state_and_worst_sla(client, dt_testing, people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    PhaseRun.objects.filter(instance=instance, phase_id="scoping").update(sla_status="at_risk")
    page = html(login(client, people["tester"]).get(reverse("pages:workflow_list")))
    assert "1 of 7 completed" in page and "seg-completed" in page
    assert "At risk" in page and "running" in page


def test_workflow_list_filters_and_paginates(client, dt_testing, people):
    for n in range(27):
        start(params={"report_id": n})
    client = login(client, people["tester"])
    first = html(client.get(reverse("pages:workflow_list")))
    assert first.count('data-instance="') == 25 and "Page 1 of 2" in first
    assert html(client.get(reverse("pages:workflow_list"), {"page": 2})).count('data-instance="') == 2
    assert 'data-instance="' not in html(client.get(reverse("pages:workflow_list"), {"state": "completed"}))


def test_workflow_list_shows_only_visible_instances(client, dt_testing, people):
    start()
    assert 'data-instance="' not in html(
        login(client, people["outsider"]).get(reverse("pages:workflow_list"))
    )


def test_progress_page_shows_graph_phases_holders_and_history(client, dt_testing, people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    human.phase_claim(instance_id=instance.pk, phase_id="scoping", user=people["tester2"])
    page = html(login(client, people["manager"]).get(reverse("pages:workflow_detail", args=[instance.pk])))
    assert '<svg class="graph"' in page
    assert re.search(r'data-phase="planning" data-state="completed"', page)
    assert re.search(r'data-phase="scoping" data-state="active"', page)
    assert "Waits for tester2, who holds it since" in page
    assert "Waits for Scoping to finish." in page
    assert "submit" in page and "claim" in page  # the history


def test_progress_page_shows_the_parameters_as_json_not_python(client, dt_testing, people):
    # the params schema leaves other fields open: one that holds true and null
    instance = start(params={"report_id": 7, "cycle": "2026-Q1", "scope": {"eu": True, "lead": None}})
    page = html(login(client, people["manager"]).get(reverse("pages:workflow_detail", args=[instance.pk])))
    assert '<code data-param="report_id">7</code>' in page
    assert '<code data-param="cycle">&quot;2026-Q1&quot;</code>' in page
    assert '<code data-param="scope">{&quot;eu&quot;: true, &quot;lead&quot;: null}</code>' in page


def test_the_graph_has_a_box_per_phase_and_an_arrow_per_dependency_with_the_designers_hints(dt_testing):
    version = start().version
    plan = plan_for(version)
    definition = {**version.definition}
    definition["phases"] = [dict(phase) for phase in definition["phases"]]
    definition["phases"][0]["ui"] = {"x": 300, "y": 40}
    graph = graph_of(plan, {}, ui=ui_hints(definition))
    assert [node["id"] for node in graph.nodes] == [phase["id"] for phase in definition["phases"]]
    assert graph.nodes[0]["ui"] == {"x": 300, "y": 40} and graph.nodes[1]["ui"] is None
    assert len(graph.edges) == sum(len(plan.predecessors[p]) for p in plan.order) == 7
    payload = graph.payload("/workflows/x/phases/")
    assert payload["nodes"][0][payload["fields"].index("ui")] == {"x": 300, "y": 40}
    assert payload["edges"][0] == [graph.edges[0]["from"], graph.edges[0]["to"], False]


def test_progress_page_says_why_a_suspended_instance_waits(client, dt_testing, people):
    instance = start()
    overrides.instance_suspend(instance_id=instance.pk, user=people["admin"], reason="audit")
    page = html(login(client, people["tester"]).get(reverse("pages:workflow_detail", args=[instance.pk])))
    assert "The instance is suspended" in page and "SLA time stops" in page


def test_unknown_instance_or_phase_is_404(client, dt_testing, people):
    instance = start()
    client = login(client, people["tester"])
    assert (
        client.get(
            reverse("pages:workflow_detail", args=["6c1f7a58-0000-4000-8000-000000000000"])
        ).status_code
        == 404
    )
    assert client.get(phase_url(instance, "nope")).status_code == 404


# --- the phase page -------------------------------------------------------------------------------------


def test_phase_page_renders_the_form_with_required_markers_and_help(client, dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    page = html(login(client, people["tester"]).get(phase_url(instance, "planning")))
    assert 'type="url" name="plan_url"' in page
    assert re.search(r'Test plan <abbr class="req"', page)
    assert "Link to the test plan document." in page
    assert "Write the test plan and link it." in page  # the phase description


def test_phase_page_without_the_role_shows_no_form(client, dt_testing, people):
    instance = start()
    page = html(login(client, people["cdo"]).get(phase_url(instance, "planning")))
    assert 'name="plan_url"' not in page
    assert "Waits for someone with the role Tester or Test manager to claim it" in page


def test_posting_bad_data_shows_errors_beside_the_fields_and_saves_nothing(client, dt_testing, people):
    instance = start()
    before = Transition.objects.count()
    response = login(client, people["tester"]).post(phase_url(instance, "planning"), {"plan_url": "nonsense"})
    assert response.status_code == 400
    page = html(response)
    field = page[page.index('data-field="plan_url"') :]
    field = field[: field.index("</div>")]
    assert "has-error" in page and "Enter a valid URL." in field
    assert run_of(instance, "planning").state == "active"
    assert Transition.objects.count() == before


def test_posting_the_form_completes_the_phase_and_goes_to_the_progress_page(client, dt_testing, people):
    instance = start()
    response = login(client, people["tester"]).post(
        phase_url(instance, "planning"), {"plan_url": PLAN_URL, "notes": "first draft"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("pages:workflow_detail", args=[instance.pk])
    assert run_of(instance, "planning").data == {"plan_url": PLAN_URL, "notes": "first draft"}
    page = html(client.get(response["Location"]))
    assert "Planning completed." in page


def test_choosing_the_rework_outcome_on_the_page_reopens_planning(client, dt_testing, people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    client = login(client, people["tester"])
    page = html(client.get(phase_url(instance, "scoping")))
    assert 'name="pg_outcome" value="rework"' in page and "sends it back to planning" in page
    missing = client.post(phase_url(instance, "scoping"), {"scope": "x"})
    assert missing.status_code == 400 and "This field is required." in html(missing)
    client.post(phase_url(instance, "scoping"), {"scope": "x", "pg_outcome": "rework"})
    assert states(instance)["planning"] == "active" and run_of(instance, "planning").round == 2


def test_posting_the_form_of_a_phase_held_by_someone_else_is_409(client, dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    response = login(client, people["tester2"]).post(phase_url(instance, "planning"), {"plan_url": PLAN_URL})
    assert response.status_code == 409 and "held by tester" in html(response)


def test_posting_the_form_without_the_role_is_403(client, dt_testing, people):
    instance = start()
    response = login(client, people["cdo"]).post(phase_url(instance, "planning"), {"plan_url": PLAN_URL})
    assert response.status_code == 403


def test_posting_to_a_phase_that_has_moved_on_is_409_not_500(client, dt_testing, people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    response = login(client, people["tester"]).post(phase_url(instance, "planning"), {"plan_url": PLAN_URL})
    assert response.status_code == 409 and "completed" in html(response)


def test_phase_page_shows_the_data_submitted_in_every_round(client, dt_testing, people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    human.phase_complete(instance_id=instance.pk, phase_id="scoping", user=people["tester"], outcome="rework")
    page = html(login(client, people["tester"]).get(phase_url(instance, "planning")))
    assert "Submissions, every round" in page and PLAN_URL in page and "round 2" in page


def test_a_manager_assigns_from_the_phase_page(client, dt_testing, people):
    instance = start()
    client = login(client, people["manager"])
    page = html(client.get(phase_url(instance, "planning")))
    assert 'name="assignee"' in page
    response = client.post(phase_url(instance, "planning", "assign"), {"assignee": people["tester2"].pk})
    assert response.status_code == 302
    assert run_of(instance, "planning").assignee == people["tester2"]


def test_release_from_the_phase_page(client, dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    response = login(client, people["tester"]).post(phase_url(instance, "planning", "release"))
    assert response.status_code == 302 and run_of(instance, "planning").assignee is None


def test_comments_are_added_and_shown(client, dt_testing, people):
    instance = start()
    client = login(client, people["cdo"])
    response = client.post(
        reverse("pages:comment_add", args=[instance.pk]), {"body": "Which report?", "phase_id": "planning"}
    )
    assert response.status_code == 302
    assert Comment.objects.get().phase_run.phase_id == "planning"
    assert "Which report?" in html(client.get(phase_url(instance, "planning")))


# --- safety ---------------------------------------------------------------------------------------------


def test_user_typed_values_are_escaped_everywhere(client, dt_testing, people):
    evil = "<script>alert(1)</script>"
    instance = start()
    WorkflowInstance.objects.filter(pk=instance.pk).update(business_key=evil)
    human.comment_add(instance_id=instance.pk, user=people["tester"], body=evil, phase_id="planning")
    human.phase_complete(
        instance_id=instance.pk,
        phase_id="planning",
        user=people["tester"],
        data={"plan_url": PLAN_URL, "notes": evil},
    )
    overrides.phase_reassign(
        instance_id=instance.pk, phase_id="scoping", user=people["admin"], assignee=None, reason=evil
    )
    client = login(client, people["tester"])
    for url in (
        reverse("pages:workflow_list"),
        reverse("pages:workflow_detail", args=[instance.pk]),
        phase_url(instance, "planning"),
        reverse("pages:inbox"),
    ):
        page = html(client.get(url))
        assert evil not in page, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html(client.get(phase_url(instance, "planning")))


def test_get_never_writes(client, dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    client = login(client, people["tester"])
    client.get(reverse("pages:inbox"))  # the session is written once, at login
    for url in (
        reverse("pages:inbox"),
        reverse("pages:workflow_list"),
        reverse("pages:workflow_detail", args=[instance.pk]),
        phase_url(instance, "planning"),
        reverse("pages:workflow_start_list"),
        reverse("pages:workflow_start", args=["dt_testing"]),
    ):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        assert writes(queries.captured_queries) == [], url


def test_actions_refuse_get(client, dt_testing, people):
    instance = start()
    client = login(client, people["tester"])
    assert client.get(phase_url(instance, "planning", "claim")).status_code == 405
    assert run_of(instance, "planning").assignee is None


# --- starting -------------------------------------------------------------------------------------------


def test_start_page_starts_an_instance_from_its_params_form(client, dt_testing, people):
    client = login(client, people["tester"])
    page = html(client.get(reverse("pages:workflow_start", args=["dt_testing"])))
    assert 'type="number" name="report_id"' in page
    bad = client.post(reverse("pages:workflow_start", args=["dt_testing"]), {"report_id": ""})
    assert bad.status_code == 400
    response = client.post(
        reverse("pages:workflow_start", args=["dt_testing"]),
        {"report_id": "42", "cycle": "2026-Q1", "pg_business_key": "report-42"},
    )
    assert response.status_code == 302
    instance = WorkflowInstance.objects.get(business_key="report-42")
    assert instance.params == {"report_id": 42, "cycle": "2026-Q1"}
    assert instance.started_by == people["tester"] and instance.state == InstanceState.RUNNING


def test_start_needs_a_role_of_the_workflow(client, dt_testing, people):
    response = login(client, people["outsider"]).get(reverse("pages:workflow_start", args=["dt_testing"]))
    assert response.status_code == 403


def test_workflow_list_sla_filter_keeps_the_instances_whose_worst_status_it_is(client, dt_testing, people):
    only_risk, risk_and_behind, only_behind = start(), start(), start()
    for instance, statuses in (
        (only_risk, {"planning": "at_risk"}),
        (risk_and_behind, {"planning": "at_risk", "scoping": "behind_schedule"}),
        (only_behind, {"scoping": "behind_schedule"}),
    ):
        for phase_id, status in statuses.items():
            PhaseRun.objects.filter(instance=instance, phase_id=phase_id).update(sla_status=status)
    client = login(client, people["manager"])

    def listed(sla: str) -> set[str]:
        page = html(client.get(reverse("pages:workflow_list"), {"sla": sla}))
        return set(re.findall(r'data-instance="([^"]+)"', page))

    assert listed("at_risk") == {str(only_risk.pk)}
    assert listed("behind_schedule") == {str(risk_and_behind.pk), str(only_behind.pk)}
    assert listed("on_schedule") == set()
