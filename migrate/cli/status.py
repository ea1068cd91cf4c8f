"""``status``: what is in the store (read-only)."""

from __future__ import annotations

import click

from migrate.cli.base import db_option, emit_json, format_option


@click.command()
@db_option
@format_option("text", "json")
def status(db_url: str, output_format: str) -> None:
    """Show what is in the store, changing nothing.

    Events by source and kind with the time range of each stream, the last v3 event received,
    the files ingested, rejects by reason, v3 events whose signature was not verified, and the
    store's revision against the newest. Never creates or upgrades a store: a missing SQLite
    file or a store without tables exits 3 saying so.
    """
    from migrate.status import read_status, render_text

    report = read_status(db_url)  # a store not set up raises StoreNotReady: exit 3, one line
    if output_format == "json":
        emit_json(report.to_json())
        return
    for line in render_text(report):
        click.echo(line)
