"""One rule, one answer: each rule of `engine.access` tried through every door that offers the action.

For each (rule, kind of user) the test asks every door — the pages, the REST API, the admin, the designer's
endpoints — to do the thing, and looks at what happened in the database, not at the status code alone.
Every door must agree with the others and with the rule itself (`engine.access.may_*`).
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from engine import access
from engine.models import PhaseState, TemplateVersion, VersionState, WorkflowInstance
from engine.runtime.plans import plan_for
from engine.services.templates import template_draft_save
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.human import (  # noqa: F401  (fixtures)
    dt_document,
    dt_testing,
    fast_passwords,
    grant,
    people,
    run_of,
    start,
)

pytestmark = pytest.mark.django_db

Door = Callable[[Any, dict[str, Any]], bool]  # (user, the objects) -> did it happen


def post_json(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


# --- publish --------------------------------------------------------------------------------------------

TEMPLATE_EDITING = ("view_workflowtemplate", "change_workflowtemplate", "view_templateversion")


def _published(version: TemplateVersion) -> bool:
    version.refresh_from_db()
    return version.state == VersionState.PUBLISHED


def publish_by_api(user: Any, objects: dict[str, Any]) -> bool:
    draft = objects["draft"]
    url = f"/api/templates/{draft.template.key}/versions/{draft.number}/publish/"
    response = client_for(user).post(url)
    assert response.status_code in (200, 403)
    return _published(draft)


def publish_by_admin_action(user: Any, objects: dict[str, Any]) -> bool:
    draft = objects["draft"]
    client_for(user).post(
        reverse("admin:engine_templateversion_changelist"),
        {"action": "publish_versions", ACTION_CHECKBOX_NAME: [draft.pk]},
    )
    return _published(draft)


def publish_by_designer(user: Any, objects: dict[str, Any]) -> bool:
    draft = objects["draft"]
    url = reverse("admin:engine_workflowtemplate_design_publish", args=[draft.pk])
    response = post_json(client_for(user), url, {})
    assert response.status_code in (200, 403)
    return _published(draft)


def publish_setup(people: dict[str, Any]) -> dict[str, Any]:
    document = dt_document()
    document["key"] = "dt_publish"
    return {"draft": template_draft_save(document=document).version}


def publisher(people: dict[str, Any]) -> Any:
    return grant(
        UserFactory(username="publisher", is_staff=True), *TEMPLATE_EDITING, "publish_templateversion"
    )


def editor(people: dict[str, Any]) -> Any:
    return grant(UserFactory(username="editor", is_staff=True), *TEMPLATE_EDITING, "change_templateversion")


# --- start ----------------------------------------------------------------------------------------------


def _started(objects: dict[str, Any]) -> bool:
    return WorkflowInstance.objects.filter(template__key="dt_testing").count() > objects["before"]


def start_by_page(user: Any, objects: dict[str, Any]) -> bool:
    response = client_for(user).post(reverse("pages:workflow_start", args=["dt_testing"]), {"report_id": 7})
    assert response.status_code in (302, 403)
    return _started(objects)


def start_by_api(user: Any, objects: dict[str, Any]) -> bool:
    body = {"template": "dt_testing", "params": {"report_id": 7}}
    response = post_json(client_for(user), "/api/instances/", body)
    assert response.status_code in (201, 403)
    return _started(objects)


def start_setup(people: dict[str, Any]) -> dict[str, Any]:
    return {"before": WorkflowInstance.objects.filter(template__key="dt_testing").count()}


def starter(people: dict[str, Any]) -> Any:
    return grant(UserFactory(username="starter"), "add_workflowinstance")


# --- view an instance -----------------------------------------------------------------------------------


def view_by_page(user: Any, objects: dict[str, Any]) -> bool:
    status = client_for(user).get(reverse("pages:workflow_detail", args=[objects["instance"].pk])).status_code
    assert status in (200, 403)
    return status == 200


def view_by_api(user: Any, objects: dict[str, Any]) -> bool:
    status = client_for(user).get(f"/api/instances/{objects['instance'].pk}/").status_code
    assert status in (200, 403)
    return status == 200


def instance_setup(people: dict[str, Any]) -> dict[str, Any]:
    return {"instance": start()}


# --- act on a phase: claim ------------------------------------------------------------------------------


def _claimed_by(user: Any, objects: dict[str, Any]) -> bool:
    return run_of(objects["instance"], "planning").assignee_id == user.pk


def claim_by_page(user: Any, objects: dict[str, Any]) -> bool:
    url = reverse("pages:phase_claim", args=[objects["instance"].pk, "planning"])
    assert client_for(user).post(url).status_code in (302, 403)
    return _claimed_by(user, objects)


def claim_by_api(user: Any, objects: dict[str, Any]) -> bool:
    url = f"/api/instances/{objects['instance'].pk}/phases/planning/claim/"
    assert client_for(user).post(url).status_code in (200, 403)
    return _claimed_by(user, objects)


# --- override: skip a phase -----------------------------------------------------------------------------


def _skipped(objects: dict[str, Any]) -> bool:
    return run_of(objects["instance"], "planning").state == PhaseState.SKIPPED


def skip_by_api(user: Any, objects: dict[str, Any]) -> bool:
    url = f"/api/instances/{objects['instance'].pk}/phases/planning/skip/"
    assert post_json(client_for(user), url, {"reason": "not needed"}).status_code in (200, 403)
    return _skipped(objects)


def skip_by_admin(user: Any, objects: dict[str, Any]) -> bool:
    run = run_of(objects["instance"], "planning")
    url = reverse("admin:engine_phaserun_override", args=[run.pk, "skip"])
    client_for(user).post(url, {"reason": "not needed", "confirm": "on"})
    return _skipped(objects)


def administrator(people: dict[str, Any]) -> Any:
    return grant(UserFactory(username="phase_admin", is_staff=True), "override_phaserun", "view_phaserun")


def staff_without_override(people: dict[str, Any]) -> Any:
    return grant(UserFactory(username="plain_staff", is_staff=True), "view_phaserun", "change_phaserun")


# --- the table ------------------------------------------------------------------------------------------


def person(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda people: people[name]


PLAN = lambda objects: plan_for(objects["instance"].version)  # noqa: E731

RULES: dict[str, tuple[Callable[..., dict[str, Any]], list[Door], Callable[[Any, dict[str, Any]], bool]]] = {
    "publish": (publish_setup, [publish_by_api, publish_by_admin_action, publish_by_designer],
                lambda user, objects: access.may_publish(user)),
    "start": (start_setup, [start_by_page, start_by_api],
              lambda user, objects: access.may_start(user, plan_for(TemplateVersion.objects.get(
                  template__key="dt_testing", state=VersionState.PUBLISHED)))),
    "view": (instance_setup, [view_by_page, view_by_api],
             lambda user, objects: access.may_view_instance(user, objects["instance"], PLAN(objects))),
    "claim": (instance_setup, [claim_by_page, claim_by_api],
              lambda user, objects: access.Work.of(user, objects["instance"], PLAN(objects)).can_claim(
                  run_of(objects["instance"], "planning"), PLAN(objects).phases["planning"])),
    "override": (instance_setup, [skip_by_api, skip_by_admin],
                 lambda user, objects: access.may_override_phases(user)),
}  # fmt: skip

CASES = [
    ("publish", publisher, True),
    ("publish", editor, False),  # the designer once let this one publish
    ("start", person("tester"), True),  # a role holder: the API once refused them
    ("start", person("manager"), True),
    ("start", starter, True),  # the permission without a role
    ("start", person("outsider"), False),
    ("view", person("tester"), True),
    ("view", person("cdo"), True),
    ("view", person("staff"), True),
    ("view", person("outsider"), False),
    ("claim", person("tester"), True),
    ("claim", person("cdo"), False),  # a role of the template, not of this phase
    ("claim", person("outsider"), False),
    ("override", administrator, True),
    ("override", staff_without_override, False),
    ("override", person("manager"), False),
]


@pytest.mark.parametrize(
    ("rule", "who", "allowed"),
    CASES,
    ids=[f"{rule}-{getattr(who, '__name__', '')}{i}" for i, (rule, who, _) in enumerate(CASES)],
)
def test_every_door_gives_the_rules_answer(dt_testing, people, rule, who, allowed):
    setup, doors, predicate = RULES[rule]
    user = who(people)
    answers = {}
    for door in doors:
        objects = setup(people)  # fresh objects per door: one door's success must not hide another's
        assert predicate(user, objects) is allowed, f"engine.access says otherwise for {rule}"
        answers[door.__name__] = door(user, objects)
    assert answers == {door.__name__: allowed for door in doors}
