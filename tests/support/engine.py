"""Driving the engine in-process in tests: the broker is replaced by a list, attempts run when drained."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.models import PhaseRun, WorkflowInstance
from engine.runtime import dispatch
from engine.runtime.actors import Actor
from engine.runtime.attempts import attempt_run_chain
from engine.runtime.dispatch import AttemptRef
from engine.services.templates import template_load

WORKER = Actor(label="worker:test:1")


@dataclass
class FakeBroker:
    """Collects what the engine sends; `drain()` plays a worker that runs everything due now."""

    sent: list[AttemptRef] = field(default_factory=list)

    def __call__(self, ref: AttemptRef) -> None:
        self.sent.append(ref)

    @classmethod
    def installed(cls, monkeypatch: Any) -> FakeBroker:
        """A fake broker in place of Celery's for the test: what is sent, and the queues' depth."""
        fake = cls()
        monkeypatch.setattr(dispatch, "celery_send", fake)
        monkeypatch.setattr(dispatch, "celery_queue_depth", fake.depth)
        monkeypatch.setattr(dispatch, "BACKLOG_TTL", 0.0)  # the fake queue's depth as it is now
        monkeypatch.setattr(dispatch, "_depths", {})
        return fake

    def depth(self, queue: str | None) -> int:
        """Messages sent to `queue` and not run yet, as the broker's queue depth (dispatch.queue_depth)."""
        return sum(1 for ref in self.sent if ref.queue == queue)

    def drain(self, *, include_delayed: bool = False, limit: int = 1000) -> int:
        """Run what is due now; with `include_delayed`, also delayed messages sent so far (not later ones)."""
        early = {id(ref) for ref in self.sent if ref.countdown} if include_delayed else set()
        ran = 0
        while ran < limit:
            ready = [ref for ref in self.sent if not ref.countdown or id(ref) in early]
            if not ready:
                return ran
            ref = ready[0]
            self.sent.remove(ref)
            attempt_run_chain(ref, actor=WORKER)
            ran += 1
        raise AssertionError("the engine kept sending work: a loop?")


def publish(document: dict[str, Any]) -> None:
    template_load(document=document, publish=True)


def template(key: str, *phases: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"format": "phasegate/v1", "key": key, "name": key.title(), "phases": list(phases), **top}


def states(instance: WorkflowInstance) -> dict[str, str]:
    return dict(PhaseRun.objects.filter(instance=instance).values_list("phase_id", "state"))


def reload(instance: WorkflowInstance) -> WorkflowInstance:
    return WorkflowInstance.objects.get(pk=instance.pk)
