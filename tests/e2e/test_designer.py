"""The template designer in headless Chromium: drawing, live validation, saving, publishing, comparing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from engine.models import TemplateVersion, VersionState
from engine.services.templates import template_draft_save, template_load, template_validate
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-123456"
EXAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "templates"
XSS = "<img src=x onerror=alert(1)>"


# --- Helpers -----------------------------------------------------------------------------------------------


def make_staff(username: str, *codenames: str, superuser: bool = False):
    user = UserFactory(username=username, is_staff=True, is_superuser=superuser)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="engine", codename__in=codenames)
    )
    return user


@pytest.fixture
def admin_user():
    return make_staff("designer_admin", superuser=True)


@pytest.fixture
def viewer():
    return make_staff("designer_viewer", "view_workflowtemplate", "view_templateversion")


def admin_login(page, username: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def open_designer(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("html[data-designer-ready=true]")


def design_url(template_id: int, number: int | None = None) -> str:
    base = f"/admin/engine/workflowtemplate/{template_id}/design/"
    return base if number is None else f"{base}v{number}/"


def node(page, phase_id: str, within: str = "#pg-canvas"):
    return page.locator(f'{within} .pg-node[data-phase-id="{phase_id}"]')


def phase_panel(page):
    return page.locator("#pg-phase-panel")


def connect(page, source: str, target: str) -> None:
    """Fit the graph to the screen, then drag from the source box's port onto the target box."""
    page.click("#pg-fit")
    port = node(page, source).locator(".pg-port").bounding_box()
    box = node(page, target).locator(".pg-box").bounding_box()
    page.mouse.move(port["x"] + port["width"] / 2, port["y"] + port["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 10, box["y"] + 10, steps=6)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=4)
    page.mouse.up()


def document_in_browser(page) -> dict:
    return page.evaluate("JSON.parse(JSON.stringify(pgDesigner.store.doc))")


def overlapping_boxes(page, within: str = "pgDesigner.canvas") -> list:
    """Pairs of boxes whose rectangles intersect in the laid-out canvas."""
    return page.evaluate(
        f"""() => {{
        const canvas = {within};
        const boxes = [...canvas.positions.values()];
        const hits = [];
        for (let i = 0; i < boxes.length; i++)
          for (let j = i + 1; j < boxes.length; j++) {{
            const a = boxes[i], b = boxes[j];
            if (a.x < b.x + 184 && b.x < a.x + 184 && a.y < b.y + 60 && b.y < a.y + 60) hits.push([i, j]);
          }}
        return hits;
    }}"""
    )


def load_example(name: str, *, publish: bool = True) -> TemplateVersion:
    document = json.loads((EXAMPLES / f"{name}.json").read_text())
    return template_load(document=document, publish=publish).version


def no_dialogs(page) -> list[str]:
    """Collect every dialog (alert, confirm, prompt) the page opens; the test asserts the list stays empty."""
    seen: list[str] = []

    def record(dialog):
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    return seen


# --- Building a template from nothing ----------------------------------------------------------------------


def test_build_a_three_phase_template_from_nothing_and_publish_it(page, admin_user):
    admin_login(page, admin_user.username)
    open_designer(page, "/admin/engine/workflowtemplate/design/")

    template = page.locator("#pg-template-panel")
    template.get_by_label("Key").fill("review_flow")
    template.get_by_label("Template name").fill("Review flow")
    template.get_by_role("button", name="Add role").click()
    template.get_by_label("Role key").fill("reviewer")
    template.get_by_label("Role key").press("Tab")
    template.get_by_label("Role name").fill("Reviewer")

    # One phase dragged from the palette onto the canvas, two added by clicking.
    page.locator(".pg-palette-item[data-type=human]").drag_to(
        page.locator("#pg-canvas"), target_position={"x": 120, "y": 160}
    )
    page.locator(".pg-palette-item[data-type=task]").click()
    page.locator(".pg-palette-item[data-type=wait]").click()
    page.click("#pg-fit")
    expect(page.locator("#pg-canvas .pg-node")).to_have_count(3)

    connect(page, "human_1", "task_1")
    connect(page, "task_1", "wait_1")
    expect(page.locator("#pg-canvas .pg-edge-g")).to_have_count(2)
    doc = document_in_browser(page)
    assert [(p["id"], p.get("depends_on")) for p in doc["phases"]] == [
        ("human_1", None),
        ("task_1", ["human_1"]),
        ("wait_1", ["task_1"]),
    ]
    assert set(doc["phases"][0]["ui"]) == {"x", "y"}  # the dropped box keeps where it was dropped

    # The human phase has no roles yet: the problem shows on its box and on the Roles field.
    page.click("#pg-fit")
    human = node(page, "human_1")
    expect(human).to_have_class(re.compile(r"\bpg-has-problem\b"))
    expect(human.locator(".pg-badge-text")).to_have_text("1")
    human.click()
    roles_field = phase_panel(page).locator('.pg-field[data-path="/phases/0/roles"]')
    expect(roles_field).to_have_class(re.compile(r"\bpg-invalid\b"))
    expect(roles_field).to_contain_text("the field roles is required")

    # Fix it, and fill in the other phases' properties.
    phase_panel(page).get_by_label("Roles").select_option("reviewer")
    expect(human).not_to_have_class(re.compile(r"\bpg-has-problem\b"))
    expect(roles_field).not_to_have_class(re.compile(r"\bpg-invalid\b"))
    phase_panel(page).get_by_label("Name", exact=True).fill("Review the data")
    phase_panel(page).get_by_label("SLA duration").fill("P2D")
    phase_panel(page).get_by_label("Business days").select_option("true")
    node(page, "task_1").click()
    phase_panel(page).get_by_label("Activity").select_option("market.ingest")
    phase_panel(page).get_by_label("Timeout").fill("PT5M")
    node(page, "wait_1").click()
    phase_panel(page).get_by_label("Duration", exact=True).fill("PT1H")
    expect(page.locator("#pg-problem-count")).to_have_text("0")
    expect(node(page, "human_1").locator(".pg-name")).to_have_text("Review the data")

    page.click("#pg-save")
    expect(page.locator("#pg-status")).to_contain_text("Saved draft v1.")
    draft = TemplateVersion.objects.get(template__key="review_flow")
    assert draft.state == VersionState.DRAFT
    assert draft.created_by == admin_user
    assert draft.definition["phases"][0]["sla"] == {"duration": "P2D", "business_days": True}
    assert draft.definition["phases"][1]["timeout"] == "PT5M"

    page.click("#pg-publish")
    expect(page.locator("#pg-state")).to_have_text("published · read-only")
    draft.refresh_from_db()
    assert (draft.state, draft.published_by) == (VersionState.PUBLISHED, admin_user)
    assert draft.definition == doc | {
        "name": "Review flow",
        "phases": [
            doc["phases"][0]
            | {
                "name": "Review the data",
                "roles": ["reviewer"],
                "sla": {"duration": "P2D", "business_days": True},
            },
            doc["phases"][1] | {"activity": "market.ingest", "timeout": "PT5M"},
            doc["phases"][2] | {"duration": "PT1H"},
        ],
    }
    assert page.js_errors == []


def test_an_expression_compile_error_shows_inline_and_a_problem_click_selects_its_box(page, admin_user):
    document = json.loads((EXAMPLES / "market_daily.json").read_text())
    document["phases"][1]["check"] = "steps.ingest.output.rows >"
    version = template_draft_save(document=document).version
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    problem = page.locator('.pg-problem[data-path="/phases/1/check"]')
    expect(problem).to_contain_text("bad_expression")
    expect(node(page, "ingestion_gate")).to_have_class(re.compile(r"\bpg-has-problem\b"))
    problem.click()

    expect(node(page, "ingestion_gate")).to_have_class(re.compile(r"\bpg-selected\b"))
    check = phase_panel(page).locator('.pg-field[data-path="/phases/1/check"]')
    expect(check).to_have_class(re.compile(r"\bpg-invalid\b"))
    expect(check).to_contain_text("bad_expression")
    expect(check.locator("input")).to_be_focused()

    check.locator("input").fill("steps.ingest.output.rows > 0")
    expect(page.locator("#pg-problem-count")).to_have_text("0")
    expect(check).not_to_have_class(re.compile(r"\bpg-invalid\b"))


def test_a_refused_publish_lists_every_problem(page, admin_user):
    document = json.loads((EXAMPLES / "dt_testing.json").read_text())
    document["phases"][0]["roles"] = ["ghost"]
    document["phases"][2]["depends_on"] = ["nowhere"]
    version = template_draft_save(document=document).version
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    page.click("#pg-publish")

    expect(page.locator("#pg-status")).to_contain_text("Not published: 2 problems")
    expect(page.locator("#pg-problem-list .pg-problem")).to_have_count(2)
    expect(page.locator('.pg-problem[data-path="/phases/0/roles/0"]')).to_contain_text("unknown_role")
    expect(page.locator('.pg-problem[data-path="/phases/2/depends_on/0"]')).to_contain_text("unknown_phase")
    version.refresh_from_db()
    assert version.state == VersionState.DRAFT


def test_delete_removes_an_arrow_and_a_phase_with_its_references(page, admin_user):
    version = load_example("dt_testing", publish=False)
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    page.locator('.pg-edge-g[data-from="planning"][data-to="scoping"] .pg-edge-hit').click(force=True)
    page.keyboard.press("Delete")
    expect(page.locator('.pg-edge-g[data-from="planning"][data-to="scoping"]')).to_have_count(0)
    node(page, "testing").click()
    page.click("#pg-delete")

    expect(node(page, "testing")).to_have_count(0)
    doc = document_in_browser(page)
    assert "depends_on" not in doc["phases"][1]
    assert "depends_on" not in [p for p in doc["phases"] if p["id"] == "observations"][0]


# --- Read-only ---------------------------------------------------------------------------------------------


def test_a_published_version_opens_read_only(page, admin_user):
    version = load_example("weekly_refresh")
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id, 1))

    expect(page.locator("#pg-state")).to_have_text("published · read-only")
    expect(page.locator("#pg-save")).to_be_hidden()
    expect(page.locator("#pg-publish")).to_be_hidden()
    expect(page.locator(".pg-palette")).to_be_hidden()
    expect(page.locator("#pg-edit-draft")).to_be_visible()
    node(page, "ingest").click()
    expect(phase_panel(page).get_by_label("Name", exact=True)).to_be_disabled()
    expect(phase_panel(page).get_by_label("Activity")).to_be_disabled()
    assert node(page, "ingest").locator(".pg-port").count() == 0
    page.locator(".pg-tabs [data-tab=json]").click()
    expect(page.locator("#pg-json")).to_have_attribute("readonly", "")
    page.locator(".pg-tabs [data-tab=template]").click()
    expect(page.locator("#pg-template-panel").get_by_label("Key")).to_be_disabled()

    page.click("#pg-edit-draft")
    expect(page.locator("#pg-state")).to_have_text("draft")
    assert re.search(r"/design/v2/$", page.url)


