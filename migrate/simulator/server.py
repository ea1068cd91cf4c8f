"""A local Identity Cloud Webhooks v3 API: a real HTTP server on 127.0.0.1.

Tests start it in-process (``with Simulator() as sim: ...``); migration engineers run it with
``webhooks-migrate simulate api`` and rehearse against it. Besides the API it can misbehave on
purpose (:meth:`Simulator.inject`): answer 429/5xx, drop a connection before or after doing the
work, or cut a download off mid-stream.

Rehearsal helpers under ``/_sim`` (no auth; loopback only): ``POST /_sim/clock``
``{"advance": seconds}`` moves time forward (exports finish, tokens and files expire);
``POST /_sim/seed`` ``{"subscription_id", "succeeded", "retrying", "failed"}`` adds events
with their history; ``POST /_sim/changes`` ``{"count", "seed", "start"}`` publishes that many
generated changes (:mod:`.changes`) to every subscription whose events and filter they pass;
``POST /_sim/deliver`` ``{"until": seconds}`` runs the delivery engine (:mod:`.delivery`) under
a compressed clock until nothing is left to send (or that many simulated seconds have passed)
and answers its counts, as does ``GET /_sim/counts``. ``subscription_id`` defaults to the first
subscription.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from adapters.timefmt import parse_rfc3339
from migrate.api.clock import Clock, ManualClock, OffsetClock
from migrate.api.transport import is_loopback
from migrate.simulator.changes import generate_changes
from migrate.simulator.delivery import DeliveryEngine
from migrate.simulator.faults import Fault, Seen
from migrate.simulator.model import NOT_FOUND, Reply, SimConfig, problem
from migrate.simulator.world import SimWorld

log = logging.getLogger("migrate.simulator")

_ID = r"([^/]+)"
Route = tuple[str, re.Pattern[str], Callable[..., Reply]]


class Simulator:
    """The server and its world. ``port=0`` picks a free port."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the simulator only listens on loopback addresses, not {host!r}")
        self.clock = clock or ManualClock()
        self.world = SimWorld(config or SimConfig(), self.clock)
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = _Server((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.world.public_url = self.base_url
        self.routes = self._routes()
        self.engine = DeliveryEngine(
            self.world,
            concurrency=self.world.config.delivery_concurrency,
            timeout=self.world.config.delivery_timeout,
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    @property
    def config(self) -> SimConfig:
        return self.world.config

    def start(self) -> Simulator:
        # A short poll interval makes stop() quick: tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:  # serving in our own thread: end its loop first
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.engine.close()
        self._server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- misbehaviour -----------------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def count(self, method: str, path_regex: str) -> int:
        with self._lock:
            return sum(1 for s in self.seen if s.method == method and re.search(path_regex, s.path))

    # -- routing ----------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        w = self.world
        sub = r"/webhooks/subscriptions/" + _ID
        exports = r"(?:/events)?/exports"  # both spellings the docs use
        table: list[tuple[str, str, Callable[..., Reply]]] = [
            ("GET", r"/login/jwk", lambda r: Reply(200, w.key.jwks())),
            ("POST", r"/login/token", self._token),
            ("GET", r"/webhooks/subscriptions", lambda r: w.list_subscriptions()),
            ("POST", r"/webhooks/subscriptions", lambda r: w.create_subscription(r.json())),
            ("GET", sub, lambda r, s: w.get_subscription(s)),
            ("PATCH", sub, lambda r, s: w.update_subscription(s, r.json())),
            ("DELETE", sub, lambda r, s: w.delete_subscription(s)),
            ("GET", sub + r"/summary", lambda r, s: w.summary(s)),
            ("GET", sub + exports, lambda r, s: w.list_exports(s)),
            ("POST", sub + exports, lambda r, s: w.start_export(s)),
            ("GET", sub + exports + "/" + _ID, lambda r, s, x: w.get_export(s, x)),
            ("DELETE", sub + exports + "/" + _ID, lambda r, s, x: w.cancel_export(s, x)),
            ("GET", sub + exports + "/" + _ID + "/download", self._download),
            ("GET", sub + r"/events", self._events),
            ("GET", sub + r"/events/" + _ID, lambda r, s, e: w.get_event(s, e)),
            ("GET", sub + r"/events/" + _ID + "/history", lambda r, s, e: w.event_history(s, e)),
            ("POST", sub + r"/events/" + _ID + "/redeliver", lambda r, s, e: w.redeliver(s, e)),
        ]
        return [(m, re.compile(p + "/?"), f) for m, p, f in table]

    def _token(self, req: Request) -> Reply:
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, value = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return Reply(401, {"error": "invalid_client"})
        return self.world.issue_token(client_id, secret, form.get("grant_type", ""))

    def _download(self, req: Request, sid: str, xid: str) -> Reply:
        reply = self.world.download(sid, xid)
        if reply.status != 200 or not self.config.download_redirect:
            return reply
        port = self.base_url.rsplit(":", 1)[1]
        bucket = f"http://localhost:{port}/_bucket/{sid}/{xid}?signature=simulated"
        return Reply(302, None, {"Location": bucket})

    def _bucket(self, req: Request) -> Reply:
        if "authorization" in req.headers:
            return problem(400, "Bad Request", "only one auth mechanism allowed")
        _, sid, xid = req.path.strip("/").split("/", 2)
        return self.world.download(sid, xid)

    def _events(self, req: Request, sid: str) -> Reply:
        def number(name: str) -> int | None:
            value = req.query.get(name)
            return int(value) if value and value.isdigit() else None

        return self.world.list_events(
            sid, state=req.query.get("state"), offset=number("offset") or 0, limit=number("limit")
        )

    def dispatch(self, req: Request) -> Reply:
        if req.path.startswith("/_sim/"):
            return self._admin(req)
        if req.path.startswith("/_bucket/") and req.method == "GET":
            return self._bucket(req)
        if req.path == "/login/jwk" and req.method == "GET":
            return Reply(200, self.world.key.jwks())
        prefix = self.world.root
        if not req.path.startswith(prefix + "/"):
            return NOT_FOUND
        rest = req.path[len(prefix) :]
        for method, pattern, func in self.routes:
            match = pattern.fullmatch(rest)
            if match is None:
                continue
            if method != req.method:
                continue
            if not rest.startswith("/login/"):
                denied = self._authorize(req)
                if denied is not None:
                    return denied
            return func(req, *(unquote(g) for g in match.groups()))
        if any(p.fullmatch(rest) for _, p, _ in self.routes):
            return problem(405, "Method Not Allowed", f"{req.method} is not allowed here")
        return NOT_FOUND

    def _authorize(self, req: Request) -> Reply | None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return problem(401, "Unauthorized", "a bearer token is required")
        verdict = self.world.check_token(token.strip())
        if verdict == "expired":
            return problem(403, "Forbidden", "the access token has expired")
        if verdict != "ok":
            return problem(401, "Unauthorized", "the access token is not valid")
        return None

    def _admin(self, req: Request) -> Reply:
        try:
            return self._admin_reply(req)
        except (TypeError, ValueError) as exc:
            return problem(400, "Bad Request", f"bad rehearsal request: {exc}")

    def _admin_reply(self, req: Request) -> Reply:
        body = req.json() if req.body else {}
        body = body if isinstance(body, dict) else {}
        world = self.world
        sid = body.get("subscription_id") or req.query.get("subscription_id")
        sid = sid or next(iter(world.subscriptions), None)
        if req.method == "POST" and req.path == "/_sim/clock":
            if not isinstance(self.clock, ManualClock | OffsetClock):
                return problem(400, "Bad Request", "this clock cannot be moved")
            self.clock.advance(float(body.get("advance", 0)))
            return Reply(200, {"now": self.clock.now().isoformat()})
        if sid not in world.subscriptions:
            return NOT_FOUND
        if req.method == "POST" and req.path == "/_sim/seed":
            counts = {k: int(body.get(k, 0)) for k in ("succeeded", "retrying", "failed")}
            return Reply(200, {"events": world.seed(sid, **counts)})
        if req.method == "POST" and req.path == "/_sim/changes":
            count = int(body.get("count", 0))
            start = self.clock.now() - timedelta(seconds=3 * count)
            if "start" in body:
                start = parse_rfc3339(str(body["start"]))
            changes = generate_changes(count, seed=int(body.get("seed", 0)), start=start)
            return Reply(200, {"events": world.feed(changes)})  # to every subscription passed
        if req.method == "POST" and req.path == "/_sim/deliver":
            until = None
            if "until" in body:
                until = self.clock.now() + timedelta(seconds=float(body["until"]))
            report = self.engine.run_until_quiescent(until=until)
            return Reply(
                200,
                {
                    "attempts": report.attempts,
                    "quiescent": report.quiescent,
                    "now": self.clock.now().isoformat(),
                    "counts": world.counts(sid),
                },
            )
        if req.method == "GET" and req.path == "/_sim/counts":
            return Reply(200, world.counts(sid))
        return NOT_FOUND


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections when many clients come at once (each then
    # waits a 1 s SYN retransmit).
    request_queue_size = 128


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


def _handler_for(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "WebhooksV3Simulator/1.0"
        protocol_version = "HTTP/1.0"  # one request per connection: simple, and like a proxy

        def date_time_string(self, timestamp: float | None = None) -> str:
            # The Date header follows the simulated clock: clients may reason with it.
            return format_datetime(sim.clock.now(), usegmt=True)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            auth = headers.get("authorization", "")
            sim.record(Seen(self.command, parts.path, auth.split(" ", 1)[0] if auth else None))
            req = Request(
                self.command,
                parts.path,
                {k: v[0] for k, v in parse_qs(parts.query).items()},
                headers,
                body,
            )
            fault = sim.take_fault(self.command, parts.path)
            if fault is not None and fault.action == "drop":
                self.close_connection = True
                return
            if fault is not None and fault.action == "status":
                reply = Reply(
                    fault.status,
                    {"status": fault.status, "title": "Simulated", "details": "injected fault"},
                    fault.headers,
                )
            else:
                try:
                    reply = sim.dispatch(req)
                except Exception:  # a simulator bug must not look like a network failure
                    log.exception("simulator error")
                    reply = problem(500, "Internal Server Error", "simulator error")
            if fault is not None and fault.action == "drop_after":
                self.close_connection = True
                return
            self._send(reply, truncate=fault is not None and fault.action == "truncate")

        def _send(self, reply: Reply, *, truncate: bool) -> None:
            if isinstance(reply.body, bytes):
                data = reply.body
            elif reply.body is None:
                data = b""
            else:
                data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            if data:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data[: len(data) // 2] if truncate else data)
            self.wfile.flush()
            self.close_connection = True

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    return Handler
