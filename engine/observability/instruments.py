"""The Prometheus instruments every process updates, in prometheus_client's multiprocess mode.

Counters and histograms live in files under PROMETHEUS_MULTIPROC_DIR (set by the settings before this
module imports prometheus_client), one per process, so /metrics adds up what every Celery pool process
counted. Figures the database already knows (open phases, dead letters, expired leases) are not kept here:
`collectors.DatabaseCollector` reads them at scrape time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from engine.runtime.attempts import Claim

logger = logging.getLogger(__name__)

# From a millisecond no-op to an hour-long batch step.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

STEPS = Counter(
    "phasegate_steps",
    "Attempts of automated work that ran, by template, phase, outcome and error category",
    ["template", "phase", "outcome", "error_category"],
)
STEP_DURATION = Histogram(
    "phasegate_step_duration_seconds",
    "How long an attempt's activity ran",
    ["template", "phase"],
    buckets=DURATION_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "phasegate_queue_wait_seconds",
    "How long an attempt's message waited in the broker (from sending, or its countdown, to a worker)",
    ["queue"],
    buckets=DURATION_BUCKETS,
)

Output = tuple[dict[str, Any] | None, dict[str, Any] | None]


def observe_step(claim: Claim, execute: Callable[[Claim], Output]) -> Output:
    """Run `execute(claim)` and count the attempt; a failure to count never fails the step."""
    started = time.perf_counter()
    output, error = execute(claim)
    elapsed = time.perf_counter() - started
    try:
        from engine.runtime.plans import plan_for

        template = plan_for(claim.instance.version).key
        phase = claim.spec.id
        outcome = "failed" if error is not None else "succeeded"
        category = str(error.get("category", "system")) if error is not None else ""
        STEPS.labels(template, phase, outcome, category).inc()
        STEP_DURATION.labels(template, phase).observe(elapsed)
    except Exception:  # the metrics are a by-product: the attempt's result is what matters
        logger.exception("could not count attempt of %s", claim.spec.id)
    return output, error


def observe_queue_wait(queue: str, seconds: float) -> None:
    QUEUE_WAIT.labels(queue or "default").observe(max(seconds, 0.0))