def test_a_user_with_view_permission_gets_the_designer_read_only(page, viewer):
    version = load_example("dt_testing", publish=False)
    admin_login(page, viewer.username)
    open_designer(page, design_url(version.template_id))

    expect(page.locator("#pg-state")).to_have_text("draft · read-only")
    for control in ("#pg-save", "#pg-publish", "#pg-edit-draft", ".pg-palette", "#pg-delete"):
        expect(page.locator(control)).to_be_hidden()
    node(page, "planning").click()
    expect(phase_panel(page).locator("input, select, textarea").first).to_be_disabled()
    assert phase_panel(page).locator("input:enabled, select:enabled, textarea:enabled").count() == 0
    before = document_in_browser(page)
    page.keyboard.press("Delete")
    box = node(page, "planning").bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 240, box["y"] + 220, steps=5)
    page.mouse.up()
    assert document_in_browser(page) == before


# --- Comparing versions ------------------------------------------------------------------------------------


def test_a_phase_changed_in_a_new_draft_is_highlighted_in_the_comparison(page, admin_user):
    version = load_example("dt_testing")
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))
    page.click("#pg-edit-draft")
    expect(page.locator("#pg-state")).to_have_text("draft")

    node(page, "testing").click()
    phase_panel(page).get_by_label("Name", exact=True).fill("Testing, second round")
    page.locator(".pg-palette-item[data-type=wait]").click()
    page.click("#pg-save")
    expect(page.locator("#pg-status")).to_contain_text("Saved draft v2")

    page.locator(".pg-tabs [data-tab=versions]").click()
    expect(page.locator(".pg-versions tbody tr[data-version]")).to_have_count(2)
    page.click("#pg-compare")
    page.wait_for_url(re.compile(r"/design/compare/\?old=\d+&new=\d+$"))
    page.wait_for_selector("html[data-designer-ready=true]")

    expect(node(page, "testing", "#pg-canvas-new")).to_have_class(re.compile(r"\bpg-changed\b"))
    expect(node(page, "testing", "#pg-canvas-old")).to_have_class(re.compile(r"\bpg-changed\b"))
    expect(node(page, "wait_1", "#pg-canvas-new")).to_have_class(re.compile(r"\bpg-added\b"))
    expect(node(page, "planning", "#pg-canvas-new")).not_to_have_class(
        re.compile(r"pg-(changed|added|removed)")
    )
    expect(page.locator("#pg-diff-summary")).to_contain_text("testing — name")
    patch = json.loads(page.locator("#pg-patch").text_content())
    assert {"op": "replace", "path": "/phases/5/name", "value": "Testing, second round"} in patch


