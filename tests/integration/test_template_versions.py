"""Versioned templates: drafts, publishing, immutability, loading from files, export, comparison."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from engine.definition.canonical import checksum
from engine.errors import NotFound, TemplateInvalid, TransitionRejected, VersionImmutable
from engine.models import TemplateVersion, WorkflowTemplate
from engine.runtime.start import start_instance
from engine.services import templates as services

pytestmark = pytest.mark.django_db
EXAMPLES = Path(settings.BASE_DIR) / "fixtures" / "templates"


def document(name: str = "Weekly", duration: str = "PT1H") -> dict:
    return {
        "format": "phasegate/v1",
        "key": "weekly",
        "name": name,
        "phases": [{"id": "pause", "type": "wait", "duration": duration}],
    }


def test_saving_twice_updates_the_one_draft():
    first = services.template_draft_save(document=document()).version
    second = services.template_draft_save(document=document(name="Weekly 2")).version
    assert (first.pk, second.number, second.state) == (second.pk, 1, "draft")
    assert second.checksum == checksum(document(name="Weekly 2"))


def test_publishing_freezes_the_version_and_the_next_edit_is_a_new_draft():
    draft = services.template_draft_save(document=document()).version
    published = services.template_version_publish(version_id=draft.pk)
    assert (published.state, published.published_at is not None) == ("published", True)
    edited = services.template_draft_save(document=document(duration="PT2H")).version
    assert (edited.number, edited.state) == (2, "draft")
    assert TemplateVersion.objects.get(pk=published.pk).definition == document()
    assert WorkflowTemplate.objects.get(key="weekly").name == "Weekly"


def test_a_published_definition_cannot_be_changed_by_saving_the_model():
    version = services.template_version_publish(
        version_id=services.template_draft_save(document=document()).version.pk
    )
    version.definition = document(duration="P1D")
    with pytest.raises(VersionImmutable):
        version.save()
    assert TemplateVersion.objects.get(pk=version.pk).definition == document()


def test_a_published_definition_cannot_be_changed_by_a_queryset_update():
    version = services.template_version_publish(
        version_id=services.template_draft_save(document=document()).version.pk
    )
    with pytest.raises(VersionImmutable):
        TemplateVersion.objects.filter(pk=version.pk).update(definition=document(duration="P1D"))
    TemplateVersion.objects.filter(pk=version.pk).update(notes="notes may change")
    assert TemplateVersion.objects.get(pk=version.pk).definition == document()


def test_at_most_one_draft_per_template():
    draft = services.template_draft_save(document=document()).version
    with pytest.raises(IntegrityError), transaction.atomic():
        TemplateVersion.objects.create(
            template=draft.template, number=2, definition=document(), checksum=checksum(document())
        )


def test_publishing_an_invalid_draft_is_refused_with_every_problem():
    broken = document()
    broken["phases"].append({"id": "pause", "type": "wait", "duration": "P1M"})
    saved = services.template_draft_save(document=broken)
    assert [(p.code, p.path) for p in saved.problems] == [
        ("bad_duration", "/phases/1/duration"),
        ("duplicate_id", "/phases/1/id"),
    ]
    with pytest.raises(TemplateInvalid) as refused:
        services.template_version_publish(version_id=saved.version.pk)
    assert refused.value.problems == tuple(saved.problems)
    assert TemplateVersion.objects.get(pk=saved.version.pk).state == "draft"


def test_publishing_twice_is_rejected():
    version = services.template_version_publish(
        version_id=services.template_draft_save(document=document()).version.pk
    )
    with pytest.raises(TransitionRejected):
        services.template_version_publish(version_id=version.pk)


def test_a_retired_version_starts_no_new_instances():
    version = services.template_version_publish(
        version_id=services.template_draft_save(document=document()).version.pk
    )
    services.template_version_retire(version_id=version.pk)
    with pytest.raises(NotFound):
        start_instance("weekly", {})
    with pytest.raises(TransitionRejected):
        start_instance("weekly", {}, version=1)


def test_comparing_versions_lists_what_changed():
    v1 = services.template_version_publish(
        version_id=services.template_draft_save(document=document()).version.pk
    )
    changed = document(name="Weekly refresh", duration="PT2H")
    changed["phases"].append({"id": "after", "type": "wait", "duration": "PT1S", "depends_on": ["pause"]})
    v2 = services.template_draft_save(document=changed).version
    diff = services.template_version_compare(old_id=v1.pk, new_id=v2.pk)
    assert diff.added == ["after"]
    assert diff.removed == []
    assert diff.changed == {"pause": ["duration"]}
    assert diff.top_level == ["name"]
    assert {"op": "replace", "path": "/phases/0/duration", "value": "PT2H"} in diff.patch


def test_load_templates_creates_a_version_only_when_the_content_changed(tmp_path):
    (tmp_path / "weekly.json").write_text(json.dumps(document()))
    out = StringIO()
    call_command("load_templates", str(tmp_path), publish=True, stdout=out)
    assert "weekly v1 (new version, published now)" in out.getvalue()
    call_command("load_templates", str(tmp_path), publish=True, stdout=(out := StringIO()))
    assert "weekly v1 (unchanged, published)" in out.getvalue()
    (tmp_path / "weekly.json").write_text(json.dumps(document(duration="PT3H")))
    call_command("load_templates", str(tmp_path), stdout=(out := StringIO()))
    assert "weekly v2 (new version, draft)" in out.getvalue()


def test_load_templates_refuses_an_invalid_file_with_its_problems(tmp_path):
    broken = document()
    broken["phases"][0]["depends_on"] = ["nowhere"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("load_templates", str(tmp_path), stderr=err)
    assert f"{tmp_path / 'broken.json'}:/phases/0/depends_on/0: unknown_phase:" in err.getvalue()
    assert not TemplateVersion.objects.exists()


def test_every_example_loads_and_exports_back_to_the_same_checksum(tmp_path):
    call_command("load_templates", str(EXAMPLES), publish=True, stdout=StringIO())
    for path in sorted(EXAMPLES.glob("*.json")):
        key = json.loads(path.read_text())["key"]
        exported = tmp_path / f"{key}.json"
        call_command("export_template", key, version=1, output=str(exported))
        version = TemplateVersion.objects.get(template__key=key, number=1)
        assert version.state == "published"
        assert checksum(json.loads(exported.read_text())) == version.checksum


def test_validate_template_prints_each_problem_and_exits_1(tmp_path):
    broken = document()
    broken["phases"][0]["duration"] = "P1Y"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("validate_template", str(path), stdout=out)
    assert failed.value.returncode == 1
    assert out.getvalue().startswith(f"{path}:/phases/0/duration: bad_duration: ")


def test_validate_template_is_silent_on_the_examples():
    out = StringIO()
    call_command("validate_template", *map(str, sorted(EXAMPLES.glob("*.json"))), stdout=out)
    assert out.getvalue() == ""


# --- audit of publish and retire -------------------------------------------------------------------------


@pytest.mark.django_db
def test_publish_and_retire_are_audited_with_actor_time_and_reason_and_emitted(django_user_model):
    from django.contrib.auth.models import Permission

    from engine.models import Event, VersionChange

    owner = django_user_model.objects.create_user("owner")
    owner.user_permissions.add(
        *Permission.objects.filter(codename__in=["publish_templateversion", "retire_templateversion"])
    )
    owner = django_user_model.objects.get(pk=owner.pk)
    draft = services.template_draft_save(document=document()).version

    services.template_version_publish(version_id=draft.pk, user=owner, reason="reviewed by the board")
    services.template_version_retire(version_id=draft.pk, user=owner, reason="replaced")

    rows = list(VersionChange.objects.filter(version=draft).values_list("name", "source", "target", "actor"))
    assert rows == [("publish", "draft", "published", owner.pk), ("retire", "published", "retired", owner.pk)]
    assert [c.reason for c in VersionChange.objects.filter(version=draft)] == [
        "reviewed by the board",
        "replaced",
    ]
    assert all(c.created_at is not None for c in VersionChange.objects.filter(version=draft))
    events = list(Event.objects.filter(name__startswith="template_version.").order_by("id"))
    assert [e.name for e in events] == ["template_version.publish", "template_version.retire"]
    assert events[0].payload["reason"] == "reviewed by the board" and events[0].payload["actor"] == "owner"


@pytest.mark.django_db
def test_a_refused_publish_writes_no_audit_row():
    from engine.models import Event, VersionChange

    published = services.template_load(document=document(), publish=True).version
    with pytest.raises(TransitionRejected):
        services.template_version_publish(version_id=published.pk)
    assert VersionChange.objects.filter(version=published, name="publish").count() == 1
    assert Event.objects.filter(name="template_version.publish").count() == 1
