"""Why a token failed verification: stable codes for reports, the rejects table and scripts."""

from __future__ import annotations

from enum import StrEnum


class VerifyReason(StrEnum):
    """One code per rule, so a rejection says which rule refused the token.

    Rejections from decoding the token keep their adapter codes (``bad_token``, ``too_large``,
    ``schema``, see :class:`adapters.errors.Reason`); the two shared ones are repeated here so
    that this enum lists every code ``verify`` can print.
    """

    # Decoding (raised by adapters.set_token.parse_compact, passed through unchanged).
    BAD_TOKEN = "bad_token"
    TOO_LARGE = "too_large"
    # The JOSE header, checked before any key is looked up.
    ALG_NOT_ALLOWED = "alg_not_allowed"
    HEADER_KEY_MATERIAL = "header_key_material"
    CRIT_UNSUPPORTED = "crit_unsupported"
    TYP_MISMATCH = "typ_mismatch"
    JKU_MISMATCH = "jku_mismatch"
    MISSING_KID = "missing_kid"
    # The key and the signature.
    UNKNOWN_KID = "unknown_kid"
    SIGNATURE_LENGTH = "signature_length"
    BAD_SIGNATURE = "bad_signature"
    # The claims, checked only once the signature holds.
    MISSING_CLAIM = "missing_claim"
    BAD_CLAIM = "bad_claim"
    ISS_MISMATCH = "iss_mismatch"
    AUD_MISMATCH = "aud_mismatch"
    IAT_IN_FUTURE = "iat_in_future"
    IAT_TOO_OLD = "iat_too_old"