def test_a_removed_phase_is_highlighted_on_the_old_side(page, admin_user):
    first = load_example("weekly_refresh")
    document = json.loads((EXAMPLES / "weekly_refresh.json").read_text())
    removed = document["phases"].pop()
    template_draft_save(document=document)
    admin_login(page, admin_user.username)

    page.goto(f"/admin/engine/workflowtemplate/{first.template_id}/design/compare/")
    page.wait_for_selector("html[data-designer-ready=true]")

    expect(node(page, removed["id"], "#pg-canvas-old")).to_have_class(re.compile(r"\bpg-removed\b"))
    expect(node(page, removed["id"], "#pg-canvas-new")).to_have_count(0)
    expect(page.locator("#pg-diff-summary .pg-removed")).to_contain_text(removed["id"])
    # Arrows run from the right side of a phase into the left side of the one after it, as in the
    # designer (left to right), on both sides.
    backwards = page.evaluate(
        """() => [...document.querySelectorAll('#pg-canvas-old path.pg-edge, #pg-canvas-new path.pg-edge')]
            .map((p) => p.getAttribute('d').match(/-?[0-9.]+/g).map(Number))
            .filter((n) => n.length >= 8 && !(n[n.length - 2] > n[0]))
            .length"""
    )
    assert backwards == 0
    assert page.locator("#pg-canvas-old .pg-edge-g").count() > 0


