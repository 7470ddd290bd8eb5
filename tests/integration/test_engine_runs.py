"""Instances run in-process: tasks, retries, dead letters, gates, choices, maps, waits, events."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from engine import events
from engine.errors import NotFound, ParamsInvalid
from engine.events import on_event
from engine.models import DeadLetter, GateResult, ItemRun, PhaseRun, Transition
from engine.runtime.actors import Actor
from engine.runtime.dispatch import AttemptRef
from engine.runtime.start import start_instance
from tests.support.engine import publish, reload, states, template

pytestmark = pytest.mark.django_db(transaction=True)


def chain(key: str, length: int, activity: str = "test.echo", **phase: object) -> dict:
    phases = [{"id": "p0", "type": "task", "activity": activity, **phase}]
    phases += [
        {"id": f"p{i}", "type": "task", "activity": activity, "depends_on": [f"p{i - 1}"]}
        for i in range(1, length)
    ]
    return template(key, *phases)


def test_chain_of_tasks_runs_to_completion_and_every_transition_is_audited(broker):
    publish(chain("chain", 3))
    instance = start_instance("chain", {}, actor=Actor.system("test"))
    assert states(instance) == {"p0": "ready", "p1": "pending", "p2": "pending"}
    broker.drain()
    instance = reload(instance)
    assert instance.state == "completed"
    assert states(instance) == {"p0": "completed", "p1": "completed", "p2": "completed"}
    trail = list(
        Transition.objects.filter(instance=instance).values_list("phase_id", "name", "source", "target")
    )
    assert trail[0] == ("", "start", "created", "running")
    for phase in ("p0", "p1", "p2"):
        assert [t[1:] for t in trail if t[0] == phase] == [
            ("make_ready", "pending", "ready"),
            ("claim_attempt", "ready", "active"),
            ("complete", "active", "completed"),
        ]
    assert trail[-1] == ("", "complete", "running", "completed")
    actors = set(Transition.objects.filter(instance=instance).values_list("actor_label", flat=True))
    assert actors == {"system:test", "worker:test:1"}


def test_worker_runs_the_next_ready_attempt_itself_without_a_broker_round_trip(broker):
    publish(chain("local", 5))
    instance = start_instance("local", {})
    assert len(broker.sent) == 1
    broker.drain()
    assert reload(instance).state == "completed"
    assert broker.sent == []  # the four later phases never went through the broker


def test_input_is_built_from_cel_over_params_and_earlier_outputs(broker):
    publish(
        template(
            "inputs",
            {"id": "first", "type": "task", "activity": "test.echo", "input": {"n": "params.n * 2"}},
            {
                "id": "second",
                "type": "task",
                "activity": "test.echo",
                "depends_on": ["first"],
                "input": {"prev": "steps.first.output.n + 1", "key": "instance.business_key"},
            },
        )
    )
    instance = start_instance("inputs", {"n": 20}, business_key="b-1")
    broker.drain()
    outputs = dict(PhaseRun.objects.filter(instance=instance).values_list("phase_id", "output"))
    assert outputs["first"] == {"n": 40, "attempt": 1}
    assert outputs["second"] == {"prev": 41, "key": "b-1", "attempt": 1}


def test_params_are_validated_against_the_params_schema():
    publish(
        chain("typed", 1)
        | {"params": {"type": "object", "required": ["week"], "properties": {"week": {"type": "string"}}}}
    )
    with pytest.raises(ParamsInvalid) as caught:
        start_instance("typed", {"week": 7})
    # the designer's wording, the JSON pointer kept
    assert caught.value.extra["errors"] == [
        {"path": "/week", "message": "week must be a string, not an integer"}
    ]
    with pytest.raises(ParamsInvalid) as caught:
        start_instance("typed", {})
    # a missing field is pointed at, so the start page shows it beside the field
    assert caught.value.extra["errors"] == [{"path": "/week", "message": "week is required"}]


def test_unknown_template_is_not_found():
    with pytest.raises(NotFound):
        start_instance("nope", {})


def test_starting_twice_with_the_same_business_key_gives_one_instance(broker):
    publish(chain("idem", 1))
    first = start_instance("idem", {}, business_key="2026-W47")
    second = start_instance("idem", {}, business_key="2026-W47")
    assert first.pk == second.pk
    broker.drain()
    assert reload(first).state == "completed"
    third = start_instance("idem", {}, business_key="2026-W47")
    assert third.pk != first.pk  # the first one finished: a new run of the same week may start


def test_transient_failures_retry_with_exponential_backoff_stored_as_due_times(broker):
    retry = {"max_attempts": 4, "initial_interval": "PT10S", "backoff": 3.0, "max_interval": "PT1M"}
    publish(
        template(
            "flaky",
            {
                "id": "fetch",
                "type": "task",
                "activity": "test.flaky",
                "retry": retry,
                "input": {"fail_times": "3"},
            },
        )
    )
    instance = start_instance("flaky", {})
    delays = []
    for _ in range(3):
        broker.drain()
        run = PhaseRun.objects.get(instance=instance)
        assert run.state == "waiting"
        failed_at = datetime.fromisoformat(run.error["at"])
        delays.append((run.next_run_at - failed_at).total_seconds())
        assert broker.sent[-1].countdown == pytest.approx(delays[-1])
        PhaseRun.objects.filter(pk=run.pk).update(next_run_at=failed_at)  # let the retry fall due
        broker.drain(include_delayed=True)
        if PhaseRun.objects.get(pk=run.pk).state != "waiting":
            break
    assert delays == [10.0, 30.0, 60.0]  # 10, 10*3, min(10*9, 60)
    run = PhaseRun.objects.get(instance=instance)
    assert (run.state, run.attempt, run.output) == ("completed", 4, {"ok": True, "attempt": 4})
    assert reload(instance).state == "completed"


def test_retry_that_is_not_due_yet_is_not_claimed(broker):
    publish(
        template(
            "early",
            {
                "id": "fetch",
                "type": "task",
                "activity": "test.flaky",
                "retry": {"max_attempts": 2, "initial_interval": "PT1H"},
                "input": {"fail_times": "1"},
            },
        )
    )
    instance = start_instance("early", {})
    broker.drain()
    broker.drain(include_delayed=True)  # the hint arrives early: the database says it is not due
    assert PhaseRun.objects.get(instance=instance).state == "waiting"


def test_connection_errors_count_as_transient(broker):
    publish(
        template(
            "conn",
            {
                "id": "fetch",
                "type": "task",
                "activity": "test.flaky",
                "retry": {"max_attempts": 2, "initial_interval": "PT1S"},
                "input": {"fail_times": "1", "kind": '"connection"'},
            },
        )
    )
    instance = start_instance("conn", {})
    broker.drain()
    run = PhaseRun.objects.get(instance=instance)
    assert (run.state, run.error["category"], run.error["type"]) == (
        "waiting",
        "transient",
        "ConnectionError",
    )


def test_rate_limit_retry_after_overrides_the_backoff(broker):
    publish(
        template(
            "rl",
            {
                "id": "call",
                "type": "task",
                "activity": "test.flaky",
                "retry": {"max_attempts": 3, "initial_interval": "PT1S", "retry_on": ["rate_limit"]},
                "input": {"fail_times": "1", "kind": '"rate_limit"', "retry_after": "120"},
            },
        )
    )
    instance = start_instance("rl", {})
    broker.drain()
    run = PhaseRun.objects.get(instance=instance)
    assert run.error["category"] == "rate_limit"
    assert (run.next_run_at - datetime.fromisoformat(run.error["at"])) == timedelta(seconds=120)


def test_data_error_is_never_retried_goes_to_the_dead_letter_queue_and_fails_the_instance(broker):
    publish(
        template(
            "bad",
            {
                "id": "load",
                "type": "task",
                "activity": "test.flaky",
                "retry": {"max_attempts": 5, "retry_on": ["transient", "data"]},
                "input": {"fail_times": "1", "kind": '"data"'},
            },
            {"id": "after", "type": "task", "activity": "test.echo", "depends_on": ["load"]},
        )
    )
    instance = start_instance("bad", {})
    broker.drain()
    instance = reload(instance)
    assert instance.state == "failed"
    assert instance.error["phase_id"] == "load"
    assert states(instance) == {"load": "failed", "after": "pending"}
    letter = DeadLetter.objects.get(instance=instance)
    assert (letter.phase_id, letter.category, letter.message, letter.attempt) == (
        "load",
        "data",
        "row 7 has no price",
        1,
    )


def test_exhausted_attempts_go_to_the_dead_letter_queue(broker):
    publish(
        template(
            "ex",
            {
                "id": "x",
                "type": "task",
                "activity": "test.flaky",
                "retry": {"max_attempts": 2, "initial_interval": "PT0S"},
                "input": {"fail_times": "5"},
            },
        )
    )
    instance = start_instance("ex", {})
    broker.drain()
    broker.drain(include_delayed=True)
    assert reload(instance).state == "failed"
    assert DeadLetter.objects.get(instance=instance).attempt == 2


def test_on_fail_continue_lets_the_instance_go_on(broker):
    publish(
        template(
            "cont",
            {
                "id": "optional",
                "type": "task",
                "activity": "test.flaky",
                "on_fail": "continue",
                "retry": {"max_attempts": 1},
                "input": {"fail_times": "1", "kind": '"system"'},
            },
            {"id": "main", "type": "task", "activity": "test.echo"},
            {"id": "report", "type": "task", "activity": "test.echo", "depends_on": ["optional", "main"]},
        )
    )
    instance = start_instance("cont", {})
    broker.drain()
    assert reload(instance).state == "completed"
    assert states(instance) == {"optional": "failed", "main": "completed", "report": "completed"}
    assert DeadLetter.objects.filter(instance=instance).count() == 1


def test_on_fail_suspend_waits_for_a_person(broker):
    publish(
        template(
            "sus",
            {
                "id": "enrich",
                "type": "task",
                "activity": "test.flaky",
                "on_fail": "suspend",
                "retry": {"max_attempts": 1},
                "input": {"fail_times": "1", "kind": '"data"'},
            },
        )
    )
    instance = start_instance("sus", {})
    broker.drain()
    assert reload(instance).state == "suspended"


def test_output_that_is_not_json_is_a_data_error(broker):
    publish(
        template("nj", {"id": "x", "type": "task", "activity": "test.not_json", "retry": {"max_attempts": 3}})
    )
    instance = start_instance("nj", {})
    broker.drain()
    run = PhaseRun.objects.get(instance=instance)
    assert (run.state, run.error["category"]) == ("failed", "data")


def test_input_expression_failing_at_run_time_is_a_data_error(broker):
    publish(
        template(
            "expr",
            {"id": "x", "type": "task", "activity": "test.echo", "input": {"v": "params.missing.deep"}},
        )
    )
    instance = start_instance("expr", {})
    broker.drain()
    run = PhaseRun.objects.get(instance=instance)
    assert (run.state, run.error["category"]) == ("failed", "data")
    assert "missing" in run.error["message"]


def test_a_retried_attempt_sees_the_last_checkpoint(broker):
    publish(
        template(
            "ckpt",
            {
                "id": "x",
                "type": "task",
                "activity": "test.resume",
                "retry": {"max_attempts": 2, "initial_interval": "PT0S"},
            },
        )
    )
    instance = start_instance("ckpt", {})
    broker.drain()
    broker.drain(include_delayed=True)
    run = PhaseRun.objects.get(instance=instance)
    assert run.output == {"resumed_from": 2, "attempt": 2}


def gated(check: str, **gate: object) -> dict:
    return template(
        "gated",
        {"id": "ingest", "type": "task", "activity": "test.echo", "input": {"rows": "params.rows"}},
        {
            "id": "quality",
            "type": "gate",
            "depends_on": ["ingest"],
            "check": check,
            "message": "too few rows",
            "action": "RETRY_INGESTION",
            **gate,
        },
        {"id": "load", "type": "task", "activity": "test.echo", "depends_on": ["quality"]},
    )


def test_gate_that_passes_lets_the_instance_go_on_and_is_recorded(broker):
    publish(gated("steps.ingest.output.rows > 10"))
    instance = start_instance("gated", {"rows": 50})
    broker.drain()
    assert reload(instance).state == "completed"
    result = GateResult.objects.get(instance=instance)
    assert result.passed
    assert result.values == {"steps.ingest.output": {"rows": 50, "attempt": 1}}


def test_gate_failure_stops_the_instance_before_the_phases_after_it(broker):
    publish(gated("steps.ingest.output.rows > 10"))
    instance = start_instance("gated", {"rows": 3})
    broker.drain()
    instance = reload(instance)
    assert instance.state == "failed"
    assert states(instance) == {"ingest": "completed", "quality": "failed", "load": "pending"}
    result = GateResult.objects.get(instance=instance)
    assert (result.passed, result.reason, result.action) == (False, "too few rows", "RETRY_INGESTION")
    assert result.values == {"steps.ingest.output": {"rows": 3, "attempt": 1}}
    quality = PhaseRun.objects.get(instance=instance, phase_id="quality")
    assert quality.output == {"passed": False, "reason": "too few rows", "action": "RETRY_INGESTION"}
    assert not DeadLetter.objects.filter(instance=instance).exists()


def test_gate_with_on_fail_suspend_suspends(broker):
    publish(gated("steps.ingest.output.rows > 10", on_fail="suspend"))
    instance = start_instance("gated", {"rows": 3})
    broker.drain()
    assert reload(instance).state == "suspended"


def test_gate_backed_by_an_activity(broker):
    publish(
        template(
            "agate",
            {
                "id": "check",
                "type": "gate",
                "activity": "test.gate",
                "input": {"passed": "params.ok"},
                "action": "FIX",
            },
            {"id": "next", "type": "task", "activity": "test.echo", "depends_on": ["check"]},
        )
    )
    good = start_instance("agate", {"ok": True})
    bad = start_instance("agate", {"ok": False})
    broker.drain()
    assert reload(good).state == "completed"
    assert reload(bad).state == "failed"
    result = GateResult.objects.get(instance=bad)
    assert (result.passed, result.reason, result.action, result.values) == (
        False,
        "row count checked",
        "CHECK_ROWS",
        {"rows": 3},
    )


def test_choice_runs_the_first_true_branch_and_skips_the_rest(broker):
    publish(
        template(
            "choose",
            {
                "id": "mode",
                "type": "choice",
                "choices": [{"when": 'params.mode == "full"', "then": ["full"]}],
                "otherwise": ["incremental"],
            },
            {"id": "full", "type": "task", "activity": "test.echo", "depends_on": ["mode"]},
            {"id": "incremental", "type": "task", "activity": "test.echo", "depends_on": ["mode"]},
            {
                "id": "aggregate",
                "type": "task",
                "activity": "test.echo",
                "depends_on": ["full", "incremental"],
            },
        )
    )
    full = start_instance("choose", {"mode": "full"})
    other = start_instance("choose", {"mode": "incremental"})
    broker.drain()
    assert states(full) == {
        "mode": "completed",
        "full": "completed",
        "incremental": "skipped",
        "aggregate": "completed",
    }
    assert states(other) == {
        "mode": "completed",
        "full": "skipped",
        "incremental": "completed",
        "aggregate": "completed",
    }
    assert PhaseRun.objects.get(instance=full, phase_id="mode").output == {"chosen": ["full"]}


def mapped(**options: object) -> dict:
    return template(
        "mapped",
        {
            "id": "each",
            "type": "map",
            "items": "params.items",
            "activity": "test.flaky",
            "input": {"fail_times": "item.fail", "kind": '"data"', "index": "index"},
            **options,
        },
        {
            "id": "after",
            "type": "task",
            "activity": "test.echo",
            "depends_on": ["each"],
            "input": {"failed": "steps.each.output.failed"},
        },
    )


def test_map_runs_every_item_within_max_concurrency(broker):
    publish(mapped(max_concurrency=2))
    instance = start_instance("mapped", {"items": [{"fail": 0}] * 5})
    each = PhaseRun.objects.get(instance=instance, phase_id="each")
    assert (
        sorted(ItemRun.objects.filter(phase_run=each).values_list("state", flat=True))
        == ["pending"] * 3 + ["ready"] * 2
    )
    assert len(broker.sent) == 2
    broker.drain()
    assert reload(instance).state == "completed"
    each.refresh_from_db()
    assert each.output == {"results": [{"ok": True, "attempt": 1}] * 5, "failed": []}


def test_map_tolerates_failures_up_to_the_fraction_and_parks_failed_items(broker):
    publish(mapped(tolerated_failure=0.25))
    instance = start_instance("mapped", {"items": [{"fail": 0}, {"fail": 1}, {"fail": 0}, {"fail": 0}]})
    broker.drain()
    assert reload(instance).state == "completed"
    each = PhaseRun.objects.get(instance=instance, phase_id="each")
    assert each.output["failed"] == [1]
    assert each.output["results"][1] is None
    letter = DeadLetter.objects.get(instance=instance)
    assert letter.item_run.index == 1
    assert PhaseRun.objects.get(instance=instance, phase_id="after").output["failed"] == [1]


def test_map_fails_when_more_items_fail_than_tolerated(broker):
    publish(mapped(tolerated_failure=0.25))
    instance = start_instance("mapped", {"items": [{"fail": 1}, {"fail": 1}, {"fail": 0}, {"fail": 0}]})
    broker.drain()
    assert reload(instance).state == "failed"
    assert DeadLetter.objects.filter(instance=instance).count() == 2


def test_map_over_an_empty_list_completes_at_once(broker):
    publish(mapped())
    instance = start_instance("mapped", {"items": []})
    broker.drain()
    assert reload(instance).state == "completed"


def test_wait_for_a_signal_completes_with_its_payload(broker):
    from engine.runtime.signals import deliver_signal

    publish(
        template(
            "sig",
            {"id": "approval", "type": "wait", "signal": "approved", "timeout": "P1D"},
            {
                "id": "after",
                "type": "task",
                "activity": "test.echo",
                "depends_on": ["approval"],
                "input": {"by": "steps.approval.output.by"},
            },
        )
    )
    instance = start_instance("sig", {})
    assert states(instance)["approval"] == "waiting"
    delivery = deliver_signal(
        instance_id=instance.pk, name="approved", payload={"by": "ann"}, actor=Actor.system("t")
    )
    assert (delivery.completed, delivery.buffered) == (("approval",), False)
    broker.drain()
    assert reload(instance).state == "completed"
    assert PhaseRun.objects.get(instance=instance, phase_id="after").output == {"by": "ann", "attempt": 1}


def test_timer_wait_completes_when_due(broker):
    from engine.runtime.sweeps import due_work_dispatch

    publish(template("timer", {"id": "pause", "type": "wait", "duration": "PT1H"}))
    instance = start_instance("timer", {})
    due_work_dispatch()
    assert states(instance) == {"pause": "waiting"}
    PhaseRun.objects.filter(instance=instance).update(
        next_run_at=datetime(2000, 1, 1, tzinfo=instance.created_at.tzinfo)
    )
    due_work_dispatch()
    assert reload(instance).state == "completed"


def test_event_handlers_hear_about_transitions_after_commit(broker, monkeypatch):
    monkeypatch.setattr(events, "_handlers", defaultdict(list))  # leave the process's handlers as they were
    heard = []
    on_event("instance.completed")(lambda event: heard.append((event.name, event.payload["instance_id"])))
    publish(chain("evt", 1))
    instance = start_instance("evt", {})
    broker.drain()
    assert heard == [("instance.completed", str(instance.pk))]


CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "PRAGMA")


def counted(captured: CaptureQueriesContext) -> int:
    return sum(1 for query in captured.captured_queries if not query["sql"].startswith(CONTROL))


def test_advancing_one_phase_costs_the_same_queries_whatever_the_template_size(broker):
    def queries_for_one_step(length: int) -> int:
        publish(chain(f"size{length}", length))
        instance = start_instance(f"size{length}", {})
        ref = broker.sent.pop()
        from engine.runtime.attempts import attempt_run

        with CaptureQueriesContext(connection) as captured:
            attempt_run(ref, actor=Actor(label="worker:q"))
        assert states(instance)["p1"] == "ready"
        return counted(captured)

    # claim: lock the instance (reading the run and the database clock), then claim the run with a
    # conditional update and write its audit rows and outbox events in one statement (2); record: lock the
    # instance (and the clock), complete the run fenced by its lease token and read every phase's state, make
    # the next one ready, audit rows and outbox events (4). On SQLite the completion and the read, the claim
    # and the two journal inserts are statements of their own.
    expected = 6 if connection.vendor == "postgresql" else 10
    assert (queries_for_one_step(3), queries_for_one_step(60)) == (expected, expected)


def test_a_step_in_chain_mode_records_and_claims_the_next_in_one_transaction_of_three_queries(broker):
    """What a worker pays per step when it runs the next attempt itself: 3 queries (6 on SQLite)."""
    from engine.runtime.attempts import attempt_claim, execute, record_and_claim_next

    def queries_per_step(length: int) -> int:
        publish(chain(f"steps{length}", length))
        instance = start_instance(f"steps{length}", {})
        claim = attempt_claim(broker.sent.pop(), actor=Actor(label="worker:c"))
        output, error = execute(claim)
        with CaptureQueriesContext(connection) as captured:
            accepted, following = record_and_claim_next(
                claim, output=output, error=error, actor=Actor(label="worker:c"), claim_next=True
            )
        assert accepted and following is not None and following.spec.id == "p1"
        assert states(instance)["p1"] == "active" and not broker.sent
        return counted(captured)

    # lock the instance; complete + read the states; claim the next straight from pending together with the
    # journal's inserts (one statement on PostgreSQL; on SQLite the claim and each insert are their own)
    expected = 3 if connection.vendor == "postgresql" else 6
    assert (queries_per_step(7), queries_per_step(60)) == (expected, expected)


def test_starting_an_instance_costs_four_queries_whatever_the_template_size(broker):
    def queries_to_start(length: int, **kwargs: object) -> int:
        publish(chain(f"start{length}", length))
        start_instance(f"start{length}", {})  # the plan is compiled and cached by the first start
        with CaptureQueriesContext(connection) as captured:
            instance = start_instance(f"start{length}", {}, **kwargs)
        assert states(instance)["p0"] == "ready"
        return counted(captured)

    # the version with its template and the clock; the instance, inserted running; every run in one INSERT
    # (the first one ready); the audit rows and events (one statement on PostgreSQL, two on SQLite).
    expected = 4 if connection.vendor == "postgresql" else 5
    assert (queries_to_start(7), queries_to_start(60)) == (expected, expected)
    assert queries_to_start(7, business_key="2026-12-01") == expected + 1  # is one unfinished already?


@pytest.mark.requires_postgres
def test_the_step_path_statements_are_prepared_on_the_connection_and_still_logged(broker):
    """PostgreSQL stops planning the step's statements once psycopg has prepared them (prepare_threshold);
    Django's own queries stay unprepared, and the query log keeps the text of prepared ones."""
    from engine.runtime.attempts import attempt_run

    publish(chain("prepared", 7))
    for _ in range(3):  # the threshold is 2 runs of the same statement on the connection
        instance = start_instance("prepared", {})
        with CaptureQueriesContext(connection) as captured:
            attempt_run(broker.sent.pop(), actor=Actor(label="worker:p"), chain_limit=7)
        assert reload(instance).state == "completed"
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("FOR UPDATE OF" in sql for sql in prepared), prepared  # the instance lock
    assert any(sql.startswith("WITH done AS (UPDATE") for sql in prepared), prepared  # the completion
    assert not any("django_session" in sql or "auth_user" in sql for sql in prepared)
    logged = [query["sql"] for query in captured.captured_queries]
    assert logged and all(logged), logged
    assert sum("FOR UPDATE OF" in sql for sql in logged) == 1 + 7  # the claim, then each record


