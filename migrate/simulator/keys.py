"""The simulator's signing key: access tokens and security event tokens, and its JWKS."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@cache
def _process_key() -> rsa.RSAPrivateKey:
    # One 2048-bit key per process: generating one takes ~0.1 s, and tests start many servers.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class SigningKey:
    def __init__(self, key: rsa.RSAPrivateKey | None = None) -> None:
        self.private = key or _process_key()
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Like the docs' kids: 40 hex digits (a SHA-1 of the public key).
        self.kid = hashlib.sha1(der, usedforsecurity=False).hexdigest()

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            claims, self.private, algorithm="RS256", headers={"kid": self.kid, **(headers or {})}
        )

    def verify_access_token(self, token: str, now: datetime) -> str:
        """ "ok", "expired" (by the simulator's clock) or "invalid"."""
        try:
            claims = jwt.decode(
                token,
                self.private.public_key(),
                algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return "invalid"
        if claims.get("token_use") != "access":
            return "invalid"
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or now.timestamp() >= exp:
            return "expired"
        return "ok"