# --- Text stays text ---------------------------------------------------------------------------------------


def test_a_phase_named_like_html_shows_as_text_and_runs_nothing(page, admin_user):
    document = json.loads((EXAMPLES / "dt_testing.json").read_text())
    document["name"] = XSS
    document["description"] = XSS
    document["roles"]["tester"]["name"] = XSS
    document["phases"][0]["name"] = XSS
    document["phases"][0]["outcomes"] = ["done"]
    document["phases"][1]["roles"] = ["tester", "<script>alert(2)</script>"]
    version = template_draft_save(document=document).version
    dialogs = no_dialogs(page)
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    expect(node(page, "planning").locator(".pg-name")).to_have_text(re.compile(r"^<img src=x onerror=alert"))
    expect(node(page, "planning").locator(":scope > title")).to_contain_text(XSS)
    node(page, "planning").click()
    expect(phase_panel(page).get_by_label("Name", exact=True)).to_have_value(XSS)
    expect(page.locator("#pg-problem-list")).to_contain_text("<script>alert(2)</script>")

    # Typed in through the panel, too.
    page.locator(".pg-palette-item[data-type=gate]").click()
    phase_panel(page).get_by_label("Name", exact=True).fill(XSS + "<svg onload=alert(3)>")
    phase_panel(page).get_by_label("Message").fill("<b onmouseover=alert(4)>hi</b>")
    page.locator(".pg-tabs [data-tab=template]").click()
    page.locator(".pg-tabs [data-tab=json]").click()
    page.locator(".pg-tabs [data-tab=versions]").click()
    page.click("#pg-save")
    expect(page.locator("#pg-status")).to_contain_text("Saved draft")
    page.reload()
    page.wait_for_selector("html[data-designer-ready=true]")
    page.click("#pg-fit")
    node(page, "gate_1").hover()

    assert dialogs == []
    assert page.locator("#pg-designer img, #pg-designer script, #pg-designer b").count() == 0
    assert page.locator("#pg-canvas svg svg").count() == 0
    assert page.js_errors == []


