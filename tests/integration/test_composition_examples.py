"""The examples that use the composition features: the market-close batch (a per-symbol sub-workflow per
symbol, an error route from its ingestion gate, a publish approval that may be signalled early) and the
product enrichment that withdraws what it published when indexing fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from engine.models import CompensationRun, PhaseRun, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.signals import deliver_signal
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.support.engine import reload, states

pytestmark = pytest.mark.django_db(transaction=True)
TEMPLATES = Path(settings.BASE_DIR) / "fixtures" / "templates"


def load(*keys: str) -> None:
    for key in keys:
        template_load(document=json.loads((TEMPLATES / f"{key}.json").read_text()), publish=True)


def test_market_close_runs_a_sub_workflow_per_symbol_and_takes_an_early_approval(broker):
    load("market_symbol", "market_close")
    instance = start_instance("market_close", {"symbols": ["AAPL", "MSFT"]}, business_key="2026-12-01")
    delivery = deliver_signal(
        instance_id=instance.pk, name="publish", payload={"by": "desk"}, actor=Actor.system("t")
    )
    assert delivery.buffered
    broker.drain()
    assert reload(instance).state == "completed"
    kids = WorkflowInstance.objects.filter(parent_phase_run__instance=instance).order_by("business_key")
    assert [(k.business_key, k.state) for k in kids] == [
        ("2026-12-01/AAPL", "completed"),
        ("2026-12-01/MSFT", "completed"),
    ]
    signals = PhaseRun.objects.get(instance=instance, phase_id="signals").output
    assert sorted(s["symbol"] for s in signals["signals"]) == ["AAPL", "MSFT"]
    assert PhaseRun.objects.get(instance=instance, phase_id="publish_approval").output == {"by": "desk"}
    assert states(instance)["gap_report"] == "skipped"


def test_market_close_routes_a_failed_ingestion_gate_to_the_gap_report(broker):
    load("market_symbol", "market_close")
    instance = start_instance("market_close", {"symbols": ["AAPL", "NOPE"]})
    broker.drain()
    got = states(instance)
    assert (got["ingestion_gate"], got["gap_report"], got["validate"]) == ("failed", "completed", "skipped")
    assert PhaseRun.objects.get(instance=instance, phase_id="gap_report").output["missing"] == ["NOPE"]
    assert reload(instance).state == "completed"


def test_product_enrichment_withdraws_what_it_published_when_indexing_fails(broker, monkeypatch):
    from engine.runtime import compensation

    sent: list[int] = []
    monkeypatch.setattr(compensation, "celery_send", lambda step_id, **_: sent.append(step_id))
    load("product_enrichment")
    instance = start_instance("product_enrichment", {"fail": {"products.index": {"kind": "data"}}})
    broker.drain(include_delayed=True)
    assert reload(instance).state == "failed"
    while sent:
        compensation.compensation_run(step_id=sent.pop(0), actor=Actor.system("t"))
    steps = CompensationRun.objects.filter(instance=instance).order_by("order")
    assert [(s.phase_id, s.state, s.output["withdrawn"]) for s in steps] == [
        ("enrichment", "completed", "enrichments"),
        ("image_fetch", "completed", "images"),
    ]
