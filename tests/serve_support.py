"""Shared by the test_serve_* modules: a real listener process on 127.0.0.1 and its clients."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from test_verify_support import ISSUER, JwksServer, SigningKey, make_claims, sign

AUDIENCE = "https://listener.example.com/webhooks/v3"  # the claims' default aud
SET_TYPE = "application/secevent+jwt"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(key: SigningKey, **changes: Any) -> tuple[str, str]:
    """A live token (iat now) and its jti."""
    jti = str(uuid.uuid4())
    claims = make_claims(iat=int(time.time()), jti=jti, **changes)
    return sign(key, claims), jti


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class ListenerProcess:
    db: str
    jwks: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    stderr_path: Path | None = None

    def start(self, tmp: Path, *, wait_ready: bool = True, wait: bool = True) -> ListenerProcess:
        self.port = self.port or free_port()
        self.stderr_path = tmp / f"listener-{self.port}.log"
        env = {**os.environ, **self.env}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        command = [
            sys.executable, "-m", "migrate", "serve", "--db", self.db, "--jwks", self.jwks,
            "--issuer", ISSUER, "--audience", AUDIENCE, "--port", str(self.port), *self.args,
        ]  # fmt: skip
        with open(self.stderr_path, "wb") as err:
            # A session of its own: the listener and granian's worker processes are one process
            # group, which kill() ends at once (as a power cut or systemd's cgroup kill does).
            self.process = subprocess.Popen(
                command, stderr=err, env=env, cwd=ROOT, start_new_session=True
            )
        _STARTED.append(self.process)
        if wait:
            self.wait_up(ready=wait_ready)
        return self

    def wait_up(self, *, ready: bool, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        path = "/readyz" if ready else "/healthz"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"listener exited {self.process.returncode}: {self.log()}")
            try:
                if self.get(path).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"listener not {path} within {timeout} s: {self.log()}")

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return Answer(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_token(self, text: str, content_type: str = SET_TYPE) -> Answer:
        return self.request("POST", "/v3", text.encode(), {"Content-Type": content_type})

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.process is not None
        if sig == signal.SIGKILL:
            return self.kill()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def kill(self) -> int:
        """SIGKILL the whole listener, workers included (nothing of it is left to notice)."""
        assert self.process is not None
        _kill_group(self.process)
        return self.process.wait(10)

    def log(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path else ""

    def log_lines(self) -> list[str]:
        return self.log().splitlines()


def stored(db: str) -> dict[str, int]:
    """event_id -> seen_count of every stored event."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT event_id, seen_count FROM events")).all()
    finally:
        engine.dispose()
    return {r[0]: r[1] for r in rows}


def rejects(db: str) -> list[tuple[str, str, str]]:
    """(path, reason, raw) of every reject row."""
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT path, reason, raw FROM rejects ORDER BY id")).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2]) for r in rows]


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``check`` holds within ``timeout`` (a 400's reject is committed just after it)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def sqlite_path(db: str) -> str:
    return db.removeprefix("sqlite:///")


_STARTED: list[subprocess.Popen[bytes]] = []


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@atexit.register
def _no_listener_outlives_the_tests() -> None:
    # A test that failed half-way must not leave a listener (or its workers) holding a port.
    for process in _STARTED:
        _kill_group(process)


def running(listeners: list[ListenerProcess]) -> Iterator[ListenerProcess]:
    yield from listeners


__all__ = ["JwksServer", "sqlite3"]
