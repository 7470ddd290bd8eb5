"""The scheduler as a pure function: fork and join, choice, skip propagation, reopen, failures."""

from __future__ import annotations

from types import MappingProxyType

from engine.definition.expressions import compile_expression
from engine.definition.plan import Branch, PhasePlan, Plan
from engine.runtime.scheduler import PhaseSnapshot, blocking_failures, next_decision, reopen_set


def make_plan(*phases: PhasePlan) -> Plan:
    """A plan from phases given in topological order."""
    ids = [p.id for p in phases]
    successors = {pid: tuple(q.id for q in phases if pid in q.depends_on) for pid in ids}
    return Plan(
        key="t",
        name="t",
        description="",
        phases=MappingProxyType({p.id: p for p in phases}),
        predecessors=MappingProxyType({p.id: p.depends_on for p in phases}),
        successors=MappingProxyType(successors),
    )


def task(pid: str, *deps: str, on_fail: str = "fail") -> PhasePlan:
    return PhasePlan(id=pid, type="task", name=pid, depends_on=deps, activity="a", on_fail=on_fail)


def states(**given: str) -> dict[str, PhaseSnapshot]:
    return {pid: PhaseSnapshot(state) for pid, state in given.items()}


DIAMOND = make_plan(task("a"), task("b", "a"), task("c", "a"), task("d", "b", "c"))


def test_roots_are_ready_at_start():
    decision = next_decision(DIAMOND, states(a="pending", b="pending", c="pending", d="pending"))
    assert decision.ready == ("a",)
    assert decision.skipped == ()
    assert not decision.finished


def test_fork_makes_both_branches_ready():
    decision = next_decision(DIAMOND, states(a="completed", b="pending", c="pending", d="pending"))
    assert decision.ready == ("b", "c")


def test_join_waits_for_every_branch():
    decision = next_decision(DIAMOND, states(a="completed", b="completed", c="active", d="pending"))
    assert decision.is_empty


def test_join_runs_when_every_branch_finished():
    decision = next_decision(DIAMOND, states(a="completed", b="completed", c="completed", d="pending"))
    assert decision.ready == ("d",)


def test_join_runs_when_one_branch_completed_and_the_other_skipped():
    decision = next_decision(DIAMOND, states(a="completed", b="skipped", c="completed", d="pending"))
    assert decision.ready == ("d",)


def test_phase_whose_dependencies_were_all_skipped_is_skipped_and_the_skip_propagates():
    chain = make_plan(task("a"), task("b", "a"), task("c", "b"), task("d", "c"))
    decision = next_decision(chain, states(a="skipped", b="pending", c="pending", d="pending"))
    assert decision.skipped == ("b", "c", "d")
    assert decision.ready == ()
    assert decision.finished


def test_finished_when_everything_completed_or_skipped():
    decision = next_decision(DIAMOND, states(a="completed", b="skipped", c="completed", d="completed"))
    assert decision.finished


def choice_plan() -> Plan:
    choose = PhasePlan(
        id="mode",
        type="choice",
        name="mode",
        choices=(Branch(when=compile_expression('params.mode == "full"'), then=("full",)),),
        otherwise=("incremental",),
    )
    return make_plan(
        choose,
        task("full", "mode"),
        task("incremental", "mode"),
        task("after_full", "full"),
        task("check", "full", "incremental"),
    )


def test_choice_runs_the_chosen_target_and_skips_the_other_and_what_follows_it_only():
    plan = choice_plan()
    snaps = states(full="pending", incremental="pending", after_full="pending", check="pending")
    snaps["mode"] = PhaseSnapshot("completed", {"chosen": ["incremental"]})
    decision = next_decision(plan, snaps)
    assert decision.ready == ("incremental",)
    assert decision.skipped == ("full", "after_full")


def test_join_after_a_choice_runs_once_the_chosen_branch_completes():
    plan = choice_plan()
    snaps = states(full="skipped", incremental="completed", after_full="skipped", check="pending")
    snaps["mode"] = PhaseSnapshot("completed", {"chosen": ["incremental"]})
    decision = next_decision(plan, snaps)
    assert decision.ready == ("check",)


def test_failed_phase_blocks_what_follows_it():
    chain = make_plan(task("a"), task("b", "a"))
    decision = next_decision(chain, states(a="failed", b="pending"))
    assert decision.is_empty
    assert not decision.finished
    assert blocking_failures(chain, {"a": "failed", "b": "pending"}) == ("a",)


def test_failed_phase_with_on_fail_continue_counts_as_skipped():
    chain = make_plan(task("a", on_fail="continue"), task("b", "a"), task("c"), task("d", "b", "c"))
    decision = next_decision(chain, states(a="failed", b="pending", c="completed", d="pending"))
    assert decision.skipped == ("b",)
    assert decision.ready == ("d",)
    assert blocking_failures(chain, {"a": "failed"}) == ()


def test_reopen_resets_the_target_and_only_the_phases_after_it_that_had_started():
    plan = make_plan(task("a"), task("b", "a"), task("c", "b"), task("side", "a"), task("d", "c"))
    reset = reopen_set(
        plan, "b", {"a": "completed", "b": "completed", "c": "active", "side": "completed", "d": "pending"}
    )
    assert reset == ("b", "c")


def test_decision_does_not_depend_on_dict_order():
    forward = states(a="completed", b="pending", c="pending", d="pending")
    backward = dict(reversed(list(forward.items())))
    assert next_decision(DIAMOND, forward) == next_decision(DIAMOND, backward)


ROUTED = make_plan(
    PhasePlan(id="a", type="task", name="a", activity="x", on_fail="goto", fail_goto="h"),
    task("h", "a"),
    task("n", "a"),
    task("m", "h", "n"),
)


def test_a_routed_failure_makes_its_handler_ready_and_skips_the_other_successors():
    snapshots = {**states(h="pending", n="pending", m="pending"), "a": PhaseSnapshot("failed", route="h")}
    decision = next_decision(ROUTED, snapshots)
    assert (decision.ready, decision.skipped, decision.finished) == (("h",), ("n",), False)


def test_a_completed_phase_skips_its_handlers():
    decision = next_decision(ROUTED, states(a="completed", h="pending", n="pending", m="pending"))
    assert (decision.ready, decision.skipped) == (("n",), ("h",))


def test_a_routed_failure_lets_the_instance_finish():
    snapshots = {**states(h="completed", n="skipped", m="completed"), "a": PhaseSnapshot("failed", route="h")}
    assert next_decision(ROUTED, snapshots).finished


def test_a_routed_failure_does_not_block_the_instance():
    assert blocking_failures(ROUTED, {"a": "failed", "h": "completed"}, routed={"a"}) == ()
    assert blocking_failures(ROUTED, {"a": "failed"}) == ("a",)
