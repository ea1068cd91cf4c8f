"""A stream of entity changes, the same for both senders: each change is one v2 notification
and one v3 event for the same entity and kind at the same occurred time.

Deterministic from a seed: creates, updates (with the attributes they touch) and deletes,
several per entity, an entity never changed after its delete. Occurred times are whole seconds,
strictly increasing, so that v2 ``datetime`` (ISO, milliseconds) and v3 ``toe`` (epoch
seconds) name the same instant and no two v2 notifications are alike.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.timefmt import format_ms
from adapters.v2 import KIND_TO_EVENT_TYPE, V2Kind

ATTRIBUTES = ("email", "givenName", "familyName", "displayName", "birthday", "primaryAddress")
DEFAULT_START = datetime(2024, 1, 15, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Change:
    index: int
    kind: V2Kind
    entity_id: str
    occurred: datetime  # UTC, whole seconds
    event_object_id: str
    attributes: tuple[str, ...] = ()
    entity_type: str = "user"

    @property
    def event_type(self) -> str:
        return KIND_TO_EVENT_TYPE[self.kind]

    @property
    def toe(self) -> int:
        return int(self.occurred.timestamp())

    def v2_notification(self, hash: str, client_id: str) -> dict[str, str]:
        """The v2 notification: ``{uuid, entity_type, datetime, hash, client_id}``."""
        return {
            "uuid": self.entity_id,
            "entity_type": self.entity_type,
            "datetime": format_ms(self.occurred),
            "hash": hash,
            "client_id": client_id,
        }

    def v3_events(self, application_id: str, client_id: str) -> dict[str, Any]:
        """The v3 ``events`` claim: ``{eventType: {captureApplicationId, …, sub, id}}``."""
        body: dict[str, Any] = {
            "captureApplicationId": application_id,
            "captureClientId": client_id,
            "entityType": self.entity_type,
            "globalSub": (
                f"capture-v1://sim.janraincapture.com/{application_id}/"
                f"{self.entity_type}/{self.entity_id}"
            ),
            "sub": self.entity_id,
            "id": self.event_object_id,
        }
        if self.kind == "UPDATE":
            body["attributes"] = list(self.attributes)
        return {self.event_type: body}


def generate_changes(
    n: int,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    max_gap_seconds: int = 3,
    max_live: int = 50,
) -> list[Change]:
    """``n`` changes from ``start`` (rounded down to the second), 1 to ``max_gap_seconds``
    apart. About a fifth of the changes create, two thirds update, the rest delete; at most
    ``max_live`` entities exist at once, so each is changed several times."""
    rng = random.Random(seed)

    def new_uuid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    when = start.astimezone(UTC).replace(microsecond=0)
    live: list[str] = []
    out: list[Change] = []
    for index in range(n):
        roll = rng.random()
        kind: V2Kind
        if not live or (roll < 0.2 and len(live) < max_live):
            kind = "ADD"
            entity = new_uuid()
            live.append(entity)
        elif roll < 0.88:
            kind = "UPDATE"
            entity = rng.choice(live)
        else:
            kind = "DELETE"
            entity = live.pop(rng.randrange(len(live)))
        attributes: tuple[str, ...] = ()
        if kind == "UPDATE":
            attributes = tuple(sorted(rng.sample(ATTRIBUTES, rng.randint(1, 3))))
        out.append(Change(index, kind, entity, when, new_uuid(), attributes))
        when += timedelta(seconds=rng.randint(1, max_gap_seconds))
    return out
