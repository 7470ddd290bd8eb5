"""django-fsm's optimistic locking for the engine's models, with the state fields found once per model."""

from __future__ import annotations

from functools import cache

from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMFieldMixin


class ConcurrentTransitionModel(ConcurrentTransitionMixin):
    """ConcurrentTransitionMixin (a save is `UPDATE … WHERE state = <the state read>`). The mixin looks for
    the state fields among all fields on every object made and every save; a model's fields never change,
    so they are looked up once per model here."""

    @property
    def state_fields(self) -> tuple[FSMFieldMixin, ...]:
        return _state_fields(type(self))  # type: ignore[arg-type]


@cache
def _state_fields(model: type[models.Model]) -> tuple[FSMFieldMixin, ...]:
    return tuple(f for f in model._meta.fields if isinstance(f, FSMFieldMixin))
