"""serve: the application is a plain ASGI callable, driven here without a socket or a server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

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


def test_the_listener_answers_as_an_asgi_callable(tmp_path: Path) -> None:
    key = SigningKey.generate()
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(json.dumps(jwks(key)))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(db).dispose()
    app = Listener(ServeConfig(db=db, jwks=str(keys_file), issuer=ISSUER, audience=AUDIENCE))
    text, jti = token(key)

    async def scenario() -> list[dict[str, Any]]:
        # Eight at once: they share commits, and each is answered after its own.
        answers = await asyncio.gather(
            *[call(app, "POST", "/v3", text.encode(), "application/secevent+jwt") for _ in range(8)]
        )
        answers.append(await call(app, "POST", "/v3", b"nope", "application/secevent+jwt"))
        return answers

    try:
        answers = asyncio.run(scenario())
    finally:
        app.close()
    assert [a["status"] for a in answers] == [202] * 8 + [400]
    assert json.loads(answers[-1]["body"])["err"] == "invalid_request"
    assert stored(db) == {jti: 8}
