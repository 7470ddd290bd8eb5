"""The phase runs of one instance, read lazily: light states for every phase, full rows only on demand.

Advancing one phase must not cost more as the template grows. The scheduler needs every phase's state
(one narrow query); the transitions need full rows only for the phases they touch, fetched in one batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from engine.models import PhaseRun, PhaseState, WorkflowInstance
from engine.runtime import scheduler


class RunBook(Mapping[str, PhaseRun]):
    """A mapping of phase id to PhaseRun that loads rows on first use."""

    def __init__(self, instance: WorkflowInstance) -> None:
        self.instance = instance
        rows = PhaseRun.objects.filter(instance=instance).values_list(
            "phase_id", "pk", "state", "phase_type", "round"
        )
        self._light = {
            phase_id: (pk, state, phase_type, round_) for phase_id, pk, state, phase_type, round_ in rows
        }
        self._loaded: dict[str, PhaseRun] = {}

    # --- Mapping -------------------------------------------------------------------------------------

    def __getitem__(self, phase_id: str) -> PhaseRun:
        if phase_id not in self._loaded:
            if phase_id not in self._light:
                raise KeyError(phase_id)
            self.prefetch([phase_id])
        return self._loaded[phase_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._light)

    def __len__(self) -> int:
        return len(self._light)

    def values(self) -> list[PhaseRun]:  # type: ignore[override]
        self.prefetch(self._light)
        return [self._loaded[phase_id] for phase_id in self._light]

    def items(self) -> list[tuple[str, PhaseRun]]:  # type: ignore[override]
        self.prefetch(self._light)
        return [(phase_id, self._loaded[phase_id]) for phase_id in self._light]

    # --- cheap reads ---------------------------------------------------------------------------------

    def state(self, phase_id: str) -> str:
        loaded = self._loaded.get(phase_id)
        return loaded.state if loaded is not None else self._light[phase_id][1]

    def states(self) -> dict[str, str]:
        return {phase_id: self.state(phase_id) for phase_id in self._light}

    def by_pk(self, pk: int) -> PhaseRun | None:
        phase_id = next((pid for pid, (run_pk, *_) in self._light.items() if run_pk == pk), None)
        return None if phase_id is None else self[phase_id]

    def phase_id_of(self, pk: int) -> str:
        return next(pid for pid, (run_pk, *_) in self._light.items() if run_pk == pk)

    def pk_of(self, phase_id: str) -> int:
        return self._light[phase_id][0]

    def round_of(self, phase_id: str) -> int:
        return self._light[phase_id][3]

    def audit_fields(self, phase_id: str) -> dict[str, object]:
        """What an audit row of this phase names (see `journal.record_fields`), without loading the row."""
        pk, _, _, round_ = self._light[phase_id]
        return {"instance_id": self.instance.pk, "phase_run_id": pk, "phase_id": phase_id, "round": round_}

    def changed(self, phase_id: str, state: str) -> None:
        """The row of this phase was written to `state` without its object (engine.runtime.hotpath)."""
        pk, _, phase_type, round_ = self._light[phase_id]
        self._light[phase_id] = (pk, state, phase_type, round_)
        self._loaded.pop(phase_id, None)  # a loaded copy is stale now; it is read again when needed

    def prefetch(self, phase_ids: Iterable[str]) -> None:
        """Load the full rows of these phases in one query (those not loaded yet)."""
        missing = [pid for pid in phase_ids if pid not in self._loaded and pid in self._light]
        if missing:
            for run in PhaseRun.objects.filter(instance=self.instance, phase_id__in=missing):
                self._loaded[run.phase_id] = run

    def adopt(self, run: PhaseRun) -> None:
        """Use this already-loaded object for its phase (so two copies of one row never diverge)."""
        self._loaded[run.phase_id] = run
        self._light[run.phase_id] = (run.pk, run.state, run.phase_type, run.round)

    @classmethod
    def of_new(cls, instance: WorkflowInstance, light: Iterable[tuple[str, int, str, str, int]]) -> RunBook:
        """The book from rows the caller already has: `(phase_id, pk, state, type, round)` per phase."""
        book = cls.__new__(cls)
        book.instance = instance
        book._light = {
            phase_id: (pk, state, phase_type, round_) for phase_id, pk, state, phase_type, round_ in light
        }
        book._loaded = {}
        return book

    def routed(self) -> set[str]:
        """Failed phases whose failure was routed to a handler phase (they do not stop the instance)."""
        failed = [pid for pid in self._light if self.state(pid) == PhaseState.FAILED]
        self.prefetch(failed)
        return {pid for pid in failed if (self._loaded[pid].error or {}).get("routed_to")}

    def snapshots(self) -> dict[str, scheduler.PhaseSnapshot]:
        """What the scheduler needs: every state, the output of each completed choice, and where each failed
        phase's failure was routed (all it reads)."""
        choices = [
            pid
            for pid, (_, _, phase_type, _) in self._light.items()
            if phase_type == "choice" and self.state(pid) == PhaseState.COMPLETED
        ]
        failed = [pid for pid in self._light if self.state(pid) == PhaseState.FAILED]
        self.prefetch([*choices, *failed])
        return {
            pid: scheduler.PhaseSnapshot(
                self.state(pid),
                self._loaded[pid].output if pid in choices else None,
                (self._loaded[pid].error or {}).get("routed_to") if pid in failed else None,
            )
            for pid in self._light
        }
