"""One PostgreSQL snapshot for several readers of a v2-sql source.

Two producers preparing alternate batches of one source must read exactly the same rows, in the
same order, even while the v2 listener still writes to it. PostgreSQL lets a transaction export
its snapshot (``pg_export_snapshot()``) and others import it (``SET TRANSACTION SNAPSHOT``)
while the exporting transaction is open. :func:`shared_snapshot` keeps that transaction open in
a forked child (the loading process never imports SQLAlchemy), for as long as this process or
any process forked from it holds the pipe to it: the producers are forked inside it, so the
child ends only once they and the load have.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from migrate.archive.source import SqlSource
from migrate.errors import Unavailable
from migrate.forked import travelling


@contextlib.contextmanager
def shared_snapshot(source: SqlSource) -> Iterator[SqlSource]:
    """``source`` with a snapshot every reader of it imports, kept while the block runs."""
    context = multiprocessing.get_context("fork")
    answer, answer_end = context.Pipe(duplex=False)
    held, hold = context.Pipe(duplex=False)  # the child receives, this process sends
    child = context.Process(
        target=_keep, args=(source, answer_end, held, answer, hold), daemon=True
    )
    child.start()
    answer_end.close()
    held.close()  # the child's end: it reads EOF here once no process holds ``hold``
    try:
        try:
            ok, value = answer.recv()
        except EOFError:
            raise Unavailable(
                f"cannot read the source {source.name}: the process exporting its snapshot "
                f"ended ({child.exitcode})"
            ) from None
        finally:
            answer.close()
        if not ok:
            raise value
        yield replace(source, snapshot=value)
    finally:
        hold.close()
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
            child.join()


def _keep(
    source: SqlSource,
    answer: multiprocessing.connection.Connection,
    held: multiprocessing.connection.Connection,
    answer_parent: multiprocessing.connection.Connection,
    hold_parent: multiprocessing.connection.Connection,
) -> None:
    answer_parent.close()
    hold_parent.close()  # else this process would hold its own pipe open
    try:
        with source._connection() as conn:
            snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            answer.send((True, str(snapshot)))
            answer.close()
            with contextlib.suppress(EOFError, OSError):
                held.recv()  # nothing is ever sent: this waits for every holder to be gone
    except BaseException as exc:  # the parent's to raise
        outcome: tuple[bool, Any] = (False, travelling(exc))
        with contextlib.suppress(Exception):
            answer.send(outcome)
    finally:
        os._exit(0)  # no finaliser of the parent's copied state runs here
