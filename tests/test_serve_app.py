"""serve: the application is a plain ASGI callable, driven here without a socket or a server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from serve_support import AUDIENCE, stored, token
from test_verify_support import ISSUER, SigningKey, jwks

from migrate.serve.app import Listener
from migrate.serve.config import ServeConfig
from migrate.store.engine import open_store


async def call(app: Listener, method: str, path: str, body: bytes, ctype: str) -> dict[str, Any]:
    scope = {
        "type": "http", "method": method, "path": path,
        "headers": [(b"content-type", ctype.encode()), (b"content-length", b"%d" % len(body))],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return {"status": sent[0]["status"], "body": sent[1]["body"]}


def test_the_listener_answers_as_an_asgi_callable(tmp_path: Path, db_url: str) -> None:
    key = SigningKey.generate()
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(json.dumps(jwks(key)))
    db = db_url
    open_store(db).dispose()
    app = Listener(ServeConfig(db=db, jwks=str(keys_file), issuer=ISSUER, audience=AUDIENCE))
    text, jti = token(key)

    async def scenario() -> list[dict[str, Any]]:
        # Many at once: they share commits, each is answered after its own, and the writers
        # that get the same event_id at once never turn that into a 503 (InnoDB deadlocks).
        v3 = "application/secevent+jwt"
        answers = await asyncio.gather(
            *[call(app, "POST", "/v3", text.encode(), v3) for _ in range(40)]
        )
        answers.append(await call(app, "POST", "/v3", b"nope", "application/secevent+jwt"))
        return answers

    try:
        answers = asyncio.run(scenario())
    finally:
        app.close()
    assert [a["status"] for a in answers] == [202] * 40 + [400]
    assert json.loads(answers[-1]["body"])["err"] == "invalid_request"
    assert stored(db) == {jti: 40}


def test_u0000_is_refused_alone_and_never_fails_the_requests_it_shares_a_commit_with(
    tmp_path: Path, db_url: str
) -> None:
    # PostgreSQL can store U+0000 neither in text nor in JSONB: one such value in a group commit
    # would fail the whole transaction (503 for every request in it, the listener not ready).
    key = SigningKey.generate()
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(json.dumps(jwks(key)))
    open_store(db_url).dispose()
    app = Listener(ServeConfig(db=db_url, jwks=str(keys_file), issuer=ISSUER, audience=AUDIENCE))
    good, jti = token(key)
    nul_claims, _ = token(key, txn="a\x00b")
    nul_v2 = json.dumps(
        [
            {
                "uuid": "9f2c4a4e-6d44-4d8e-9a51-3f0f2b7c1d11",
                "entity_type": "user",
                "datetime": "2026-12-01T10:00:00Z",
                "hash": "h",
                "client_id": "c\x00",
            }
        ]
    ).encode()
    v3, v2 = "application/secevent+jwt", "application/json"

    async def scenario() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                call(app, "POST", "/v3", good.encode(), v3),
                call(app, "POST", "/v3", nul_claims.encode(), v3),
                call(app, "POST", "/v3", good.encode()[:20] + b"\x00" + good.encode()[20:], v3),
                call(app, "POST", "/v2/add", nul_v2, v2),
            )
        )

    try:
        answers = asyncio.run(scenario())
    finally:
        app.close()
    assert [a["status"] for a in answers] == [202, 400, 400, 400]
    assert json.loads(answers[1]["body"])["err"] == "invalid_request"
    assert stored(db_url) == {jti: 1}
    engine = open_store(db_url)
    try:
        with engine.connect() as conn:
            raws = conn.execute(sa.text("SELECT raw FROM rejects")).scalars().all()
    finally:
        engine.dispose()
    assert len(raws) == 3, "every refused body is kept in rejects"
    assert all("\x00" not in raw for raw in raws)
