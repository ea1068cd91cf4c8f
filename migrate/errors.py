"""The library's errors, with what each means to whoever ran the command.

Every error the library raises on purpose is a :class:`MigrateError`; its class says the exit
status (``exit_code``). The CLI turns any of them into one line on stderr in one place
(``migrate.cli.base``); anything else escaping a command is a bug in this tool: exit
:data:`EXIT_SOFTWARE` (70) with one line, and the traceback under ``--debug``.

================  ====  ================================================================
class             exit  meaning
================  ====  ================================================================
ProblemFound      1     the command ran and found something to act on (rejects, a check)
UsageError        2     the command was called wrongly (a bad option value, a bad --db URL)
Unavailable       3     operational: the store or the API cannot be used, credentials refused
StoreUnavailable  3     the store cannot be opened or stopped answering
Interrupted       130   Ctrl-C; the message says what was committed and how to resume
================  ====  ================================================================

This module imports nothing beyond the standard library: every command can use it.
"""

from __future__ import annotations

import sqlite3
from typing import Any, ClassVar

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3
EXIT_SOFTWARE = 70  # sysexits.h EX_SOFTWARE: an internal error (a bug)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away (``| head``)


class MigrateError(Exception):
    """Root of the library's errors; ``exit_code`` is the CLI's exit status for it."""

    exit_code: ClassVar[int] = EXIT_PROBLEM

    @property
    def exit_status(self) -> int:
        """The exit status for this instance (a subclass may decide per instance)."""
        return self.exit_code


class ProblemFound(MigrateError):
    """The command ran and found something the user must act on (exit 1)."""

    exit_code = EXIT_PROBLEM


class UsageError(MigrateError):
    """The command was called wrongly (exit 2)."""

    exit_code = EXIT_USAGE


class BadStoreUrl(UsageError):
    """A ``--db`` URL this tool cannot use; the message names the accepted forms."""

    FORMS = (
        "sqlite:///relative.db, sqlite:////absolute/path.db, "
        "postgresql://USER@HOST:PORT/DATABASE, mysql://USER@HOST:PORT/DATABASE"
    )

    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"--db {url}: {why}; accepted forms: {self.FORMS}")


class Unavailable(MigrateError):
    """Operational: the store or the API cannot be used, or credentials were refused (exit 3)."""

    exit_code = EXIT_OPERATIONAL


class StoreUnavailable(Unavailable):
    """The store cannot be opened, or stopped answering (one line, never with a password)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"cannot open the store {where}: {reason}")
        self.where = where
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:  # it crosses from a child process (forked.py)
        return (type(self), (self.where, self.reason))


class Interrupted(MigrateError):
    """Ctrl-C: the command stopped; the message says what was committed (exit 130)."""

    exit_code = EXIT_INTERRUPTED


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its class name if it has none), at most 500 chars."""
    text = " ".join(str(exc).split())
    return text[:500] if text else type(exc).__name__


# SQLite's operational failures (the file, the disk, a lock held past the busy timeout), as
# distinct from its SQL errors ("no such column", a syntax error: bugs), which the driver raises
# as OperationalError too. Matched in the lowercased message.
SQLITE_UNAVAILABLE = (
    "unable to open",
    "database is locked",
    "disk i/o",
    "disk is full",
    "readonly",
)


def sqlite_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (SQLite's ``OperationalError``) says the store cannot be used."""
    text = str(exc).lower()
    return any(what in text for what in SQLITE_UNAVAILABLE)


# MySQL/MariaDB error codes that say the server is gone or refused the session, not the SQL:
# the client's own (2000-2999: cannot connect, server has gone away, lost connection), a server
# shutting down (1053), too many connections (1040), a connection killed (1927).
MYSQL_UNAVAILABLE_CODES = frozenset((1040, 1053, 1927))


def driver_unavailable(exc: BaseException) -> bool:
    """Whether ``exc``, a database driver's own exception (raised on its cursor, where no
    SQLAlchemy hook sees it), says the store stopped answering.

    psycopg: its ``InterfaceError`` (the connection is closed), an ``OperationalError`` with
    no SQLSTATE (the connection failed or was lost), or one whose SQLSTATE class says so (08
    connection, 53 insufficient resources such as a full disk, 57 operator intervention such
    as a shutdown, 58 system I/O) — not class 40 (a deadlock, a serialization failure) or 55,
    which psycopg also raises as ``OperationalError``. pymysql raises its ``OperationalError``
    for most server errors, so there the code decides. Found by class name and module, so that
    no driver is imported to ask.
    """
    for cls in type(exc).__mro__:
        module, name = cls.__module__, cls.__name__
        if module.startswith(("psycopg.", "psycopg2.")) or module in ("psycopg", "psycopg2"):
            if name == "InterfaceError":
                return True
            if name == "OperationalError":
                state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
                return state is None or str(state)[:2] in ("08", "53", "57", "58")
        elif module.startswith("pymysql"):
            if name == "InterfaceError":
                return True  # the connection is closed
            if name == "OperationalError":
                code = exc.args[0] if exc.args else None
                return isinstance(code, int) and (
                    2000 <= code < 3000 or code in MYSQL_UNAVAILABLE_CODES
                )
    return False


def exit_code_of(exc: BaseException) -> int:
    """The exit status for ``exc``: its class's for ours; 3 for I/O, SQLite's own operational
    failures (a disk, a lock held past the busy timeout) and a driver's lost or refused
    connection; 70 for anything else, SQL errors included."""
    if isinstance(exc, MigrateError):
        return exc.exit_status
    if isinstance(exc, OSError):
        return EXIT_OPERATIONAL
    if isinstance(exc, sqlite3.OperationalError) and sqlite_unavailable(exc):
        return EXIT_OPERATIONAL
    if driver_unavailable(exc):
        return EXIT_OPERATIONAL
    return EXIT_SOFTWARE
