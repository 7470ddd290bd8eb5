"""The designer's admin endpoints through the Django test client: permissions, CSRF, problems, publish."""

from __future__ import annotations

import copy
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from engine.activities import activity_names
from engine.models import TemplateVersion, VersionState
from engine.services.templates import template_draft_save, template_load, template_validate
from tests.factories import UserFactory, WorkflowTemplateFactory
from tests.support.clients import client_for

pytestmark = pytest.mark.django_db

VALIDATE = "admin:engine_workflowtemplate_design_validate"
SAVE = "admin:engine_workflowtemplate_design_save"


def activity() -> str:
    return sorted(activity_names())[0]


def valid_document(key: str = "probe") -> dict:
    return {
        "format": "phasegate/v1",
        "key": key,
        "name": "Probe",
        "roles": {"tester": {"name": "Tester"}},
        "phases": [
            {"id": "start", "type": "human", "roles": ["tester"]},
            {"id": "work", "type": "task", "activity": activity(), "depends_on": ["start"]},
        ],
    }


def wait(phase_id: str, depends_on: list[str] | None = None) -> dict:
    phase = {"id": phase_id, "type": "wait", "duration": "PT1H"}
    if depends_on:
        phase["depends_on"] = depends_on
    return phase


def staff(*codenames: str, superuser: bool = False):
    user = UserFactory(is_staff=True, is_superuser=superuser)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="engine", codename__in=codenames)
    )
    return user


@pytest.fixture
def editor():
    return staff(
        "add_workflowtemplate",
        "change_workflowtemplate",
        "view_workflowtemplate",
        "view_templateversion",
        "change_templateversion",
        "publish_templateversion",
    )


@pytest.fixture
def viewer():
    return staff("view_workflowtemplate", "view_templateversion")


def post_json(client: Client, url: str, payload, **extra):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return client.post(url, data=body, content_type="application/json", **extra)


# --- Live validation ---------------------------------------------------------------------------------------


def test_validate_answers_no_problems_for_a_valid_document(editor):
    response = post_json(client_for(editor), reverse(VALIDATE), valid_document())

    assert response.status_code == 200
    assert response.json()["problems"] == []


def test_validate_is_forbidden_without_change_permission(viewer):
    response = post_json(client_for(viewer), reverse(VALIDATE), valid_document())

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_validate_is_forbidden_for_staff_without_any_template_permission():
    response = post_json(client_for(staff()), reverse(VALIDATE), valid_document())

    assert response.status_code == 403


def test_validate_sends_anonymous_users_to_the_admin_login():
    response = post_json(Client(), reverse(VALIDATE), valid_document())

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_validate_refuses_a_post_without_csrf_token(editor):
    response = post_json(client_for(editor, csrf=True), reverse(VALIDATE), valid_document())

    assert response.status_code == 403


