"""The simulator's state: subscriptions, events with delivery attempts, export jobs, tokens.

Pure state and rules, no HTTP: each operation returns a :class:`Reply`. Time comes from a
:class:`~migrate.api.clock.Clock` and every time-dependent change (an export finishing, a file or
an event reaching 7 days) is applied lazily when the state is next looked at.

Where the public docs are silent the simulator makes a choice, named here so that a rehearsal
does not mistake it for the real service:

* the finished state word is ``completed`` (configurable: the docs never show it);
* an export takes the failed, not yet exported events *when it starts*; canceling it makes them
  exportable again;
* a file is deleted 7 days after its job finished; the job record one more day later (so both
  404 flavours, "expired" and "unknown id", can be rehearsed);
* ``/history`` answers ``{"_embedded": {"history": [{"attempt", "createdAt", "statusCode"}]}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from adapters.timefmt import format_us
from migrate.api.clock import Clock
from migrate.api.sim_keys import SigningKey
from migrate.api.subscriptions import matches

DAY = timedelta(days=1)
RETENTION = timedelta(days=7)
SUCCESS, RETRYING, FAILURE = "success", "retrying", "failure"


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
    # What export _links point at: the docs use both /events/exports and /exports.
    export_path: str = "events/exports"
    application_id: str = "simapp0000000000000000000a"
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


class SimWorld:
    """Everything the simulated API knows; thread-safe (one lock, held briefly)."""

    def __init__(self, config: SimConfig, clock: Clock, key: SigningKey | None = None) -> None:
        self.config = config
        self.clock = clock
        self.key = key or SigningKey()
        self.public_url = "http://127.0.0.1"
        self.lock = threading.RLock()
        self.subscriptions: dict[str, SimSubscription] = {}
        self.events: dict[str, SimEvent] = {}
        self.exports: dict[str, SimExport] = {}
        self._summaries: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self.issued_tokens: list[str] = []  # so tests can prove none of them leaks
        self._rng = random.Random(config.seed)

    # -- links ------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return "/" + self.config.customer_id

    def sub_href(self, sid: str) -> str:
        return f"{self.root}/webhooks/subscriptions/{sid}"

    def export_href(self, job: SimExport) -> str:
        return f"{self.sub_href(job.subscription_id)}/{self.config.export_path}/{job.id}"

    def event_href(self, event: SimEvent) -> str:
        return f"{self.sub_href(event.subscription_id)}/events/{event.id}"

    # -- time -------------------------------------------------------------------------------

    def _tick(self) -> datetime:
        """Apply everything that time has done since the last look; return now."""
        now = self.clock.now()
        for job in list(self.exports.values()):
            if job.state == self.config.active_state and now >= job.finish_at:
                self._complete(job, job.finish_at)
            if job.completed_at is not None and now >= job.completed_at + RETENTION:
                job.content = None  # the file is gone from the bucket
            grace = timedelta(seconds=self.config.job_record_grace_seconds)
            if now >= (job.completed_at or job.created_at) + RETENTION + grace:
                del self.exports[job.id]
        for event in list(self.events.values()):
            if now >= event.created_at + RETENTION:
                del self.events[event.id]
        return now

    def _complete(self, job: SimExport, when: datetime) -> None:
        lines = [
            json.dumps(self.events[eid].claims, separators=(",", ":")).encode() + b"\n"
            for eid in job.event_ids
            if eid in self.events
        ]
        job.content = b"".join(lines)
        job.etag = '"' + hashlib.sha1(job.content, usedforsecurity=False).hexdigest() + '"'
        job.state = self.config.completed_state
        job.completed_at = job.updated_at = when

    # -- tokens -----------------------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str, grant_type: str) -> Reply:
        if grant_type != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        good_id = hmac.compare_digest(client_id.encode(), self.config.client_id.encode())
        good_secret = hmac.compare_digest(
            client_secret.encode(), self.config.client_secret.encode()
        )
        if not (good_id and good_secret):
            return Reply(401, {"error": "invalid_client"})
        now = self.clock.now()
        claims = {
            "iss": f"{self.public_url}{self.root}/login",
            "sub": client_id,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.config.token_lifetime,
            "jti": str(uuid.uuid4()),
            "token_use": "access",
        }
        token = self.key.sign(claims, {"typ": "at+jwt"})
        self.issued_tokens.append(token)
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.config.token_lifetime,
            },
            {"Cache-Control": "no-store"},
        )

    def check_token(self, token: str) -> str:
        return self.key.verify_access_token(token, self.clock.now())

    # -- subscriptions ----------------------------------------------------------------------

    def subscription_json(self, sub: SimSubscription) -> dict[str, Any]:
        return {
            "id": sub.id,
            "title": sub.title,
            "endpoint": sub.endpoint,
            "events": list(sub.events),
            "enabled": sub.enabled,
            "filter": sub.filter,
            "createdAt": format_us(sub.created_at),
            "updatedAt": format_us(sub.updated_at),
            "_links": {"self": {"href": self.sub_href(sub.id)}},
        }

    def add_subscription(
        self,
        *,
        title: str = "Simulated subscription",
        endpoint: str = "https://listener.example/v3",
        events: list[str] | None = None,
        enabled: bool = True,
        filter: dict[str, Any] | None = None,
        sid: str | None = None,
    ) -> SimSubscription:
        with self.lock:
            now = self.clock.now()
            sub = SimSubscription(
                id=sid or str(uuid.uuid4()),
                title=title,
                endpoint=endpoint,
                events=events or ["entityCreated", "entityUpdated", "entityDeleted"],
                enabled=enabled,
                filter=filter,
                created_at=now,
                updated_at=now,
            )
            self.subscriptions[sub.id] = sub
            return sub

    def list_subscriptions(self) -> Reply:
        with self.lock:
            items = [self.subscription_json(s) for s in self.subscriptions.values()]
            return Reply(200, _page(items, "subscriptions", f"{self.root}/webhooks/subscriptions"))

    def get_subscription(self, sid: str) -> Reply:
        with self.lock:
            sub = self.subscriptions.get(sid)
            return Reply(200, self.subscription_json(sub)) if sub else NOT_FOUND

    def create_subscription(self, body: Any) -> Reply:
        error = _subscription_problem(body, partial=False)
        if error:
            return problem(400, "Bad Request", error)
        sub = self.add_subscription(
            title=body["title"],
            endpoint=body["endpoint"],
            events=list(body["events"]),
            enabled=body.get("enabled", True),
            filter=body.get("filter"),
        )
        with self.lock:
            return Reply(201, self.subscription_json(sub))

    def update_subscription(self, sid: str, body: Any) -> Reply:
        with self.lock:
            sub = self.subscriptions.get(sid)
            if sub is None:
                return NOT_FOUND
            error = _subscription_problem(body, partial=True)
            if error:
                return problem(400, "Bad Request", error)
            for key in ("title", "endpoint", "events", "enabled", "filter"):
                if key in body:
                    setattr(sub, key, body[key])
            sub.updated_at = self.clock.now()
            return Reply(200, self.subscription_json(sub))

    def delete_subscription(self, sid: str) -> Reply:
        with self.lock:
            if self.subscriptions.pop(sid, None) is None:
                return NOT_FOUND
            return Reply(204)

    # -- events -----------------------------------------------------------------------------

    def publish(self, claims_events: dict[str, Any], *, sid: str | None = None) -> list[str]:
        """An Identity Cloud event happened: queue it for every subscription it passes.

        ``claims_events`` is the ``events`` claim, e.g. ``{"entityUpdated": {...}}``.
        ``sid`` forces one subscription, bypassing its filter (for seeding).
        """
        with self.lock:
            now = self._tick()
            ids = []
            targets = [self.subscriptions[sid]] if sid else list(self.subscriptions.values())
            for sub in targets:
                body = {"events": sub.events, "filter": sub.filter}
                if sid is None and not (sub.enabled and matches(body, {"events": claims_events})):
                    continue
                claims = {
                    "iss": f"{self.public_url}{self.root}/webhooks",
                    "iat": int(now.timestamp()),
                    "jti": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    "aud": [sub.endpoint],
                    "txn": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    "toe": int(now.timestamp()),
                    "events": claims_events,
                }
                jku = f"{self.public_url}{self.root}/login/jwk"
                token = self.key.sign(claims, {"typ": "secevent+jwt", "jku": jku})
                event = SimEvent(
                    id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    subscription_id=sub.id,
                    claims=claims,
                    token=token,
                    endpoint=sub.endpoint,
                    created_at=now,
                    updated_at=now,
                )
                self.events[event.id] = event
                ids.append(event.id)
            return ids

    def sample_event(self, event_type: str) -> dict[str, Any]:
        """A realistic ``events`` claim for the simulated application."""
        entity = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        app = self.config.application_id
        body: dict[str, Any] = {
            "captureApplicationId": app,
            "captureClientId": "simclient000000000000000000000000"[:32],
            "entityType": "user",
            "globalSub": f"capture-v1://sim.janraincapture.com/{app}/user/{entity}",
            "sub": entity,
            "id": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
        }
        if event_type == "entityUpdated":
            body["attributes"] = [self._rng.choice(["email", "givenName", "familyName"])]
        return {event_type: body}

    def attempt(self, event_id: str, *, delivered: bool, status_code: int | None = None) -> None:
        """One delivery attempt; the sixth failure makes the event ``failure``."""
        with self.lock:
            now = self._tick()
            event = self.events[event_id]
            event.attempts += 1
            event.status_code = status_code or (200 if delivered else 503)
            event.updated_at = now
            event.history.append(
                {
                    "attempt": event.attempts,
                    "createdAt": format_us(now),
                    "statusCode": event.status_code,
                }
            )
            if delivered:
                event.state = SUCCESS
            elif event.attempts >= self.config.max_attempts:
                event.state = FAILURE
            else:
                event.state = RETRYING

    def seed(
        self, sid: str, *, succeeded: int = 0, retrying: int = 0, failed: int = 0
    ) -> list[str]:
        """Events in each final state, with the attempts that led there."""
        sub = self.subscriptions[sid]
        ids: list[str] = []
        plan = [(True, 1)] * succeeded + [(False, 2)] * retrying
        plan += [(False, self.config.max_attempts)] * failed
        for n, (delivered, tries) in enumerate(plan):
            (event_id,) = self.publish(self.sample_event(sub.events[n % len(sub.events)]), sid=sid)
            for attempt in range(tries):
                self.attempt(event_id, delivered=delivered and attempt == tries - 1)
            ids.append(event_id)
        return ids

    def event_json(self, event: SimEvent) -> dict[str, Any]:
        href = self.event_href(event)
        return {
            "id": event.id,
            "createdAt": format_us(event.created_at),
            "updatedAt": format_us(event.updated_at),
            "state": event.state,
            "attempts": event.attempts,
            "request": {
                "endpoint": event.endpoint,
                "headers": {"Content-Type": "application/secevent+jwt"},
                "payload": event.token,
            },
            "response": {"statusCode": event.status_code, "headers": {}},
            "_links": {
                "self": {"href": href},
                "redeliver": {"href": href + "/redeliver"},
                "history": {"href": href + "/history"},
            },
            "eventType": event.event_type,
        }

    def list_events(self, sid: str, *, state: str | None, offset: int, limit: int | None) -> Reply:
        with self.lock:
            self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            chosen = [
                e
                for e in sorted(self.events.values(), key=lambda e: (e.created_at, e.id))
                if e.subscription_id == sid and (state is None or e.state == state)
            ]
            size = max(1, min(limit or self.config.page_size, self.config.page_size))
            window = chosen[offset : offset + size]
            base = f"{self.sub_href(sid)}/events?" + (f"state={state}&" if state else "")
            links = {"self": {"href": f"{base}offset={offset}&limit={size}"}}
            if offset + size < len(chosen):
                links["next"] = {"href": f"{base}offset={offset + size}&limit={size}"}
            return Reply(
                200,
                {
                    "total": len(chosen),
                    "_embedded": {"events": [self.event_json(e) for e in window]},
                    "_links": links,
                },
            )

    def _event(self, sid: str, eid: str) -> SimEvent | None:
        self._tick()
        event = self.events.get(eid)
        return event if event is not None and event.subscription_id == sid else None

    def get_event(self, sid: str, eid: str) -> Reply:
        with self.lock:
            event = self._event(sid, eid)
            return Reply(200, self.event_json(event)) if event else NOT_FOUND

    def event_history(self, sid: str, eid: str) -> Reply:
        with self.lock:
            event = self._event(sid, eid)
            if event is None:
                return NOT_FOUND
            return Reply(
                200, _page(list(event.history), "history", self.event_href(event) + "/history")
            )

    def redeliver(self, sid: str, eid: str) -> Reply:
        with self.lock:
            event = self._event(sid, eid)
            if event is None:
                return NOT_FOUND
            if event.state != FAILURE:
                return problem(
                    409,
                    "Conflict",
                    f"only failed events can be redelivered (state is {event.state})",
                )
            event.state = RETRYING
            event.updated_at = self.clock.now()
            return Reply(202, self.event_json(event))

    # -- summary ----------------------------------------------------------------------------

    def summary(self, sid: str) -> Reply:
        with self.lock:
            now = self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            cached = self._summaries.get(sid)
            refresh = timedelta(seconds=self.config.summary_refresh_seconds)
            if cached is None or now - cached[0] >= refresh:
                mine = [e for e in self.events.values() if e.subscription_id == sid]
                counts = {
                    s: sum(1 for e in mine if e.state == s) for s in (SUCCESS, RETRYING, FAILURE)
                }
                cached = (
                    now,
                    {
                        "updatedAt": format_us(now),
                        "total": len(mine),
                        "succeeded": counts[SUCCESS],
                        "retrying": counts[RETRYING],
                        "failed": counts[FAILURE],
                        "exportable": sum(
                            1 for e in mine if e.state == FAILURE and e.exported_by is None
                        ),
                    },
                )
                self._summaries[sid] = cached
            return Reply(200, dict(cached[1]))

    def override_summary(self, sid: str, **counts: int) -> None:
        """Make the next summaries say something else (e.g. break an invariant on purpose)."""
        with self.lock:
            self.summary(sid)
            when, data = self._summaries[sid]
            self._summaries[sid] = (when, {**data, **counts})

    # -- exports ----------------------------------------------------------------------------

    def export_json(self, job: SimExport) -> dict[str, Any]:
        href = self.export_href(job)
        links = {"self": {"href": href}}
        if job.state == self.config.completed_state:
            links["download"] = {"href": href + "/download"}
        return {
            "id": job.id,
            "createdAt": format_us(job.created_at),
            "updatedAt": format_us(job.updated_at),
            "state": job.state,
            "_links": links,
        }

    def list_exports(self, sid: str) -> Reply:
        with self.lock:
            self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            jobs = sorted(
                (j for j in self.exports.values() if j.subscription_id == sid),
                key=lambda j: j.created_at,
            )
            href = f"{self.sub_href(sid)}/{self.config.export_path}"
            return Reply(200, _page([self.export_json(j) for j in jobs], "exports", href))

    def start_export(self, sid: str) -> Reply:
        with self.lock:
            now = self._tick()
            if sid not in self.subscriptions:
                return NOT_FOUND
            for job in self.exports.values():
                if job.subscription_id != sid:
                    continue
                recent = job.completed_at is not None and now - job.completed_at < DAY
                if job.state == self.config.active_state or recent:
                    return problem(409, "Conflict", "Too many active exports")
            chosen = [
                e.id
                for e in sorted(self.events.values(), key=lambda e: (e.created_at, e.id))
                if e.subscription_id == sid and e.state == FAILURE and e.exported_by is None
            ]
            job = SimExport(
                id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                subscription_id=sid,
                created_at=now,
                updated_at=now,
                finish_at=now + timedelta(seconds=self.config.export_seconds),
                state=self.config.active_state,
                event_ids=chosen,
            )
            for eid in chosen:
                self.events[eid].exported_by = job.id
            self.exports[job.id] = job
            return Reply(202, self.export_json(job))

    def _job(self, sid: str, xid: str) -> SimExport | None:
        self._tick()
        job = self.exports.get(xid)
        return job if job is not None and job.subscription_id == sid else None

    def get_export(self, sid: str, xid: str) -> Reply:
        with self.lock:
            job = self._job(sid, xid)
            return Reply(200, self.export_json(job)) if job else NOT_FOUND

    def cancel_export(self, sid: str, xid: str) -> Reply:
        with self.lock:
            job = self._job(sid, xid)
            if job is None:
                return NOT_FOUND
            if job.state == self.config.active_state:
                job.state = "canceled"
                job.updated_at = self.clock.now()
                for eid in job.event_ids:
                    if eid in self.events:
                        self.events[eid].exported_by = None
            elif job.state != "canceled":
                return problem(
                    409, "Conflict", f"export is {job.state}; only active exports can be canceled"
                )
            return Reply(200, self.export_json(job))

    def download(self, sid: str, xid: str) -> Reply:
        with self.lock:
            job = self._job(sid, xid)
            if job is None or job.content is None:
                return NOT_FOUND  # the real API says no more than this: see explain_missing
            return Reply(
                200, job.content, {"ETag": job.etag or ""}, content_type="application/x-ndjson"
            )


def _page(items: list[dict[str, Any]], key: str, href: str) -> dict[str, Any]:
    return {"total": len(items), "_embedded": {key: items}, "_links": {"self": {"href": href}}}


def _subscription_problem(body: Any, *, partial: bool) -> str | None:
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
