"""Decoded v3 claims → unified event, shared by tokens, export lines and events-store records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters import schema_registry as schemas
from adapters.errors import Reason, Rejection
from adapters.timefmt import epoch_text, event_time_text
from adapters.unified import Delivery, UnifiedEvent


def check_claims(claims: Any) -> None:
    """Raise a :class:`Rejection` unless ``claims`` is valid under ``set-claims.schema.json``.

    The event count is checked first so that zero or several events get their own reason code
    naming the keys; everything else is the schema's verdict, explained by the full validator.
    """
    if claims.__class__ is dict:
        events = claims.get("events")
        if events.__class__ is dict and (len(events) != 1 or "" in events):
            keys = ", ".join(sorted(events)) or "none"
            if not events:
                raise Rejection(Reason.NO_EVENT, "/events", "events is empty: expected one event")
            if len(events) > 1:
                raise Rejection(
                    Reason.MULTIPLE_EVENTS,
                    "/events",
                    f"expected exactly one event, found {len(events)}: {keys}",
                )
            # The schema cannot say it, but an event type is a name: the unified event's
            # event_type is never the empty string.
            raise Rejection(Reason.SCHEMA, "/events/", "the event's type (its key) is empty")
    if not schemas.fast_check(schemas.SET_CLAIMS)(claims):
        problem = schemas.explain(schemas.SET_CLAIMS, claims)
        if problem is None:  # pragma: no cover - the fast predicate and jsonschema disagree
            raise AssertionError("fast schema check disagrees with jsonschema")
        raise Rejection(Reason.SCHEMA, problem.pointer, problem.message)


def event_from_claims(
    claims: Mapping[str, Any], *, delivery: Delivery | None = None, checked: bool = False
) -> UnifiedEvent:
    """The unified event for decoded SET claims (``checked``: the caller already validated)."""
    if not checked:
        check_claims(claims)
    ((event_type, body),) = claims["events"].items()
    iat = claims["iat"]
    toe = claims.get("toe")
    try:
        issued = epoch_text(iat)
    except ValueError as exc:
        raise Rejection(Reason.BAD_TIME, "/iat", str(exc)) from None
    try:
        occurred = event_time_text(toe) if toe is not None else issued
    except ValueError as exc:
        raise Rejection(Reason.BAD_TIME, "/toe", str(exc)) from None
    aud = claims.get("aud")
    attributes = body.get("attributes")
    return UnifiedEvent(
        event_id=claims["jti"],
        source="v3",
        event_type=event_type,
        entity_type=body.get("entityType"),
        entity_id=body.get("sub"),
        occurred_at=occurred,
        issued_at=issued,
        client_id=body.get("captureClientId"),
        application_id=body.get("captureApplicationId"),
        global_sub=body.get("globalSub"),
        issuer=claims["iss"],
        audience=() if aud is None else (aud,) if isinstance(aud, str) else tuple(aud),
        transaction_id=claims.get("txn"),
        event_object_id=body.get("id"),
        attributes=None if attributes is None else tuple(attributes),
        credential_type=body.get("credentialType"),
        payload=claims,
        delivery=delivery,
    )


def claims_from_event(event: UnifiedEvent) -> Mapping[str, Any]:
    """The v3 claims an event was made from (the inverse of :func:`event_from_claims`)."""
    if event.source != "v3":
        raise ValueError(f"event {event.event_id} came from {event.source}, not from v3 claims")
    return event.payload