def test_validate_accepts_a_post_with_the_csrf_token_of_the_designer_page(editor):
    client = client_for(editor, csrf=True)
    page = client.get(reverse("admin:engine_workflowtemplate_design_new"))
    token = page.cookies["csrftoken"].value

    response = post_json(client, reverse(VALIDATE), valid_document(), HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200
    assert response.json()["problems"] == []


def test_validate_reports_text_that_is_not_json_as_a_schema_problem_at_the_root(editor):
    response = post_json(client_for(editor), reverse(VALIDATE), '{"format": ')

    assert response.status_code == 200
    [problem] = response.json()["problems"]
    assert (problem["path"], problem["code"]) == ("", "schema")


def _with(mutate):
    document = valid_document()
    mutate(document)
    return document


PROBLEM_CASES = {
    "schema": (lambda d: d["phases"][0].update(type="bogus"), "/phases/0/type"),
    "duplicate_id": (lambda d: d["phases"].append(wait("start")), "/phases/2/id"),
    "unknown_phase": (lambda d: d["phases"][1].update(depends_on=["nope"]), "/phases/1/depends_on/0"),
    "self_dependency": (lambda d: d["phases"][1].update(depends_on=["work"]), "/phases/1/depends_on/0"),
    "cycle": (lambda d: d["phases"][0].update(depends_on=["work"]), "/phases/0/depends_on"),
    "unknown_role": (lambda d: d["phases"][0].update(roles=["ghost"]), "/phases/0/roles/0"),
    "unknown_activity": (lambda d: d["phases"][1].update(activity="no.such_activity"), "/phases/1/activity"),
    "bad_expression": (lambda d: d["phases"][1].update(input={"x": "1 +"}), "/phases/1/input/x"),
    "step_not_upstream": (
        lambda d: (
            d["phases"][1].update(input={"x": "steps.later.output"}),
            d["phases"].append(wait("later", ["work"])),
        ),
        "/phases/1/input/x",
    ),
    "bad_duration": (lambda d: d["phases"][0].update(sla={"duration": "P1Y"}), "/phases/0/sla/duration"),
    "bad_retry": (
        lambda d: d["phases"][1].update(retry={"initial_interval": "PT1H", "max_interval": "PT1M"}),
        "/phases/1/retry/max_interval",
    ),
    "bad_timeout": (lambda d: d["phases"][1].update(timeout="PT1M", heartbeat="PT5M"), "/phases/1/heartbeat"),
    "bad_form_schema": (lambda d: d["phases"][0].update(form={"type": "nonsense"}), "/phases/0/form/type"),
    "choice_target_not_downstream": (
        lambda d: d["phases"].extend(
            [
                {
                    "id": "pick",
                    "type": "choice",
                    "depends_on": ["work"],
                    "choices": [{"when": "true", "then": ["other"]}],
                },
                wait("other", ["work"]),
            ]
        ),
        "/phases/2/choices/0/then/0",
    ),
    "reopen_target_not_upstream": (
        lambda d: d["phases"][0].update(outcomes=["done", "back"], on_outcome={"back": {"reopen": "work"}}),
        "/phases/0/on_outcome/back/reopen",
    ),
    "bad_outcome": (
        lambda d: d["phases"].append(
            {
                "id": "check",
                "type": "human",
                "roles": ["tester"],
                "depends_on": ["work"],
                "outcomes": ["ok"],
                "on_outcome": {"redo": {"reopen": "start"}},
            }
        ),
        "/phases/2/on_outcome/redo",
    ),
    "bad_calendar": (lambda d: d.update(calendar={"timezone": "Mars/Olympus"}), "/calendar/timezone"),
    "too_large": (lambda d: d.update(phases=[wait(f"p{i}") for i in range(501)]), "/phases"),
}


@pytest.mark.parametrize("code", sorted(PROBLEM_CASES))
def test_validate_reports_every_problem_code_with_its_pointer(editor, code):
    mutate, path = PROBLEM_CASES[code]
    document = _with(mutate)

    response = post_json(client_for(editor), reverse(VALIDATE), document)

    assert response.status_code == 200
    problems = response.json()["problems"]
    assert {"path": path, "code": code} in [{"path": p["path"], "code": p["code"]} for p in problems]
    # The endpoint adds nothing and drops nothing: it is the engine's validation.
    assert problems == [p.as_dict() for p in template_validate(document)]


def test_validate_reports_every_problem_of_a_document_at_once(editor):
    document = valid_document()
    document["phases"][0]["roles"] = ["ghost"]
    document["phases"][1]["depends_on"] = ["nope"]
    document["phases"][1]["input"] = {"x": "1 +"}

    response = post_json(client_for(editor), reverse(VALIDATE), document)

    codes = {(p["path"], p["code"]) for p in response.json()["problems"]}
    assert codes == {
        ("/phases/0/roles/0", "unknown_role"),
        ("/phases/1/depends_on/0", "unknown_phase"),
        ("/phases/1/input/x", "bad_expression"),
    }


# --- Saving drafts -----------------------------------------------------------------------------------------


def test_save_creates_a_draft_even_with_problems_and_returns_them(editor):
    document = _with(lambda d: d["phases"][0].update(roles=["ghost"]))

    response = post_json(client_for(editor), reverse(SAVE), {"document": document, "notes": "first"})

    assert response.status_code == 200
    body = response.json()
    assert body["created"] is True
    assert body["version"]["state"] == "draft"
    assert [(p["path"], p["code"]) for p in body["problems"]] == [("/phases/0/roles/0", "unknown_role")]
    version = TemplateVersion.objects.get(pk=body["version"]["id"])
    assert version.definition == document
    assert version.notes == "first"
    assert body["version"]["urls"]["open"] == reverse(
        "admin:engine_workflowtemplate_design_version", args=[version.template_id, version.number]
    )


def test_save_again_replaces_the_one_draft(editor):
    client = client_for(editor)
    first = post_json(client, reverse(SAVE), {"document": valid_document()}).json()
    changed = _with(lambda d: d["phases"][0].update(name="Start here"))

    second = post_json(client, reverse(SAVE), {"document": changed}).json()

    assert second["created"] is False
    assert second["version"]["id"] == first["version"]["id"]
    assert TemplateVersion.objects.get(pk=first["version"]["id"]).definition == changed


def test_save_refuses_a_document_without_a_usable_key(editor):
    document = _with(lambda d: d.update(key="Not A Key"))

    response = post_json(client_for(editor), reverse(SAVE), {"document": document})

    assert response.status_code == 400
    assert [p["path"] for p in response.json()["problems"]] == ["/key"]
    assert not TemplateVersion.objects.exists()


def test_save_refuses_a_body_without_a_document_object(editor):
    response = post_json(client_for(editor), reverse(SAVE), {"document": [1, 2]})

    assert response.status_code == 400
    assert response.json()["problems"][0]["code"] == "schema"


def test_save_is_forbidden_for_a_viewer(viewer):
    response = post_json(client_for(viewer), reverse(SAVE), {"document": valid_document()})

    assert response.status_code == 403
    assert not TemplateVersion.objects.exists()


def test_save_of_a_new_template_needs_add_permission():
    template_load(document=valid_document("existing"), publish=True)
    changer = staff("change_workflowtemplate", "view_workflowtemplate")
    client = client_for(changer)

    new = post_json(client, reverse(SAVE), {"document": valid_document("brand_new")})
    existing = post_json(client, reverse(SAVE), {"document": valid_document("existing")})

    assert new.status_code == 403
    assert existing.status_code == 200


# --- Publishing --------------------------------------------------------------------------------------------


def publish_url(version: TemplateVersion) -> str:
    return reverse("admin:engine_workflowtemplate_design_publish", args=[version.pk])


def test_publish_is_refused_with_every_problem_of_the_draft(editor):
    document = _with(
        lambda d: (
            d["phases"][0].update(roles=["ghost"]),
            d["phases"][1].update(depends_on=["start", "nope"]),
        )
    )
    draft = template_draft_save(document=document).version

    response = post_json(client_for(editor), publish_url(draft), {})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "template_invalid"
    assert body["problems"] == [p.as_dict() for p in template_validate(document)]
    assert {p["code"] for p in body["problems"]} == {"unknown_role", "unknown_phase"}
    draft.refresh_from_db()
    assert draft.state == VersionState.DRAFT


def test_publish_needs_the_publish_permission_not_only_the_templates_change_permission():
    """The defect: the designer once let anyone who may edit a template publish it."""
    changer = staff("change_workflowtemplate", "view_workflowtemplate", "view_templateversion")
    draft = template_draft_save(document=valid_document()).version

    response = post_json(client_for(changer), publish_url(draft), {})

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    draft.refresh_from_db()
    assert draft.state == VersionState.DRAFT


def test_publish_makes_a_valid_draft_published_by_the_user(editor):
    draft = template_draft_save(document=valid_document()).version

    response = post_json(client_for(editor), publish_url(draft), {})

    assert response.status_code == 200
    assert response.json()["version"]["state"] == "published"
    assert response.json()["version"]["published_by"] == editor.username
    draft.refresh_from_db()
    assert (draft.state, draft.published_by) == (VersionState.PUBLISHED, editor)


def test_publish_of_a_published_version_is_a_conflict(editor):
    version = template_load(document=valid_document(), publish=True).version

    response = post_json(client_for(editor), publish_url(version), {})

    assert response.status_code == 409
    assert response.json()["code"] == "transition_rejected"


def test_publish_is_forbidden_for_a_viewer(viewer):
    draft = template_draft_save(document=valid_document()).version

    response = post_json(client_for(viewer), publish_url(draft), {})

    assert response.status_code == 403
    draft.refresh_from_db()
    assert draft.state == VersionState.DRAFT


def test_publish_enforces_csrf(editor):
    draft = template_draft_save(document=valid_document()).version

    response = post_json(client_for(editor, csrf=True), publish_url(draft), {})

    assert response.status_code == 403


# --- Editing a published version, the page, read-only ------------------------------------------------------


def test_editing_a_published_version_makes_a_new_draft(editor):
    published = template_load(document=valid_document(), publish=True).version

    response = post_json(
        client_for(editor), reverse("admin:engine_workflowtemplate_design_draft", args=[published.pk]), {}
    )

    assert response.status_code == 200
    draft = TemplateVersion.objects.get(pk=response.json()["version"]["id"])
    assert (draft.state, draft.number, draft.definition) == ("draft", 2, published.definition)
    assert response.json()["url"] == reverse(
        "admin:engine_workflowtemplate_design_version", args=[draft.template_id, 2]
    )


def design_config(response) -> dict:
    return response.context["config"]


def test_designer_page_edits_a_draft_for_a_user_with_change_permission(editor):
    draft = template_draft_save(document=valid_document()).version

    response = client_for(editor).get(
        reverse("admin:engine_workflowtemplate_design", args=[draft.template_id])
    )

    assert response.status_code == 200
    config = design_config(response)
    assert config["mode"] == "edit"
    assert config["version"]["id"] == draft.pk
    assert config["document"] == draft.definition
    assert b'id="pg-designer-config"' in response.content
    assert b"admin/css/base.css" in response.content  # the admin's look


def test_designer_page_is_read_only_for_a_user_with_view_permission(viewer):
    draft = template_draft_save(document=valid_document()).version

    response = client_for(viewer).get(
        reverse("admin:engine_workflowtemplate_design", args=[draft.template_id])
    )

    assert response.status_code == 200
    assert design_config(response)["mode"] == "read"
    assert design_config(response)["canChange"] is False


def test_designer_page_shows_a_published_version_read_only_even_to_an_editor(editor):
    published = template_load(document=valid_document(), publish=True).version

    response = client_for(editor).get(
        reverse("admin:engine_workflowtemplate_design_version", args=[published.template_id, 1])
    )

    assert design_config(response)["mode"] == "read"
    assert design_config(response)["canChange"] is True


def test_designer_page_is_forbidden_without_view_permission():
    draft = template_draft_save(document=valid_document()).version

    response = client_for(staff()).get(
        reverse("admin:engine_workflowtemplate_design", args=[draft.template_id])
    )

    assert response.status_code == 403


def test_new_template_designer_is_forbidden_for_a_viewer(viewer):
    response = client_for(viewer).get(reverse("admin:engine_workflowtemplate_design_new"))

    assert response.status_code == 403


def test_designer_page_carries_the_problems_and_the_activities(viewer):
    document = _with(lambda d: d["phases"][0].update(roles=["ghost"]))
    draft = template_draft_save(document=document).version

    config = design_config(
        client_for(viewer).get(reverse("admin:engine_workflowtemplate_design", args=[draft.template_id]))
    )

    assert config["problems"] == [p.as_dict() for p in template_validate(document)]
    assert activity() in [a["name"] for a in config["activities"]]


def test_designer_page_escapes_the_document_in_its_json_script(editor):
    document = _with(lambda d: d["phases"][0].update(name="</script><img src=x onerror=alert(1)>"))
    draft = template_draft_save(document=document).version

    response = client_for(editor).get(
        reverse("admin:engine_workflowtemplate_design", args=[draft.template_id])
    )

    assert b"<img src=x" not in response.content
    assert b"</script><img" not in response.content


# --- Export, import, compare, admin links ------------------------------------------------------------------


def test_export_downloads_the_version_document(viewer):
    published = template_load(document=valid_document(), publish=True).version

    response = client_for(viewer).get(
        reverse("admin:engine_workflowtemplate_design_export", args=[published.pk])
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="probe-v1.json"'
    assert json.loads(response.content) == valid_document()


def test_import_saves_the_file_as_a_draft_and_opens_it(editor):
    upload = io.BytesIO(json.dumps(valid_document("imported")).encode())
    upload.name = "imported.json"

    response = client_for(editor).post(
        reverse("admin:engine_workflowtemplate_design_import"), {"file": upload}
    )

    version = TemplateVersion.objects.get(template__key="imported")
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:engine_workflowtemplate_design_version", args=[version.template_id, 1]
    )
    assert (version.state, version.definition, version.notes) == (
        "draft",
        valid_document("imported"),
        "imported from imported.json",
    )


def test_import_refuses_a_file_that_is_not_json(editor):
    upload = io.BytesIO(b"not json at all")
    upload.name = "broken.json"

    response = client_for(editor).post(
        reverse("admin:engine_workflowtemplate_design_import"), {"file": upload}
    )

    assert response.status_code == 200
    assert "is not JSON" in str(response.context["form"].errors["file"])
    assert not TemplateVersion.objects.exists()


def test_import_is_forbidden_for_a_viewer(viewer):
    response = client_for(viewer).get(reverse("admin:engine_workflowtemplate_design_import"))

    assert response.status_code == 403


def test_compare_shows_the_changes_between_two_versions(viewer):
    first = template_load(document=valid_document(), publish=True).version
    changed = copy.deepcopy(valid_document())
    changed["phases"][1]["name"] = "Work hard"
    changed["phases"].append(wait("rest", ["work"]))
    second = template_draft_save(document=changed).version

    response = client_for(viewer).get(
        reverse("admin:engine_workflowtemplate_design_compare", args=[first.template_id]),
        {"old": first.pk, "new": second.pk},
    )

    assert response.status_code == 200
    diff = design_config(response)["diff"]
    assert diff["added"] == ["rest"]
    assert diff["changed"] == {"work": ["name"]}
    assert {"op": "add", "path": "/phases/1/name", "value": "Work hard"} in diff["patch"]


def test_compare_defaults_to_the_newest_version_and_the_one_before(viewer):
    first = template_load(document=valid_document(), publish=True).version
    second = template_draft_save(document=_with(lambda d: d.update(name="Probe 2"))).version

    response = client_for(viewer).get(
        reverse("admin:engine_workflowtemplate_design_compare", args=[first.template_id])
    )

    config = design_config(response)
    assert (config["old"]["version"]["id"], config["new"]["version"]["id"]) == (first.pk, second.pk)
    assert config["diff"]["top_level"] == ["name"]


def test_admin_pages_link_to_the_designer(editor):
    published = template_load(document=valid_document(), publish=True).version
    client = client_for(editor)
    design = reverse("admin:engine_workflowtemplate_design", args=[published.template_id])

    changelist = client.get(reverse("admin:engine_workflowtemplate_changelist")).content.decode()
    change = client.get(
        reverse("admin:engine_workflowtemplate_change", args=[published.template_id])
    ).content.decode()
    version_page = client.get(
        reverse("admin:engine_templateversion_change", args=[published.pk])
    ).content.decode()

    assert design in changelist
    assert reverse("admin:engine_workflowtemplate_design_new") in changelist
    assert reverse("admin:engine_workflowtemplate_design_import") in changelist
    assert design in change
    assert (
        reverse("admin:engine_workflowtemplate_design_version", args=[published.template_id, 1])
        in version_page
    )
    assert (
        reverse("admin:engine_workflowtemplate_design_compare", args=[published.template_id]) in version_page
    )


def test_publish_action_in_the_version_admin_still_works():
    admin_user = staff(superuser=True)
    draft = template_draft_save(document=valid_document()).version

    client_for(admin_user).post(
        reverse("admin:engine_templateversion_changelist"),
        {"action": "publish_versions", "_selected_action": [draft.pk]},
    )

    draft.refresh_from_db()
    assert draft.state == VersionState.PUBLISHED


def test_designer_page_of_a_missing_version_is_not_found(viewer):
    published = template_load(document=valid_document(), publish=True).version

    response = client_for(viewer).get(
        reverse("admin:engine_workflowtemplate_design_version", args=[published.template_id, 7])
    )

    assert response.status_code == 404


def test_compare_of_a_template_without_versions_is_not_found(viewer):
    template = WorkflowTemplateFactory()

    response = client_for(viewer).get(
        reverse("admin:engine_workflowtemplate_design_compare", args=[template.pk])
    )

    assert response.status_code == 404
