"""serve: no 2xx before the commit, recovery without restart, SIGKILL, concurrency, slow clients."""

from __future__ import annotations

import http.client
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import _postgres_database
from serve_support import ListenerProcess, sqlite_path, stored, token
from test_verify_support import JwksServer, SigningKey


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def postgres_url(postgres_server: object) -> Iterator[str]:
    yield from _postgres_database(postgres_server)  # type: ignore[arg-type]


@pytest.fixture
def jwks(key: SigningKey) -> JwksServer:
    server = JwksServer().start()
    server.publish(key)
    return server


def test_a_store_that_cannot_commit_gets_503_and_recovers_by_itself(
    tmp_path: Path, key: SigningKey, jwks: JwksServer
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url()).start(tmp_path)
    tokens = [token(key) for _ in range(6)]
    blocker = sqlite3.connect(sqlite_path(db), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock past the listener's lock timeout
    try:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda t: listener.post_token(t[0]), tokens))
        assert [a.status for a in answers] == [503] * 6
        assert all(a.headers.get("retry-after") for a in answers)
        assert listener.get("/readyz").status == 503
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert stored(db) == {}  # nothing half stored
    answers = [listener.post_token(t) for t, _ in tokens]
    assert [a.status for a in answers] == [202] * 6
    assert stored(db) == {jti: 1 for _, jti in tokens}
    assert listener.stop() == 0


def test_a_400_waits_for_its_reject_to_commit_and_is_a_503_when_it_cannot(
    tmp_path: Path, key: SigningKey, jwks: JwksServer
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url()).start(tmp_path)
    blocker = sqlite3.connect(sqlite_path(db), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock past the listener's lock timeout
    try:
        answer = listener.post_token("not-a-token")
        assert (answer.status, bool(answer.headers.get("retry-after"))) == (503, True)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with sqlite3.connect(sqlite_path(db)) as conn:
        assert conn.execute("SELECT count(*) FROM rejects").fetchone() == (0,)
    assert listener.post_token("not-a-token").status == 400
    with sqlite3.connect(sqlite_path(db)) as conn:  # answered after its commit: already there
        rows = conn.execute("SELECT path, raw FROM rejects").fetchall()
    assert rows == [("/v3", "not-a-token")]
    assert listener.stop() == 0


def test_every_202_survives_a_sigkill_under_load(
    tmp_path: Path, key: SigningKey, jwks: JwksServer
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url()).start(tmp_path)
    tokens = [token(key) for _ in range(400)]
    accepted: list[str] = []
    lock = threading.Lock()

    def send(item: tuple[str, str]) -> None:
        try:
            if listener.post_token(item[0]).status == 202:
                with lock:
                    accepted.append(item[1])
        except OSError:
            pass  # the listener died mid-request: no answer, the sender retries

    def kill_soon() -> None:
        time.sleep(0.4)
        listener.kill()  # the whole listener, workers too, at once: a power cut

    killer = threading.Thread(target=kill_soon)
    killer.start()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, tokens))
    killer.join()
    assert accepted, "no request was answered before the kill"
    survived = stored(db)
    assert [jti for jti in accepted if jti not in survived] == []


def test_overlapping_duplicates_from_many_clients_are_stored_once(
    tmp_path: Path, key: SigningKey, jwks: JwksServer
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url(), ["--workers", "2"]).start(tmp_path)
    tokens = [token(key) for _ in range(100)]
    sends = [t for t, _ in tokens] * 3
    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(lambda t: listener.post_token(t).status, sends))
    assert statuses == [202] * 300
    assert stored(db) == {jti: 3 for _, jti in tokens}
    answer = listener.get("/metrics")
    assert answer.status == 200, listener.log()[-2000:]
    metrics = answer.body.decode()  # two workers' counts add up
    assert 'webhooks_migrate_listener_requests_total{route="/v3",status="202"} 300.0' in metrics
    assert listener.stop() == 0


