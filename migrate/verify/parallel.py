"""``verify --jobs N``: spread decoding and RSA verification over N worker processes.

The parent reads the input and keeps the output in input order; workers get batches of token
text. At most a few batches per worker are in flight, so memory stays bounded on any input size.
Each worker gets its own copy of the verifier (pickled: keys travel as public JWKs, and a pinned
URL keeps the time left in its refetch cooldown), so a worker may refetch keys on its own: at
most once per cooldown per process.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.pool import AsyncResult
from typing import Any, Final

from migrate.readers import Record
from migrate.verify.results import TokenResult, check_token, unreadable
from migrate.verify.verifier import Verifier

BATCH_SIZE: Final = 256
_BATCHES_PER_WORKER: Final = 4

# A batch item: (line, token text) to verify, or a record the reader already refused.
_Item = tuple[int, str] | TokenResult

_worker_verifier: Verifier | None = None


def _start_worker(pickled_verifier: bytes) -> None:
    global _worker_verifier
    # The parent pickled it a moment ago: trusted data.
    _worker_verifier = pickle.loads(pickled_verifier)  # noqa: S301


def _verify_batch(batch: list[_Item], now: float | None) -> list[tuple[Any, ...]]:
    verifier = _worker_verifier
    assert verifier is not None, "worker started without a verifier"
    # Plain tuples: pickle handles them natively, several times faster than a tuple subclass.
    return [
        tuple(item if isinstance(item, TokenResult) else check_token(verifier, *item, now=now))
        for item in batch
    ]


def _batches(records: Iterable[Record], size: int) -> Iterator[list[_Item]]:
    batch: list[_Item] = []
    for record in records:
        error = record.error
        batch.append((record.line, record.value) if error is None else unreadable(record, error))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def verify_in_processes(
    records: Iterable[Record],
    verifier: Verifier,
    *,
    jobs: int,
    now: float | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[TokenResult]:
    """The result for every record, in input order, computed by ``jobs`` processes."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    pickled = pickle.dumps(verifier)  # fails here, clearly, if a key source cannot travel
    with multiprocessing.get_context().Pool(
        jobs, initializer=_start_worker, initargs=(pickled,)
    ) as pool:
        in_flight: deque[AsyncResult[list[tuple[Any, ...]]]] = deque()
        for batch in _batches(records, batch_size):
            in_flight.append(pool.apply_async(_verify_batch, (batch, now)))
            if len(in_flight) >= jobs * _BATCHES_PER_WORKER:
                yield from map(TokenResult._make, in_flight.popleft().get())
        while in_flight:
            yield from map(TokenResult._make, in_flight.popleft().get())
