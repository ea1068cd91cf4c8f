"""Webhooks v2 notifications → unified events.

v2 notifications carry no identifier, so the event id is a UUIDv5 of the notification itself:
the same notification (re-delivered, or archived twice) always gets the same id, and any
difference in any field gives a different one.
"""

from __future__ import annotations

import contextlib
import hmac
import re
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from adapters import schema_registry as schemas
from adapters.errors import Reason, Rejection
from adapters.jsontext import json_bytes
from adapters.timefmt import format_ms, format_us, parse_rfc3339
from adapters.unified import UnifiedEvent

V2Kind = Literal["ADD", "UPDATE", "DELETE"]

KIND_TO_EVENT_TYPE: dict[str, str] = {
    "ADD": "entityCreated",
    "UPDATE": "entityUpdated",
    "DELETE": "entityDeleted",
}

# Fixed forever: changing it would change every v2 event id already stored.
V2_NAMESPACE = uuid.UUID("6f1c3c0e-5d2b-5a8e-9a57-2f0b6c1e7d41")
_FRACTION = re.compile(r"\.([0-9]+)")


def canonical_bytes(notification: Mapping[str, Any]) -> bytes:
    """The notification's identity: sorted-key compact JSON, ``datetime`` normalised to UTC.

    The timestamp keeps microseconds so two notifications a fraction of a millisecond apart stay
    distinct, while ``...Z`` and ``+00:00`` spellings of one instant are the same notification.
    Digits beyond microseconds (the events store writes nanoseconds) are kept too, without
    trailing zeros, so that ``.9470001Z`` and ``.947Z`` stay two notifications.
    """
    fields = dict(notification)
    # An unparseable time is rejected before an id is needed; keep its text as it is.
    with contextlib.suppress(KeyError, TypeError, ValueError):
        text = fields["datetime"]
        normalized = format_us(parse_rfc3339(text))
        fraction = _FRACTION.search(text)
        beyond_micro = fraction.group(1)[6:].rstrip("0") if fraction else ""
        fields["datetime"] = normalized[:-1] + beyond_micro + "Z" if beyond_micro else normalized
    return json_bytes(fields, sort_keys=True, ascii_fallback=True)


def v2_event_id(notification: Mapping[str, Any]) -> str:
    return str(uuid.uuid5(V2_NAMESPACE, canonical_bytes(notification).decode()))


def check_notification(notification: Any) -> None:
    if not schemas.fast_check(schemas.V2_NOTIFICATION)(notification):
        problem = schemas.explain(schemas.V2_NOTIFICATION, notification)
        assert problem is not None
        raise Rejection(Reason.SCHEMA, problem.pointer, problem.message)


def event_from_v2(
    notification: Any, *, kind: V2Kind | None = None, expected_hash: str | None = None
) -> UnifiedEvent:
    """One v2 notification → unified event.

    ``kind`` is the webhook's kind (v2 notifications do not say it themselves);
    ``expected_hash`` is the callback hash configured for the webhook: a notification carrying
    another one is rejected (compared in constant time, and never echoed).
    """
    check_notification(notification)
    if expected_hash is not None and not hmac.compare_digest(
        notification["hash"].encode(), expected_hash.encode()
    ):
        raise Rejection(
            Reason.HASH_MISMATCH, "/hash", "hash does not match the webhook's callback hash"
        )
    try:
        occurred = parse_rfc3339(notification["datetime"])
    except ValueError as exc:
        raise Rejection(Reason.BAD_TIME, "/datetime", str(exc)) from None
    try:
        event_id = v2_event_id(notification)
    except RecursionError:  # an extra member nested about a thousand levels deep
        raise Rejection(
            Reason.TOO_LARGE, "", "the notification is nested too deeply to be identified"
        ) from None
    return UnifiedEvent(
        event_id=event_id,
        source="v2",
        event_type=None if kind is None else KIND_TO_EVENT_TYPE[kind],
        entity_type=notification["entity_type"],
        entity_id=notification["uuid"],
        occurred_at=format_ms(occurred),
        client_id=notification["client_id"],
        v2_hash=notification["hash"],
        payload=notification,
    )
