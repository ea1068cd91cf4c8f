"""``POST /v2/{add,update,delete}`` and ``POST /v2``: a Webhooks v2 callback (a JSON array).

v2 has one callback URL per kind and the payload does not say which, so the route gives the
kind (``/v2``: unknown). The callback hash, when configured, is compared in constant time by
:func:`adapters.v2.event_from_v2`. No I/O here.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

from adapters.errors import Reason, Rejection, pointer_join
from adapters.unified import UnifiedEvent
from adapters.v2 import V2Kind, event_from_v2
from migrate.store.rows import check_storable, now_text, reject_row

ROUTES: Final[dict[str, V2Kind | None]] = {
    "/v2/add": "ADD",
    "/v2/update": "UPDATE",
    "/v2/delete": "DELETE",
    "/v2": None,
}


class Refused(NamedTuple):
    status: int
    """400: not a v2 array; 401: a notification without the configured callback hash."""
    rejection: Rejection
    raw: str
    route: str

    def body(self) -> dict[str, str]:
        return {"error": self.rejection.reason, "description": self.rejection.message}

    def reject_row(self) -> dict[str, Any]:
        r = self.rejection
        return reject_row(
            path=self.route, pointer=r.pointer, reason=r.reason, message=r.message, raw=self.raw,
            now=now_text(),
        )  # fmt: skip


def read_callback(
    route: str, body: bytes, *, expected_hash: str | None
) -> list[UnifiedEvent] | Refused:
    kind = ROUTES[route]
    raw = body.decode("utf-8", errors="replace")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return Refused(400, Rejection(Reason.MALFORMED_JSON, "", f"not JSON: {exc}"), raw, route)
    if not isinstance(payload, list):
        rejection = Rejection(Reason.SCHEMA, "", "a v2 callback body is a JSON array")
        return Refused(400, rejection, raw, route)
    events = []
    for index, notification in enumerate(payload):
        try:
            event = event_from_v2(notification, kind=kind, expected_hash=expected_hash)
            check_storable(event)
        except Rejection as rejection:
            status = 401 if rejection.reason == Reason.HASH_MISMATCH else 400
            return Refused(status, rejection.under(pointer_join(index)), raw, route)
        events.append(event)
    return events
