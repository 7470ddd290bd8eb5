"""Human work through the services: claim, release, assign, complete with form data, rework, comment."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import pytest

from engine.errors import Conflict, FormInvalid, PermissionDenied, TransitionRejected
from engine.models import Comment, Event, PhaseState, RoleAssignment, SlaStatus, Transition
from engine.runtime import human
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    db_clock,
    dt_testing,
    fast_passwords,
    people,
    run_of,
    start,
    states,
)

pytestmark = pytest.mark.django_db


def complete(instance, phase_id, user, **kwargs):
    return human.phase_complete(instance_id=instance.pk, phase_id=phase_id, user=user, **kwargs)


def finish_through_scoping(instance, people):
    complete(instance, "planning", people["tester"], data={"plan_url": PLAN_URL})
    complete(instance, "scoping", people["tester"], outcome="approved", data={"scope": "all of it"})


def test_claim_gives_the_phase_to_the_user_and_records_it(dt_testing, people):
    instance = start()
    run = human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    assert run_of(instance, "planning").assignee == people["tester"]
    assert run.claimed_at is not None
    row = Transition.objects.get(instance=instance, name="claim")
    assert (row.actor, row.source, row.target) == (people["tester"], "active", "active")
    assert row.metadata == {"before": {"assignee": None}, "after": {"assignee": "tester"}}


def test_claiming_a_phase_you_hold_changes_nothing(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    assert Transition.objects.filter(instance=instance, name="claim").count() == 1


def test_claim_of_a_phase_held_by_someone_else_is_a_conflict_naming_the_holder(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    with pytest.raises(Conflict) as caught:
        human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester2"])
    assert caught.value.extra["holder"] == "tester"
    assert "held by tester" in caught.value.message


def test_claim_of_a_pending_phase_is_rejected(dt_testing, people):
    instance = start()
    with pytest.raises(TransitionRejected, match="pending"):
        human.phase_claim(instance_id=instance.pk, phase_id="scoping", user=people["tester"])


def test_release_makes_the_phase_free_again(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    human.phase_release(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    run = run_of(instance, "planning")
    assert run.assignee is None and run.claimed_at is None
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester2"])
    assert run_of(instance, "planning").assignee == people["tester2"]


def test_release_of_an_unclaimed_phase_is_rejected(dt_testing, people):
    instance = start()
    with pytest.raises(TransitionRejected, match="nobody holds it"):
        human.phase_release(instance_id=instance.pk, phase_id="planning", user=people["tester"])


def test_a_manager_reassigns_a_claimed_phase(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    human.phase_assign(
        instance_id=instance.pk,
        phase_id="planning",
        user=people["manager"],
        assignee=people["tester2"],
        reason="tester is on leave",
    )
    assert run_of(instance, "planning").assignee == people["tester2"]
    row = Transition.objects.get(instance=instance, name="assign")
    assert row.actor == people["manager"] and row.reason == "tester is on leave"
    assert row.metadata == {"before": {"assignee": "tester"}, "after": {"assignee": "tester2"}}


def test_assigning_to_someone_without_the_role_is_a_form_error(dt_testing, people):
    instance = start()
    with pytest.raises(FormInvalid) as caught:
        human.phase_assign(
            instance_id=instance.pk, phase_id="planning", user=people["manager"], assignee=people["cdo"]
        )
    assert list(caught.value.extra["errors"]) == ["assignee"]
    assert run_of(instance, "planning").assignee is None


def test_complete_stores_outcome_data_and_who_and_opens_the_next_phase(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    complete(instance, "planning", people["tester"], data={"plan_url": PLAN_URL, "notes": "v1"})
    planning = run_of(instance, "planning")
    assert planning.state == PhaseState.COMPLETED
    assert (planning.outcome, planning.data) == ("done", {"plan_url": PLAN_URL, "notes": "v1"})
    assert planning.completed_by == people["tester"]
    assert planning.sla_status == SlaStatus.MET
    scoping = run_of(instance, "scoping")
    assert scoping.state == PhaseState.ACTIVE and scoping.due_at is not None
    assert scoping.at_risk_at is not None and scoping.sla_status == SlaStatus.ON_SCHEDULE
    submit = Transition.objects.get(instance=instance, name="submit")
    assert submit.metadata["data"] == {"plan_url": PLAN_URL, "notes": "v1"}


def test_complete_without_a_claim_claims_it_on_the_way(dt_testing, people):
    instance = start()
    complete(instance, "planning", people["tester"], data={"plan_url": PLAN_URL})
    names = list(
        Transition.objects.filter(instance=instance, phase_id="planning").values_list("name", flat=True)
    )
    assert names[-2:] == ["claim", "submit"]


def test_invalid_form_data_saves_nothing_and_names_each_field(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    before = Transition.objects.count()
    with pytest.raises(FormInvalid) as caught:
        complete(instance, "planning", people["tester"], data={"plan_url": "not a link", "notes": 3})
    uri = 'Test plan "not a link" is not a link with its scheme (e.g. https://example.com/plan)'
    assert caught.value.extra["errors"] == {
        "notes": ["Notes must be a string, not an integer"],
        "plan_url": [uri],
    }
    assert caught.value.extra["problems"] == [
        {"path": "/notes", "message": "Notes must be a string, not an integer"},
        {"path": "/plan_url", "message": uri},
    ]
    assert run_of(instance, "planning").state == PhaseState.ACTIVE
    assert Transition.objects.count() == before


def test_a_missing_required_field_is_reported_beside_it(dt_testing, people):
    instance = start()
    with pytest.raises(FormInvalid) as caught:
        complete(instance, "planning", people["tester"], data={})
    assert caught.value.extra["errors"] == {"plan_url": ["Test plan is required"]}
    assert caught.value.extra["problems"] == [{"path": "/plan_url", "message": "Test plan is required"}]


def test_an_outcome_the_phase_does_not_have_is_refused(dt_testing, people):
    instance = start()
    complete(instance, "planning", people["tester"], data={"plan_url": PLAN_URL})
    with pytest.raises(FormInvalid) as caught:
        complete(instance, "scoping", people["tester"], outcome="maybe", data={})
    assert list(caught.value.extra["errors"]) == ["outcome"]
    with pytest.raises(FormInvalid):  # two outcomes: one must be chosen
        complete(instance, "scoping", people["tester"], data={})


def test_rework_outcome_reopens_planning_and_keeps_the_first_round_in_history(dt_testing, people):
    instance = start()
    complete(instance, "planning", people["tester"], data={"plan_url": PLAN_URL})
    complete(instance, "scoping", people["tester"], outcome="rework", data={"scope": "too narrow"})
    planning, scoping = run_of(instance, "planning"), run_of(instance, "scoping")
    assert (planning.state, planning.round, planning.data, planning.assignee) == ("active", 2, None, None)
    assert (scoping.state, scoping.round) == ("pending", 2)
    first = Transition.objects.get(instance=instance, phase_id="planning", name="submit")
    assert first.round == 1 and first.metadata["data"] == {"plan_url": PLAN_URL}
    assert Transition.objects.filter(instance=instance, phase_id="scoping", name="submit", round=1).exists()
    # the second round goes through as normal
    complete(instance, "planning", people["tester"], data={"plan_url": PLAN_URL + "/v2"})
    assert run_of(instance, "scoping").state == PhaseState.ACTIVE


def test_approved_scoping_opens_both_parallel_phases_for_their_roles(dt_testing, people):
    instance = start()
    finish_through_scoping(instance, people)
    assert states(instance)["sample_selection"] == "active"
    assert states(instance)["data_provider_id"] == "active"
    with pytest.raises(PermissionDenied):
        human.phase_claim(instance_id=instance.pk, phase_id="data_provider_id", user=people["tester"])
    human.phase_claim(instance_id=instance.pk, phase_id="data_provider_id", user=people["cdo"])


def test_the_whole_data_testing_cycle_runs_to_completion(dt_testing, people):
    instance = start()
    finish_through_scoping(instance, people)
    complete(instance, "data_provider_id", people["cdo"], data={"providers": ["Finance", "Risk"]})
    assert states(instance)["request_info"] == "pending"  # waits for sample selection too
    complete(instance, "sample_selection", people["tester"], data={"sample_size": 25, "method": "random"})
    complete(instance, "request_info", people["tester"], data={})
    complete(instance, "testing", people["tester"], data={"all_passed": True, "error_rate": 0.0})
    complete(instance, "observations", people["manager"], data={"observations": "clean", "severity": "low"})
    instance.refresh_from_db()
    assert instance.state == "completed"
    assert set(states(instance).values()) == {"completed"}


def test_nothing_can_be_done_on_a_suspended_instance(dt_testing, people):
    from engine.runtime.actors import Actor
    from engine.runtime.operations import suspend_instance as instance_suspend

    instance = start()
    instance_suspend(instance_id=instance.pk, actor=Actor.of(people["admin"]), reason="audit")
    with pytest.raises(TransitionRejected, match="suspended"):
        human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])


def test_an_instance_role_assignment_lets_a_user_work_on_that_instance_only(dt_testing, people):
    instance, other = start(), start(params={"report_id": 8})
    RoleAssignment.objects.create(instance=instance, role="tester", user=people["outsider"])
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["outsider"])
    with pytest.raises(PermissionDenied):
        human.phase_claim(instance_id=other.pk, phase_id="planning", user=people["outsider"])


def test_comment_is_stored_and_recorded(dt_testing, people):
    instance = start()
    comment = human.comment_add(
        instance_id=instance.pk, user=people["cdo"], body="  Who owns this?  ", phase_id="planning"
    )
    assert Comment.objects.get().body == "Who owns this?"
    row = Transition.objects.get(instance=instance, name="comment")
    assert row.phase_id == "planning" and row.metadata == {"comment_id": comment.pk}
    with pytest.raises(FormInvalid):
        human.comment_add(instance_id=instance.pk, user=people["cdo"], body="   ")


def test_each_action_emits_an_outbox_event(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    complete(instance, "planning", people["tester"], data={"plan_url": PLAN_URL})
    names = list(Event.objects.filter(instance=instance).values_list("name", flat=True))
    assert "phase.claim" in names and "phase.completed" in names


def test_only_people_who_may_see_the_instance_may_comment(dt_testing, people):
    instance = start()
    with pytest.raises(PermissionDenied):
        human.comment_add(instance_id=instance.pk, user=people["outsider"], body="hello")
    assert not Comment.objects.exists()
