"""A message for a run made ready carries what its sender knew of the run (a claim hint), so that the worker
claims it in one round trip. Every value of the hint fences the claim: one that no longer holds claims
nothing by itself, and the worker reads the run and decides as for a message without a hint."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine.models import Event, PhaseRun, Transition
from engine.runtime.actors import Actor
from engine.runtime.attempts import attempt_claim, attempt_run
from engine.runtime.dispatch import AttemptRef
from engine.runtime.operations import suspend_instance
from engine.runtime.start import start_instance
from tests.support.engine import publish, reload, template

# The one-trip claim runs outside any transaction of the caller's (a worker's task), as here.
pytestmark = pytest.mark.django_db(transaction=True)

WORKER = Actor(label="worker:hints")


def fan_out(key: str) -> dict:
    branches = [{"id": b, "type": "task", "activity": "test.echo", "depends_on": ["a"]} for b in ("b", "c")]
    return template(key, {"id": "a", "type": "task", "activity": "test.echo"}, *branches)


def claims_of(run_id: int) -> list[dict]:
    return list(
        Transition.objects.filter(phase_run_id=run_id, name="claim_attempt").values("metadata", "actor_label")
    )


def first_ref(broker, key: str) -> tuple[AttemptRef, object]:
    publish(fan_out(key))
    instance = start_instance(key, {})  # compiles the plan: this process can claim by hints from now on
    (ref,) = broker.sent
    broker.sent.clear()
    return ref, instance


def test_every_run_made_ready_is_sent_with_its_hint(broker):
    ref, instance = first_ref(broker, "hinted")
    assert ref.hint is not None
    assert (ref.hint.instance_id, ref.hint.phase_id, ref.hint.round, ref.hint.attempt) == (
        str(instance.pk),
        "a",
        1,
        0,
    )
    assert ref.hint.version_id == instance.version_id
    assert ref.hint.checksum == instance.version.checksum
    assert attempt_run(ref, actor=WORKER) == 1
    assert {r.hint.phase_id for r in broker.sent} == {"b", "c"}
    assert all(r.hint and r.hint.attempt == 0 and r.hint.round == 1 for r in broker.sent)


@pytest.mark.requires_postgres
def test_a_hinted_claim_is_the_lock_and_one_statement_with_its_journal(broker):
    ref, instance = first_ref(broker, "one_trip")
    attempt_run(ref, actor=WORKER)  # a, which makes b and c ready
    branch = broker.sent[0]
    with CaptureQueriesContext(connection) as captured:
        claim = attempt_claim(branch, actor=WORKER)
    assert claim is not None
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) == 2, statements  # the lock, then the claim with its audit row and event
    assert "FOR UPDATE OF" in statements[0] and statements[1].startswith("WITH c AS (UPDATE")
    run = PhaseRun.objects.get(pk=branch.phase_run_id)
    assert (run.state, run.attempt, run.lease_token) == ("active", 1, claim.token)
    assert run.lease_owner == WORKER.label
    assert run.lease_expires_at > run.started_at
    assert claims_of(run.pk) == [{"metadata": {"attempt": 1}, "actor_label": WORKER.label}]
    events = Event.objects.filter(instance=instance, name="phase.active", payload__phase_id=run.phase_id)
    assert events.count() == 1
    assert claim.instance.pk == instance.pk and claim.spec.id == run.phase_id

    # the same message again (a duplicate delivery) takes nothing and writes nothing
    assert attempt_claim(branch, actor=WORKER) is None
    assert len(claims_of(run.pk)) == 1


@pytest.mark.parametrize(
    "stale",
    [{"attempt": 1}, {"round": 2}, {"checksum": "0" * 64}, {"phase_id": "c"}, {"instance_id": "0" * 32}],
)
def test_a_hint_that_no_longer_holds_falls_back_to_reading_the_run(broker, stale):
    ref, _ = first_ref(broker, "stale")
    with CaptureQueriesContext(connection) as captured:
        claim = attempt_claim(replace(ref, hint=replace(ref.hint, **stale)), actor=WORKER)
    assert claim is not None  # claimed all the same, by reading the run first
    if connection.vendor == "postgresql":  # the hinted claim took nothing: the run was read in a transaction
        assert "BEGIN" in [q["sql"] for q in captured.captured_queries]
    run = PhaseRun.objects.get(pk=ref.phase_run_id)
    assert (run.state, run.attempt, run.lease_token) == ("active", 1, claim.token)
    assert claims_of(run.pk) == [{"metadata": {"attempt": 1}, "actor_label": WORKER.label}]


def test_a_hinted_message_for_a_suspended_instance_claims_nothing(broker):
    ref, instance = first_ref(broker, "suspended")
    suspend_instance(instance_id=instance.pk, actor=Actor(label="operator"), reason="maintenance")
    assert attempt_claim(ref, actor=WORKER) is None
    assert PhaseRun.objects.get(pk=ref.phase_run_id).state == "ready"
    assert claims_of(ref.phase_run_id) == []
    assert reload(instance).state == "suspended"


def test_an_instance_runs_to_the_end_on_hinted_messages(broker):
    ref, instance = first_ref(broker, "to_the_end")
    broker.sent.append(ref)
    broker.drain()
    assert reload(instance).state == "completed"
    for run in PhaseRun.objects.filter(instance=instance):
        assert (run.state, run.attempt, len(claims_of(run.pk))) == ("completed", 1, 1)
