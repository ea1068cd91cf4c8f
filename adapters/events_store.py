"""Events-store records (``/subscriptions/{id}/events``) → unified events with delivery state.

The store keeps each token exactly as sent (it is not decoded), so the record's
``request.payload`` is decoded here; the unified event's ``payload`` is the decoded claims and
``delivery`` carries the record's state, attempts and timings.
"""

from __future__ import annotations

from typing import Any

from adapters import schema_registry as schemas
from adapters.errors import Reason, Rejection
from adapters.set_token import ParsedToken, event_from_parsed, parse_compact
from adapters.timefmt import normalize_rfc3339
from adapters.unified import Delivery, UnifiedEvent

TOKEN_POINTER = "/request/payload"


def check_record(record: Any) -> None:
    if not schemas.fast_check(schemas.EVENTS_RECORD)(record):
        problem = schemas.explain(schemas.EVENTS_RECORD, record)
        assert problem is not None
        raise Rejection(Reason.SCHEMA, problem.pointer, problem.message)


def delivery_from_record(record: dict[str, Any]) -> Delivery:
    def when(key: str) -> str | None:
        value = record.get(key)
        if value is None:
            return None
        try:
            return normalize_rfc3339(value)
        except ValueError as exc:
            raise Rejection(Reason.BAD_TIME, "/" + key, str(exc)) from None

    response = record.get("response") or {}
    status_code = response.get("statusCode")
    # The schema's "integer" admits 1.0; the unified event writes integers as integers.
    return Delivery(
        state=record["state"],
        attempts=int(record["attempts"]),
        status_code=None if status_code is None else int(status_code),
        endpoint=record["request"].get("endpoint"),
        created_at=when("createdAt"),
        updated_at=when("updatedAt"),
        record_id=record["id"],
    )


def token_of_record(record: Any) -> ParsedToken:
    """Validate a record and decode its token (rejections point into the record)."""
    check_record(record)
    try:
        return parse_compact(record["request"]["payload"])
    except Rejection as rejection:
        raise rejection.under(TOKEN_POINTER) from None


def event_from_record(record: Any, token: ParsedToken | None = None) -> UnifiedEvent:
    """One events-store record → unified event (``token``: already decoded by the caller)."""
    if token is None:
        token = token_of_record(record)
    delivery = delivery_from_record(record)
    try:
        event = event_from_parsed(token, delivery=delivery)
    except Rejection as rejection:
        raise rejection.under(TOKEN_POINTER) from None
    declared = record.get("eventType")
    if declared is not None and declared != event.event_type:
        raise Rejection(
            Reason.INCONSISTENT,
            "/eventType",
            f"record says {declared!r} but its token carries {event.event_type!r}",
        )
    return event
