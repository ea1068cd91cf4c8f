"""The real listener (``webhooks-migrate serve``) as a child process on a free loopback port.

It runs in a session of its own, so a Ctrl-C at the terminal reaches the rehearsal, which then
stops it: SIGTERM (it commits what is in flight and exits), and if it has not exited in time,
SIGKILL to its whole process group (granian's workers included). Nothing is left behind.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from migrate.errors import Unavailable
from migrate.serve.config import V2_HASH_ENV

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's group reused the id
        return False
    return True


@dataclass
class ListenerSettings:
    db_url: str
    base_url: str
    customer_id: str
    issuer: str
    v2_hash: str = field(repr=False)
    log_path: Path


@dataclass
class Listener:
    """``serve`` on 127.0.0.1; ``url`` is known once started (the port stays across restarts)."""

    settings: ListenerSettings
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def audience(self) -> str:
        return self.base_url + "/v3"

    def command(self) -> list[str]:
        s = self.settings
        return [
            sys.executable, "-m", "migrate", "serve", "--db", s.db_url,
            "--customer-id", s.customer_id, "--base-url", s.base_url, "--issuer", s.issuer,
            "--audience", self.audience, "--port", str(self.port),
        ]  # fmt: skip

    def start(self) -> Listener:
        """Start it (on a new free port the first time) and wait until ``/readyz`` says 200."""
        attempts = 1 if self.port else 3
        for _ in range(attempts):
            if not self.starts:
                self.port = free_port()
            if self._start_once():
                self.starts += 1
                return self
        raise Unavailable(
            f"the listener did not become ready on 127.0.0.1:{self.port}; its log: "
            f"{self.settings.log_path}"
        )

    def _start_once(self) -> bool:
        env = {**os.environ, V2_HASH_ENV: self.settings.v2_hash}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(self.settings.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # our Ctrl-C is ours to handle: we stop it
            )
        self.pids.append(self.process.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reap()
                return False
            if self._ready():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _ready(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int | None:
        """Stop it gracefully (SIGTERM), else kill its process group; its exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(STOP_TIMEOUT)
        self._reap()
        return process.returncode

    def _reap(self) -> None:
        """No worker of the process group may outlive its server."""
        assert self.process is not None
        pgid = self.process.pid
        deadline = time.monotonic() + STOP_TIMEOUT
        sent = False
        while group_alive(pgid):
            if time.monotonic() > deadline:
                break
            if not sent and time.monotonic() > deadline - STOP_TIMEOUT / 2:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                sent = True
            time.sleep(0.05)
        self.process = None