# --- The example templates and large templates -------------------------------------------------------------


@pytest.mark.parametrize("name", ["dt_testing", "market_daily", "product_enrichment", "weekly_refresh"])
def test_each_example_template_opens_lays_out_and_publishes_from_the_browser(page, admin_user, name):
    version = load_example(name)
    document = version.definition
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    expect(page.locator("#pg-canvas .pg-node")).to_have_count(len(document["phases"]))
    edges = {(dep, p["id"]) for p in document["phases"] for dep in p.get("depends_on", [])}
    expect(page.locator("#pg-canvas .pg-edge-g")).to_have_count(len(edges))
    assert overlapping_boxes(page) == []
    # Left to right: every arrow goes from a box to one further right.
    for source, target in edges:
        assert node(page, source).bounding_box()["x"] < node(page, target).bounding_box()["x"]
    expect(page.locator("#pg-problem-count")).to_have_text("0")

    page.click("#pg-edit-draft")
    expect(page.locator("#pg-state")).to_have_text("draft")
    first = document["phases"][0]["id"]
    node(page, first).click()
    phase_panel(page).get_by_label("Description").fill("Edited in the designer.")
    expect(page.locator("#pg-state")).to_have_text("draft · unsaved changes")
    page.click("#pg-publish")
    expect(page.locator("#pg-state")).to_have_text("published · read-only")

    published = TemplateVersion.objects.get(template__key=name, number=2)
    assert published.state == VersionState.PUBLISHED
    expected = json.loads(json.dumps(document))
    expected["phases"][0]["description"] = "Edited in the designer."
    assert published.definition == expected
    assert page.js_errors == []


def big_document(count: int = 200) -> dict:
    phases = []
    for i in range(count):
        phase = {"id": f"p{i:03d}", "name": f"Phase {i}", "type": "wait", "duration": "PT1M"}
        deps = [f"p{j:03d}" for j in (i - 1, i - 7) if j >= 0 and i % 5]
        if deps:
            phase["depends_on"] = deps
        phases.append(phase)
    return {"format": "phasegate/v1", "key": "big", "name": "Two hundred phases", "phases": phases}


