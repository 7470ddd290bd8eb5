"""What /metrics adds at scrape time: the workers' counters from every process, and gauges from the database.

Gauges are read from the database when Prometheus scrapes, so they are right whichever process changed the
state (and need no bookkeeping on the hot path). Each one is a cheap aggregate over an index.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.models import UNFINISHED_INSTANCE_STATES
from engine.observability import figures


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        scope = figures.Scope(range_name="now", since=now, until=now)

        sla = GaugeMetricFamily(
            "phasegate_open_human_phases", "Open human phases by SLA status", labels=["sla_status"]
        )
        for status, count in figures.open_human_sla(scope).items():
            sla.add_metric([status], count)
        yield sla

        letters = GaugeMetricFamily(
            "phasegate_dead_letters_open", "Open dead letters by error category", labels=["category"]
        )
        for category, count in sorted(figures.dead_letters_open(scope).items()):
            letters.add_metric([category], count)
        yield letters

        leases = figures.expired_leases(now)
        yield GaugeMetricFamily(
            "phasegate_expired_leases",
            "Attempts whose lease expired and that the reaper has not taken back yet",
            value=leases["count"],
        )
        yield GaugeMetricFamily(
            "phasegate_expired_lease_oldest_seconds",
            "How long ago the oldest lease still held expired (reaper lag)",
            value=leases["oldest_seconds"],
        )

        queue = figures.queue_lag(scope, now)
        yield GaugeMetricFamily(
            "phasegate_ready_attempts",
            "Attempts ready for a worker and not yet claimed",
            value=queue["ready"],
        )
        yield GaugeMetricFamily(
            "phasegate_ready_attempt_oldest_seconds",
            "How long the oldest ready attempt has waited for a worker (queue lag)",
            value=queue["oldest_seconds"],
        )

        instances = GaugeMetricFamily(
            "phasegate_unfinished_instances", "Instances not finished yet, by state", labels=["state"]
        )
        for state, count in figures.unfinished_instances(scope).items():
            if state in UNFINISHED_INSTANCE_STATES:
                instances.add_metric([state], count)
        yield instances

        sweeps = GaugeMetricFamily(
            "phasegate_sweep_last_run_seconds",
            "Seconds since each periodic sweep last finished (absent: never ran)",
            labels=["sweep"],
        )
        for name, age in sorted(figures.sweep_ages(now).items()):
            if age is not None:
                sweeps.add_metric([name], age)
        yield sweeps


def exposition() -> bytes:
    """The text exposition of every process's counters plus the database gauges."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
