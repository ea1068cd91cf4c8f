"""Why a token was refused → the RFC 8935 error code the 400 answer carries (§2.3)."""

from __future__ import annotations

from typing import Final

from adapters.errors import Reason
from migrate.verify.reasons import VerifyReason as R

INVALID_REQUEST: Final = "invalid_request"
INVALID_KEY: Final = "invalid_key"
INVALID_ISSUER: Final = "invalid_issuer"
INVALID_AUDIENCE: Final = "invalid_audience"

_CODES: Final[dict[str, str]] = {
    # The key and the signature: the sender must look at how it signs.
    R.ALG_NOT_ALLOWED: INVALID_KEY,
    R.HEADER_KEY_MATERIAL: INVALID_KEY,
    R.JKU_MISMATCH: INVALID_KEY,
    R.MISSING_KID: INVALID_KEY,
    R.UNKNOWN_KID: INVALID_KEY,
    R.SIGNATURE_LENGTH: INVALID_KEY,
    R.BAD_SIGNATURE: INVALID_KEY,
    R.ISS_MISMATCH: INVALID_ISSUER,
    R.AUD_MISMATCH: INVALID_AUDIENCE,
    # Everything else is about the token's form: not a JWS, bad JSON, a missing or wrong-typed
    # claim, a typ, an iat outside the live window, a value the store cannot keep.
    R.CRIT_UNSUPPORTED: INVALID_REQUEST,
    R.TYP_MISMATCH: INVALID_REQUEST,
    R.MISSING_CLAIM: INVALID_REQUEST,
    R.BAD_CLAIM: INVALID_REQUEST,
    R.IAT_IN_FUTURE: INVALID_REQUEST,
    R.IAT_TOO_OLD: INVALID_REQUEST,
    Reason.BAD_TOKEN: INVALID_REQUEST,
    Reason.TOO_LARGE: INVALID_REQUEST,
    Reason.SCHEMA: INVALID_REQUEST,
}


def error_code(reason: str) -> str:
    """The RFC 8935 ``err`` for a rejection reason (``invalid_request`` for any other)."""
    return _CODES.get(reason, INVALID_REQUEST)
