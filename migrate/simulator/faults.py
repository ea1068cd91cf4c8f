"""Misbehaviour on purpose: the faults the simulated API can inject, and what it has seen."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

FaultAction = Literal["status", "drop", "drop_after", "truncate"]


@dataclass
class Fault:
    """Misbehave on the next ``times`` requests matching ``method`` and the ``path`` regex.

    ``status``: answer ``status`` (with ``headers``) without doing anything;
    ``drop``: close the connection without doing anything;
    ``drop_after``: do the work, then close without answering (the reply is lost);
    ``truncate``: do the work, announce the full body, send half of it, close.
    """

    path: str
    action: FaultAction = "status"
    method: str | None = None
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (
            self.times > 0
            and (self.method is None or self.method == method)
            and re.search(self.path, path) is not None
        )


@dataclass(frozen=True, slots=True)
class Seen:
    """A request as the simulator saw it (never the credentials themselves)."""

    method: str
    path: str
    auth_scheme: str | None
