"""Schemathesis against the API's own OpenAPI schema: no server error, every response as documented.

Every operation of `/api/schema/` gets generated requests, valid and invalid, from a signed-in
administrator, with the path parameters pointing at seeded objects so that requests reach their handlers
rather than stopping at a 404. Bounded: a few derandomised examples per operation and mode.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.models import DeadLetter
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = int(os.environ.get("PHASEGATE_FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PASSWORD = "fuzz-the-api-1"

REVIEW = {
    "format": "phasegate/v1",
    "key": "review",
    "name": "Review",
    "params": {"type": "object", "properties": {"report_id": {"type": "integer"}}},
    "roles": {"reviewer": {"name": "Reviewer"}},
    "phases": [
        {"id": "draft", "type": "human", "roles": ["reviewer"], "sla": {"duration": "P1D"}},
        {"id": "go", "type": "wait", "signal": "go", "depends_on": ["draft"]},
    ],
}
FLAKY = {
    "format": "phasegate/v1",
    "key": "flaky",
    "name": "Flaky",
    "phases": [
        {
            "id": "draft",
            "type": "task",
            "activity": "test.flaky",
            "retry": {"max_attempts": 1},
            "input": {"fail_times": "1", "kind": "'data'"},
        }
    ],
}


@pytest.fixture
def seeded(broker, settings) -> dict[str, Any]:
    # Basic auth hashes the password on every request: a fast hasher keeps the run short.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = UserFactory(is_staff=True, is_superuser=True, roles=["reviewer"])
    user.set_password(PASSWORD)
    user.save()
    template_load(document=REVIEW, publish=True)
    template_load(document={**REVIEW, "description": "the next draft"})
    template_load(document=FLAKY, publish=True)
    review = start_instance("review", {"report_id": 1}, business_key="fuzz", actor=Actor("test"))
    flaky = start_instance("flaky", {}, actor=Actor("test"))
    broker.drain()
    token = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    return {
        "headers": {"Authorization": f"Basic {token}"},
        "instance": str(review.pk),
        "failed": str(flaky.pk),
        "dead_letter": DeadLetter.objects.get(instance=flaky).pk,
    }


def path_parameters(path: str, seeded: dict[str, Any]) -> dict[str, Any]:
    """Seeded objects for the operation's path parameters (the rest stay generated)."""
    values: dict[str, Any] = {"key": "review", "number": 1, "phase_id": "draft", "name": "go"}
    if path.startswith("/api/dead-letters/"):
        values["id"] = seeded["dead_letter"]
    elif "/retry/" in path or "/reopen/" in path:
        values["id"] = seeded["failed"]
    else:
        values["id"] = seeded["instance"]
    if path.endswith("/publish/"):
        values["number"] = 2
    return {name: value for name, value in values.items() if "{" + name + "}" in path}


def test_the_api_has_no_server_errors_and_answers_as_documented(seeded):
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/", app, headers=seeded["headers"])
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    examples = skipped = 0
    statuses: Counter[int] = Counter()
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(
                mode, path_parameters=path_parameters(operation.path, seeded), headers=seeded["headers"]
            )

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def check(case: schemathesis.Case) -> None:
                nonlocal examples
                examples += 1
                response = case.call(headers=seeded["headers"])
                statuses[response.status_code] += 1
                case.validate_response(response, checks=CHECKS, headers=seeded["headers"])

            try:
                check()
            except Unsatisfiable:
                skipped += 1  # nothing of this operation can be made invalid: its inputs are all fixed
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # collect every operation's failure, then report them together
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")
    print(
        f"schemathesis: {len(operations)} operations, {examples} requests, {skipped} operations with"
        f" nothing to make invalid, {len(failures)} failing; statuses {sorted(statuses.items())}"
    )
    assert len(operations) >= 30
    assert not failures, "\n\n".join(failures)
