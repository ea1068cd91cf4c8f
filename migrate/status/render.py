"""``status`` as text: one fact per line, aligned for a terminal, stable for grep."""

from __future__ import annotations

from migrate.status.collect import StoreStatus


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def render_text(status: StoreStatus) -> list[str]:
    if status.revision == status.head:
        revision = f"{status.revision} (head)"
    else:
        revision = (
            f"{status.revision or '<base>'} (head is {status.head}: "
            "run `webhooks-migrate db upgrade`)"
        )
    lines = [f"store: {status.database}", f"revision: {revision}"]
    by_source = ", ".join(f"{s['source']} {s['count']:,}" for s in status.streams)
    lines.append(f"events: {status.total_events:,}" + (f" ({by_source})" if by_source else ""))
    for row in status.events:
        lines.append(
            f"  {row['source']}  {row['event_type'] or '(kind unknown)'}: {row['count']:,}"
            f"  occurred {row['occurred_from']} .. {row['occurred_to']}"
        )
    for stream in status.streams:
        lines.append(
            f"stream {stream['source']}: {_plural(stream['count'], 'event')}, occurred "
            f"{stream['occurred_from']} .. {stream['occurred_to']}"
        )
    lines.append(f"last v3 event received: {status.last_v3_received or 'none'}")
    unverified = status.unverified_v3
    lines.append(
        f"unverified v3 events: {unverified.get('total', 0):,} (never checked "
        f"{unverified.get('never_checked', 0):,}, loaded with --no-verify "
        f"{unverified.get('no_verify', 0):,})"
    )
    lines.append(f"files ingested: {len(status.files):,}")
    for f in status.files:
        etag = f"  etag {f['etag']}" if f["etag"] else ""
        lines.append(
            f"  {f['status']}  {f['path']}  {f['kind']}  sha256 {f['sha256']}{etag}  "
            f"read {f['read']:,}, inserted {f['inserted']:,}, duplicates {f['duplicates']:,}, "
            f"rejected {f['rejected']:,}"
        )
    total = sum(status.rejects.values())
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in status.rejects.items())
    lines.append(f"rejects: {total:,}" + (f" ({reasons})" if reasons else ""))
    lines.append(f"deliveries: {status.deliveries:,}, summaries: {status.summaries:,}")
    return lines
