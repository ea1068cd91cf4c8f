"""``verify``: check the signatures and claims of security event tokens."""

from __future__ import annotations

import sys

import click

from migrate.cli.base import cli_state, emit_json, format_option
from migrate.cli.options import allow_empty, max_record_bytes, refuse_empty
from migrate.errors import ProblemFound, Unavailable
from migrate.verify.config import AUDIENCE_ENV, ISSUER_ENV, JWKS_ENV, build_verifier
from migrate.verify.keys import DEFAULT_COOLDOWN_S, KeyFetchError, KeySourceError
from migrate.verify.run import VerifyCounts, verify_file
from migrate.verify.verifier import DEFAULT_MAX_AGE_S, DEFAULT_SKEW_S, Verifier, VerifyMode


@click.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, exists=True))
@click.option(
    "--jwks",
    required=True,
    envvar=JWKS_ENV,
    metavar="FILE_OR_URL",
    help=f"The signing keys: a JWKS file, or the https URL that publishes them, e.g. "
    f"https://v1.api.us.janrain.com/CUSTOMER_ID/login/jwk (env {JWKS_ENV}).",
)
@click.option(
    "--issuer", envvar=ISSUER_ENV, metavar="ISS", help=f"Expected iss (env {ISSUER_ENV})."
)
@click.option(
    "--audience",
    envvar=AUDIENCE_ENV,
    metavar="AUD",
    help=f"Expected aud: your listener URL (env {AUDIENCE_ENV}).",
)
@click.option(
    "--mode",
    type=click.Choice([m.value for m in VerifyMode]),
    default=VerifyMode.BULK.value,
    show_default=True,
    help="bulk: signature and claims; live: also iat freshness, as a listener checks.",
)
@click.option("--require-typ", is_flag=True, help="Refuse tokens without typ: secevent+jwt.")
@click.option(
    "--skew",
    type=click.FloatRange(min=0),
    default=DEFAULT_SKEW_S,
    show_default=True,
    metavar="SECONDS",
    help="Live mode: how far iat may be in the future (clock skew).",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    default=DEFAULT_MAX_AGE_S,
    show_default=True,
    metavar="SECONDS",
    help="Live mode: how old iat may be (redeliveries arrive up to 7 days late).",
)
@click.option(
    "--jku",
    metavar="URL",
    help="With a JWKS file: the URL it was downloaded from; tokens naming another jku fail.",
)
@click.option(
    "--refetch-cooldown",
    type=click.FloatRange(min=0),
    default=DEFAULT_COOLDOWN_S,
    show_default=True,
    metavar="SECONDS",
    help="With a JWKS URL: an unknown kid refetches the keys at most once per this interval.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes verifying in parallel.",
)
@max_record_bytes
@allow_empty
@format_option("text", "json")
@click.pass_context
def verify(
    ctx: click.Context,
    file: str,
    jwks: str,
    issuer: str | None,
    audience: str | None,
    mode: str,
    require_typ: bool,
    skew: float,
    max_age: float,
    jku: str | None,
    refetch_cooldown: float,
    jobs: int,
    max_record_bytes: int,
    allow_empty: bool,
    output_format: str,
) -> None:
    """Verify the security event tokens in FILE ('-' for stdin, '.gz' accepted).

    Tokens are one per line, or wrapped over several lines. Prints 'ok JTI (line N)' or
    'fail line N: REASON: MESSAGE' per token (a JSON report with '--format json') and a
    summary on stderr. Exit 1 if any token fails, 3 if the JWKS URL cannot be fetched.
    """
    try:
        verifier = build_verifier(
            jwks,
            mode=mode,
            issuer=issuer,
            audience=audience,
            require_typ=require_typ,
            skew=skew,
            max_age=max_age,
            jku=jku,
            cooldown=refetch_cooldown,
        )
    except KeyFetchError as exc:
        raise Unavailable(str(exc)) from None
    except KeySourceError as exc:
        raise click.BadParameter(str(exc), param_hint="--jwks" if jku is None else None) from None
    if cli_state(ctx).debug:
        _explain(verifier)

    counts = VerifyCounts()
    collected: list[dict[str, object]] = []
    write = sys.stdout.write  # one line per token: click.echo's per-call cost would show
    for result in verify_file(file, verifier, jobs=jobs, max_bytes=max_record_bytes):
        counts.add(result)
        if output_format == "json":
            collected.append(result.to_json())
        else:
            write(result.text() + "\n")
    sys.stdout.flush()
    if output_format == "json":
        emit_json({"ok": counts.ok, "failed": counts.failed, "results": collected})
    refuse_empty(counts.ok + counts.failed, allow_empty, (file,))
    if counts.failed:
        raise ProblemFound(counts.summary())
    click.echo(counts.summary(), err=True)


def _explain(verifier: Verifier) -> None:
    click.echo(f"verifying: {verifier.describe()}", err=True)
    for note in verifier.keys.skipped:
        click.echo(f"ignored JWKS entry: {note}", err=True)
