"""``ingest``: idempotent, resumable load of input files into the v3 store."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import click

from migrate.cli.archive import archive_input, archive_options, files_or_source
from migrate.cli.base import db_option, emit_json, format_option, stderr_is_terminal
from migrate.cli.options import (
    allow_empty,
    make_v2_options,
    max_record_bytes,
    quiet,
    refuse_empty,
    v2_options,
)
from migrate.cli.store_ready import require_store
from migrate.convert import RejectedRecord
from migrate.defaults import AUDIENCE_ENV, ISSUER_ENV, JWKS_ENV
from migrate.errors import ProblemFound, UsageError
from migrate.ingest import INGEST_KINDS, NO_KEY_SOURCE, IngestOptions, IngestReport, ingest_store
from migrate.kinds import kind_of
from migrate.words import counted

if TYPE_CHECKING:
    from adapters.v2_rows import ColumnMap
    from migrate.kinds import V2Options
    from migrate.verify.verifier import Verifier


def _verifier(jwks: str, issuer: str | None, audience: str | None) -> Verifier:
    from migrate.errors import Unavailable
    from migrate.verify.config import build_verifier
    from migrate.verify.keys import KeyFetchError, KeySourceError

    try:
        return build_verifier(jwks, issuer=issuer, audience=audience)
    except KeyFetchError as exc:
        raise Unavailable(str(exc)) from exc  # it says what it could not fetch
    except KeySourceError as exc:
        raise click.BadParameter(str(exc), param_hint="--jwks") from exc


def _key_source(kind: str, jwks: str | None, no_verify: bool) -> str | None:
    """The JWKS to verify ``kind``'s tokens against; ``None`` with an explicit ``--no-verify``.

    Loading tokens unchecked must be asked for: neither a key source nor ``--no-verify`` is a
    usage error, and so is ``--jwks`` given with ``--no-verify`` (the environment's key source
    gives way to an explicit ``--no-verify``).
    """
    ctx = click.get_current_context()
    explicit = ctx.get_parameter_source("jwks") == click.core.ParameterSource.COMMANDLINE
    if no_verify:
        if explicit:
            raise UsageError("--jwks and --no-verify contradict each other: give one of them")
        return None
    if not jwks:
        raise UsageError(
            f"--from {kind} carries signatures: give --jwks FILE_OR_URL (or set {JWKS_ENV}) to "
            "verify them, or --no-verify to store them unverified"
        )
    return jwks


def _counts(
    read: int, inserted: int, duplicates: int, conflicts: int, rejected: int, *, dry: bool
) -> str:
    insert = "would insert" if dry else "inserted"
    return (
        f"read {read}, {insert} {inserted}, duplicates {duplicates}, conflicts {conflicts}, "
        f"rejected {rejected}"
    )


def _text_report(report: IngestReport, *, dry_run: bool) -> None:
    for f in report.files:
        if f.already_ingested:
            click.echo(f"{f.path}: already ingested (sha256 {f.sha256[:12]}…); --force re-reads it")
            continue
        resumed = f" (resumed after line {f.resumed_from_line})" if f.resumed_from_line else ""
        counts = _counts(f.read, f.inserted, f.duplicates, f.conflicts, f.rejected, dry=dry_run)
        click.echo(f"{f.path}: {counts}{resumed}")
    total = _counts(
        report.read,
        report.inserted,
        report.duplicates,
        report.conflicts,
        report.rejected,
        dry=dry_run,
    )
    click.echo(f"total: {total}")
    if report.verified is not None:
        click.echo(f"signatures: {report.signature_summary()}")
    if report.unverified_removed:
        click.echo(
            f"removed {counted(report.unverified_removed, 'event')} stored with --no-verify "
            "whose signature failed against a known key in this run"
        )


@click.command()
@files_or_source
@click.option(
    "--from",
    "kind",
    required=True,
    type=click.Choice(INGEST_KINDS),
    help="v2 notifications, set tokens, bulk-export lines, events-store records, or the v2 "
    "archive's rows (v2-csv: a dump with a header row; v2-sql: read from its database).",
)
@db_option
@click.option("--no-upgrade", is_flag=True, help="Do not bring the store to the newest revision.")
@click.option(
    "--etag",
    help="The download's ETag, kept in the ledger (one FILE only); the ledger matches on "
    "content, and an ETag seen before with other content is refused.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Re-read files already ingested and check them against the store; nothing is inserted.",
)
@click.option("--dry-run", is_flag=True, help="Read, check and count; write nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    help="Records per batch (default: 5,000; 1,000 on MariaDB).",
)
@click.option(
    "--commit-every",
    "commit_rows",
    type=click.IntRange(1),
    help="Make progress durable after about this many records (default: 50,000; every batch "
    "on MariaDB). Smaller loses less work to a crash; larger loads faster.",
)
@v2_options
@archive_options
@click.option(
    "--jwks",
    envvar=JWKS_ENV,
    metavar="FILE_OR_URL",
    help=f"Verify set/events tokens against this JWKS (env {JWKS_ENV}).",
)
@click.option("--issuer", envvar=ISSUER_ENV, help="Expected iss of verified tokens.")
@click.option("--audience", envvar=AUDIENCE_ENV, help="Expected aud of verified tokens.")
@click.option(
    "--no-verify",
    is_flag=True,
    help="Store set/events tokens without verifying signatures (needed without a key source).",
)
@click.option(
    "--bulk/--no-bulk",
    default=None,
    help="Load without the events' secondary indexes and build them at the end (default: "
    "when the store has no events and the files add up to 64 MiB or more, or the v2-sql "
    "source holds 500,000 rows or more).",
)
@max_record_bytes
@allow_empty
@quiet
@format_option("text", "json")
def ingest(
    files: tuple[str, ...],
    kind: str,
    db_url: str,
    no_upgrade: bool,
    etag: str | None,
    force: bool,
    dry_run: bool,
    batch_size: int | None,
    commit_rows: int | None,
    v2_kind: str | None,
    v2_hash: str | None,
    jwks: str | None,
    issuer: str | None,
    audience: str | None,
    no_verify: bool,
    max_record_bytes: int,
    bulk: bool | None,
    allow_empty: bool,
    quiet: bool,
    output_format: str,
    **archive: Any,
) -> None:
    """Load FILE... (or, with --from v2-sql, the rows of --source) into the store, exactly once.

    A file already loaded (same sha256, or same --etag) is skipped; an interrupted load resumes
    after its last committed line. Every record is inserted, a duplicate, or rejected (kept in
    the store's rejects table with its reason). Exit 1 when anything was rejected.
    """

    def report_reject(rejected: RejectedRecord) -> None:
        click.echo(rejected.location(), err=True)

    columns, source = archive_input(kind, files, **archive)
    verifier = None
    if kind_of(kind).carries_tokens:
        jwks = _key_source(kind, jwks, no_verify)
        if jwks is not None:
            verifier = _verifier(jwks, issuer, audience)
    options = IngestOptions(
        kind=kind,
        verify=None if verifier is None else verifier.verify,
        unverified_because="--no-verify" if no_verify else NO_KEY_SOURCE,
        etag=etag,
        force=force,
        dry_run=dry_run,
        batch_size=batch_size,
        commit_rows=commit_rows,
        v2=_v2(make_v2_options(v2_kind, v2_hash), columns),
        show_progress=not quiet and stderr_is_terminal(),
        max_bytes=max_record_bytes,
        on_reject=report_reject,
        source=source,
        bulk=bulk,
    )
    if etag is not None and len(files) > 1:
        raise UsageError(f"--etag names one download: give one FILE, not {len(files)}")
    if no_upgrade and not dry_run:
        require_store(db_url)  # "run db upgrade", not "no such table"
    report = ingest_store(db_url, files, options, upgrade=not no_upgrade)
    if output_format == "json":
        emit_json(report.to_json() | {"dry_run": dry_run})
    else:
        _text_report(report, dry_run=dry_run)
    empty = [f.path for f in report.files if f.empty]
    if empty:
        refuse_empty(0, allow_empty, empty)
    if report.conflicts:
        click.echo(
            f"warning: {counted(report.conflicts, 'record')} reuse a stored event_id with a "
            "different payload (conflict); kept in rejects, the stored events are unchanged",
            err=True,
        )
    if report.rejected or report.conflicts:
        of = f"of {counted(report.read, 'record')}"
        problems = [f"{report.rejected} {of} rejected"] if report.rejected else []
        if report.conflicts:
            problems.append(f"{report.conflicts} {of} in conflict")
        raise ProblemFound("; ".join(problems))


def _v2(options: V2Options, columns: ColumnMap | None) -> V2Options:
    return options if columns is None else dataclasses.replace(options, columns=columns)
