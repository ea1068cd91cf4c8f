"""``rehearse``: the whole cutover against the simulator, on this machine."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from migrate.cli.base import emit_json, format_option, stderr_is_terminal
from migrate.errors import ProblemFound
from migrate.progress import Progress
from migrate.rehearse import (
    DEFAULT_EVENTS,
    FAULTS,
    RehearsalOptions,
    Step,
    final_text,
    make_directory,
    rehearse,
    step_line,
)

FAULT_HELP = "; ".join(f"{f.name}: {f.what}" for f in FAULTS.values())


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (a CI timeout, ``kill``) stops the rehearsal as Ctrl-C does: the listener and
    the simulator are stopped before it exits, instead of the listener living on."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _checked_db(_ctx: click.Context, _param: click.Parameter, url: str | None) -> str | None:
    from migrate.store.urls import check_store_url

    if url is not None:
        check_store_url(url)
    return url


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the store, the export files and the listener's log go (default: a new "
    "temporary folder, printed and kept).",
)
@click.option(
    "--events",
    type=click.IntRange(min=100),
    default=DEFAULT_EVENTS,
    show_default=True,
    help="Changes in the dual stream (each one v2 notification and one v3 event).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    type=click.Choice(list(FAULTS)),
    help=f"Inject a fault (repeatable). {FAULT_HELP}.",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    callback=_checked_db,
    help="An empty store to use instead of a SQLite file under --dir (never $WEBHOOKS_MIGRATE_DB).",
)
@format_option("text", "json")
@click.option("--seed", type=int, default=1, show_default=True, help="Makes the stream repeatable.")
def rehearse_command(
    directory: Path | None,
    events: int,
    faults: tuple[str, ...],
    db_url: str | None,
    output_format: str,
    seed: int,
) -> None:
    """Rehearse the whole cutover on this machine: a store, the simulated Identity Cloud and the
    real listener on loopback, a v3 subscription made from a v2 webhook, a dual stream of
    changes with retries and duplicates, then api recover, parity and checklist. Each step is
    printed with its numbers and the command it stands for. Exit as checklist: 0 only when
    ready to turn v2 off."""
    options = RehearsalOptions(
        directory=directory, events=events, faults=frozenset(faults), db_url=db_url, seed=seed
    )
    folder = make_directory(options)
    text = output_format == "text"
    terminal = stderr_is_terminal()
    speak = text or terminal

    def say(line: str) -> None:
        click.echo(line, err=not text)

    if speak:
        listed = ", ".join(sorted(faults)) or "none"
        say(f"rehearsal in {folder}: {events:,} changes, faults: {listed}")
    bars: list[Progress] = []  # made when the stream starts, so its rate is the stream's

    def on_progress(done: int, _total: int) -> None:
        if not bars:
            bars.append(Progress("stream", enabled=terminal))
        bars[0].update(done)

    def on_step(step: Step, number: int, total: int) -> None:
        if step.id == "stream":
            for bar in bars:
                bar.close()
        if speak:
            say(step_line(step, number, total))

    with sigterm_interrupts():
        report = rehearse(
            options,
            directory=folder,
            on_step=on_step,
            on_progress=on_progress,
        )
    if text:
        click.echo(final_text(report, colour=sys.stdout.isatty()), nl=False)
    else:
        emit_json(report.to_json())
    if not report.ready:
        raise ProblemFound(f"not ready: {', '.join(report.failing) or 'see the steps'}")


__all__ = ["rehearse_command"]
