"""``serve``: the v3 endpoint (RFC 8935) and v2 callbacks, written to the store."""

from __future__ import annotations

import click

from migrate.cli.base import db_option
from migrate.defaults import (
    AUDIENCE_ENV,
    BASE_URL_ENV,
    CUSTOMER_ENV,
    ISSUER_ENV,
    JWKS_ENV,
    V2_HASH_ENV,
)
from migrate.serve.config import DEFAULT_MAX_BODY, DEFAULT_PORT, ServeConfig
from migrate.verify.keys import DEFAULT_COOLDOWN_S, KeySourceError, check_jwks_url, is_url


@click.command()
@db_option
@click.option(
    "--jwks",
    envvar=JWKS_ENV,
    metavar="FILE_OR_URL",
    help=f"The signing keys: the pinned JWKS URL or a file (env {JWKS_ENV}); default, with "
    f"--customer-id: {{base-url}}/{{customer-id}}/login/jwk.",
)
@click.option("--customer-id", envvar=CUSTOMER_ENV, default="", help=f"env {CUSTOMER_ENV}")
@click.option(
    "--base-url",
    envvar=BASE_URL_ENV,
    default="https://v1.api.us.janrain.com",
    show_default=True,
    help=f"API root the default JWKS URL is under (env {BASE_URL_ENV}).",
)
@click.option(
    "--issuer", envvar=ISSUER_ENV, metavar="ISS", help=f"Expected iss (env {ISSUER_ENV})."
)
@click.option(
    "--audience",
    envvar=AUDIENCE_ENV,
    metavar="URL",
    help=f"Expected aud: this listener's public URL (env {AUDIENCE_ENV}).",
)
@click.option(
    "--v2-hash",
    envvar=V2_HASH_ENV,
    metavar="HASH",
    help=f"The v2 webhooks' callback hash; notifications without it get 401 (env {V2_HASH_ENV}).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (on SQLite they take turns on the write lock).",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM key (PKCS#8).")
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BODY,
    show_default=True,
    metavar="BYTES",
    help="Larger bodies get 413.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.001, max=60),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Time a client has to send its request headers.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.001),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Time a client has to send its body (then 408).",
)
@click.option(
    "--refetch-cooldown",
    type=click.FloatRange(min=0),
    default=DEFAULT_COOLDOWN_S,
    show_default=True,
    metavar="SECONDS",
    help="An unknown kid refetches the JWKS URL at most once per this interval.",
)
@click.option(
    "--jwks-retry",
    type=click.FloatRange(min=0.01),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="While no key could be fetched yet: how often to try again in the background.",
)
def serve(
    db_url: str,
    jwks: str | None,
    customer_id: str,
    base_url: str,
    issuer: str | None,
    audience: str | None,
    v2_hash: str | None,
    host: str,
    port: int,
    workers: int,
    tls_cert: str | None,
    tls_key: str | None,
    max_body: int,
    header_timeout: float,
    body_timeout: float,
    refetch_cooldown: float,
    jwks_retry: float,
) -> None:
    """Receive v3 tokens (POST /v3) and v2 callbacks (POST /v2/{add,update,delete}).

    Answers 202 only once the event is committed; bad tokens get 400 with the RFC 8935 code and
    are kept in rejects; 503 with Retry-After while the store cannot commit. GET /healthz,
    /readyz, /metrics. Stops on SIGTERM/SIGINT after committing what is in flight.
    """
    if not jwks and customer_id:
        jwks = f"{base_url.rstrip('/')}/{customer_id}/login/jwk"
    if not jwks:
        raise click.UsageError(f"--jwks (or {JWKS_ENV}, or --customer-id) is required")
    try:
        if is_url(jwks):
            check_jwks_url(jwks)
        config = ServeConfig(
            db=db_url, jwks=jwks, issuer=issuer or None, audience=audience or None,
            v2_hash=v2_hash or None, host=host, port=port, workers=workers,
            tls_cert=tls_cert, tls_key=tls_key, max_body=max_body,
            header_timeout=header_timeout, body_timeout=body_timeout,
            refetch_cooldown=refetch_cooldown,
            key_retry=jwks_retry,
        )  # fmt: skip
        if not is_url(jwks):
            from migrate.verify.keys import load_jwks_file

            load_jwks_file(jwks)  # a bad file is a usage error now, not in every worker
    except (KeySourceError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    from migrate.serve.runner import serve as run

    run(config)


__all__ = ["serve"]
