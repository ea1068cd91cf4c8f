"""Reading a v2 archive from its database: a table or a query, streamed through a server-side
cursor in the order of a unique key, in a read-only transaction; never written to.

The ledger knows the source by :attr:`SqlSource.identity` (a sha256 of the URL without its
password, the table or query, the key and the column mapping) and resumes it after the key of
the last committed row (``ingest_files.resume_key``, see :mod:`migrate.archive.keys`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from adapters.v2_rows import DEFAULT_COLUMNS, ColumnMap, MissingColumn
from migrate.archive.keys import decode_key, encode_key, shown_key
from migrate.errors import Unavailable, UsageError
from migrate.readers.record import Record

if TYPE_CHECKING:
    import sqlalchemy as sa

FETCH_ROWS = 2000
"""Rows a server-side cursor fetches at a time: memory stays flat however large the table."""
_SUBQUERY = "webhooks_migrate_source"
_NUMBERED = "webhooks_migrate_numbered"
_ROW = "webhooks_migrate_row"
_REPEAT = "webhooks_migrate_repeat"
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)*")


class RowCounter:
    """What ingest's progress asks a source: here rows, not bytes (no total is known)."""

    consumed = 0


@dataclass(frozen=True, slots=True)
class SqlSource:
    """A table (``table``) or a query (``query``) of v2 rows at ``url``.

    ``key``: the unique column the rows are read in the order of (default: the table's primary
    key; a query must name one). The password in ``url`` is never shown or stored.
    """

    url: str
    table: str | None = None
    query: str | None = None
    key: str | None = None
    columns: ColumnMap = DEFAULT_COLUMNS
    fetch_rows: int = FETCH_ROWS
    shown_url: str | None = None
    """The URL without its password, once :meth:`resolved` found it (then naming the source
    needs no SQLAlchemy)."""
    large: bool = False
    """Whether the source holds at least ``migrate.ingest.bulk.AUTO_ROWS`` rows (found by
    :meth:`resolved`): such a load into a store without events chooses bulk mode by itself."""
    dialect: str | None = None
    """The source's backend (found by :meth:`resolved`)."""
    snapshot: str | None = None
    """A PostgreSQL snapshot exported by :func:`migrate.archive.snapshot.shared_snapshot`: every
    reader of the source imports it, so several producers read exactly the same rows."""

    @property
    def shareable(self) -> bool:
        """Whether several producers can read shares of the source: only where they can all
        read one snapshot (PostgreSQL's exported snapshots). Elsewhere a second reader could
        see rows committed after the first began, and the shares would not add up."""
        return self.dialect == "postgresql"

    # -- what the ledger and messages know it by ---------------------------------------------

    @property
    def safe_url(self) -> str:
        if self.shown_url is not None:
            return self.shown_url
        import sqlalchemy as sa

        url = self._url()
        bare = sa.URL.create(
            url.drivername,
            username=url.username,
            host=url.host,
            port=url.port,
            database=url.database,
            query=url.query,
        )  # no password, not even as ***
        return bare.render_as_string(hide_password=True)

    def _url(self) -> sa.URL:
        import sqlalchemy as sa

        from migrate.store.engine import normalize_url

        try:
            return normalize_url(sa.make_url(self.url))
        except sa.exc.ArgumentError as exc:
            raise UsageError(f"--source: not a database URL: {exc}") from None

    @property
    def what(self) -> str:
        if self.table is not None:
            return f"table={self.table}"
        text = " ".join((self.query or "").split())
        return f"query={text[:80]}{'…' if len(text) > 80 else ''}"

    @property
    def name(self) -> str:
        """How reports and rejects name the source: its URL without password, and the table."""
        return f"{self.safe_url}#{self.what}"

    @property
    def identity(self) -> str:
        """What the ledger knows this source by (its ``sha256`` column)."""
        described = {
            "url": self.safe_url,
            "table": self.table,
            "query": self.query,
            "key": self.key,
            "columns": self.columns.described(),
            "naive_utc": self.columns.naive_utc,
        }
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()

    # -- reading -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        """A connection in a read-only transaction (where the backend has one)."""
        import sqlalchemy as sa

        from migrate.store.engine import safe_url

        url = self._url()
        try:
            # Bound values (a resume key, a query's parameters) are the archive's data: no
            # error message shows them.
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool, hide_parameters=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise UsageError(f"--source {safe_url(url)}: {exc}") from None
        try:
            try:
                conn = engine.connect()
                _read_only(conn, self.snapshot)
            except sa.exc.DBAPIError as exc:
                raise Unavailable(f"cannot read the source {safe_url(url)}: {exc.orig}") from None
            try:
                yield conn
            finally:
                with contextlib.suppress(Exception):
                    conn.rollback()
                conn.close()
        finally:
            engine.dispose()

    def resolved(self) -> SqlSource:
        """The source checked (reachable, the table or query there, the mapped columns present)
        with its key found: the table's primary key unless one was named."""
        import sqlalchemy as sa

        if (self.table is None) == (self.query is None):
            raise UsageError("--from v2-sql needs --table NAME or --query SQL (one of them)")
        if self.query is not None and self.key is None:
            raise UsageError("--query needs --key COLUMN: the unique column to resume by")
        from migrate.ingest.bulk import AUTO_ROWS

        with self._connection() as conn:
            try:
                names, key = self._columns(conn)
                large = self._holds(conn, AUTO_ROWS)
                dialect = conn.dialect.name
            except sa.exc.NoSuchTableError:
                raise UsageError(f"--table {self.table}: no such table in the source") from None
            except sa.exc.DBAPIError as exc:
                raise UsageError(f"the source cannot be read: {exc.orig}") from None
        try:
            self.columns.check_columns(names)
        except MissingColumn as exc:
            raise UsageError(f"{self.name}: {exc}") from None
        if key not in names:
            raise UsageError(f"--key {key}: no such column (columns: {', '.join(names)})")
        # str(): a reflected name is a SQLAlchemy str subclass (unpickling it would import it)
        return replace(self, key=str(key), large=large, shown_url=self.safe_url, dialect=dialect)

    def _columns(self, conn: sa.Connection) -> tuple[list[str], str]:
        """The source's column names, and its key."""
        import sqlalchemy as sa

        if self.table is not None:
            table = self._table(conn)
            names = [c.name for c in table.columns]
            if self.key is not None:
                return names, self.key
            primary = [c.name for c in table.primary_key.columns]
            if len(primary) != 1:
                raise UsageError(
                    f"--table {self.table} has "
                    f"{'no primary key' if not primary else 'a primary key of several columns'}"
                    ": name a unique column to resume by with --key COLUMN"
                )
            return names, primary[0]
        assert self.key is not None
        query = sa.text(f"SELECT * FROM ({self.query}) AS {_SUBQUERY} WHERE 1 = 0")  # noqa: S608
        return list(conn.execute(query).keys()), self.key

    def _holds(self, conn: sa.Connection, rows: int) -> bool:
        """Whether the source has at least ``rows`` rows: counted no further than that, so
        the cost is bounded however large the table is."""
        import sqlalchemy as sa

        if self.table is not None:
            rows_of = sa.select(sa.literal(1)).select_from(self._table(conn)).limit(rows)
            counted = sa.select(sa.func.count()).select_from(rows_of.subquery())
            return int(conn.execute(counted).scalar_one()) >= rows
        limited = sa.text(
            f"SELECT COUNT(*) FROM (SELECT 1 AS one FROM ({self.query}) AS {_SUBQUERY} "  # noqa: S608
            f"LIMIT {int(rows)}) AS webhooks_migrate_counted"
        )
        return int(conn.execute(limited).scalar_one()) >= rows

    def _table(self, conn: sa.Connection) -> sa.Table:
        import sqlalchemy as sa

        assert self.table is not None
        schema, _, name = self.table.rpartition(".")
        return sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)

    def _statement(self, conn: sa.Connection, after: Any, share: Share | None) -> Any:
        import sqlalchemy as sa

        assert self.key is not None
        if self.table is not None and share is None:
            table = self._table(conn)
            key = table.c[self.key]
            statement = sa.select(table).order_by(key)
            return statement if after is None else statement.where(key > after)
        quote = conn.dialect.identifier_preparer.quote
        quoted = quote(self.key)
        whole = f"SELECT * FROM {self._quoted_table(conn)}" if self.table else None  # noqa: S608
        rows = self.query if whole is None else whole
        where = "" if after is None else f" WHERE {_SUBQUERY}.{quoted} > :after"
        if share is None:
            sql = (
                f"SELECT * FROM ({rows}) AS {_SUBQUERY}{where} "  # noqa: S608
                f"ORDER BY {_SUBQUERY}.{quoted}"
            )
        else:
            # The rows numbered in key order by the server, which sends this producer only
            # those of its batches (batch b holds rows b*size+1 .. (b+1)*size; producer k of n
            # takes the batches b with b % n == k), each with its number and whether its key
            # repeats the row before it (a check no producer could make across a boundary).
            mine, producers = share.mine, share.producers
            sql = (
                f"SELECT * FROM (SELECT {_SUBQUERY}.*, "  # noqa: S608
                f"row_number() OVER (ORDER BY {_SUBQUERY}.{quoted}) AS {_ROW}, "
                f"CASE WHEN lag({_SUBQUERY}.{quoted}) OVER (ORDER BY {_SUBQUERY}.{quoted}) = "
                f"{_SUBQUERY}.{quoted} THEN 1 ELSE 0 END AS {_REPEAT} "
                f"FROM ({rows}) AS {_SUBQUERY}{where}) AS {_NUMBERED} "
                f"WHERE (({_ROW} - 1) / {int(share.batch_rows)}) % {int(producers)} = {int(mine)} "
                f"ORDER BY {_NUMBERED}.{quoted}"
            )
        return sa.text(sql).bindparams(after=after) if after is not None else sa.text(sql)

    def _quoted_table(self, conn: sa.Connection) -> str:
        assert self.table is not None
        quote = conn.dialect.identifier_preparer.quote
        schema, _, name = self.table.rpartition(".")
        return f"{quote(schema)}.{quote(name)}" if schema else quote(name)

    @contextlib.contextmanager
    def records(
        self, resume_key: str | None, first_line: int, share: Share | None = None
    ) -> Iterator[tuple[Iterator[Record], RowCounter]]:
        """The rows after ``resume_key`` (all of them for ``None``) as records numbered from
        ``first_line``, each carrying its key as ledger text (:attr:`Record.key`); with a
        ``share``, only the rows of that producer's batches (see :class:`Share`)."""
        if share is not None and self.snapshot is None:
            raise RuntimeError("a share of the source is read only in a shared snapshot")
        after = None if resume_key is None else decode_key(resume_key)
        with self._connection() as conn:
            yield self._rows(conn, after, first_line, share), RowCounter()

    def _rows(
        self, conn: sa.Connection, after: Any, line: int, share: Share | None
    ) -> Iterator[Record]:
        import sqlalchemy as sa

        streaming = conn.execution_options(stream_results=True, yield_per=self.fetch_rows)
        try:
            result = streaming.execute(self._statement(conn, after, share))
        except sa.exc.DBAPIError as exc:
            raise Unavailable(f"cannot read the source {self.name}: {exc.orig}") from None
        names = [str(name) for name in result.keys()]  # noqa: SIM118 - a result's keys
        if share is not None:
            names = names[:-2]  # the row's number and its repeat flag are not the row's
        key_at = names.index(self.key) if self.key in names else -1
        if key_at < 0:
            raise UsageError(f"--key {self.key}: no such column in the source")
        first, width, source = line, len(names), self.name
        previous: Any = None
        try:
            for fetched in result:
                values: Any = fetched
                if share is not None:
                    line = first - 1 + fetched[width]
                    repeats = fetched[width + 1] == 1
                    values = fetched[:width]
                key = values[key_at]
                if key is None:
                    raise UsageError(
                        f"{self.name}: row {line:,} has no {self.key}: the key column must "
                        "be unique and never NULL (name another with --key)"
                    )
                if share is None:
                    repeats = previous is not None and key == previous
                    previous = key
                if repeats:
                    raise UsageError(
                        f"{self.name}: {self.key} {shown_key(key)} appears twice: the key "
                        "column must be unique (name another with --key)"
                    )
                row = dict(zip(names, values, strict=True))
                try:
                    ledger_key = encode_key(key)
                except ValueError as exc:
                    raise UsageError(f"--key {self.key}: {exc}") from None
                yield Record(
                    f"{source}[{self.key}={shown_key(key)}]",
                    line,
                    orjson.dumps(row, default=str),
                    value=row,
                    key=ledger_key,
                )
                line += 1
        except sa.exc.DBAPIError as exc:
            raise Unavailable(f"cannot read the source {self.name}: {exc.orig}") from None
        finally:
            result.close()


@dataclass(frozen=True, slots=True)
class Share:
    """Producer ``mine`` of ``producers`` reads only the rows of its batches: batch ``b`` is
    rows ``b * batch_rows + 1`` to ``(b + 1) * batch_rows`` after the resume point, and is
    producer ``b % producers``'s (as :class:`migrate.ingest.producers.Interleaved` expects)."""

    mine: int
    producers: int
    batch_rows: int


def _read_only(conn: sa.Connection, snapshot: str | None = None) -> None:
    """Begin the connection's transaction read-only: the source is never written."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # One snapshot for the whole read, and no write can happen in it.
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        if snapshot is not None:  # the one every producer reads (shared_snapshot)
            # SET takes no bound parameter; an exported snapshot's id is hex digits and dashes.
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise RuntimeError(f"not a PostgreSQL snapshot id: {snapshot!r}")
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    elif dialect in ("mysql", "mariadb"):
        conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
    elif dialect == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
