"""Producer side of ingest: where batches are prepared while the writer commits earlier ones."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migrate.ingest.batch import Batch


class ThreadProducer:
    """Runs an iterator in a thread, handing its items over through a small queue."""

    _DONE = object()

    def __init__(self, source: Iterator[Any]) -> None:
        self.items: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self.thread.start()

    def _run(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.items.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class _ChildFailed:
    """An exception raised in the producer process, carried back to be raised in the parent."""

    def __init__(self, exc: BaseException) -> None:
        try:
            pickle.dumps(exc)
            self.exc = exc
        except Exception:  # an exception that cannot travel: keep its text
            self.exc = RuntimeError(f"{type(exc).__name__}: {exc}")


class ProcessProducer:
    """Runs the batch iterator in a forked child process, handing batches over a pipe.

    The child never touches the parent's database connections, leaves with ``os._exit`` (so no
    finaliser closes them), stays at most ``AHEAD`` batches ahead, and ends itself if the parent
    dies (a parent killed with SIGKILL cannot tell it to).
    """

    AHEAD = 3
    _DONE = "done"

    @staticmethod
    def available() -> bool:
        # fork() copies only the calling thread: any lock another thread held (stdio,
        # logging) would stay locked forever in the child, so fork only a lone thread.
        return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1

    def __init__(self, source: Callable[[], Iterator[Batch]]) -> None:
        context = multiprocessing.get_context("fork")
        self.receive, send = context.Pipe(duplex=False)
        self.slots = context.BoundedSemaphore(self.AHEAD)
        self.process = context.Process(
            target=produce_in_child,
            args=(source, send, self.slots, os.getpid(), self.receive),
            daemon=True,
        )
        self.process.start()
        send.close()  # the child's end: EOF here once the child is gone

    def __iter__(self) -> Iterator[Batch]:
        while True:
            try:
                item = self.receive.recv()
            except EOFError:
                raise RuntimeError(
                    f"the ingest producer process ended unexpectedly ({self.process.exitcode})"
                ) from None
            if item == self._DONE:
                return
            if isinstance(item, _ChildFailed):
                raise item.exc
            self.slots.release()  # each batch took a slot in the child
            yield item

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=10)
        self.receive.close()


class Interleaved:
    """Batches from several producers, back in file order: batch i comes from producer i mod n.

    Every producer reads the whole input but prepares only its share (see
    ``Ingester._batches``), so parsing, validation and staging, the producer's costly part,
    spread over more cores while the writer still commits the file front to back (the ledger's
    resume point only ever advances over lines that are all written).
    """

    def __init__(
        self, producers: list[ProcessProducer], held: contextlib.ExitStack | None = None
    ) -> None:
        self.producers = producers
        self.held = held  # what the producers read from (a shared snapshot), closed after them

    def __iter__(self) -> Iterator[Batch]:
        streams = [iter(p) for p in self.producers]
        while True:
            for stream in streams:
                batch = next(stream, None)
                if batch is None:  # the file ended here, so every later share is empty too
                    for rest in streams:
                        for _ in rest:  # a producer's failure is still raised
                            raise RuntimeError("an ingest producer prepared a batch past the end")
                    return
                yield batch

    def close(self) -> None:
        try:
            for producer in self.producers:
                producer.close()
        finally:
            if self.held is not None:
                self.held.close()


def produce_in_child(
    source: Callable[[], Iterator[Batch]],
    send: multiprocessing.connection.Connection,
    slots: Any,
    parent: int,
    receive: multiprocessing.connection.Connection | None = None,
) -> None:
    # The parent's end, copied by fork: held here, a parent killed with SIGKILL would leave the
    # pipe with a reader, and a send blocked on a full pipe would wait forever (holding the
    # copies of the parent's database sockets, and so its open transaction, with it).
    if receive is not None:
        receive.close()
    try:
        for batch in source():
            while not slots.acquire(timeout=0.2):
                if os.getppid() != parent:
                    os._exit(1)  # orphaned: the parent was killed
            send.send(batch)
        send.send(ProcessProducer._DONE)
    except BaseException as exc:  # every failure is the parent's to report
        with contextlib.suppress(BaseException):
            send.send(_ChildFailed(exc))
    finally:
        send.close()
