"""The rules a security event token must pass, in the order they are checked.

1. The header, before any key is looked up: ``alg`` exactly ``RS256`` (``none``, HMAC and every
   other algorithm refused, so a public key can never serve as an HMAC secret); no key material
   in the header (``jwk``, ``x5u``, ``x5c``: trusting it would let a token bring its own key) and
   no ``crit`` extension (none is understood, RFC 7515 §4.1.11); ``typ``, when present or
   required, ``secevent+jwt``; ``jku``, when present, equal to the pinned JWKS URL (never fetched;
   with keys from a file and no URL named for it, not compared: the keys are pinned anyway).
2. The key, by ``kid`` from the configured source; the signature length must equal the key's
   modulus length (a cheap refusal before any arithmetic); then RSASSA-PKCS1-v1_5 with SHA-256.
3. The claims, once the signature holds: ``iss`` and ``aud`` when configured; in live mode
   ``iat`` within ``[now - max_age - skew, now + skew]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from adapters.errors import Rejection
from adapters.set_token import ParsedToken, parse_compact
from migrate.verify.jwks import VerificationKey
from migrate.verify.keys import KeySource
from migrate.verify.reasons import VerifyReason as R


class VerifyMode(StrEnum):
    BULK = "bulk"
    """Files, exports, events-store records: signature and claims, not freshness."""
    LIVE = "live"
    """The listener: also ``iat`` within the freshness window."""


DEFAULT_SKEW_S: Final = 300.0
# Identity Cloud retries for up to 24 hours and redelivers events up to 7 days old; the events
# store keeps tokens as they were signed, so a redelivery carries its original iat.
DEFAULT_MAX_AGE_S: Final = 7 * 24 * 3600.0

_ALG: Final = "RS256"
_SET_TYP: Final = "secevent+jwt"  # RFC 8417 §2.3; media types compare case-insensitively
_SET_TYPES: Final = frozenset({_SET_TYP, "application/" + _SET_TYP})
_KEY_MATERIAL: Final = ("jwk", "x5u", "x5c")
_SCREENED: Final = frozenset({*_KEY_MATERIAL, "crit"})
_PADDING: Final = PKCS1v15()
_SHA256: Final = SHA256()


class Verifier:
    """Verifies parsed tokens against a key source; raises :class:`Rejection` on the first failure.

    Immutable once built and safe to share between threads; picklable (``verify --jobs``).
    """

    __slots__ = (
        "_checks_claims",
        "_jku",
        "_key_for",
        "_live",
        "audience",
        "clock",
        "issuer",
        "keys",
        "max_age",
        "mode",
        "require_typ",
        "skew",
    )

    def __init__(
        self,
        keys: KeySource,
        *,
        mode: VerifyMode | str = VerifyMode.BULK,
        issuer: str | None = None,
        audience: str | None = None,
        require_typ: bool = False,
        skew: float = DEFAULT_SKEW_S,
        max_age: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if skew < 0 or max_age <= 0:
            raise ValueError("skew must be >= 0 and max_age > 0 seconds")
        self.keys = keys
        self.mode = VerifyMode(mode)
        self.issuer = issuer or None
        self.audience = audience or None
        self.require_typ = require_typ
        self.skew = float(skew)
        self.max_age = float(max_age)
        self.clock = clock
        """Wall-clock seconds since the epoch, for live mode when ``verify`` gets no ``now``."""
        # A jku is compared with the pinned URL, never fetched. Keys from a file have no URL
        # unless the user names the one it came from; the keys are pinned either way.
        self._jku = keys.pinned_url
        self._key_for = keys.key_for
        self._live = self.mode is VerifyMode.LIVE
        self._checks_claims = self.issuer is not None or self.audience is not None or self._live

    def describe(self) -> str:
        parts = [f"{self.mode} mode", f"keys from {self.keys.description}"]
        if self.issuer:
            parts.append(f"iss {self.issuer!r}")
        if self.audience:
            parts.append(f"aud {self.audience!r}")
        if self.mode is VerifyMode.LIVE:
            parts.append(f"iat skew {self.skew:g} s, max age {self.max_age:g} s")
        return ", ".join(parts)

    def verify_compact(self, text: str, *, now: float | None = None) -> ParsedToken:
        """Decode and verify a compact token (wrapped or escaped text tolerated)."""
        token = parse_compact(text)
        self.verify(token, now=now)
        return token

    def verify(self, token: ParsedToken, *, now: float | None = None) -> None:
        """Raise :class:`Rejection` unless ``token`` passes every rule.

        ``now`` (epoch seconds) is for live mode; it defaults to :attr:`clock`.
        """
        # The hot path, flat on purpose (bench/verify.py): a dict lookup or two per rule, no
        # calls but the key lookup and the RSA verify; messages are built only on failure.
        header = token.header
        if header.get("alg") != _ALG:
            _refuse_alg(header.get("alg"))
        if not _SCREENED.isdisjoint(header):
            _refuse_screened(header)
        typ = header.get("typ")
        if typ is None:
            if self.require_typ:
                _reject(R.TYP_MISMATCH, "/header", "typ is required and missing")
        elif typ != _SET_TYP and str(typ).lower() not in _SET_TYPES:
            _reject(R.TYP_MISMATCH, "/header/typ", f"typ {_show(typ)} is not secevent+jwt")
        jku = header.get("jku")
        if jku is not None and jku != self._jku and self._jku is not None:
            _reject(
                R.JKU_MISMATCH, "/header/jku", f"jku {_show(jku)} is not the pinned {self._jku}"
            )
        kid = header.get("kid")
        if kid is None:
            _reject(R.MISSING_KID, "/header", "no kid: the key is chosen by kid")
        key = self._key_for(kid)
        if key is None:
            self._refuse_kid(kid)
        signature = token.signature
        if len(signature) != key.signature_bytes:
            _refuse_length(signature, key)
        try:
            key.public_key.verify(signature, token.signing_input, _PADDING, _SHA256)
        except InvalidSignature:
            _reject(
                R.BAD_SIGNATURE,
                "/signature",
                f"signature does not match key {kid}: the token was altered or signed elsewhere",
            )
        if self._checks_claims:
            claims = token.claims
            issuer = self.issuer
            if issuer is not None and claims.get("iss") != issuer:
                _refuse_iss(claims.get("iss"), issuer)
            audience = self.audience
            if audience is not None:
                aud = claims.get("aud")
                if aud != audience and (aud.__class__ is not list or audience not in aud):
                    _refuse_aud(aud, audience)
            if self._live:
                self._check_fresh(claims.get("iat"), self.clock() if now is None else now)

    def _refuse_kid(self, kid: Any) -> NoReturn:
        _reject(
            R.UNKNOWN_KID,
            "/header/kid",
            f"kid {_show(kid)} is not among the keys of {self.keys.description}",
        )

    def _check_fresh(self, iat: Any, now: float) -> None:
        if iat is None:
            _reject(R.MISSING_CLAIM, "/claims", "iat is missing: live mode needs it")
        if iat.__class__ not in (int, float):  # bool is an int, but not a time
            _reject(R.BAD_CLAIM, "/claims/iat", f"iat {_show(iat)} is not a number")
        if iat > now + self.skew:
            _reject(
                R.IAT_IN_FUTURE,
                "/claims/iat",
                f"iat {iat} is {_duration(iat - now)} in the future; "
                f"the allowed clock skew is {_duration(self.skew)}",
            )
        if iat < now - self.max_age - self.skew:
            _reject(
                R.IAT_TOO_OLD,
                "/claims/iat",
                f"iat {iat} is {_duration(now - iat)} old; live mode accepts up to "
                f"{_duration(self.max_age)} (verify older tokens in bulk mode)",
            )

    def __repr__(self) -> str:
        return f"Verifier({self.describe()})"


def _refuse_iss(iss: Any, expected: str) -> NoReturn:
    if iss is None:
        _reject(R.MISSING_CLAIM, "/claims", "iss is missing")
    _reject(R.ISS_MISMATCH, "/claims/iss", f"iss {_show(iss)} is not {expected!r}")


def _refuse_aud(aud: Any, expected: str) -> NoReturn:
    if aud is None:
        _reject(R.MISSING_CLAIM, "/claims", "aud is missing")
    if aud.__class__ is str:
        _reject(R.AUD_MISMATCH, "/claims/aud", f"aud {_show(aud)} is not {expected!r}")
    if aud.__class__ is list:
        _reject(R.AUD_MISMATCH, "/claims/aud", f"aud {_show(aud)} does not include {expected!r}")
    _reject(R.AUD_MISMATCH, "/claims/aud", "aud is neither a string nor a list of strings")


def _refuse_length(signature: bytes, key: VerificationKey) -> NoReturn:
    _reject(
        R.SIGNATURE_LENGTH,
        "/signature",
        f"signature is {len(signature)} bytes; key {key.kid} signs with "
        f"{key.signature_bytes} (truncated or from another key)",
    )


def _refuse_alg(alg: Any) -> NoReturn:
    _reject(R.ALG_NOT_ALLOWED, "/header/alg", f"alg {_show(alg)} is not allowed; only RS256 is")


def _refuse_screened(header: dict[str, Any]) -> NoReturn:
    for name in _KEY_MATERIAL:
        if name in header:
            _reject(
                R.HEADER_KEY_MATERIAL,
                "/header/" + name,
                f"the header carries key material ({name}); keys come only from the "
                "configured source",
            )
    _reject(R.CRIT_UNSUPPORTED, "/header/crit", "the header lists critical extensions (crit)")


def _reject(reason: R, pointer: str, message: str) -> NoReturn:
    raise Rejection(reason, pointer, message)


def _show(value: Any, limit: int = 80) -> str:
    """A token-supplied value in a message: quoted, and short whatever the token holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
