"""Why an input record was rejected: a stable reason code, a JSON pointer and a message."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Reason codes kept with every rejected record (the store's ``rejects.reason``)."""

    MALFORMED_JSON = "malformed_json"
    ENCODING = "encoding"
    TOO_LARGE = "too_large"
    TRUNCATED = "truncated"
    SCHEMA = "schema"
    NO_EVENT = "no_event"
    MULTIPLE_EVENTS = "multiple_events"
    BAD_TIME = "bad_time"
    BAD_TOKEN = "bad_token"
    HASH_MISMATCH = "hash_mismatch"
    INCONSISTENT = "inconsistent"
    # Ingest: a stored event_id with a different payload; a forced re-read's record that the
    # ledger's run did not store (reported, never stored).
    CONFLICT = "conflict"
    NOT_LOADED = "not_loaded"
    # Signature verification (migrate.verify) adds its own codes with this prefix.
    SIGNATURE = "signature"


class Rejection(Exception):
    """An input record that cannot become a unified event.

    ``pointer`` is a JSON pointer (RFC 6901) into the record as read: ``""`` is the whole record.
    """

    def __init__(self, reason: Reason | str, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.reason = str(reason)
        self.pointer = pointer
        self.message = message

    def under(self, prefix: str) -> Rejection:
        """The same rejection seen from an enclosing document (``prefix`` is a JSON pointer)."""
        return Rejection(self.reason, prefix + self.pointer, self.message)

    def __reduce__(self) -> tuple[type[Rejection], tuple[str, str, str]]:
        # Keeps rejections picklable for multiprocessing (verify --jobs).
        return (Rejection, (self.reason, self.pointer, self.message))


def pointer_join(*parts: str | int) -> str:
    """JSON pointer for a path of keys and indexes, escaped as RFC 6901 says."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
