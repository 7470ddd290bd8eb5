"""Properties: validate() never raises, and compile_template() never fails on what validate() accepts."""

from __future__ import annotations

import copy
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.definition.compiler import compile_template
from engine.definition.expressions import compile_expression
from engine.definition.problems import DocumentInvalid, Problem
from engine.definition.validation import sort_problems, validate
from tests.unit.definition.documents import base_document, fixture_documents, minimal_document

# celpy raises the recursion limit when its parser is first built; do that before Hypothesis watches.
compile_expression("true")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)

# Values that are almost right are the ones that reach the semantic checks and the compiler.
TRICKY = [
    "P1M",
    "P2W",
    "PT0S",
    "P0D",
    "P4000D",
    "PT1S",
    "P1DT12H",
    "P99999999999D",
    "1 +",
    "steps.",
    "steps.nowhere.output",
    "true",
    "size(params) > 0",
    "item",
    "((((((((((",
    "human",
    "task",
    "gate",
    "choice",
    "map",
    "wait",
    "fail",
    "suspend",
    "continue",
    "RETRY",
    "Mars/Olympus",
    "UTC",
    "../etc",
    "2026-02-30",
    "2026-12-25",
    0,
    1,
    7,
    0.0,
    0.5,
    1.0,
    1.5,
    100,
    -1,
    [],
    {},
    None,
    True,
    {"type": "objekt"},
    {"pattern": "(["},
    {"reopen": "nowhere"},
]
FIELD_NAMES = [
    "id",
    "type",
    "depends_on",
    "roles",
    "sla",
    "form",
    "outcomes",
    "on_outcome",
    "activity",
    "input",
    "retry",
    "timeout",
    "heartbeat",
    "queue",
    "check",
    "message",
    "action",
    "on_fail",
    "choices",
    "otherwise",
    "items",
    "max_concurrency",
    "tolerated_failure",
    "duration",
    "until",
    "signal",
    "ui",
    "calendar",
    "defaults",
    "params",
]


@cache
def _sources() -> tuple[dict, ...]:
    """The golden fixtures as they are when the tests run, plus our own valid documents."""
    own = [
        base_document(),
        minimal_document({"id": "only", "type": "wait", "duration": "PT1M"}),
    ]
    return tuple([document for _, document in fixture_documents()] + own)


def _slots(node, found=None):
    """Every (container, key) pair in the document, so a mutation can reach any depth."""
    found = [] if found is None else found
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append((node, key))
        _slots(child, found)
    return found


def _strings(node):
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return list(node) + [text for child in node.values() for text in _strings(child)]
    if isinstance(node, list):
        return [text for child in node for text in _strings(child)]
    return []


@st.composite
def mutated_templates(draw):
    document = copy.deepcopy(draw(st.sampled_from(_sources())))
    # Reusing the document's own strings (ids, roles, outcomes) in new places makes cycles, duplicates,
    # wrong targets and the like far more likely than random text would.
    own_strings = _strings(document)
    # TRICKY holds lists and dicts; a later mutation may write inside a value it inserted, so each draw
    # gets its own copy. Otherwise the shared list changes under Hypothesis and replays draw differently.
    values = st.one_of(json_values, st.sampled_from(TRICKY).map(copy.deepcopy), st.sampled_from(own_strings))
    strings = st.sampled_from(own_strings + [text for text in TRICKY if isinstance(text, str)])
    for _ in range(draw(st.integers(1, 4))):
        container, key = draw(st.sampled_from(_slots(document)))
        action = draw(st.sampled_from(["same_type", "same_type", "replace", "delete", "insert", "reuse"]))
        if action == "same_type" and isinstance(container[key], str):
            container[key] = draw(strings)  # keeps the shape, so the semantic checks and the compiler run
        elif action in ("replace", "same_type"):
            container[key] = draw(values)
        elif action == "delete":
            del container[key]
        elif action == "reuse":
            container[key] = [draw(st.sampled_from(own_strings))]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(FIELD_NAMES))] = draw(values)
        else:
            container.insert(key, draw(values))
        if not _slots(document):
            break
    return document


def _check(document) -> list[Problem]:
    problems = validate(document)
    assert all(isinstance(problem, Problem) for problem in problems)
    assert "internal_error" not in {problem.code for problem in problems}
    assert problems == sort_problems(problems)  # already sorted by path then code, without duplicates
    return problems


@given(json_values)
def test_validate_never_raises_on_any_json_value(value):
    _check(value)


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_validate_never_raises_on_any_text(text):
    _check(text)


@given(mutated_templates())
def test_mutated_templates_validate_and_compile_consistently(document):
    problems = _check(document)

    if problems:
        with pytest.raises(DocumentInvalid) as raised:
            compile_template(document)
        assert list(raised.value.problems) == problems
    else:
        plan = compile_template(document)
        assert set(plan.order) == {phase["id"] for phase in document["phases"]}
        for position, phase_id in enumerate(plan.order):
            assert all(plan.order.index(dep) < position for dep in plan.predecessors[phase_id])


def test_every_source_document_is_valid():
    for document in _sources():
        assert validate(document) == []