def test_two_hundred_phases_open_lay_out_once_and_stay_usable(page, admin_user):
    version = template_draft_save(document=big_document()).version
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    expect(page.locator("#pg-canvas .pg-node")).to_have_count(200)
    assert page.locator("#pg-canvas svg").count() == 1
    assert overlapping_boxes(page) == []
    stats = page.evaluate("({layouts: pgDesigner.canvas.layouts, ms: pgDesigner.canvas.lastLayoutMs})")
    assert stats["layouts"] == 1
    assert stats["ms"] < 5000

    # Moving a box and typing a name re-render without laying the graph out again.
    page.evaluate("pgDesigner.canvas.centerOn(pgDesigner.store.byId('p100'))")
    box = node(page, "p100").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(box["x"] + box["width"] / 2 + step * 5, box["y"] + box["height"] / 2 + step * 3)
    page.mouse.up()
    phase_panel(page).get_by_label("Name", exact=True).fill("Moved by hand")
    expect(node(page, "p100").locator(".pg-name")).to_have_text("Moved by hand")
    assert page.evaluate("pgDesigner.canvas.layouts") == 1
    moved = document_in_browser(page)["phases"][100]
    assert set(moved["ui"]) == {"x", "y"}

    # Adding and connecting a phase places the new box without laying out the other 200 again.
    page.locator(".pg-palette-item[data-type=wait]").click()
    phase_panel(page).get_by_label("Depends on").select_option("p199")
    phase_panel(page).get_by_label("Duration", exact=True).fill("PT5M")
    expect(page.locator("#pg-canvas .pg-node")).to_have_count(201)
    expect(page.locator('#pg-canvas .pg-edge-g[data-from="p199"][data-to="wait_1"]')).to_have_count(1)
    assert page.evaluate("pgDesigner.canvas.layouts") == 1
    assert overlapping_boxes(page) == []
    # The same graph coming back from the JSON view keeps its layout.
    page.evaluate('pgDesigner.store.replace(JSON.parse(JSON.stringify(pgDesigner.store.doc)), "json")')
    assert page.evaluate("pgDesigner.canvas.layouts") == 1
    expect(page.locator("#pg-problem-count")).to_have_text("0")
    assert page.js_errors == []


# --- JSON view, files --------------------------------------------------------------------------------------


def test_the_json_view_round_trip_keeps_the_document_and_edits_flow_both_ways(page, admin_user):
    document = json.loads((EXAMPLES / "product_enrichment.json").read_text())
    document["$schema"] = "urn:phasegate:template:v1"
    document["ui"] = {"zoom": 0.8, "note": "kept"}
    document["phases"][0]["ui"] = {"x": 40, "y": 300, "colour": "teal"}
    version = template_draft_save(document=document).version
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    page.locator(".pg-tabs [data-tab=json]").click()
    assert json.loads(page.locator("#pg-json").input_value()) == document
    # Back to the canvas and into the JSON again: nothing changed.
    node(page, document["phases"][2]["id"]).click()
    page.locator(".pg-tabs [data-tab=json]").click()
    assert json.loads(page.locator("#pg-json").input_value()) == document
    assert document_in_browser(page) == document

    # JSON -> canvas.
    edited = json.loads(page.locator("#pg-json").input_value())
    edited["phases"][1]["name"] = "Fetch the pictures"
    page.locator("#pg-json").fill(json.dumps(edited, indent=2))
    expect(node(page, document["phases"][1]["id"]).locator(".pg-name")).to_have_text("Fetch the pictures")
    page.locator("#pg-json").fill("{ not json")
    expect(page.locator("#pg-json-error")).to_contain_text("Not valid JSON")
    expect(node(page, document["phases"][1]["id"]).locator(".pg-name")).to_have_text("Fetch the pictures")
    page.locator("#pg-json").fill(json.dumps(edited, indent=2))

    # Canvas -> JSON.
    node(page, document["phases"][3]["id"]).click()
    phase_panel(page).get_by_label("Name", exact=True).fill("Map the data")
    page.locator(".pg-tabs [data-tab=json]").click()
    edited["phases"][3]["name"] = "Map the data"
    assert json.loads(page.locator("#pg-json").input_value()) == edited

    page.click("#pg-save")
    expect(page.locator("#pg-status")).to_contain_text("Saved draft")
    version.refresh_from_db()
    assert version.definition == edited  # unknown fields and the ui hints included


