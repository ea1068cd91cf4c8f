"""The two references bench/serve.py measures the listener against, served by granian too.

- ``ceiling``: an ASGI app that reads the body and answers 202 (nothing faster can be built on
  this server);
- ``peer``: the receiver people write by hand (WSGI): ``jwt.decode(..., algorithms=["RS256"],
  audience=...)``, then ``INSERT ... ON CONFLICT DO NOTHING`` and a commit per request, at the
  listener's durability (SQLite WAL + synchronous=FULL; PostgreSQL synchronous commit).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any

import jwt


async def ceiling(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def peer() -> Callable[..., Iterable[bytes]]:
    db = os.environ["BENCH_PEER_DB"]
    key = open(os.environ["BENCH_PEER_KEY"]).read()  # noqa: SIM115
    audience = os.environ["BENCH_PEER_AUD"]
    local = threading.local()

    def connection() -> Any:
        conn = getattr(local, "conn", None)
        if conn is None:
            if db.startswith("postgresql"):
                import psycopg

                conn = psycopg.connect(db.replace("postgresql+psycopg", "postgresql"))
                conn.execute("SET synchronous_commit = on")
            else:
                conn = sqlite3.connect(db.removeprefix("sqlite:///"), timeout=30)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS peer_events (jti TEXT PRIMARY KEY, token TEXT)"
            )
            conn.commit()
            local.conn = conn
        return conn

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "GET":  # the load script's probes, not tokens
            start_response("200 OK", [])
            return [b""]
        body = environ["wsgi.input"].read()
        try:
            claims = jwt.decode(body, key, algorithms=["RS256"], audience=audience)
        except jwt.PyJWTError:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [b'{"err": "invalid_request"}']
        conn = connection()
        mark = "%s" if db.startswith("postgresql") else "?"
        conn.execute(
            f"INSERT INTO peer_events (jti, token) VALUES ({mark}, {mark}) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            (claims["jti"], body.decode()),
        )
        conn.commit()
        start_response("202 Accepted", [])
        return [b""]

    return app
