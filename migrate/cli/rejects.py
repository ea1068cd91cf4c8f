"""``rejects``: look at, re-run and settle what the store refused."""

from __future__ import annotations

import getpass
import os

import click

from migrate.cli.base import db_option, emit_json, format_option
from migrate.cli.options import make_v2_options, v2_options
from migrate.cli.stores import reading_store, writing_store
from migrate.defaults import AUDIENCE_ENV, ISSUER_ENV, JWKS_ENV
from migrate.errors import ProblemFound, Unavailable
from migrate.kinds import INPUT_KINDS
from migrate.rejects import (
    RejectRecord,
    RetryOptions,
    get_reject,
    list_rejects,
    resolve_rejects,
    retry_rejects,
)


@click.group()
def rejects() -> None:
    """What was refused (kept whole with its reason): list, show, retry after a fix, or resolve
    as lost on purpose. checklist is not ready while any reject is unresolved."""


def _line(r: RejectRecord) -> str:
    return f"{r.id:>6}  {r.status:<10}  {r.location()}"


@rejects.command("list")
@db_option
@click.option("--reason", help="Only rejects with this reason code.")
@click.option("--all", "show_all", is_flag=True, help="Include rejects already settled.")
@format_option("text", "json")
def list_command(db_url: str, reason: str | None, show_all: bool, output_format: str) -> None:
    """List unresolved rejects (with --all, settled ones too), oldest first."""
    with reading_store(db_url) as engine:
        found = list_rejects(engine, reason=reason, unresolved=not show_all)
    if output_format == "json":
        emit_json(
            {
                "rejects": [r.to_json() for r in found],
                "total": len(found),
                "unresolved": sum(1 for r in found if r.resolution is None),
            }
        )
        return
    for r in found:
        click.echo(_line(r))
    click.echo(f"{len(found)} reject(s)", err=True)


@rejects.command("show")
@click.argument("reject_id", type=int, metavar="ID")
@db_option
@format_option("text", "json")
def show_command(reject_id: int, db_url: str, output_format: str) -> None:
    """Show one reject whole, its raw record included."""
    with reading_store(db_url) as engine:
        found = get_reject(engine, reject_id)
    if found is None:
        raise click.BadParameter(f"no reject {reject_id}", param_hint="ID")
    if output_format == "json":
        emit_json(found.to_json(raw=True))
        return
    for key, value in found.to_json().items():
        if value is not None:
            click.echo(f"{key}: {value}")
    click.echo("raw:")
    click.echo(found.raw)


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _verify_check(jwks: str, issuer: str | None, audience: str | None) -> RetryOptions:
    from migrate.verify.config import build_verifier
    from migrate.verify.keys import KeyFetchError, KeySourceError

    try:
        verifier = build_verifier(jwks, issuer=issuer, audience=audience)
    except KeyFetchError as exc:
        raise Unavailable(f"cannot fetch the JWKS: {exc}") from exc
    except KeySourceError as exc:
        raise click.BadParameter(str(exc), param_hint="--jwks") from exc
    return RetryOptions(verify=verifier.verify)


@rejects.command("retry")
@click.argument("ids", nargs=-1, type=int, metavar="[ID]...")
@db_option
@click.option("--no-upgrade", is_flag=True, help="Do not bring the store to the newest revision.")
@click.option("--reason", help="Retry the unresolved rejects with this reason code.")
@click.option(
    "--from",
    "kind",
    type=click.Choice(INPUT_KINDS),
    help="Read the raw records as this kind (default: the kind of the file each came from).",
)
@v2_options
@click.option("--jwks", envvar=JWKS_ENV, metavar="FILE_OR_URL", help="Verify tokens with this.")
@click.option("--issuer", envvar=ISSUER_ENV, help="Expected iss of verified tokens.")
@click.option("--audience", envvar=AUDIENCE_ENV, help="Expected aud of verified tokens.")
@click.option("--no-verify", is_flag=True, help="Store tokens without verifying signatures.")
@click.option("--by", help="Who retries (default: $USER).")
@format_option("text", "json")
def retry_command(
    ids: tuple[int, ...],
    db_url: str,
    no_upgrade: bool,
    reason: str | None,
    kind: str | None,
    v2_kind: str | None,
    v2_hash: str | None,
    jwks: str | None,
    issuer: str | None,
    audience: str | None,
    no_verify: bool,
    by: str | None,
    output_format: str,
) -> None:
    """Re-run rejects through the current adapters and keys (e.g. --jwks after a key fix).

    What passes now is stored (once: an event already in the store is not stored again) and its
    reject marked retried. Without ID or --reason, every unresolved reject is retried. Exit 1
    while any of them still fails.
    """
    if ids and reason:
        raise click.UsageError("give reject IDs or --reason, not both")
    base = _verify_check(jwks, issuer, audience) if jwks and not no_verify else RetryOptions()
    options = RetryOptions(
        kind=kind,
        v2=make_v2_options(v2_kind, v2_hash),
        verify=base.verify,
        no_verify=no_verify,
        by=_who(by),
    )
    with writing_store(db_url, upgrade=not no_upgrade) as engine:
        outcomes = retry_rejects(engine, options, ids=list(ids) or None, reason=reason)
    missing = sorted(set(ids) - {o.reject_id for o in outcomes})
    if output_format == "json":
        emit_json({"retried": [o.to_json() for o in outcomes], "missing": missing})
    else:
        for o in outcomes:
            if o.event_ids:
                detail = ", ".join(o.event_ids)
            else:
                detail = f"{o.message} ({o.reason})" if o.reason else o.message or ""
            click.echo(f"{o.reject_id:>6}  {o.status:<9}  {detail}")
    failed = [o for o in outcomes if o.status == "rejected"]
    if missing:
        raise ProblemFound(f"no reject {', '.join(map(str, missing))}")
    if failed:
        raise ProblemFound(f"{len(failed)} of {len(outcomes)} reject(s) still fail")


@rejects.command("resolve")
@click.argument("ids", nargs=-1, type=int, required=True, metavar="ID...")
@click.option("--note", required=True, help="Why these records may be lost (kept with them).")
@click.option("--by", help="Who decides (default: $USER).")
@db_option
@click.option("--no-upgrade", is_flag=True, help="Do not bring the store to the newest revision.")
@format_option("text", "json")
def resolve_command(
    ids: tuple[int, ...],
    note: str,
    by: str | None,
    db_url: str,
    no_upgrade: bool,
    output_format: str,
) -> None:
    """Accept rejects as lost on purpose, recording who and why."""
    if not note.strip():
        raise click.BadParameter("say why", param_hint="--note")
    with writing_store(db_url, upgrade=not no_upgrade) as engine:
        result = resolve_rejects(engine, ids, note=note, by=_who(by))
    if result.missing:
        raise click.BadParameter(
            f"no reject {', '.join(map(str, result.missing))} (nothing was resolved)",
            param_hint="ID",
        )
    if output_format == "json":
        emit_json({"resolved": list(result.settled), "already_settled": list(result.already)})
        return
    for reject_id in result.settled:
        click.echo(f"{reject_id:>6}  accepted")
    for reject_id in result.already:
        click.echo(f"{reject_id:>6}  already settled (unchanged)")
