"""The events store: ``/summary`` and ``/events`` (list, show, history, redeliver)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migrate.api import paths
from migrate.api.client import ApiClient, Retry
from migrate.api.errors import ProtocolError
from migrate.api.models import EventRecord, Summary


def get_summary(client: ApiClient, sid: str) -> Summary:
    """The subscription's counts (the API refreshes them at most once per 24 h)."""
    return Summary.from_json(client.get_json(client.url(paths.summary(sid))))


def list_events(
    client: ApiClient, sid: str, *, state: str | None = None, limit: int | None = None
) -> Iterator[EventRecord]:
    """Events of the last 7 days, page after page; ``state`` filters (here too, if the API
    ignores the query parameter)."""
    count = 0
    for item in client.iter_items(client.url(paths.events(sid), state=state), "events"):
        record = EventRecord.from_json(item)
        if state is not None and record.state != state:
            continue
        if limit is not None and count >= limit:
            return
        count += 1
        yield record


def get_event(client: ApiClient, sid: str, eid: str) -> EventRecord:
    return EventRecord.from_json(client.get_json(client.url(paths.event(sid, eid))))


def event_history(client: ApiClient, sid: str, eid: str) -> list[dict[str, Any]]:
    """Delivery attempts of one event (the record's ``history`` link when it has one)."""
    record = client.get_json(client.url(paths.event(sid, eid)))
    url = client.link_or(record, "history", paths.event(sid, eid) + "/history")
    return list(client.iter_items(url, "history"))


def redeliver(client: ApiClient, sid: str, eid: str) -> dict[str, Any]:
    """Ask for one more delivery (only failed events younger than 7 days; else 409).

    Not repeated on an ambiguous failure: a second redelivery would send the event twice.
    """
    record = client.get_json(client.url(paths.event(sid, eid)))
    url = client.link_or(record, "redeliver", paths.event(sid, eid) + "/redeliver")
    answer = client.decode(client.send("POST", url, retry=Retry.REFUSED))
    if answer is not None and not isinstance(answer, dict):
        raise ProtocolError("redeliver answered with something other than a JSON object")
    return answer or {}
