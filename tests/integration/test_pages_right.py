"""The people's pages say what is true: progress by kind of ending, SLA labels only where an SLA runs,
who holds a phase, what a phase behind a failed one waits for, read-only pages without the role, JSON
as JSON with per-attempt timing, and a rework round prefilled with the last submission."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import pytest
from django.urls import reverse

from engine.runtime import human
from engine.runtime.start import start_instance
from engine.services import overrides
from tests.support.engine import publish, template
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    people,
    run_of,
    start,
    states,
)

pytestmark = pytest.mark.django_db(transaction=True)


def page_of(client, instance, phase_id=None) -> str:
    if phase_id:
        url = reverse("pages:phase_detail", kwargs={"instance_id": instance.pk, "phase_id": phase_id})
    else:
        url = reverse("pages:workflow_detail", kwargs={"instance_id": instance.pk})
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_cancelled_instance_does_not_read_as_finished_work(client, dt_testing, people):
    instance = start()
    overrides.instance_cancel(instance_id=instance.pk, user=people["admin"], reason="withdrawn")
    client.force_login(people["admin"])
    page = page_of(client, instance)
    assert "0 of 7 completed · 7 cancelled" in page
    assert "seg-cancelled" in page and "seg-completed" not in page
    # and no cancelled phase claims to be on schedule
    assert "On schedule" not in page


def test_pending_phases_with_an_sla_do_not_say_no_sla(client, dt_testing, people):
    instance = start()
    client.force_login(people["admin"])
    page = page_of(client, instance)
    assert "starts when the phase opens" in page or "set when it opens" in page


def test_after_a_reassign_the_page_does_not_say_claimed(client, dt_testing, people):
    instance = start()
    overrides.phase_reassign(
        instance_id=instance.pk,
        phase_id="planning",
        user=people["admin"],
        assignee=people["tester2"],
        reason="x",
    )
    client.force_login(people["admin"])
    page = page_of(client, instance)
    assert "Waits for tester2, who holds it since" in page and "claimed it" not in page


def test_without_the_role_the_phase_page_is_read_only(client, dt_testing, people):
    instance = start()
    client.force_login(people["cdo"])  # holds a role of the template, not planning's
    page = page_of(client, instance, "planning")
    assert 'data-testid="read-only"' in page and 'data-action="claim"' not in page
    assert "Claim this phase" not in page
    client.force_login(people["outsider"])
    url = reverse("pages:phase_detail", kwargs={"instance_id": instance.pk, "phase_id": "planning"})
    assert client.get(url).status_code in (403, 404)


def test_a_rework_round_opens_prefilled_with_the_last_submission(client, dt_testing, people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    human.phase_claim(instance_id=instance.pk, phase_id="scoping", user=people["tester"])
    human.phase_complete(
        instance_id=instance.pk, phase_id="scoping", user=people["tester"], outcome="rework", data={}
    )
    assert run_of(instance, "planning").round == 2 and run_of(instance, "planning").data is None
    client.force_login(people["tester"])
    page = page_of(client, instance, "planning")
    assert f'value="{PLAN_URL}"' in page


def test_outputs_and_inputs_are_json_with_per_attempt_timing(client, broker, people):
    publish(
        template(
            "jsonish",
            {
                "id": "flaky",
                "type": "task",
                "activity": "test.flaky",
                "input": {"fail_times": "1", "kind": '"transient"', "note": "null"},
                "retry": {"max_attempts": 3, "initial_interval": "PT0S"},
            },
        )
    )
    instance = start_instance("jsonish", {})
    broker.drain(include_delayed=True)
    broker.drain(include_delayed=True)
    client.force_login(people["admin"])
    page = page_of(client, instance, "flaky")
    assert "&quot;ok&quot;: true" in page and "True" not in page  # JSON, not Python's repr
    assert "&quot;note&quot;: null" in page and "None" not in page.split('data-testid="input"')[1][:200]
    attempts = page.split('data-testid="attempts"')[1].split("</table>")[0]
    assert (
        "failed, retry scheduled" in attempts and "completed" in attempts and attempts.count(" s</td>") == 2
    )


@pytest.mark.parametrize("ending", ["skip", "cancel"])
def test_skipped_and_cancelled_phases_show_no_due_time(client, dt_testing, people, ending):
    instance = start()
    due_at = run_of(instance, "planning").due_at
    assert due_at is not None
    if ending == "skip":
        overrides.phase_skip(instance_id=instance.pk, phase_id="planning", user=people["admin"], reason="n/a")
    else:
        overrides.instance_cancel(instance_id=instance.pk, user=people["admin"], reason="withdrawn")
    run = run_of(instance, "planning")
    assert run.state in ("skipped", "cancelled") and run.due_at == due_at  # kept, but no SLA runs now
    client.force_login(people["admin"])
    shown = f"{due_at:%Y-%m-%d %H:%M} UTC"
    row = page_of(client, instance).split('data-phase="planning"')[1].split("</tr>")[0]
    assert shown not in row
    assert row.count(f'title="no SLA runs for a {run.state} phase">—</span>') == 2  # DUE and SLA alike
    detail = page_of(client, instance, "planning")
    assert shown not in detail
    assert detail.count(f'title="no SLA runs for a {run.state} phase">—</span>') == 2
