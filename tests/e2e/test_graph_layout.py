"""One layout for the designer and the progress pages: the same workflow puts its boxes in the same places."""

from __future__ import annotations

import re

import pytest

from engine.models import TemplateVersion
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.e2e.conftest import login
from tests.factories import UserFactory
from tests.support.human import dt_document

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-123456"
TRANSLATE = re.compile(r"translate\((-?[\d.]+),\s*(-?[\d.]+)\)")


def positions(page, selector: str, attribute: str) -> dict[str, tuple[float, float]]:
    found = page.eval_on_selector_all(
        selector, f"els => els.map(el => [el.getAttribute('{attribute}'), el.getAttribute('transform')])"
    )
    result = {}
    for phase_id, transform in found:
        match = TRANSLATE.search(transform or "")
        assert match, f"{phase_id} is not placed: {transform!r}"
        result[phase_id] = (float(match[1]), float(match[2]))
    return result


def relative(places: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    left = min(x for x, _ in places.values())
    top = min(y for _, y in places.values())
    return {key: (x - left, y - top) for key, (x, y) in places.items()}


def test_progress_page_and_designer_place_every_box_alike_including_one_placed_by_hand(page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    document = dt_document()
    document["phases"][2]["ui"] = {"x": 40, "y": 400}  # moved by hand in the designer
    template_load(document=document, publish=True)
    version = TemplateVersion.objects.get(template__key="dt_testing")
    instance = start_instance("dt_testing", {"report_id": 1})
    UserFactory(username="root", is_staff=True, is_superuser=True)
    login(page, "root", PASSWORD)

    page.goto(f"/workflows/{instance.pk}/")
    page.wait_for_selector("svg.graph:not([data-graph-pending])")
    progress = positions(page, "svg.graph g.node", "data-phase")

    page.goto(f"/admin/engine/workflowtemplate/{version.template_id}/design/v{version.number}/")
    page.wait_for_selector("html[data-designer-ready=true]")
    designer = positions(page, "#pg-canvas .pg-node", "data-phase-id")

    assert set(progress) == {phase["id"] for phase in document["phases"]}
    assert relative(progress) == relative(designer)
    assert progress[document["phases"][2]["id"]] == (40, 400)
    assert page.js_errors == []