def test_a_slow_client_does_not_hold_the_listener(
    tmp_path: Path, key: SigningKey, jwks: JwksServer
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url(), ["--body-timeout", "1"]).start(tmp_path)
    slow = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(8)]
    for s in slow:
        s.sendall(b"POST /v3 HTTP/1.1\r\nHost: x\r\nContent-Type: application/secevent+jwt\r\n")
        s.sendall(b"Content-Length: 1000\r\n\r\nab")
    started = time.monotonic()
    text, jti = token(key)
    assert listener.post_token(text).status == 202  # served while eight clients dawdle
    assert time.monotonic() - started < 1.0
    for s in slow:
        s.settimeout(5)
        assert s.recv(64).startswith(b"HTTP/1.1 408")
        s.close()
    assert stored(db) == {jti: 1}
    assert listener.stop() == 0


def test_an_oversized_body_is_refused_before_it_is_read(
    tmp_path: Path, key: SigningKey, jwks: JwksServer
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url(), ["--max-body", "4096"]).start(tmp_path)
    conn = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=10)
    conn.putrequest("POST", "/v3")
    conn.putheader("Content-Type", "application/secevent+jwt")
    conn.putheader("Content-Length", str(10**9))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert listener.stop() == 0


@pytest.mark.postgres
def test_two_listener_processes_share_one_postgres_store(
    tmp_path: Path, key: SigningKey, jwks: JwksServer, postgres_url: str
) -> None:
    db_url = postgres_url
    listeners = [ListenerProcess(db_url, jwks.url()).start(tmp_path) for _ in range(2)]
    tokens = [token(key) for _ in range(80)]
    sends = [(listeners[i % 2], t) for i, (t, _) in enumerate(tokens * 3)]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda s: s[0].post_token(s[1]).status, sends))
    assert statuses == [202] * 240
    assert stored(db_url) == {jti: 3 for _, jti in tokens}
    assert [listener.stop() for listener in listeners] == [0, 0]


def test_sigterm_finishes_and_commits_what_is_in_flight(
    tmp_path: Path, key: SigningKey, jwks: JwksServer
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url()).start(tmp_path)
    tokens = [token(key) for _ in range(300)]
    accepted: list[str] = []

    def send(item: tuple[str, str]) -> None:
        try:
            if listener.post_token(item[0]).status == 202:
                accepted.append(item[1])
        except OSError:
            pass  # refused once the listener stopped accepting

    def stop_soon() -> None:
        time.sleep(0.3)
        assert listener.process is not None
        listener.process.send_signal(signal.SIGTERM)

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(send, tokens))
    stopper.join()
    try:
        assert listener.process is not None
        code = listener.process.wait(20)  # one SIGTERM, as systemd sends
    except subprocess.TimeoutExpired:
        listener.stop(signal.SIGKILL)
        raise AssertionError(listener.log()[-3000:]) from None
    assert code == 0
    assert accepted
    survived = stored(db)
    assert [jti for jti in accepted if jti not in survived] == []


@pytest.mark.postgres
def test_a_postgres_store_that_refuses_writes_gets_503_and_recovers(
    tmp_path: Path, key: SigningKey, jwks: JwksServer, postgres_server: Any, postgres_url: str
) -> None:
    name = sa.make_url(postgres_url).database
    listener = ListenerProcess(postgres_url, jwks.url()).start(tmp_path)
    tokens = [token(key) for _ in range(5)]

    def set_read_only(on: bool) -> None:
        with postgres_server.admin.connect() as conn:
            value = "on" if on else "off"
            conn.exec_driver_sql(
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}'
            )
            conn.exec_driver_sql(  # the listener's sessions start again, read-only or not
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    set_read_only(True)
    try:
        answers = [listener.post_token(t) for t, _ in tokens]
        assert [a.status for a in answers] == [503] * 5
        assert all(a.headers.get("retry-after") for a in answers)
    finally:
        set_read_only(False)
    assert stored(postgres_url) == {}
    assert [listener.post_token(t).status for t, _ in tokens] == [202] * 5
    assert stored(postgres_url) == {jti: 1 for _, jti in tokens}
    assert listener.stop() == 0
