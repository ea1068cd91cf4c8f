"""serve: keys from a pinned JWKS URL: a flood of made-up kids, rotation, a key server down."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from serve_support import AUDIENCE, ListenerProcess, stored, token
from strategies import SEED_V2_NOTIFICATION
from test_serve_app import call
from test_verify_support import ISSUER, JwksServer, SigningKey

from migrate.serve.app import Listener
from migrate.serve.config import ServeConfig
from migrate.store.engine import open_store


def test_made_up_kids_refetch_once_per_cooldown_and_a_rotated_in_key_verifies(
    tmp_path: Path,
) -> None:
    key, rotated = SigningKey.generate(), SigningKey.generate()
    jwks = JwksServer().start()
    jwks.publish(key)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url()).start(tmp_path)
    assert jwks.paths() == ["/jwks"]
    # Published just after start-up: the first token refetches and verifies.
    jwks.publish(key, rotated)
    text, jti = token(rotated)
    assert listener.post_token(text).status == 202
    assert len(jwks.paths()) == 2
    stranger = SigningKey.generate()
    for i in range(30):
        forged, _ = token(stranger.relabeled(f"{i:040x}"))
        answer = listener.post_token(forged)
        assert (answer.status, json.loads(answer.body)["err"]) == (400, "invalid_key")
    assert len(jwks.paths()) == 2  # within the cooldown: no refetch at all
    assert stored(db) == {jti: 1}
    assert listener.stop() == 0


def test_an_unknown_kid_while_the_key_server_is_down_is_a_503_not_a_final_400(
    tmp_path: Path,
) -> None:
    # A key rotated in while the JWKS URL cannot be fetched: the listener cannot tell a new key
    # from a forgery, so the sender must try again (503), not be told the token is bad (400).
    key, rotated = SigningKey.generate(), SigningKey.generate()
    jwks = JwksServer().start()
    jwks.publish(key)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url(), ["--refetch-cooldown", "0.5"]).start(tmp_path)
    jwks.respond("/jwks", 503, b"down")
    text, jti = token(rotated)
    answer = listener.post_token(text)
    assert (answer.status, "retry-after" in answer.headers) == (503, True)
    assert listener.post_token(token(key)[0]).status == 202  # known keys still verify
    jwks.publish(key, rotated)  # the key server is back, with the new key
    time.sleep(0.6)  # the cooldown since the failed refetch
    assert listener.post_token(text).status == 202
    assert jti in stored(db)
    assert listener.stop() == 0


def test_a_key_server_down_at_start_up_leaves_v3_unavailable_and_v2_working(
    tmp_path: Path,
) -> None:
    key = SigningKey.generate()
    jwks = JwksServer().start()
    jwks.respond("/jwks", 503, b"down")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(db, jwks.url(), ["--jwks-retry", "0.2"])
    listener.start(tmp_path, wait_ready=False)
    assert listener.get("/readyz").status == 503
    text, jti = token(key)
    answer = listener.post_token(text)
    assert (answer.status, "retry-after" in answer.headers) == (503, True)
    body = json.dumps([SEED_V2_NOTIFICATION]).encode()
    assert listener.request("POST", "/v2/add", body).status == 200
    jwks.publish(key)  # back: fetched again in the background
    listener.wait_up(ready=True)
    assert listener.post_token(text).status == 202
    assert jti in stored(db)
    assert listener.stop() == 0


def test_serve_exits_2_without_keys_and_3_when_the_store_is_unreachable(tmp_path: Path) -> None:
    import subprocess
    import sys

    from test_verify_support import jwks as jwk_set

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in __import__("os").environ.items() if "WEBHOOKS_MIGRATE" not in k}
        return subprocess.run(
            [sys.executable, "-m", "migrate", "serve", *args],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip

    no_keys = run("--db", f"sqlite:///{tmp_path / 's.db'}")
    assert no_keys.returncode == 2
    assert "--jwks" in no_keys.stderr
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(json.dumps(jwk_set(SigningKey.generate())))
    down = run("--db", "postgresql://nobody@127.0.0.1:1/none", "--jwks", str(keys_file))
    assert down.returncode == 3
    assert len(down.stderr.strip().splitlines()) == 1


def test_tls_with_a_certificate_and_key(tmp_path: Path) -> None:
    import datetime
    import http.client
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip
    key = SigningKey.generate()
    keys_file = tmp_path / "jwks.json"
    from test_verify_support import jwks as jwk_set

    keys_file.write_text(json.dumps(jwk_set(key)))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    listener = ListenerProcess(
        db, str(keys_file), ["--tls-cert", str(cert_file), "--tls-key", str(key_file)]
    )
    context = ssl.create_default_context(cafile=str(cert_file))
    context.check_hostname = False
    listener.start(tmp_path, wait=False)  # its probes speak plain HTTP
    text, jti = token(key)
    status = 0
    for _ in range(200):
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", listener.port, context=context)
            conn.request("POST", "/v3", text, {"Content-Type": "application/secevent+jwt"})
            status = conn.getresponse().status
            conn.close()
            break
        except OSError:
            time.sleep(0.1)
    assert status == 202
    assert stored(db) == {jti: 1}
    assert listener.stop() == 0


def test_a_refetch_for_an_unknown_kid_never_holds_the_other_requests(tmp_path: Path) -> None:
    # The refetch can take up to its timeout; run on the event loop it would hold every request
    # of the worker that long (one unknown kid per cooldown is enough to stall a listener).
    key, rotated = SigningKey.generate(), SigningKey.generate()
    jwks = JwksServer().start()
    jwks.publish(key)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(db).dispose()
    app = Listener(ServeConfig(db=db, jwks=jwks.url(), issuer=ISSUER, audience=AUDIENCE))
    jwks.publish(key, rotated)
    jwks.delay = 2.0  # the key server answers slowly from now on
    new_key_token, new_jti = token(rotated)
    known_token, known_jti = token(key)
    v3 = "application/secevent+jwt"

    async def timed(body: bytes, after: float) -> tuple[int, float]:
        due = time.monotonic() + after  # from when it is due, not from when the loop got to it
        await asyncio.sleep(after)
        answer = await call(app, "POST", "/v3", body, v3)
        return answer["status"], time.monotonic() - due

    async def scenario() -> list[tuple[int, float]]:
        return list(
            await asyncio.gather(
                timed(new_key_token.encode(), 0.0), timed(known_token.encode(), 0.3)
            )
        )

    try:
        (new_status, new_seconds), (known_status, known_seconds) = asyncio.run(scenario())
    finally:
        app.close()
        jwks.stop()
    assert (new_status, known_status) == (202, 202)  # the new key verifies once fetched
    assert new_seconds >= 1.9
    assert known_seconds < 1.0, "a known key's token waited for the other token's refetch"
    assert stored(db) == {new_jti: 1, known_jti: 1}
