"""Subscriptions: list/show/create/update/delete, and turning a v2 webhook into a v3 body.

A v2 webhook is described by the JSON the user writes down from the v2 configuration:

    {"app_id": "...", "entity_type": "user", "callback_url": "https://.../v2",
     "kinds": ["ADD", "UPDATE", "DELETE"], "attributes": ["email", "givenName"]}

``kinds`` may also hold objects ``{"kind": "UPDATE", "attributes": [...]}``; ``attributes`` are
the attributes an ``UPDATE`` webhook watches. The v3 filter uses only the constructs the
Identity Cloud filter documentation shows (``properties``, ``const``, ``contains``, ``enum``),
so the API will accept it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from adapters.v2 import KIND_TO_EVENT_TYPE
from migrate.api import paths
from migrate.api.client import ApiClient, Retry
from migrate.api.errors import ProtocolError
from migrate.api.models import links_of

DRAFT_07 = "http://json-schema.org/draft-07/schema"
TITLE_LIMITS = (2, 200)


class V2ConfigError(ValueError):
    """The v2 webhook description cannot be turned into a subscription."""


class NoEndpoint(V2ConfigError):
    """Neither ``--endpoint`` nor the description names the v3 endpoint: a usage error."""


def list_subscriptions(client: ApiClient) -> list[dict[str, Any]]:
    return list(client.iter_items(client.url(paths.SUBSCRIPTIONS), "subscriptions"))


def get_subscription(client: ApiClient, sid: str) -> dict[str, Any]:
    return _object(client.get_json(client.url(paths.subscription(sid))))


def create_subscription(client: ApiClient, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST a subscription; not repeated after an ambiguous failure (no duplicate subscription)."""
    resp = client.send(
        "POST", client.url(paths.SUBSCRIPTIONS), json_body=dict(body), retry=Retry.REFUSED
    )
    return _object(client.decode(resp))


def _endpoint_key(endpoint: Any) -> str | None:
    return endpoint.rstrip("/") if isinstance(endpoint, str) else None


