"""In-process event handlers fed from the outbox after commit.

    @on_event("instance.failed")
    def page_someone(event: Event) -> None: ...

Handlers run after the transaction that wrote the event commits. A handler that raises is logged and the
event stays undelivered; the periodic `outbox_deliver` sweep tries it again, up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from engine.models import Event

logger = logging.getLogger(__name__)
Handler = Callable[[Event], None]
MAX_ATTEMPTS = 5
_handlers: dict[str, list[Handler]] = defaultdict(list)


def on_event(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler for events by name (`instance.failed`), prefix (`phase.*`) or everything (`*`)."""

    def register(handler: Handler) -> Handler:
        for name in names:
            if handler not in _handlers[name]:
                _handlers[name].append(handler)
        return handler

    return register


def handlers_for(name: str) -> list[Handler]:
    prefix = name.split(".", 1)[0] + ".*"
    return [*_handlers.get(name, ()), *_handlers.get(prefix, ()), *_handlers.get("*", ())]


def deliver_after_commit(event_ids: list[int]) -> None:
    # With no handler registered there is nothing to run now; the sweep marks them delivered in bulk.
    if event_ids and any(_handlers.values()):
        transaction.on_commit(lambda: deliver(Event.objects.filter(pk__in=event_ids, delivered_at=None)))


def deliver(events: Iterable[Event]) -> int:
    """Run the handlers of each event; return how many were delivered."""
    delivered = 0
    for event in events:
        try:
            for handler in handlers_for(event.name):
                handler(event)
        except Exception as exc:
            logger.exception("event handler failed for %s #%s", event.name, event.pk)
            Event.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1, last_error=repr(exc)[:2000])
            continue
        Event.objects.filter(pk=event.pk).update(delivered_at=timezone.now(), attempts=F("attempts") + 1)
        delivered += 1
    return delivered


def outbox_deliver(*, batch: int = 500) -> int:
    """Deliver events that missed their after-commit delivery (a crash, a failing handler)."""
    pending = Event.objects.filter(delivered_at=None, attempts__lt=MAX_ATTEMPTS).order_by("id")
    if not any(_handlers.values()):
        ids = list(pending.values_list("pk", flat=True)[:batch])
        return Event.objects.filter(pk__in=ids).update(delivered_at=timezone.now())
    return deliver(list(pending[:batch]))
