"""The simulated Identity Cloud: its whole state and rules, no HTTP (each operation returns a
:class:`~migrate.simulator.model.Reply`; :mod:`.server` puts them on the wire).

:class:`SimWorld` gathers the parts: :mod:`.base` (state, time), :mod:`.events` (signed events,
delivery attempts, ``/summary``), :mod:`.exports` (bulk exports); tokens and subscriptions are
here. Where the public docs are silent the simulator makes a choice, named in each module so
that a rehearsal does not mistake it for the real service (e.g. the finished export state word
is ``completed``, configurable: the docs never show it).
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from adapters.timefmt import format_us
from migrate.simulator.events import EventsMixin
from migrate.simulator.exports import ExportsMixin
from migrate.simulator.model import (
    NOT_FOUND,
    Reply,
    SimSubscription,
    page,
    problem,
    subscription_problem,
)


class SimWorld(EventsMixin, ExportsMixin):
    """Everything the simulated API knows; thread-safe (one lock, held briefly)."""

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
            return Reply(200, page(items, "subscriptions", f"{self.root}/webhooks/subscriptions"))

    def get_subscription(self, sid: str) -> Reply:
        with self.lock:
            sub = self.subscriptions.get(sid)
            return Reply(200, self.subscription_json(sub)) if sub else NOT_FOUND

    def create_subscription(self, body: Any) -> Reply:
        error = subscription_problem(body, partial=False)
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
            error = subscription_problem(body, partial=True)
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
