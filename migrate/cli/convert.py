"""``convert``: input files → unified-event NDJSON."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import IO

import click

from migrate.cli.base import emit_json, format_option, stderr_is_terminal
from migrate.cli.options import (
    allow_empty,
    from_kind,
    input_files,
    make_v2_options,
    max_record_bytes,
    quiet,
    refuse_empty,
    v2_options,
)
from migrate.convert import OutputRefused, RejectedRecord, check_outputs, convert_files
from migrate.errors import ProblemFound
from migrate.words import counted


@contextlib.contextmanager
def atomic_output(path: str | None) -> Iterator[IO[bytes]]:
    """stdout, or a file that appears whole (temp file + rename) or not at all."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".convert-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        # mkstemp makes the file private (0600); OUT gets the mode any new file would get.
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _mode_for(path: str) -> int:
    """The mode ``path`` has (it is being replaced), else what the umask gives a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@click.command()
@input_files
@from_kind
@click.option("-o", "--output", metavar="OUT", help="Write unified NDJSON here (default stdout).")
@click.option(
    "--rejects",
    "rejects_path",
    metavar="FILE",
    help="Write every rejected record here, whole, with its file, line, pointer and reason.",
)
@v2_options
@max_record_bytes
@allow_empty
@quiet
@format_option("text", "json")
def convert(
    files: tuple[str, ...],
    kind: str,
    output: str | None,
    rejects_path: str | None,
    v2_kind: str | None,
    v2_hash: str | None,
    max_record_bytes: int,
    allow_empty: bool,
    quiet: bool,
    output_format: str,
) -> None:
    """Convert FILE... ('-' for stdin, '.gz' accepted) to unified events as NDJSON.

    Each rejected record is reported on stderr as 'file:line: pointer: message (reason)';
    the good records still come out. A count summary follows on stderr (JSON with
    '--format json'). Exit 1 when anything was rejected.
    """

    try:
        check_outputs(files, {"-o": output, "--rejects": rejects_path})
    except OutputRefused as exc:
        raise click.UsageError(str(exc)) from exc

    def report(rejected: RejectedRecord) -> None:
        click.echo(rejected.location(), err=True)

    with contextlib.ExitStack() as stack:
        out = stack.enter_context(atomic_output(output))
        rejects = stack.enter_context(atomic_output(rejects_path)) if rejects_path else None
        counts = convert_files(
            files,
            kind,
            out,
            v2=make_v2_options(v2_kind, v2_hash),
            rejects=rejects,
            on_reject=report,
            show_progress=not quiet and stderr_is_terminal(),
            max_bytes=max_record_bytes,
        )
    if output_format == "json":
        with contextlib.redirect_stdout(sys.stderr):
            emit_json(
                {
                    "read": counts.read,
                    "converted": counts.converted,
                    "rejected": counts.rejected,
                    "by_reason": counts.by_reason,
                }
            )
    else:
        click.echo(counts.summary(), err=True)
    refuse_empty(counts.read, allow_empty, files)
    if counts.rejected:
        raise ProblemFound(f"{counts.rejected} of {counted(counts.read, 'record')} rejected")
