"""JWK sets → RSA verification keys (RFC 7517/7518), with no I/O.

Only what can verify an RS256 signature is kept: ``kty: RSA`` with ``use`` absent or ``sig``,
``alg`` absent or ``RS256``, ``key_ops`` (when present) allowing ``verify``, a ``kid`` (tokens
choose their key by it) and a modulus of 2048 to 8192 bits. Every other entry is skipped with
the reason, which ``verify --debug`` and the logs show.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

MIN_KEY_BITS = 2048
# Verification cost grows with the square of the modulus: a cap keeps one key from slowing
# every verification down (Identity Cloud publishes 2048-bit keys).
MAX_KEY_BITS = 8192
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class JwksError(ValueError):
    """A document that is not a JWK set, or one without a single usable key."""


class UnusableKey(ValueError):
    """Why one entry of a JWK set cannot verify RS256 signatures."""


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """An RSA public key ready to verify, with the signature length it produces."""

    kid: str
    public_key: RSAPublicKey
    signature_bytes: int
    jwk: Mapping[str, str] = field(repr=False)
    """The public members it was built from: what travels when a verifier is pickled."""

    def __reduce__(self) -> tuple[Any, tuple[Mapping[str, str]]]:
        # cryptography's key objects cannot be pickled; worker processes (verify --jobs)
        # rebuild the key from its public JWK members instead.
        return (key_from_jwk, (dict(self.jwk),))


@dataclass(frozen=True, slots=True)
class KeySet:
    """The usable keys of a JWK set by ``kid``, and why the other entries were skipped."""

    keys: Mapping[str, VerificationKey]
    skipped: tuple[str, ...] = ()


def _uint(jwk: Mapping[str, Any], member: str) -> int:
    value = jwk.get(member)
    if not isinstance(value, str) or not _B64URL.fullmatch(value):
        raise UnusableKey(f"{member} is not a base64url string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise UnusableKey(f"{member} is not valid base64url") from None
    return int.from_bytes(raw, "big")


def key_from_jwk(jwk: Any) -> VerificationKey:
    """The verification key for one JWK, or :class:`UnusableKey` saying why there is none."""
    if not isinstance(jwk, dict):
        raise UnusableKey("not a JSON object")
    kty, use, alg, key_ops, kid = (jwk.get(m) for m in ("kty", "use", "alg", "key_ops", "kid"))
    if kty != "RSA":
        raise UnusableKey(f"kty {kty!r} is not RSA")
    if use not in (None, "sig"):
        raise UnusableKey(f"use {use!r} is not sig")
    if alg not in (None, "RS256"):
        raise UnusableKey(f"alg {alg!r} is not RS256")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise UnusableKey(f"key_ops {key_ops!r} does not allow verify")
    if not isinstance(kid, str) or not kid:
        raise UnusableKey("no kid: tokens choose their key by kid")
    n, e = _uint(jwk, "n"), _uint(jwk, "e")
    bits = n.bit_length()
    if not MIN_KEY_BITS <= bits <= MAX_KEY_BITS:
        raise UnusableKey(f"modulus is {bits} bits; {MIN_KEY_BITS} to {MAX_KEY_BITS} are accepted")
    try:
        public_key = RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise UnusableKey(f"not a valid RSA public key: {exc}") from None
    public = {m: jwk[m] for m in ("kty", "kid", "n", "e", "use", "alg") if m in jwk}
    return VerificationKey(kid, public_key, (bits + 7) // 8, public)


def parse_jwks(document: bytes | str, origin: str) -> KeySet:
    """The usable keys of a JWK set document; :class:`JwksError` if it has none.

    ``origin`` (a path or URL) names the document in messages. Of two entries with one ``kid``
    the first is kept: picking by position is at least predictable.
    """
    try:
        data = json.loads(document)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwksError(f"{origin} is not JSON: {exc}") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise JwksError(f'{origin} is not a JWK set: no "keys" array')
    keys: dict[str, VerificationKey] = {}
    skipped: list[str] = []
    for index, entry in enumerate(entries):
        label = f"key {index}" + (f" (kid {entry['kid']!r})" if _has_kid(entry) else "")
        try:
            key = key_from_jwk(entry)
        except UnusableKey as exc:
            skipped.append(f"{label}: {exc}")
            continue
        if key.kid in keys:
            skipped.append(f"{label}: duplicate kid; the first key with it is used")
            continue
        keys[key.kid] = key
    if not keys:
        why = "; ".join(skipped) if skipped else "the set is empty"
        raise JwksError(f"{origin} has no usable RS256 signing key ({why})")
    return KeySet(keys, tuple(skipped))


def _has_kid(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("kid"), str)
