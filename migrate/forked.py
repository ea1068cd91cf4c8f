"""One call in a forked child process, its result (or its exception) brought back.

What the call imports stays in the child: ``ingest`` into SQLite upgrades a new store (Alembic
and SQLAlchemy, ~40 MiB) and checks a ``v2-sql`` source (SQLAlchemy and the driver) this way,
so the process that then writes the whole load never holds them, and its peak memory is what
the load itself needs.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import pickle
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def call_forked(call: Callable[[], T]) -> T:
    """``call()`` in a forked child; in this process where forking is not safe (see
    :meth:`ProcessProducer.available`)."""
    from migrate.ingest.producers import ProcessProducer

    if not ProcessProducer.available():
        return call()
    return Forked(call).result()


class Forked(Generic[T]):
    """``call()`` started in a forked child now; :meth:`result` waits for it (the parent works
    meanwhile: ``parity`` reads half the store while its child reads the other half). The
    caller decides that forking is safe here."""

    def __init__(self, call: Callable[[], T]) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._child = context.Process(target=_run, args=(call, send, self._receive), daemon=True)
        self._child.start()
        send.close()  # the child's end: EOF here once the child is gone

    def result(self) -> T:
        """The call's value, or its exception raised here."""
        try:
            ok, value = self._receive.recv()
        except EOFError:
            raise RuntimeError(
                f"a child process ended unexpectedly ({self._child.exitcode})"
            ) from None
        finally:
            self._child.join()
            self._receive.close()
        if ok:
            return value  # type: ignore[no-any-return]
        raise value


def _run(
    call: Callable[[], Any],
    send: multiprocessing.connection.Connection,
    receive: multiprocessing.connection.Connection,
) -> None:
    receive.close()
    try:
        outcome: tuple[bool, Any] = (True, call())
    except BaseException as exc:  # every failure is the parent's to raise
        outcome = (False, travelling(exc))
    send.send(outcome)
    send.close()


def travelling(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling both ways, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
