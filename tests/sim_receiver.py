"""A small real webhook receiver for the simulator's tests (not the product's listener).

A threaded WSGI app under wsgiref on 127.0.0.1 that records every request and answers what
the test's ``answer`` function says: a status, after an optional real delay (to make a sender
time out).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from migrate.api.clock import Clock


@dataclass(frozen=True)
class Received:
    path: str
    content_type: str
    user_agent: str
    body: bytes
    at: datetime | None  # by the test's clock, when one is given


Answer = Callable[[Received], tuple[int, float]]  # (status, seconds to wait before answering)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops connections under load (1 s SYN retry)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver:
    def __init__(self, answer: Answer | None = None, clock: Clock | None = None) -> None:
        self.answer: Answer = answer or (lambda r: (202, 0.0))
        self.clock = clock
        self.received: list[Received] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, _Server, _Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        req = Received(
            environ["PATH_INFO"],
            environ.get("CONTENT_TYPE", ""),
            environ.get("HTTP_USER_AGENT", ""),
            environ["wsgi.input"].read(length),
            self.clock.now() if self.clock else None,
        )
        with self._lock:
            self.received.append(req)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            status, delay = self.answer(req)
            if delay:
                time.sleep(delay)
        finally:
            with self._lock:
                self.active -= 1
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        start(f"{status} {phrase}", [("Content-Length", "0")])
        return [b""]

    def bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self.received]


@contextmanager
def receiver(answer: Answer | None = None, clock: Clock | None = None) -> Iterator[Receiver]:
    rec = Receiver(answer, clock)
    rec._thread.start()
    try:
        yield rec
    finally:
        rec._server.shutdown()
        rec._server.server_close()
