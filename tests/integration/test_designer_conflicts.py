"""Two people editing one draft: the second save is refused instead of overwriting the first one's work."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from engine.models import TemplateVersion
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
SAVE = "admin:engine_workflowtemplate_design_save"


def document(name: str) -> dict:
    return {
        "format": "phasegate/v1",
        "key": "shared",
        "name": name,
        "phases": [{"id": "pause", "type": "wait", "duration": "PT1M"}],
    }


def designer_client(username: str) -> Client:
    user = UserFactory(username=username, is_staff=True)
    codenames = ("add_workflowtemplate", "change_workflowtemplate", "view_workflowtemplate")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def save(client: Client, name: str, base: str | None):
    body = json.dumps({"document": document(name), "base_checksum": base})
    return client.post(reverse(SAVE), data=body, content_type="application/json")


def test_a_save_based_on_a_stale_draft_is_refused_with_409():
    ann, bob = designer_client("ann"), designer_client("bob")
    first = save(ann, "Ann's", base=None).json()["version"]
    both_opened = first["checksum"]
    assert save(bob, "Bob's", base=both_opened).status_code == 200
    refused = save(ann, "Ann's second thought", base=both_opened)
    assert refused.status_code == 409
    assert refused.json()["code"] == "conflict"
    assert "changed since you opened it" in refused.json()["message"]
    assert TemplateVersion.objects.get(template__key="shared").definition["name"] == "Bob's"


def test_saving_again_from_the_draft_just_saved_is_fine():
    ann = designer_client("ann")
    first = save(ann, "one", base=None).json()["version"]
    second = save(ann, "two", base=first["checksum"])
    assert second.status_code == 200
    assert second.json()["version"]["number"] == 1


def test_a_new_template_whose_key_already_has_a_draft_is_refused():
    ann, bob = designer_client("ann"), designer_client("bob")
    save(ann, "Ann's", base=None)
    assert save(bob, "Bob's", base=None).status_code == 409
