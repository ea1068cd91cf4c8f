"""The simulator's records and replies: configuration, subscriptions, events, export jobs.

Plain data, no behaviour beyond validation: :mod:`.world` holds and changes them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

DAY = timedelta(days=1)
RETENTION = timedelta(days=7)
SUCCESS, RETRYING, FAILURE = "success", "retrying", "failure"
# Seconds between one delivery attempt and the next: the first attempt, then 3 s, 30 s, 5 min,
# 1 h and 24 h after the previous one (6 attempts, then ``failure``).
RETRY_DELAYS: tuple[float, ...] = (3.0, 30.0, 300.0, 3600.0, 86400.0)


@dataclass
class SimConfig:
    customer_id: str = "00000000-0000-0000-0000-000000000000"
    client_id: str = "simulator-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    token_lifetime: int = 3600
    export_seconds: float = 5.0
    active_state: str = "processing"
    completed_state: str = "completed"
    summary_refresh_seconds: float = 86400.0
    page_size: int = 50
    job_record_grace_seconds: float = 86400.0
    max_attempts: int = 6
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    delivery_concurrency: int = 8  # requests on the wire at once
    delivery_timeout: float = 10.0  # seconds for a whole answer, else the attempt failed
    # What export _links point at: the docs use both /events/exports and /exports.
    export_path: str = "events/exports"
    application_id: str = "simapp0000000000000000000a"
    capture_client_id: str = "simclient" + "0" * 23
    # Answer /download with a redirect to a "bucket" on another origin (localhost instead of
    # 127.0.0.1) that, like a presigned S3 URL, refuses requests carrying an Authorization.
    download_redirect: bool = False
    seed: int = 1


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any = None  # JSON-able, or bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def problem(status: int, title: str, details: str) -> Reply:
    return Reply(status, {"status": status, "title": title, "details": details})


NOT_FOUND = problem(404, "Not Found", "resource not found")


@dataclass
class SimSubscription:
    id: str
    title: str
    endpoint: str
    events: list[str]
    enabled: bool
    filter: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass
class SimEvent:
    id: str
    subscription_id: str
    claims: dict[str, Any]
    token: str
    endpoint: str
    created_at: datetime
    updated_at: datetime
    state: str = RETRYING
    attempts: int = 0
    status_code: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    exported_by: str | None = None
    # Delivery: when the next attempt is due (None: nothing scheduled, e.g. seeded history),
    # how many attempts this round has made (a redelivery starts a new round), and whether an
    # attempt is on the wire right now.
    due: datetime | None = None
    round_attempts: int = 0
    in_flight: bool = False

    @property
    def event_type(self) -> str:
        return str(next(iter(self.claims["events"])))


@dataclass
class SimExport:
    id: str
    subscription_id: str
    created_at: datetime
    updated_at: datetime
    finish_at: datetime
    state: str
    event_ids: list[str]
    completed_at: datetime | None = None
    content: bytes | None = None
    etag: str | None = None


def page(items: list[dict[str, Any]], key: str, href: str) -> dict[str, Any]:
    return {"total": len(items), "_embedded": {key: items}, "_links": {"self": {"href": href}}}


def subscription_problem(body: Any, *, partial: bool) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    required = ("title", "endpoint", "events")
    missing = [k for k in required if k not in body]
    if missing and not partial:
        return f"missing {', '.join(missing)}"
    title = body.get("title", "ok")
    if not isinstance(title, str) or not 2 <= len(title) <= 200:
        return "title must be 2 to 200 characters"
    endpoint = body.get("endpoint", "https://")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        return "endpoint must be an http(s) URL"
    events = body.get("events", ["x"])
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        return "events must be a non-empty list of event names"
    if not isinstance(body.get("enabled", True), bool):
        return "enabled must be true or false"
    schema = body.get("filter")
    if schema is not None:
        if not isinstance(schema, dict):
            return "filter must be a JSON Schema object"
        try:
            Draft7Validator.check_schema(schema)
        except SchemaError as exc:
            return f"filter is not a valid draft-07 schema: {exc.message}"
    return None
