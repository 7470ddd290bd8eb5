"""Role membership: groups per template role and per-instance assignments in the admin, and warnings in the
designer and on publishing when a human phase's role has no member."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from engine.models import RoleAssignment, TemplateVersion, Transition, WorkflowTemplate
from engine.roles import unheld_roles
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DOC = {
    "format": "phasegate/v1",
    "key": "vetting",
    "name": "Vetting",
    "roles": {"vetter": {"name": "Vetter"}, "approver": {"name": "Approver"}},
    "phases": [
        {"id": "vet", "type": "human", "roles": ["vetter"]},
        {"id": "approve", "type": "human", "roles": ["approver"], "depends_on": ["vet"]},
    ],
}


@pytest.fixture
def admin_client(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_warnings_name_each_role_nobody_holds() -> None:
    UserFactory(username="vera", roles=["vetter"])
    warnings = unheld_roles(DOC)
    assert [w["code"] for w in warnings] == ["role_without_members"]
    assert warnings[0]["path"] == "/phases/1/roles"
    assert "'approver' (Approver)" in warnings[0]["message"] and "'approve'" in warnings[0]["message"]
    Group.objects.create(name="approver")
    assert "has no active member" in unheld_roles(DOC)[0]["message"]
    UserFactory(username="al", roles=["approver"])
    assert unheld_roles(DOC) == []


def test_the_designer_validation_answers_warnings_beside_problems(admin_client) -> None:
    response = admin_client.post(
        reverse("admin:engine_workflowtemplate_design_validate"),
        json.dumps(DOC),
        content_type="application/json",
    )
    body = response.json()
    assert body["problems"] == []
    assert {w["path"] for w in body["warnings"]} == {"/phases/0/roles", "/phases/1/roles"}


def test_publishing_in_the_admin_warns_about_roles_without_members(admin_client) -> None:
    template_load(document=DOC)
    version = TemplateVersion.objects.get(template__key="vetting")
    response = admin_client.post(
        reverse("admin:engine_templateversion_changelist"),
        {"action": "publish_versions", "_selected_action": [version.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "published" in page and "Nobody holds the role &#x27;vetter&#x27;" in page


def test_the_template_page_lists_roles_with_their_groups(admin_client) -> None:
    template_load(document=DOC, publish=True)
    UserFactory(username="vera", roles=["vetter"])
    template = WorkflowTemplate.objects.get(key="vetting")
    page = admin_client.get(
        reverse("admin:engine_workflowtemplate_change", args=[template.pk])
    ).content.decode()
    assert "group vetter</a>: 1 active member(s)" in page
    assert "create the group approver" in page and "nobody can claim approve" in page


def test_a_role_given_on_an_instance_in_the_admin_lets_the_person_claim(admin_client) -> None:
    from engine.inbox import inbox_get

    template_load(document=DOC, publish=True)
    instance = start_instance("vetting", {}, actor=Actor.system("test"))
    guest = UserFactory(username="guest")
    assert inbox_get(user=guest).total == 0
    page = admin_client.get(
        reverse("admin:engine_workflowinstance_change", args=[instance.pk])
    ).content.decode()
    add_url = reverse("admin:engine_roleassignment_add") + f"?instance={instance.pk}"
    assert add_url.replace("&", "&amp;") in page or add_url in page
    refused = admin_client.post(
        reverse("admin:engine_roleassignment_add"),
        {"instance": instance.pk, "role": "nope", "user": guest.pk},
    )
    assert refused.status_code == 200 and "has no role" in refused.content.decode()
    done = admin_client.post(
        reverse("admin:engine_roleassignment_add"),
        {"instance": instance.pk, "role": "vetter", "user": guest.pk},
    )
    assert done.status_code == 302
    assert RoleAssignment.objects.filter(instance=instance, role="vetter", user=guest).exists()
    assert inbox_get(user=guest).total == 1
    grant = Transition.objects.get(instance=instance, name="role_grant")
    assert grant.metadata["after"] == {"role": "vetter", "holder": "guest"} and grant.actor_label == "root"
    page = admin_client.get(
        reverse("admin:engine_workflowinstance_change", args=[instance.pk])
    ).content.decode()
    assert "vetter: guest" in page
    assignment = RoleAssignment.objects.get(instance=instance)
    admin_client.post(reverse("admin:engine_roleassignment_delete", args=[assignment.pk]), {"post": "yes"})
    assert not RoleAssignment.objects.exists()
    assert Transition.objects.filter(instance=instance, name="role_revoke").exists()


def test_giving_a_role_from_an_instance_offers_its_roles_and_finds_people_by_name(admin_client) -> None:
    template_load(document=DOC, publish=True)
    instance = start_instance("vetting", {}, actor=Actor.system("test"))
    page = admin_client.get(
        reverse("admin:engine_roleassignment_add") + f"?instance={instance.pk}"
    ).content.decode()
    role = re.search(r'<select name="role"[^>]*>(.*?)</select>', page, re.S)
    assert role is not None
    assert re.findall(r'<option value="(\w*)"', role.group(1)) == ["", "vetter", "approver"]
    assert ">Vetter (vetter)</option>" in role.group(1)
    # people and groups are searched by name (the admin's autocomplete), not typed in as ids
    assert re.search(r'<select name="user"[^>]*class="[^"]*admin-autocomplete', page)
    assert re.search(r'<select name="group"[^>]*class="[^"]*admin-autocomplete', page)
    UserFactory(username="guest")
    found = admin_client.get(
        reverse("admin:autocomplete"),
        {"term": "gue", "app_label": "engine", "model_name": "roleassignment", "field_name": "user"},
    )
    assert [row["text"] for row in found.json()["results"]] == ["guest"]


def test_the_role_choice_without_an_instance_stays_a_key_to_type(admin_client) -> None:
    page = admin_client.get(reverse("admin:engine_roleassignment_add")).content.decode()
    assert re.search(r'<input type="text" name="role"', page)


@pytest.fixture
def forget_activity():
    from engine import activities

    yield
    activities._registry.pop("test.schema_echo", None)  # other tests must not see it


def test_an_activity_input_schema_is_shown_and_checked(admin_client, forget_activity) -> None:
    from engine.activities import activity
    from engine.services.templates import template_validate

    @activity(
        "test.schema_echo",
        description="Echo with a contract.",
        input_schema={
            "type": "object",
            "required": ["symbol"],
            "properties": {"symbol": {"type": "string"}, "days": {"type": "integer"}},
            "additionalProperties": False,
        },
        output_schema={"type": "object", "properties": {"price": {"type": "number"}}},
    )
    def schema_echo(input, ctx):
        return input

    document = {
        "format": "phasegate/v1",
        "key": "contracted",
        "name": "Contracted",
        "phases": [
            {"id": "fetch", "type": "task", "activity": "test.schema_echo", "input": {"colour": '"red"'}}
        ],
    }
    problems = {(p.code, p.message) for p in template_validate(document)}
    assert ("activity_input", "test.schema_echo needs the input symbol") in problems
    assert any(code == "activity_input" and "takes no input colour" in m for code, m in problems)
    document["phases"][0]["input"] = {"symbol": '"AAPL"'}
    assert template_validate(document) == []
    from designer.design.selectors import activity_choices

    [choice] = [a for a in activity_choices() if a["name"] == "test.schema_echo"]
    assert (
        choice["input_schema"]["required"] == ["symbol"] and choice["description"] == "Echo with a contract."
    )
