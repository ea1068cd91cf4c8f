"""The unified event: one immutable value for v2 notifications and v3 tokens alike.

Field names, types and meanings are those of ``schemas/unified-event.schema.json`` (and of the
product contract). ``to_json`` and ``from_json`` round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

Source = Literal["v2", "v3"]

_DELIVERY_FIELDS = (
    "state",
    "attempts",
    "status_code",
    "endpoint",
    "created_at",
    "updated_at",
    "record_id",
)


# NamedTuples rather than frozen dataclasses: equally immutable and typed, and four times cheaper
# to build, which matters at a few hundred thousand events per file.


class Delivery(NamedTuple):
    """Delivery state from an events-store record (absent for anything else)."""

    state: str
    attempts: int
    status_code: int | None = None
    endpoint: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    record_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _DELIVERY_FIELDS}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Delivery:
        _require_keys(data, _DELIVERY_FIELDS, "delivery")
        return cls(**{name: data[name] for name in _DELIVERY_FIELDS})


class UnifiedEvent(NamedTuple):
    """One webhook event, whichever version delivered it.

    ``payload`` is the input exactly as received (the v2 notification object, or the decoded v3
    claims), so nothing is lost; it is typed read-only and must not be mutated.
    """

    event_id: str
    source: Source
    occurred_at: str
    payload: Mapping[str, Any]
    event_type: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    issued_at: str | None = None
    client_id: str | None = None
    application_id: str | None = None
    global_sub: str | None = None
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    transaction_id: str | None = None
    event_object_id: str | None = None
    attributes: tuple[str, ...] | None = None
    credential_type: str | None = None
    v2_hash: str | None = None
    delivery: Delivery | None = None

    def to_json(self) -> dict[str, Any]:
        """The schema's JSON object, keys in the schema's order; ``delivery`` only when known."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "source": self.source,
            "event_type": self.event_type,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "occurred_at": self.occurred_at,
            "issued_at": self.issued_at,
            "client_id": self.client_id,
            "application_id": self.application_id,
            "global_sub": self.global_sub,
            "issuer": self.issuer,
            "audience": list(self.audience),
            "transaction_id": self.transaction_id,
            "event_object_id": self.event_object_id,
            "attributes": None if self.attributes is None else list(self.attributes),
            "credential_type": self.credential_type,
            "v2_hash": self.v2_hash,
            "payload": self.payload,
        }
        if self.delivery is not None:
            out["delivery"] = self.delivery.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnifiedEvent:
        """Inverse of :meth:`to_json`. Raises ``ValueError`` when a field is missing."""
        _require_keys(data, _EVENT_FIELDS, "unified event")
        attributes = data["attributes"]
        delivery = data.get("delivery")
        return cls(
            event_id=data["event_id"],
            source=data["source"],
            event_type=data["event_type"],
            entity_type=data["entity_type"],
            entity_id=data["entity_id"],
            occurred_at=data["occurred_at"],
            issued_at=data["issued_at"],
            client_id=data["client_id"],
            application_id=data["application_id"],
            global_sub=data["global_sub"],
            issuer=data["issuer"],
            audience=tuple(data["audience"]),
            transaction_id=data["transaction_id"],
            event_object_id=data["event_object_id"],
            attributes=None if attributes is None else tuple(attributes),
            credential_type=data["credential_type"],
            v2_hash=data["v2_hash"],
            payload=data["payload"],
            delivery=None if delivery is None else Delivery.from_json(delivery),
        )


_EVENT_FIELDS = (
    "event_id",
    "source",
    "event_type",
    "entity_type",
    "entity_id",
    "occurred_at",
    "issued_at",
    "client_id",
    "application_id",
    "global_sub",
    "issuer",
    "audience",
    "transaction_id",
    "event_object_id",
    "attributes",
    "credential_type",
    "v2_hash",
    "payload",
)


def _require_keys(data: Mapping[str, Any], names: tuple[str, ...], what: str) -> None:
    missing = [name for name in names if name not in data]
    if missing:
        raise ValueError(f"{what} is missing {', '.join(missing)}")