def find_same(existing: list[dict[str, Any]], body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first of ``existing`` with the endpoint and filter of ``body``, if any.

    Endpoints match without a trailing slash; filters match as JSON values (key order aside).
    Such a subscription already delivers what ``body`` would: a second one delivers it twice.
    """
    wanted = _endpoint_key(body.get("endpoint"))
    for subscription in existing:
        if _endpoint_key(subscription.get("endpoint")) == wanted and subscription.get(
            "filter"
        ) == body.get("filter"):
            return subscription
    return None


def existing_subscriptions(client: ApiClient) -> list[dict[str, Any]]:
    """Every subscription with its filter (fetched one by one if a listing leaves it out)."""
    found = []
    for subscription in list_subscriptions(client):
        sid = subscription_id_of(subscription)
        if "filter" not in subscription and sid is not None:
            subscription = get_subscription(client, sid)
        found.append(subscription)
    return found


@dataclass(frozen=True, slots=True)
class Placed:
    """A subscription asked for: the one created, or the existing one reused in its place."""

    subscription: dict[str, Any]
    reused: bool


def create_unless_present(
    client: ApiClient, bodies: list[dict[str, Any]], *, allow_duplicate: bool = False
) -> list[Placed]:
    """Create each of ``bodies`` unless a subscription with its endpoint and filter exists.

    Such a subscription is reused (nothing is created): two would deliver every event twice.
    ``allow_duplicate`` creates them all regardless. Bodies that are alike are created once.
    """
    existing = [] if allow_duplicate else existing_subscriptions(client)
    placed = []
    for body in bodies:
        same = None if allow_duplicate else find_same(existing, body)
        if same is not None:
            placed.append(Placed(same, reused=True))
            continue
        created = create_subscription(client, body)
        existing.append(created)
        placed.append(Placed(created, reused=False))
    return placed


def update_subscription(client: ApiClient, sid: str, patch: Mapping[str, Any]) -> dict[str, Any]:
    current = client.get_json(client.url(paths.subscription(sid)))
    url = client.link_or(current, "self", paths.subscription(sid))
    return _object(client.decode(client.send("PATCH", url, json_body=dict(patch))))


def delete_subscription(client: ApiClient, sid: str) -> None:
    client.send("DELETE", client.url(paths.subscription(sid)))


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError("expected a subscription (a JSON object) from the API")
    return data


# -- v2 → v3 ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class V2Webhook:
    app_id: str
    entity_type: str
    callback_url: str | None
    kinds: tuple[str, ...]
    attributes: tuple[str, ...]
    title: str | None = None
    v3_endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _text(data: Mapping[str, Any], *names: str, required: bool = True) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if value is not None:
            raise V2ConfigError(f"{name!r} must be a non-empty string")
    if required:
        raise V2ConfigError(f"{names[0]!r} is missing")
    return None


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise V2ConfigError(f"{what} must be a list of non-empty strings")
    return list(value)


def parse_v2_webhook(data: Any) -> V2Webhook:
    """Read one v2 webhook description (see the module docstring)."""
    if not isinstance(data, dict):
        raise V2ConfigError("a v2 webhook description is a JSON object")
    kinds: list[str] = []
    attributes = _strings(data.get("attributes", []), "'attributes'")
    raw_kinds = data.get("kinds")
    if not isinstance(raw_kinds, list) or not raw_kinds:
        raise V2ConfigError("'kinds' must list at least one of ADD, UPDATE, DELETE")
    for item in raw_kinds:
        if isinstance(item, dict):
            kind = _text(item, "kind")
            attributes += _strings(item.get("attributes", []), f"attributes of {kind}")
        elif isinstance(item, str):
            kind = item
        else:
            raise V2ConfigError("each kind is a string or an object with 'kind'")
        kind = (kind or "").strip().upper()
        if kind not in KIND_TO_EVENT_TYPE:
            raise V2ConfigError(f"unknown v2 kind {kind!r}: expected ADD, UPDATE or DELETE")
        if kind not in kinds:
            kinds.append(kind)
    if attributes and "UPDATE" not in kinds:
        raise V2ConfigError("watched attributes only apply to UPDATE, which is not among the kinds")
    return V2Webhook(
        app_id=_text(data, "app_id", "application_id", "appId") or "",
        entity_type=_text(data, "entity_type", "entityType") or "",
        callback_url=_text(data, "callback_url", "url", required=False),
        kinds=tuple(kinds),
        attributes=tuple(dict.fromkeys(attributes)),
        title=_text(data, "title", required=False),
        v3_endpoint=_text(data, "v3_endpoint", required=False),
    )


def v3_filter(webhook: V2Webhook) -> dict[str, Any]:
    """A filter over ``events`` that lets through what the v2 webhook delivered."""
    properties: dict[str, Any] = {}
    for kind in webhook.kinds:
        event_type = KIND_TO_EVENT_TYPE[kind]
        body: dict[str, Any] = {
            "captureApplicationId": {"const": webhook.app_id},
            "entityType": {"const": webhook.entity_type},
        }
        if kind == "UPDATE" and webhook.attributes:
            body["attributes"] = {"contains": {"enum": list(webhook.attributes)}}
        properties[event_type] = {"properties": body}
    schema = {"$schema": DRAFT_07, "properties": properties}
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:  # pragma: no cover - built from constants above
        raise V2ConfigError(f"generated filter is not valid JSON Schema: {exc.message}") from None
    return schema


def v3_subscription(
    webhook: V2Webhook,
    *,
    endpoint: str | None = None,
    title: str | None = None,
    enabled: bool = True,
) -> Conversion:
    """The ``POST /webhooks/subscriptions`` body for a v2 webhook."""
    warnings: list[str] = []
    target = endpoint or webhook.v3_endpoint
    if not target:
        raise NoEndpoint(
            "no v3 endpoint: pass --endpoint URL (or 'v3_endpoint' in the config). v3 delivers "
            "signed security event tokens, which a v2 callback cannot read: the migration needs "
            "a new listener"
        )
    if not target.startswith("https://"):
        warnings.append(f"endpoint {target} is not https: Identity Cloud will not deliver to it")
    if webhook.callback_url and target.rstrip("/") == webhook.callback_url.rstrip("/"):
        warnings.append(
            "the v3 endpoint is the v2 callback URL: it must accept v3 tokens "
            "(application/secevent+jwt) as well as v2 arrays"
        )
    kinds = "/".join(webhook.kinds)
    name = (
        title or webhook.title or f"{webhook.entity_type} {kinds} (from v2, app {webhook.app_id})"
    )
    low, high = TITLE_LIMITS
    if len(name) < low:
        raise V2ConfigError(f"title must have at least {low} characters")
    body = {
        "title": name[:high],
        "endpoint": target,
        "events": [KIND_TO_EVENT_TYPE[k] for k in webhook.kinds],
        "enabled": enabled,
        "filter": v3_filter(webhook),
    }
    return Conversion(body, warnings)


def matches(subscription: Mapping[str, Any], claims: Mapping[str, Any]) -> bool:
    """Whether an event (decoded claims) would be delivered under this subscription body."""
    events = claims.get("events")
    if not isinstance(events, dict) or len(events) != 1:
        return False
    (event_type,) = events
    if event_type not in subscription.get("events", []):
        return False
    schema = subscription.get("filter")
    return not schema or Draft7Validator(schema).is_valid(events)


def subscription_id_of(subscription: Mapping[str, Any]) -> str | None:
    sid = subscription.get("id")
    if isinstance(sid, str):
        return sid
    self_link = links_of(subscription).get("self")
    return self_link.rstrip("/").rsplit("/", 1)[-1] if self_link else None
