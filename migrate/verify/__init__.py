"""Security event token signature verification: safe rules, pinned keys, and fast.

The API other commands use::

    verifier = build_verifier(spec, mode=VerifyMode.BULK, issuer=..., audience=...)
    verifier = verifier_from_env()            # WEBHOOKS_MIGRATE_JWKS, or None when unset
    token = parse_compact(text)               # adapters.set_token
    verifier.verify(token)                    # raises adapters.errors.Rejection
    token = verifier.verify_compact(text)     # both at once

Rejection reasons are :class:`VerifyReason` codes (plus the decoding codes ``bad_token``,
``too_large``, ``schema``). See docs/verify.md for the rules and the key source configuration.
"""

from migrate.verify.config import (
    AUDIENCE_ENV,
    ISSUER_ENV,
    JWKS_ENV,
    build_verifier,
    verifier_from_env,
)
from migrate.verify.jwks import JwksError, KeySet, VerificationKey, parse_jwks
from migrate.verify.keys import (
    KeyFetchError,
    KeySource,
    KeySourceError,
    PinnedJwksUrl,
    StaticKeys,
    load_jwks_file,
    load_key_source,
)
from migrate.verify.reasons import VerifyReason
from migrate.verify.verifier import DEFAULT_MAX_AGE_S, DEFAULT_SKEW_S, Verifier, VerifyMode

__all__ = [
    "AUDIENCE_ENV",
    "DEFAULT_MAX_AGE_S",
    "DEFAULT_SKEW_S",
    "ISSUER_ENV",
    "JWKS_ENV",
    "JwksError",
    "KeyFetchError",
    "KeySet",
    "KeySource",
    "KeySourceError",
    "PinnedJwksUrl",
    "StaticKeys",
    "VerificationKey",
    "Verifier",
    "VerifyMode",
    "VerifyReason",
    "build_verifier",
    "load_jwks_file",
    "load_key_source",
    "parse_jwks",
    "verifier_from_env",
]