def test_open_a_file_and_download_the_json(page, admin_user, tmp_path):
    draft = template_draft_save(document=json.loads((EXAMPLES / "dt_testing.json").read_text())).version
    admin_login(page, admin_user.username)
    open_designer(page, design_url(draft.template_id))
    other = json.loads((EXAMPLES / "market_daily.json").read_text())
    other["key"] = "dt_testing"
    path = tmp_path / "upload.json"
    path.write_text(json.dumps(other))

    page.locator("#pg-open-file").set_input_files(str(path))
    expect(page.locator("#pg-status")).to_contain_text("Loaded upload.json")
    expect(page.locator("#pg-canvas .pg-node")).to_have_count(len(other["phases"]))
    expect(node(page, "ingest")).to_be_visible()

    with page.expect_download() as download:
        page.click("#pg-download")
    assert json.loads(Path(download.value.path()).read_text()) == other

    page.locator(".pg-tabs [data-tab=versions]").click()
    with page.expect_download() as export:
        page.locator(".pg-versions a", has_text="Export").first.click()
    assert export.value.suggested_filename == "dt_testing-v1.json"
    assert json.loads(Path(export.value.path()).read_text()) == draft.definition


def test_every_phase_type_is_filled_in_from_the_property_panel(page, admin_user):
    admin_login(page, admin_user.username)
    open_designer(page, "/admin/engine/workflowtemplate/design/")
    template = page.locator("#pg-template-panel")
    template.get_by_label("Key").fill("all_types")
    template.get_by_label("Template name").fill("Every phase type")
    template.get_by_role("button", name="Add role").click()
    template.get_by_label("Role key").fill("ops")
    template.get_by_label("Role key").press("Tab")
    template.get_by_label("Role name").fill("Operations")
    template.get_by_label("Mon").check()
    template.get_by_label("Tue").check()
    for kind in ("task", "gate", "choice", "map", "wait", "human"):
        page.locator(f".pg-palette-item[data-type={kind}]").click()
    panel = phase_panel(page)

    def select(phase_id: str) -> None:
        page.click("#pg-fit")
        node(page, phase_id).click()

    select("task_1")
    panel.get_by_label("Activity").select_option("market.ingest")
    panel.get_by_role("button", name="Add input").click()
    panel.get_by_label("Input: name").fill("symbols")
    panel.get_by_label("Input: expression").fill("[]")
    panel.get_by_label("Max attempts").fill("2")
    panel.get_by_label("transient").check()
    panel.get_by_label("On fail").select_option("suspend")

    select("gate_1")
    panel.get_by_label("Depends on").select_option("task_1")
    panel.get_by_label("Check", exact=True).fill("steps.task_1.output.rows > 0")
    panel.get_by_label("Message").fill("No rows")
    panel.get_by_label("Action").fill("RETRY_INGESTION")

    select("choice_1")
    panel.get_by_label("Depends on").select_option("gate_1")
    panel.get_by_role("button", name="Add branch").click()
    panel.get_by_label("When").fill("true")
    panel.get_by_label("Then run").select_option("map_1")
    panel.get_by_label("Otherwise").select_option("wait_1")

    select("map_1")
    panel.get_by_label("Items").fill("[1, 2, 3]")
    panel.get_by_label("Activity").select_option("market.indicators")
    panel.get_by_label("Max concurrency").fill("2")
    panel.get_by_label("Tolerated failure").fill("0.5")

    select("wait_1")
    panel.get_by_label("Waits for").select_option("signal")
    panel.get_by_label("Signal").fill("go")
    panel.get_by_label("Timeout").fill("PT1H")

    select("human_1")
    panel.get_by_label("Depends on").select_option("map_1")
    panel.get_by_label("Depends on").select_option("wait_1")
    panel.get_by_label("Roles").select_option("ops")
    panel.get_by_label("Outcomes").fill("approved")
    panel.get_by_label("Outcomes").press("Enter")
    panel.get_by_label("Outcomes").fill("rework")
    panel.get_by_label("Outcomes").press("Enter")
    panel.get_by_label("When “rework”, reopen").select_option("task_1")
    panel.get_by_label("SLA duration").fill("P1D")
    panel.get_by_label("Form (JSON Schema)").fill('{"type": "object", "required": ["note"]}')

    expect(page.locator("#pg-problem-count")).to_have_text("0")
    phases = {p["id"]: p for p in document_in_browser(page)["phases"]}
    assert phases["task_1"] | {"name": None} == {
        "id": "task_1",
        "name": None,
        "type": "task",
        "activity": "market.ingest",
        "input": {"symbols": "[]"},
        "retry": {"max_attempts": 2, "retry_on": ["transient"]},
        "on_fail": "suspend",
    }
    assert phases["gate_1"]["check"] == "steps.task_1.output.rows > 0"
    assert (phases["gate_1"]["message"], phases["gate_1"]["action"]) == ("No rows", "RETRY_INGESTION")
    assert phases["choice_1"]["choices"] == [{"when": "true", "then": ["map_1"]}]
    assert phases["choice_1"]["otherwise"] == ["wait_1"]
    # Choosing a target also made it depend on the choice, as the format requires.
    assert phases["map_1"]["depends_on"] == ["choice_1"]
    assert phases["wait_1"]["depends_on"] == ["choice_1"]
    assert (phases["map_1"]["max_concurrency"], phases["map_1"]["tolerated_failure"]) == (2, 0.5)
    assert (phases["wait_1"]["signal"], phases["wait_1"]["timeout"]) == ("go", "PT1H")
    assert "duration" not in phases["wait_1"]
    assert phases["human_1"]["outcomes"] == ["approved", "rework"]
    assert phases["human_1"]["on_outcome"] == {"rework": {"reopen": "task_1"}}
    assert phases["human_1"]["form"] == {"type": "object", "required": ["note"]}
    expect(page.locator("#pg-canvas .pg-reopen")).to_have_count(1)

    page.click("#pg-publish")
    expect(page.locator("#pg-state")).to_have_text("published · read-only")
    assert TemplateVersion.objects.get(template__key="all_types").state == VersionState.PUBLISHED
    assert page.js_errors == []


