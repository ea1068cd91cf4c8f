"""Building a verifier from options or from the environment (the seam ``ingest`` and ``serve`` use).

A key source is configured when ``--jwks`` is given or ``WEBHOOKS_MIGRATE_JWKS`` is set (a JWKS
file path or an https URL); the expected ``iss`` and ``aud`` come from ``--issuer``/``--audience``
or ``WEBHOOKS_MIGRATE_ISSUER``/``WEBHOOKS_MIGRATE_AUDIENCE``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from migrate.defaults import AUDIENCE_ENV, ISSUER_ENV, JWKS_ENV
from migrate.verify.keys import DEFAULT_COOLDOWN_S, DEFAULT_TIMEOUT_S, load_key_source
from migrate.verify.verifier import DEFAULT_MAX_AGE_S, DEFAULT_SKEW_S, Verifier, VerifyMode

__all__ = ["AUDIENCE_ENV", "ISSUER_ENV", "JWKS_ENV", "build_verifier", "verifier_from_env"]


def build_verifier(
    jwks: str,
    *,
    mode: VerifyMode | str = VerifyMode.BULK,
    issuer: str | None = None,
    audience: str | None = None,
    require_typ: bool = False,
    skew: float = DEFAULT_SKEW_S,
    max_age: float = DEFAULT_MAX_AGE_S,
    jku: str | None = None,
    cooldown: float = DEFAULT_COOLDOWN_S,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Verifier:
    """A verifier whose keys are loaded now (a URL is fetched once, here).

    Raises :class:`~migrate.verify.keys.KeyFetchError` if the URL cannot be fetched (exit 3)
    and :class:`~migrate.verify.keys.KeySourceError` for a bad URL or JWKS file (exit 2).
    ``jku`` names the URL a JWKS *file* came from, so that tokens' ``jku`` is compared with it.
    """
    keys = load_key_source(jwks, cooldown=cooldown, timeout=timeout, pinned_url=jku)
    return Verifier(
        keys,
        mode=mode,
        issuer=issuer,
        audience=audience,
        require_typ=require_typ,
        skew=skew,
        max_age=max_age,
    )


def verifier_from_env(
    *, mode: VerifyMode | str = VerifyMode.BULK, environ: Mapping[str, str] | None = None
) -> Verifier | None:
    """The verifier the environment configures, or ``None`` when ``WEBHOOKS_MIGRATE_JWKS`` is unset.

    Raises like :func:`build_verifier` when it is set but unusable: a configured key source
    that does not work must stop the command, not silently turn verification off.
    """
    env = os.environ if environ is None else environ
    jwks = env.get(JWKS_ENV, "").strip()
    if not jwks:
        return None
    return build_verifier(
        jwks,
        mode=mode,
        issuer=env.get(ISSUER_ENV, "").strip() or None,
        audience=env.get(AUDIENCE_ENV, "").strip() or None,
    )
