"""Administrator overrides as services: a permission and a reason each, the administrator as actor, and
what changed before and after in the audit trail."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from engine.errors import FormInvalid, PermissionDenied, TransitionRejected
from engine.models import InstanceState, PhaseState, Transition
from engine.runtime import human
from engine.services import overrides
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    grant,
    people,
    run_of,
    start,
    states,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(people):
    """Staff with exactly the two override permissions, not a superuser."""
    return grant(people["staff"], "override_phaserun", "override_workflowinstance")


def last(instance, name):
    return Transition.objects.filter(instance=instance, name=name).latest("id")


@pytest.mark.parametrize("reason", ["", "   "])
def test_every_override_needs_a_reason(dt_testing, admin_user, reason):
    instance = start()
    with pytest.raises(FormInvalid) as caught:
        overrides.phase_skip(instance_id=instance.pk, phase_id="planning", user=admin_user, reason=reason)
    assert list(caught.value.extra["errors"]) == ["reason"]
    assert run_of(instance, "planning").state == PhaseState.ACTIVE


@pytest.mark.parametrize(
    "call",
    [
        lambda i, u: overrides.phase_skip(instance_id=i, phase_id="planning", user=u, reason="r"),
        lambda i, u: overrides.phase_force_complete(instance_id=i, phase_id="planning", user=u, reason="r"),
        lambda i, u: overrides.phase_reassign(
            instance_id=i, phase_id="planning", user=u, assignee=None, reason="r"
        ),
        lambda i, u: overrides.instance_suspend(instance_id=i, user=u, reason="r"),
        lambda i, u: overrides.instance_cancel(instance_id=i, user=u, reason="r"),
    ],
)
def test_overrides_need_the_custom_permission(dt_testing, people, call):
    instance = start()
    for who in ("manager", "tester", "staff"):
        with pytest.raises(PermissionDenied):
            call(instance.pk, people[who])


def test_force_complete_records_the_administrator_reason_and_change(dt_testing, people, admin_user):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    overrides.phase_force_complete(
        instance_id=instance.pk,
        phase_id="planning",
        user=admin_user,
        reason="plan agreed by phone",
        data={"plan_url": PLAN_URL},
    )
    run = run_of(instance, "planning")
    assert (run.state, run.outcome, run.data, run.completed_by) == (
        "completed",
        "done",
        {"plan_url": PLAN_URL},
        admin_user,
    )
    row = last(instance, "force_complete")
    assert (row.actor, row.reason, row.source, row.target) == (
        admin_user,
        "plan agreed by phone",
        "active",
        "completed",
    )
    assert row.metadata["before"]["assignee"] == "tester" and row.metadata["before"]["state"] == "active"
    assert row.metadata["after"] == {"state": "completed", "outcome": "done", "data": {"plan_url": PLAN_URL}}
    assert states(instance)["scoping"] == "active"


def test_force_complete_checks_the_data_against_the_form(dt_testing, admin_user):
    instance = start()
    with pytest.raises(FormInvalid) as caught:
        overrides.phase_force_complete(
            instance_id=instance.pk, phase_id="planning", user=admin_user, reason="r", data={"plan_url": 5}
        )
    assert list(caught.value.extra["errors"]) == ["plan_url"]


def test_force_complete_with_a_rework_outcome_reopens(dt_testing, people, admin_user):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    overrides.phase_force_complete(
        instance_id=instance.pk, phase_id="scoping", user=admin_user, reason="plan is wrong", outcome="rework"
    )
    assert run_of(instance, "planning").round == 2
    assert states(instance)["planning"] == "active"


def test_force_complete_of_a_finished_phase_is_refused(dt_testing, people, admin_user):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    with pytest.raises(TransitionRejected, match="completed"):
        overrides.phase_force_complete(
            instance_id=instance.pk, phase_id="planning", user=admin_user, reason="again"
        )


def test_skip_skips_the_phase_and_those_that_only_wait_for_it(dt_testing, people, admin_user):
    instance = start()
    data = {"plan_url": PLAN_URL}
    human.phase_complete(instance_id=instance.pk, phase_id="planning", user=people["tester"], data=data)
    human.phase_complete(
        instance_id=instance.pk, phase_id="scoping", user=people["tester"], outcome="approved"
    )
    overrides.phase_skip(
        instance_id=instance.pk, phase_id="data_provider_id", user=admin_user, reason="providers are known"
    )
    assert states(instance)["data_provider_id"] == "skipped"
    assert states(instance)["request_info"] == "pending"  # still waits for sample selection, then runs
    row = Transition.objects.get(instance=instance, phase_id="data_provider_id", name="skip")
    assert (row.actor, row.reason, row.source) == (admin_user, "providers are known", "active")


def test_reassign_can_hand_a_phase_to_someone_without_the_role_who_may_then_complete_it(
    dt_testing, people, admin_user
):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    overrides.phase_reassign(
        instance_id=instance.pk,
        phase_id="planning",
        user=admin_user,
        assignee=people["outsider"],
        reason="contractor",
    )
    row = last(instance, "reassign")
    assert row.metadata["before"] == {"assignee": "tester"} and row.metadata["after"] == {
        "assignee": "outsider"
    }
    assert row.metadata["override"] is True
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["outsider"], data={"plan_url": PLAN_URL}
    )
    assert run_of(instance, "planning").completed_by == people["outsider"]


def test_extend_sla_moves_the_due_time(dt_testing, admin_user):
    instance = start()
    before = run_of(instance, "planning").due_at
    new_due = timezone.now() + timedelta(days=30)
    overrides.phase_sla_extend(
        instance_id=instance.pk, phase_id="planning", user=admin_user, due_at=new_due, reason="holiday season"
    )
    run = run_of(instance, "planning")
    assert run.due_at == new_due and run.at_risk_at is not None and run.at_risk_at < new_due
    row = last(instance, "sla_extend")
    assert row.metadata["before"]["due_at"] == before.isoformat()
    assert row.metadata["after"]["due_at"] == new_due.isoformat()


def test_extend_sla_refuses_a_time_in_the_past(dt_testing, admin_user):
    instance = start()
    with pytest.raises(FormInvalid) as caught:
        overrides.phase_sla_extend(
            instance_id=instance.pk,
            phase_id="planning",
            user=admin_user,
            due_at=timezone.now() - timedelta(hours=1),
            reason="oops",
        )
    assert list(caught.value.extra["errors"]) == ["due_at"]


def test_extend_sla_refuses_an_earlier_due_time(dt_testing, admin_user):
    instance = start()
    current = run_of(instance, "planning").due_at
    with pytest.raises(FormInvalid) as caught:
        overrides.phase_sla_extend(
            instance_id=instance.pk,
            phase_id="planning",
            user=admin_user,
            due_at=current - timedelta(hours=1),
            reason="bring it forward",
        )
    assert list(caught.value.extra["errors"]) == ["due_at"]
    assert "current due time" in caught.value.extra["errors"]["due_at"][0]
    assert run_of(instance, "planning").due_at == current


def test_edit_data_validates_and_records_before_and_after(dt_testing, people, admin_user):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    with pytest.raises(FormInvalid):
        overrides.phase_data_edit(
            instance_id=instance.pk, phase_id="planning", user=admin_user, data={}, reason="typo"
        )
    fixed = {"plan_url": PLAN_URL + "-v2", "notes": "corrected link"}
    overrides.phase_data_edit(
        instance_id=instance.pk, phase_id="planning", user=admin_user, data=fixed, reason="typo"
    )
    assert run_of(instance, "planning").data == fixed
    row = last(instance, "data_edit")
    assert row.metadata["before"] == {"data": {"plan_url": PLAN_URL}} and row.metadata["after"] == {
        "data": fixed
    }


def test_edit_data_of_an_open_phase_is_refused(dt_testing, admin_user):
    instance = start()
    with pytest.raises(TransitionRejected):
        overrides.phase_data_edit(
            instance_id=instance.pk,
            phase_id="planning",
            user=admin_user,
            data={"plan_url": PLAN_URL},
            reason="x",
        )


def test_reopen_resets_the_phase_and_those_after_it(dt_testing, people, admin_user):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    reset = overrides.phase_reopen(
        instance_id=instance.pk, phase_id="planning", user=admin_user, reason="new scope"
    )
    assert reset == ["planning", "scoping"]
    assert states(instance)["planning"] == "active" and states(instance)["scoping"] == "pending"


def test_instance_suspend_resume_cancel(dt_testing, admin_user):
    instance = start()
    overrides.instance_suspend(instance_id=instance.pk, user=admin_user, reason="audit")
    instance.refresh_from_db()
    assert instance.state == InstanceState.SUSPENDED
    with pytest.raises(TransitionRejected):
        overrides.instance_suspend(instance_id=instance.pk, user=admin_user, reason="twice")
    overrides.instance_resume(instance_id=instance.pk, user=admin_user, reason="audit done")
    overrides.instance_cancel(instance_id=instance.pk, user=admin_user, reason="report withdrawn")
    instance.refresh_from_db()
    assert instance.state == InstanceState.CANCELLED
    reasons = list(
        Transition.objects.filter(instance=instance, phase_run__isnull=True)
        .exclude(name="start")
        .exclude(name__startswith="override_")
        .values_list("name", "reason", "actor_label")
    )
    assert reasons == [
        ("suspend", "audit", "staff"),
        ("resume", "audit done", "staff"),
        ("cancel", "report withdrawn", "staff"),
    ]
    # each override is also one row marked as an override, with the states it changed before and after
    summaries = Transition.objects.filter(instance=instance, name__startswith="override_").order_by("id")
    assert [row.name for row in summaries] == ["override_suspend", "override_resume", "override_cancel"]
    assert all(row.metadata["override"] for row in summaries)
    cancel = summaries.last()
    assert cancel.metadata["before"]["instance"] == "running"
    assert cancel.metadata["after"]["instance"] == "cancelled"
    assert (
        cancel.metadata["before"]["planning"] == "active"
        and cancel.metadata["after"]["planning"] == "cancelled"
    )


def test_instance_retry_of_a_running_instance_is_refused(dt_testing, admin_user):
    instance = start()
    with pytest.raises(TransitionRejected):
        overrides.instance_retry(instance_id=instance.pk, user=admin_user, reason="why not")