def test_every_problem_reaches_the_page_with_its_pointer_and_its_box(page, admin_user):
    document = json.loads((EXAMPLES / "dt_testing.json").read_text())
    phases = document["phases"]
    phases[0]["roles"] = ["ghost"]  # unknown_role
    phases[1]["depends_on"] = ["planning", "nowhere"]  # unknown_phase
    phases[2]["sla"]["duration"] = "P1Y"  # bad_duration
    phases[3]["form"] = {"type": "nonsense"}  # bad_form_schema
    phases[1]["on_outcome"] = {"rework": {"reopen": "testing"}}  # reopen_target_not_upstream
    phases[4]["outcomes"] = ["ok"]
    phases[4]["on_outcome"] = {"redo": {"reopen": "planning"}}  # bad_outcome
    document["calendar"]["timezone"] = "Mars/Olympus"  # bad_calendar
    expected = [(p.path, p.code) for p in template_validate(document)]
    assert len({code for _, code in expected}) == 7
    version = template_draft_save(document=document).version
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))

    listed = page.eval_on_selector_all(
        "#pg-problem-list .pg-problem", "els => els.map(e => [e.dataset.path, e.dataset.code])"
    )
    assert [tuple(item) for item in listed] == expected
    expect(page.locator("#pg-problem-count")).to_have_text(str(len(expected)))
    for index in {int(path.split("/")[2]) for path, _ in expected if path.startswith("/phases/")}:
        expect(node(page, phases[index]["id"])).to_have_class(re.compile(r"\bpg-has-problem\b"))
    expect(node(page, "observations")).not_to_have_class(re.compile(r"\bpg-has-problem\b"))

    page.locator('.pg-problem[data-path="/calendar/timezone"]').click()
    expect(page.locator("#pg-template-panel")).to_be_visible()
    expect(page.locator('#pg-template-panel .pg-field[data-path="/calendar/timezone"]')).to_have_class(
        re.compile(r"\bpg-invalid\b")
    )
    page.locator('.pg-problem[data-path="/phases/2/sla/duration"]').click()
    expect(node(page, "sample_selection")).to_have_class(re.compile(r"\bpg-selected\b"))
    expect(phase_panel(page).locator('.pg-field[data-path="/phases/2/sla/duration"]')).to_contain_text(
        "bad_duration"
    )
