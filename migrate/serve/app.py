"""The listener as a plain ASGI application: routing, bodies, answers, logs and metrics.

``Listener(config)`` is callable as ``await listener(scope, receive, send)``; tests drive it
without a socket, :mod:`migrate.serve.runner` serves it with granian. Bodies are read with a
size limit (413) and a time limit (408), so a client sending a byte a second holds a coroutine
for at most ``body_timeout`` seconds, never a worker.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson

from migrate.serve import v2, v3
from migrate.serve.config import ServeConfig
from migrate.serve.keys import ListenerKeys
from migrate.serve.logs import RequestLog
from migrate.serve.metrics import Metrics
from migrate.serve.store import ListenerStore
from migrate.serve.writer import GroupCommitter, StoreFailed
from migrate.verify.reasons import VerifyReason

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_GET_ROUTES: Final = frozenset({"/healthz", "/readyz", "/metrics"})
_POST_ROUTES: Final = frozenset({v3.ROUTE, *v2.ROUTES})
_JSON: Final = [(b"content-type", b"application/json")]


class Answer:
    __slots__ = ("body", "headers", "jti", "reason", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        jti: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.status, self.body, self.headers = status, body, headers or []
        self.jti, self.reason = jti, reason


def _json(status: int, value: Any, **kwargs: Any) -> Answer:
    return Answer(status, orjson.dumps(value), list(_JSON), **kwargs)


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class Listener:
    def __init__(
        self,
        config: ServeConfig,
        *,
        keys: ListenerKeys | None = None,
        log: RequestLog | None = None,
    ) -> None:
        if config.jwks is None and keys is None:
            raise ValueError("the listener needs keys: --jwks FILE_OR_URL")
        self.config = config
        self.metrics = Metrics()
        self.log = log or RequestLog()
        self.keys = keys or ListenerKeys(
            config.jwks or "", cooldown=config.refetch_cooldown, retry=config.key_retry
        )
        self.verifier = self.keys.verifier(issuer=config.issuer, audience=config.audience)
        self.fetching_verifier = self.keys.verifier(
            issuer=config.issuer, audience=config.audience, fetching=True
        )
        self.store = ListenerStore(config.db, lock_timeout=config.lock_timeout)
        self.committer = GroupCommitter(
            self.store,
            max_batch=config.max_batch,
            writers=1 if self.store.backend == "sqlite" else config.server_writers,
            on_commit=self.metrics.on_commit,
            on_failure=self.metrics.on_failure,
        )
        self._retry_after = str(config.retry_after).encode()
        self._closed = False

    def close(self) -> None:
        """Commit what is in flight and stop the writer (graceful stop)."""
        if not self._closed:
            self._closed = True
            self.committer.stop()
            self.keys.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        known = path in _POST_ROUTES or path in _GET_ROUTES
        route = path if known else "other"
        try:
            answer = await self._route(method, path, scope, receive)
        except _ClientGone:
            return
        headers = [(b"content-length", str(len(answer.body)).encode()), *answer.headers]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        seconds = time.perf_counter() - started
        self.metrics.answered(route, answer.status, seconds)
        self.log.write(method, route, answer.status, seconds, jti=answer.jti, reason=answer.reason)

    async def _route(self, method: str, path: str, scope: Scope, receive: Receive) -> Answer:
        if path in _POST_ROUTES:
            if method != "POST":
                return Answer(405, headers=[(b"allow", b"POST")])
            if path == v3.ROUTE:
                return await self._v3(scope, receive)
            return await self._v2(path, scope, receive)
        if path in _GET_ROUTES:
            if method not in ("GET", "HEAD"):
                return Answer(405, headers=[(b"allow", b"GET, HEAD")])
            if path == "/healthz":
                return _json(200, {"status": "ok"})
            if path == "/readyz":
                return await self._readyz()
            return Answer(
                200, self.metrics.render(), [(b"content-type", Metrics.CONTENT_TYPE.encode())]
            )
        return Answer(404)

    async def _readyz(self) -> Answer:
        store = await asyncio.get_running_loop().run_in_executor(None, self.store.ready)
        keys = self.keys.loaded
        committing = self.committer.healthy
        ready = store and keys and committing and not self._closed
        state = {"store": store, "keys": keys, "committing": committing}
        return _json(200 if ready else 503, {"ready": ready, **state})

    def _unavailable(self, why: str) -> Answer:
        self.metrics.rejected.labels(why).inc()
        return Answer(503, headers=[(b"retry-after", self._retry_after)], reason=why)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.config.max_body
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        async with asyncio.timeout(self.config.body_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _BodyTooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        return b"".join(chunks)

    async def _body_or_answer(self, scope: Scope, receive: Receive) -> bytes | Answer:
        try:
            return await self._read_body(scope, receive)
        except _BodyTooLarge:
            self.metrics.rejected.labels("too_large").inc()
            return Answer(413, headers=[(b"connection", b"close")], reason="too_large")
        except TimeoutError:
            self.metrics.rejected.labels("body_timeout").inc()
            return Answer(408, headers=[(b"connection", b"close")], reason="body_timeout")

    async def _v3(self, scope: Scope, receive: Receive) -> Answer:
        content_type = _header(scope, b"content-type")
        if not v3.content_type_ok(content_type):
            self.metrics.rejected.labels("content_type").inc()
            return Answer(415, headers=[(b"accept-post", v3.CONTENT_TYPE.encode())])
        body = await self._body_or_answer(scope, receive)
        if isinstance(body, Answer):
            return body
        if not self.keys.loaded:
            return self._unavailable("keys_not_loaded")
        outcome = v3.read_token(self.verifier, body)
        if (
            isinstance(outcome, v3.Refused)
            and outcome.rejection.reason == VerifyReason.UNKNOWN_KID
            and self.keys.may_refetch
        ):
            # A key published since the last fetch: fetch it on a worker thread (it may take up
            # to its timeout) and verify again; the other requests go on meanwhile.
            outcome = await asyncio.get_running_loop().run_in_executor(
                None, v3.read_token, self.fetching_verifier, body
            )
        if (
            isinstance(outcome, v3.Refused)
            and outcome.rejection.reason == VerifyReason.UNKNOWN_KID
            and self.keys.unreachable
        ):
            # The key server did not answer the refetch: a key rotated in meanwhile cannot be
            # told from a forgery, so the sender is asked to try again rather than told "bad".
            return self._unavailable("keys_unreachable")
        try:
            if isinstance(outcome, v3.Refused):
                await self.committer.submit(rejects=[outcome.reject_row()])
                reason = outcome.rejection.reason
                self.metrics.rejected.labels(reason).inc()
                return _json(400, outcome.body(), jti=outcome.jti, reason=reason)
            written = await self.committer.submit(v3=[outcome])
        except StoreFailed:
            return self._unavailable("store")
        jti = outcome.event_id
        if jti in written.new:
            self.metrics.stored.labels("v3").inc()
        else:
            self.metrics.duplicates.labels("v3").inc()
        return Answer(202, jti=jti)

    async def _v2(self, route: str, scope: Scope, receive: Receive) -> Answer:
        body = await self._body_or_answer(scope, receive)
        if isinstance(body, Answer):
            return body
        outcome = v2.read_callback(route, body, expected_hash=self.config.v2_hash)
        try:
            if isinstance(outcome, v2.Refused):
                reason = outcome.rejection.reason
                self.metrics.rejected.labels(reason).inc()
                if outcome.status == 401:  # not the sender's: not kept
                    return _json(401, outcome.body(), reason=reason)
                await self.committer.submit(rejects=[outcome.reject_row()])
                return _json(400, outcome.body(), reason=reason)
            written = await self.committer.submit(v2=outcome)
        except StoreFailed:
            return self._unavailable("store")
        new = len({e.event_id for e in outcome} & written.new)
        self.metrics.stored.labels("v2").inc(new)
        self.metrics.duplicates.labels("v2").inc(len(outcome) - new)
        return _json(200, {"stored": new, "duplicates": len(outcome) - new})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


# The writer thread returns from each commit (the GIL released during the fsync) needing the GIL
# back while the event loop verifies tokens; at the default 5 ms switch interval it waits that
# long every time, and so does every request in its batch. A worker hands the GIL over sooner.
SWITCH_INTERVAL_S: Final = 0.0005


def create_app() -> Listener:
    """The factory granian calls in each worker process (settings from the environment)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return Listener(ServeConfig.from_env())
