"""Shared by the test_verify_* modules (import the fixtures from here): real RSA keys, token
signing done by hand (so hostile tokens can be built), a JWKS server on 127.0.0.1, a clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://v1.api.us.janrain.com/00000000-0000-0000-0000-000000000000/webhooks"
AUDIENCE = "https://listener.example.com/webhooks/v3"
NOW = 1_700_000_000.0
SEED_KID = "1dc12073699c68c1daee6c9a100e2b43febdcd92"  # the kid of the seed's events-store token


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair as Identity Cloud holds one: a 40-hex kid (a SHA-1 of the public key)."""

    private: rsa.RSAPrivateKey
    kid: str = ""

    @classmethod
    def generate(cls, bits: int = 2048) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, hashlib.sha1(der).hexdigest())  # noqa: S324 - an id, not security

    def relabeled(self, kid: str) -> SigningKey:
        return SigningKey(self.private, kid)

    def jwk(self, **members: Any) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid}
        jwk |= {"n": b64url(n), "e": b64url(e)}
        return jwk | members

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.jwk() for k in keys]}


def make_claims(**changes: Any) -> dict[str, Any]:
    """Claims shaped like Identity Cloud's (an entityUpdated event), iat at NOW."""
    claims: dict[str, Any] = {
        "aud": [AUDIENCE],
        "events": {
            "entityUpdated": {
                "attributes": ["familyName"],
                "captureApplicationId": "3vadba3vhqpkdgtsrqd4st76m3",
                "captureClientId": "3fp4zt9t256jqk4tx35wuj4ap2e53hq9",
                "entityType": "user",
                "globalSub": "capture-v1://app.capture.example/3vadba3vhqpkdgtsrqd4st76m3/user/"
                "e499ac24-46bd-4d85-91ee-bdeadd446c1e",
                "sub": "e499ac24-46bd-4d85-91ee-bdeadd446c1e",
            }
        },
        "iat": int(NOW),
        "iss": ISSUER,
        "jti": str(uuid.uuid4()),
        "toe": int(NOW * 1000),
        "txn": "00000000-0000-0000-0000-000000000000",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def header_for(key: SigningKey, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "RS256", "kid": key.kid, "typ": "secevent+jwt"}
    for name, value in changes.items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    return header


def sign(
    key: SigningKey, claims: dict[str, Any] | None = None, header: dict[str, Any] | None = None
) -> str:
    """A compact RS256 token, signed by ``key`` whatever ``header`` claims."""
    signing_input = (
        _b64url_json(header or header_for(key)) + "." + _b64url_json(claims or make_claims())
    )
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def sign_hmac(secret: bytes, claims: dict[str, Any], header: dict[str, Any]) -> str:
    """A token MACed with ``secret`` (the algorithm-confusion attack uses the public key)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    signing_input = _b64url_json(header) + "." + _b64url_json(claims)
    mac = hmac.new(secret, signing_input.encode(), digest[header["alg"]]).digest()
    return signing_input + "." + b64url(mac)


def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    return _b64url_json(header) + "." + _b64url_json(claims) + "."


class ManualClock:
    """Seconds that move only when told to (cooldowns are tested without sleeping)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class JwksServer:
    """A real HTTP server on 127.0.0.1 publishing JWK sets, recording every request path."""

    routes: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    delay: float = 0.0
    """Seconds every answer waits before it is sent (a slow key server)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    def start(self) -> JwksServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append(self.path)
                    status, body, headers = server.routes.get(self.path, (404, b"{}", {}))
                    delay = server.delay
                time.sleep(delay)
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def url(self, path: str = "/jwks") -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def publish(self, *keys: SigningKey, path: str = "/jwks") -> None:
        self.respond(path, 200, json.dumps(jwks(*keys)).encode())

    def respond(
        self, path: str, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        with self.lock:
            self.routes[path] = (status, body, headers or {})

    def paths(self) -> list[str]:
        with self.lock:
            return list(self.requests)

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


class Keys(NamedTuple):
    trusted: tuple[SigningKey, SigningKey, SigningKey]
    rotated_in: SigningKey  # published later, by a rotation
    foreign: SigningKey  # never published


@pytest.fixture(scope="session")
def keys() -> Keys:
    a, b, c, d, e = (SigningKey.generate() for _ in range(5))
    return Keys((a, b, c), d, e)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer().start()
    yield server
    server.stop()


@pytest.fixture
def jwks_file(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(*keys.trusted)))
    return path
