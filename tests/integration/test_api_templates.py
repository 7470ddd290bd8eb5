"""The templates API: validate, save drafts, publish, retire, compare, export, with their permissions."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from engine.models import TemplateVersion
from engine.services.templates import template_load
from tests.support.clients import client_for

pytestmark = pytest.mark.django_db

DESIGNER_PERMS = (
    "add_templateversion",
    "change_templateversion",
    "publish_templateversion",
    "retire_templateversion",
)


def document(key: str = "review", **top: object) -> dict:
    return {
        "format": "phasegate/v1",
        "key": key,
        "name": key.title(),
        "roles": {"reviewer": {"name": "Reviewer"}},
        "phases": [{"id": "review", "type": "human", "roles": ["reviewer"]}],
        **top,
    }


@pytest.fixture
def reader() -> APIClient:
    return client_for()


@pytest.fixture
def designer() -> APIClient:
    return client_for(*DESIGNER_PERMS)


# --- reading --------------------------------------------------------------------------------------------


def test_reading_needs_authentication():
    response = APIClient().get("/api/templates/")
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"


def test_list_shows_each_template_with_its_published_and_draft_numbers(reader):
    template_load(document=document(), publish=True)
    template_load(document=document(description="second"))
    body = reader.get("/api/templates/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["key"], row["published_version"], row["draft_version"]) == ("review", 1, 2)


def test_detail_lists_the_versions_newest_first(reader):
    template_load(document=document(), publish=True)
    template_load(document=document(description="second"))
    body = reader.get("/api/templates/review/").json()
    assert [(v["number"], v["state"]) for v in body["versions"]] == [(2, "draft"), (1, "published")]


def test_unknown_template_is_404(reader):
    response = reader.get("/api/templates/nope/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_version_list_and_detail_with_definition(reader):
    template_load(document=document(), publish=True)
    listed = reader.get("/api/templates/review/versions/").json()
    assert [v["number"] for v in listed["results"]] == [1]
    detail = reader.get("/api/templates/review/versions/1/").json()
    assert detail["definition"] == document()
    assert detail["state"] == "published"
    assert detail["phase_count"] == 1


def test_unknown_version_is_404_even_with_a_huge_number(reader):
    template_load(document=document(), publish=True)
    assert reader.get("/api/templates/review/versions/9/").status_code == 404
    assert reader.get("/api/templates/review/versions/99999999999999999999999/").status_code == 404
    assert reader.get("/api/templates/nope/versions/").status_code == 404


# --- validate -------------------------------------------------------------------------------------------


def test_validate_reports_every_problem_with_a_pointer(reader):
    bad = document(phases=[{"id": "a", "type": "human", "roles": ["ghost"], "depends_on": ["missing"]}])
    response = reader.post("/api/templates/validate/", bad, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    paths = {(p["path"], p["code"]) for p in body["problems"]}
    assert ("/phases/0/depends_on/0", "unknown_phase") in paths
    assert ("/phases/0/roles/0", "unknown_role") in paths


def test_validate_accepts_a_valid_document(reader):
    response = reader.post("/api/templates/validate/", document(), format="json")
    assert response.json() == {"valid": True, "problems": []}


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "42"])
def test_validate_answers_200_for_any_parsable_body(reader, body):
    response = reader.post("/api/templates/validate/", body, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["valid"] is False


# --- save a draft ---------------------------------------------------------------------------------------


def test_save_creates_a_draft_with_201_then_rewrites_it_with_200(designer):
    first = designer.post("/api/templates/?notes=first+cut", document(), format="json")
    assert first.status_code == 201
    assert first.json()["version"]["number"] == 1
    assert first.json()["version"]["notes"] == "first cut"
    assert first.json()["created"] is True
    second = designer.post("/api/templates/", document(description="better"), format="json")
    assert second.status_code == 200
    assert second.json()["created"] is False
    assert TemplateVersion.objects.get().definition["description"] == "better"


def test_save_returns_the_problems_of_a_draft(designer):
    response = designer.post("/api/templates/", document(phases=[{"id": "a", "type": "nope"}]), format="json")
    assert response.status_code == 201
    assert response.json()["problems"]
    assert response.json()["problems"][0]["path"].startswith("/phases/0")


def test_save_refuses_a_document_without_a_usable_key(designer):
    response = designer.post("/api/templates/", {"key": 5, "phases": []}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "template_invalid"
    assert "/key" in {error["path"] for error in body["extra"]["errors"]}


def test_save_needs_a_template_permission():
    response = client_for().post("/api/templates/", document(), format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_creating_a_draft_needs_add_and_rewriting_it_needs_change():
    changer = client_for("change_templateversion")
    assert changer.post("/api/templates/", document(), format="json").status_code == 403
    adder = client_for("add_templateversion")
    assert adder.post("/api/templates/", document(), format="json").status_code == 201
    response = adder.post("/api/templates/", document(description="again"), format="json")
    assert response.status_code == 403
    assert "change_templateversion" in response.json()["message"]
    assert changer.post("/api/templates/", document(description="again"), format="json").status_code == 200


# --- publish and retire ---------------------------------------------------------------------------------


def test_publish_a_draft(designer):
    designer.post("/api/templates/", document(), format="json")
    response = designer.post("/api/templates/review/versions/1/publish/")
    assert response.status_code == 200
    assert response.json()["state"] == "published"
    assert response.json()["published_by"]


def test_publish_warns_of_a_role_nobody_holds_as_the_designer_does(designer):
    from engine.roles import unheld_roles

    designer.post("/api/templates/", document(), format="json")
    body = designer.post("/api/templates/review/versions/1/publish/").json()
    assert body["state"] == "published"
    assert body["warnings"] == unheld_roles(document())
    [warning] = body["warnings"]
    assert (warning["code"], warning["path"]) == ("role_without_members", "/phases/0/roles")
    assert "Nobody holds the role 'reviewer'" in warning["message"]


def test_publish_has_no_warning_when_the_role_has_a_member(designer):
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    Group.objects.create(name="reviewer").user_set.add(UserFactory())
    designer.post("/api/templates/", document(), format="json")
    body = designer.post("/api/templates/review/versions/1/publish/").json()
    assert body["state"] == "published" and body["warnings"] == []


def test_publishing_a_published_version_is_409(designer):
    template_load(document=document(), publish=True)
    response = designer.post("/api/templates/review/versions/1/publish/")
    assert response.status_code == 409
    assert response.json()["code"] == "transition_rejected"


def test_publishing_an_invalid_draft_is_400_with_pointers(designer):
    broken = document(phases=[{"id": "a", "type": "human", "roles": ["x"]}])
    designer.post("/api/templates/", broken, format="json")
    response = designer.post("/api/templates/review/versions/1/publish/")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "template_invalid"
    assert {"path": "/phases/0/roles/0", "code": "unknown_role"}.items() <= body["extra"]["errors"][0].items()


def test_publish_needs_the_publish_permission():
    template_load(document=document())
    client = client_for("add_templateversion", "change_templateversion", "retire_templateversion")
    response = client.post("/api/templates/review/versions/1/publish/")
    assert response.status_code == 403
    assert "publish_templateversion" in response.json()["message"]


def test_publish_of_an_unknown_version_is_404(designer):
    assert designer.post("/api/templates/review/versions/3/publish/").status_code == 404


def test_retire_a_published_version(designer):
    template_load(document=document(), publish=True)
    response = designer.post("/api/templates/review/versions/1/retire/")
    assert response.status_code == 200
    assert response.json()["state"] == "retired"
    assert designer.post("/api/templates/review/versions/1/retire/").status_code == 409


def test_retire_needs_the_retire_permission():
    template_load(document=document(), publish=True)
    client = client_for("publish_templateversion")
    assert client.post("/api/templates/review/versions/1/retire/").status_code == 403


# --- compare and export ---------------------------------------------------------------------------------


def test_compare_gives_a_patch_and_a_summary(reader):
    template_load(document=document(), publish=True)
    second = document(description="now with a second phase")
    second["phases"] = [*second["phases"], {"id": "sign", "type": "human", "roles": ["reviewer"]}]
    second["phases"][1]["depends_on"] = ["review"]
    template_load(document=second, publish=True)
    response = reader.get("/api/templates/review/versions/2/compare/?with=1")
    assert response.status_code == 200
    body = response.json()
    assert (body["old"], body["new"]) == (1, 2)
    assert {"op": "add", "path": "/description", "value": "now with a second phase"} in body["patch"]
    assert body["summary"] == {"added": ["sign"], "removed": [], "changed": {}, "top_level": ["description"]}


def test_compare_needs_a_valid_with(reader):
    template_load(document=document(), publish=True)
    missing = reader.get("/api/templates/review/versions/1/compare/")
    assert missing.status_code == 400
    assert missing.json()["message"].startswith("with:")
    assert reader.get("/api/templates/review/versions/1/compare/?with=x").status_code == 400
    assert reader.get("/api/templates/review/versions/1/compare/?with=7").status_code == 404


def test_export_gives_the_document_as_loaded(reader):
    template_load(document=document(), publish=True)
    template_load(document=document(description="draft"))
    assert reader.get("/api/templates/review/export/").json() == document()
    assert reader.get("/api/templates/review/versions/2/export/").json() == document(description="draft")
    assert reader.get("/api/templates/nope/export/").status_code == 404
