"""Rendering comparisons for people (one line per change) and for CI (JSON)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from migrate.schemacompat.model import Change, Mode, Policy, Status

_LABEL = {Status.BREAKING: "BREAKING", Status.WARNING: "warning", Status.OK: "ok"}


def display_pointer(pointer: str) -> str:
    """A JSON pointer as a URI fragment (``#`` is the root), as registries print them."""
    return "#" + pointer


def change_line(change: Change, mode: Mode, policy: Policy) -> str:
    status = change.status(mode, policy)
    return f"{_LABEL[status]} {change.kind} {display_pointer(change.pointer)}: {change.description}"


def change_json(change: Change, mode: Mode, policy: Policy) -> dict[str, Any]:
    status = change.status(mode, policy)
    return {
        "kind": str(change.kind),
        "pointer": change.pointer,
        "breaking": status is Status.BREAKING,
        "status": str(status),
        "backward": change.backward.label,
        "forward": change.forward.label,
        "description": change.description,
    }


def counts(changes: Iterable[Change], mode: Mode, policy: Policy) -> Counter[Status]:
    return Counter(c.status(mode, policy) for c in changes)


def summary(changes: Iterable[Change], mode: Mode, policy: Policy, subject: str = "") -> str:
    tally = counts(changes, mode, policy)
    parts = [
        f"{tally[Status.BREAKING]} breaking",
        f"{tally[Status.WARNING]} warning{'s' if tally[Status.WARNING] != 1 else ''}",
        f"{tally[Status.OK]} compatible",
    ]
    verdict = "INCOMPATIBLE" if tally[Status.BREAKING] else "compatible"
    prefix = f"{subject}: " if subject else ""
    return f"{prefix}{', '.join(parts)} ({mode}, {policy}): {verdict}"
