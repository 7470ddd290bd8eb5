"""Who or what made a change: a person, a worker process, or a system sweep."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Actor:
    """The author of a transition, as the audit trail shows it."""

    label: str
    user: Any = None

    @classmethod
    def of(cls, user: Any) -> Actor:
        if user is None or not getattr(user, "is_authenticated", False):
            return SYSTEM
        return cls(label=user.get_username(), user=user)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(label=f"system:{name}")

    @classmethod
    def worker(cls) -> Actor:
        return cls(label=worker_label())


@cache
def _host() -> str:
    return socket.gethostname()


def worker_label() -> str:
    return f"worker:{_host()}:{os.getpid()}"


SYSTEM = Actor.system("engine")
