"""A Webhooks v2 sender: the change stream as v2 notifications, to one callback URL per kind.

The plan is pure (:func:`plan_v2`: changes in, POSTs out: JSON arrays of
``{uuid, entity_type, datetime, hash, client_id}``, each carrying the webhook's callback hash,
to the webhook of the change's kind; the payload does not say the kind, the URL does).
:class:`V2Sender` is the thin HTTP layer: bounded concurrency, a 10 s timeout per request, and
3 retries after a failed first attempt (a non-2xx answer, a timeout or no connection).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from adapters.v2 import V2Kind
from migrate.api.clock import SYSTEM_CLOCK, Clock
from migrate.simulator.changes import Change
from migrate.simulator.schedule import delivered
from migrate.simulator.sender import post

V2_USER_AGENT = "Janrain Webhooks/2.0 (webhooks-migrate simulator)"
KINDS: tuple[V2Kind, ...] = ("ADD", "UPDATE", "DELETE")


@dataclass(frozen=True, slots=True)
class V2Webhook:
    """A v2 webhook configuration: one callback URL per kind, one callback hash."""

    callbacks: Mapping[V2Kind, str]
    hash: str
    client_id: str

    @classmethod
    def for_listener(cls, base_url: str, hash: str, client_id: str) -> V2Webhook:
        """Callbacks at the listener's ``/v2/add``, ``/v2/update`` and ``/v2/delete``."""
        base = base_url.rstrip("/")
        return cls({k: f"{base}/v2/{k.lower()}" for k in KINDS}, hash, client_id)


@dataclass(frozen=True, slots=True)
class V2Post:
    kind: V2Kind
    url: str
    notifications: tuple[dict[str, str], ...]

    def body(self) -> bytes:
        return json.dumps(list(self.notifications), separators=(",", ":")).encode()


def plan_v2(changes: Iterable[Change], webhook: V2Webhook, *, batch: int = 1) -> list[V2Post]:
    """The POSTs that carry ``changes``, in order: runs of the same kind, ``batch`` at most in
    one array (v2 sends arrays; a change of another kind starts a new one)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    posts: list[V2Post] = []
    run: list[Change] = []

    def flush() -> None:
        if run:
            kind = run[0].kind
            notes = tuple(c.v2_notification(webhook.hash, webhook.client_id) for c in run)
            posts.append(V2Post(kind, webhook.callbacks[kind], notes))
            run.clear()

    for change in changes:
        if run and (change.kind != run[0].kind or len(run) >= batch):
            flush()
        run.append(change)
    flush()
    return posts


def attempts_allowed(retries: int) -> int:
    """The first attempt and ``retries`` more."""
    return 1 + max(0, retries)


@dataclass
class V2Result:
    post: V2Post
    attempts: list[tuple[datetime, int | None]] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and delivered(self.attempts[-1][1])


@dataclass(frozen=True, slots=True)
class V2Report:
    results: tuple[V2Result, ...]

    @property
    def counts(self) -> dict[str, int]:
        done = [r for r in self.results if r.delivered]
        return {
            "posts": len(self.results),
            "notifications": sum(len(r.post.notifications) for r in self.results),
            "delivered_posts": len(done),
            "delivered_notifications": sum(len(r.post.notifications) for r in done),
            "failed_posts": len(self.results) - len(done),
            "attempts": sum(len(r.attempts) for r in self.results),
        }


class V2Sender:
    """Sends a plan: each POST until a 2xx or ``retries`` retries, ``retry_delay`` seconds
    apart on ``clock`` (a manual clock makes the wait free)."""

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        retries: int = 3,
        timeout: float = 10.0,
        retry_delay: float = 1.0,
        concurrency: int = 4,
    ) -> None:
        self.clock = clock
        self.retries = retries
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.concurrency = concurrency

    def _send_one(self, item: V2Post) -> V2Result:
        result = V2Result(item)
        body = item.body()
        for n in range(attempts_allowed(self.retries)):
            if n:
                self.clock.sleep(self.retry_delay)
            at = self.clock.now()
            status = post(
                item.url, body, "application/json", timeout=self.timeout, user_agent=V2_USER_AGENT
            )
            result.attempts.append((at, status))
            if delivered(status):
                break
        return result

    def send(self, plan: Iterable[V2Post]) -> V2Report:
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="sim-v2") as pool:
            return V2Report(tuple(pool.map(self._send_one, plan)))
