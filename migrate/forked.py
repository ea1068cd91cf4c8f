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
from typing import Any, TypeVar

T = TypeVar("T")


def call_forked(call: Callable[[], T]) -> T:
    """``call()`` in a forked child; in this process where forking is not safe (see
    :meth:`ProcessProducer.available`)."""
    from migrate.ingest.producers import ProcessProducer

    if not ProcessProducer.available():
        return call()
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(call, send, receive), daemon=True)
    child.start()
    send.close()  # the child's end: EOF here once the child is gone
    try:
        ok, value = receive.recv()
    except EOFError:
        raise RuntimeError(f"a child process ended unexpectedly ({child.exitcode})") from None
    finally:
        child.join()
        receive.close()
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
        outcome = (False, _travelling(exc))
    send.send(outcome)
    send.close()


def _travelling(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling both ways, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