def test_a_ref_for_a_missing_run_does_nothing(broker):
    from engine.runtime.attempts import attempt_run

    assert attempt_run(AttemptRef(987654), actor=Actor(label="worker:x")) == 0


def test_an_attempt_running_past_its_timeout_fails_as_transient_and_is_retried(broker, tmp_path):
    publish(
        template(
            "slow",
            {
                "id": "slow",
                "type": "task",
                "activity": "test.sleep",
                "timeout": "PT1S",
                "retry": {"max_attempts": 2, "initial_interval": "PT0S"},
                "input": {"marker": f'"{tmp_path / "m"}"', "seconds": "30"},
            },
        )
    )
    instance = start_instance("slow", {})
    broker.drain()  # the first attempt sleeps past its timeout; the retry (no delay) does not sleep
    assert reload(instance).state == "completed"
    assert PhaseRun.objects.get(instance=instance).attempt == 2
    retry = Transition.objects.get(instance=instance, name="wait_retry")
    assert retry.reason == "the attempt ran longer than its timeout of 0:00:01"


def test_wait_until_a_timestamp_from_cel(broker):
    publish(template("until", {"id": "hold", "type": "wait", "until": "timestamp(params.at)"}))
    past = start_instance("until", {"at": "2001-01-01T00:00:00Z"})
    future = start_instance("until", {"at": "2999-01-01T00:00:00Z"})
    assert reload(past).state == "completed"
    hold = PhaseRun.objects.get(instance=future)
    assert (hold.state, hold.next_run_at.year) == ("waiting", 2999)


def test_jitter_spreads_the_delay_below_the_backoff():
    from engine.definition.plan import RetryPolicy

    policy = RetryPolicy(initial_interval=timedelta(seconds=10), backoff=2.0, jitter=True)
    delays = {policy.delay(3).total_seconds() for _ in range(50)}
    assert all(0 <= delay <= 40 for delay in delays)
    assert len(delays) > 1
