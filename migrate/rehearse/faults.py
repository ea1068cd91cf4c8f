"""The faults a rehearsal can inject, and which changes and deliveries each one touches (pure).

Survivable faults end ready with nothing lost: the migration is built for them. Detectable
faults end not ready, and the checklist must name the check that catches them. Every choice is
a hash of the rehearsal's seed and the change (or event) it concerns, so a rehearsal is the
same every time it is run with the same seed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    survivable: bool
    checks: tuple[str, ...]
    """The checklist checks that must fail (empty for a survivable fault)."""
    what: str


FAULTS: Final[dict[str, FaultKind]] = {
    f.name: f
    for f in (
        FaultKind(
            "listener-down",
            True,
            (),
            "the listener is down twice: for a few minutes (v3 retries bring those events in) "
            "and for a day at the end (they fail 6 times and come back in the bulk export)",
        ),
        FaultKind(
            "duplicate-export",
            True,
            (),
            "the export file is downloaded and loaded a second time (the ingest ledger skips it)",
        ),
        FaultKind(
            "drop-v3",
            False,
            ("parity",),
            "one change in 20 never becomes a v3 event (v2 still notifies it)",
        ),
        FaultKind(
            "bad-signature",
            False,
            ("rejects",),
            "one v3 token in 20 is signed by a key the tenant does not publish",
        ),
        FaultKind(
            "clock-skew",
            False,
            ("parity",),
            "every v3 time (toe) is 5 minutes early, past parity's 120 s tolerance",
        ),
        FaultKind(
            "no-subscription",
            False,
            ("subscriptions",),
            "the v3 subscription is never created (nothing is delivered over v3)",
        ),
    )
}

SKEW_SECONDS: Final = -300
"""``clock-skew`` shifts every v3 ``toe`` by this much (the tolerance is 120 s)."""
ONE_IN: Final = 20
"""``drop-v3`` and ``bad-signature`` touch one change in this many."""


def parse_faults(names: tuple[str, ...] | list[str]) -> frozenset[str]:
    """The faults asked for; an unknown name is a :class:`ValueError` listing the known ones."""
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault {unknown[0]!r}; known faults: {', '.join(FAULTS)}")
    return frozenset(names)


def chosen(seed: int, what: str, key: str | int, one_in: int) -> bool:
    """A stable pseudo-random choice of one ``key`` in ``one_in`` for the purpose ``what``."""
    digest = hashlib.blake2b(f"{seed}:{what}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % one_in == 0


def expected_failures(faults: frozenset[str]) -> set[str]:
    """The checks the faults must make fail (empty: the rehearsal must end ready)."""
    return {check for name in faults for check in FAULTS[name].checks}


@dataclass(frozen=True, slots=True)
class DeliveryMischief:
    """What goes wrong on the way in every rehearsal, faults or not (one event in ``one_in``
    for each): answers lost once (a duplicate), lost three times (a late retry, 5 min on),
    requests lost four times (delivered at the 5th attempt, an hour on), and requests lost
    every time (the event fails and comes back in the bulk export)."""

    seed: int
    one_in: int = 100

    def answer_lost(self, event_id: str, attempt: int) -> bool:
        if chosen(self.seed, "duplicate", event_id, self.one_in):
            return attempt == 1
        return chosen(self.seed, "late-answer", event_id, self.one_in) and attempt <= 3

    def request_lost(self, event_id: str, attempt: int) -> bool:
        if chosen(self.seed, "exported", event_id, self.one_in):
            return True
        return chosen(self.seed, "late-request", event_id, self.one_in) and attempt <= 4
