"""Group commit: requests that arrive while a transaction commits share the next one.

Request handlers (coroutines on the server's event loop) hand their rows to :meth:`submit`
and wait; one writer thread takes everything queued, writes it in one transaction, commits,
and only then wakes each waiter with the outcome. Throughput therefore grows with concurrency
instead of collapsing to one fsync per event, and no answer is sent before its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from adapters.unified import UnifiedEvent
from migrate.serve.store import Batch, ListenerStore, Written

log = logging.getLogger(__name__)


class StoreFailed(Exception):
    """The transaction holding this request did not commit (the request gets a 503)."""


class _Item:
    __slots__ = ("future", "loop", "rejects", "v2", "v3")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None,
        future: asyncio.Future[Written] | None,
        v3: list[UnifiedEvent],
        v2: list[UnifiedEvent],
        rejects: list[dict[str, Any]],
    ) -> None:
        self.loop, self.future = loop, future
        self.v3, self.v2, self.rejects = v3, v2, rejects


_STOP = object()


class GroupCommitter:
    """Writer threads over a :class:`ListenerStore`: one for SQLite (one writer at a time
    anyway), several for a server, whose transactions then commit side by side.

    Each transaction inserts in ``event_id`` order, then counts re-sightings in that order, so
    concurrent ones wait on each other's rows without a deadlock.

    ``on_commit(size, seconds)`` and ``on_failure(error)`` observe each transaction (metrics).
    """

    def __init__(
        self,
        store: ListenerStore,
        *,
        max_batch: int = 1024,
        writers: int = 1,
        on_commit: Callable[[int, float], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.on_commit = on_commit
        self.on_failure = on_failure
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stopping = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"group-commit-{i}", daemon=True)
            for i in range(writers)
        ]
        for thread in self._threads:
            thread.start()
        self.healthy = True
        """Whether the last transaction committed."""

    async def submit(
        self,
        *,
        v3: list[UnifiedEvent] | None = None,
        v2: list[UnifiedEvent] | None = None,
        rejects: list[dict[str, Any]] | None = None,
    ) -> Written:
        """Wait until these rows are committed; :class:`StoreFailed` if their commit failed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Written] = loop.create_future()
        with self._lock:  # every item is queued before the stop mark, or refused
            if self._stopping:
                raise StoreFailed("the listener is stopping")
            self._queue.put(_Item(loop, future, v3 or [], v2 or [], rejects or []))
        return await future

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then end the thread (graceful stop)."""
        with self._lock:
            self._stopping = True
            for _ in self._threads:
                self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.store.close()

    def _take(self, first: Any) -> tuple[list[_Item], bool]:
        items: list[_Item] = [first]
        stop = False
        while len(items) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            items.append(item)
        return items, stop

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            items: list[_Item] = [first]
            outcome: Written | StoreFailed
            try:
                # Take the batch once it is this worker's turn at the store (SQLite: after
                # the other workers' commits), so what queued meanwhile shares this commit.
                with self.store.turn():
                    items, stop = self._take(first)
                    outcome = self._commit(items)
            except Exception as exc:  # the turn itself failed (the lock file)
                outcome = self._failed(exc)
            self._wake(items, outcome)

    def _commit(self, items: list[_Item]) -> Written | StoreFailed:
        batch = Batch(
            v3=[e for item in items for e in item.v3],
            v2=[e for item in items for e in item.v2],
            rejects=[r for item in items for r in item.rejects],
        )
        started = time.perf_counter()
        try:
            outcome = self.store.write(batch)
        except Exception as exc:
            return self._failed(exc)
        if not self.healthy:
            log.warning("the store commits again")
        self.healthy = True
        if self.on_commit is not None:
            self.on_commit(len(items), time.perf_counter() - started)
        return outcome

    def _failed(self, exc: Exception) -> StoreFailed:
        if self.healthy or log.isEnabledFor(logging.DEBUG):
            log.error("the store did not commit (%s): %s", type(exc).__name__, exc)
        self.healthy = False
        if self.on_failure is not None:
            self.on_failure(exc)
        return StoreFailed(f"{type(exc).__name__}: {exc}")

    def _wake(self, items: list[_Item], outcome: Written | StoreFailed) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[Written]]] = {}
        for item in items:
            if item.loop is not None and item.future is not None:
                by_loop.setdefault(item.loop, []).append(item.future)
        for loop, futures in by_loop.items():  # one wake-up per loop, not per request
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve, futures, outcome)


def _resolve(futures: list[asyncio.Future[Written]], outcome: Written | StoreFailed) -> None:
    for future in futures:
        if future.done():  # the client went away
            continue
        if isinstance(outcome, StoreFailed):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
