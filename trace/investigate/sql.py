"""The analysis' SQL: one session with the dialect's spellings (SQLite or PostgreSQL) and the
temporary tables the leads' basis and the rules build and read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, insert, text
from sqlalchemy.orm import Session

from rxtrace.trace.store import models

__all__ = ["Sql", "selected"]


def selected(columns: str, alias: str) -> str:
    """The select list that takes a temporary table's columns, declared as ``columns``, from
    the table ``alias`` names (a copy of some of ``dispensing``'s rows, say).

    >>> selected("psn_no TEXT, sel_retn_cnt BIGINT", "d")
    'd.psn_no, d.sel_retn_cnt'
    """
    return ", ".join(f"{alias}.{column.split()[0]}" for column in columns.split(", "))


class Sql:
    """A session with the dialect's spellings and the analysis' temporary tables."""

    spark = False
    """Spark SQL (:class:`rxtrace.trace.spark.leads.SparkSql`): it takes PostgreSQL's
    spellings (``pg``: window functions, hash aggregation), and these few of its own."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"
        self.temps: list[str] = []
        self.cache: dict[str, Any] = {}

    def quot(self, dividend: str, divisor: str | int) -> str:
        """Integer division, truncated, as SQLite and PostgreSQL divide two integers (Spark's
        ``/`` always gives a double; its ``DIV`` truncates).

        >>> Sql.quot(Sql.__new__(Sql), "t", 86400)
        '(t) / (86400)'
        """
        return f"({dividend}) {'DIV' if self.spark else '/'} ({divisor})"

    @property
    def string(self) -> str:
        """The text type's name in a cast (Spark has no ``TEXT``)."""
        return "STRING" if self.spark else "TEXT"

    def tune(self, *, spill: bool = False) -> None:
        """SQLite: a 256 MB page cache, and temporary tables and sorts in memory, or in a
        temporary file (``spill``) when they grow with the sales, as the basis' do: a million
        sales already took 540 MB of memory in memory, 500 MB (mostly page cache) in a file,
        in the same time. SQLite refuses to move them inside a transaction, so a caller with
        writes pending (a test world, say) keeps them where they are; the pool puts them back
        in memory when the connection is returned (``rxtrace.trace.store.db``).

        PostgreSQL keeps the server's ``work_mem``: its hash aggregates spill in cache-sized
        partitions, and were measured slower with 256 MB (one hash table larger than the CPU
        caches) than with the default 4 MB. It is told, for this transaction, that a random
        read costs about what a sequential one does (``random_page_cost`` 1.1, where the
        default 4 is a spinning disk's): ``dispensing`` is partitioned by month and a code
        carries no date, so a seized box's lookup probes every month's key index, and with
        the default the planner preferred to hash-join a thousand seized codes against a scan
        of every sale (567 ms against 66 ms at a million rows; at ten million, every rule took
        1.85× the raw duplicate query instead of 0.29×). The statements that read most sales
        turn index walks off themselves (:meth:`scanning`)."""
        if self.pg:
            self.session.execute(text("SET LOCAL random_page_cost = 1.1"))
            return
        dbapi = self.session.connection().connection.dbapi_connection
        if not getattr(dbapi, "in_transaction", True):
            self.session.execute(text(f"PRAGMA temp_store = {'FILE' if spill else 'MEMORY'}"))
        # The cache size also bounds each sort's memory before it goes to the file; one
        # statement may run three sorts at once, and the build may run on three connections.
        # Spilling, it is kept to 64 MB: a parallel build of 10 M sales peaked at 1.26 GB with
        # 128 MB.
        self.session.execute(text(f"PRAGMA cache_size = {-65536 if spill else -262144}"))

    @contextmanager
    def scanning(self) -> Iterator[None]:
        """PostgreSQL scans and hashes, rather than walks an index, in a statement that reads
        most of ``dispensing``. Its planner walks the institution index to feed the settlements
        their order (4.9 s against 3.5 s at a million rows), and the card index once per
        (drug, card) pair of the second grid (6.4 s against 1.2 s): random reads of the whole
        table. On failure the transaction is rolled back, and the settings with it."""
        if self.pg:
            self.session.execute(text("SET LOCAL enable_indexscan = off"))
            self.session.execute(text("SET LOCAL enable_bitmapscan = off"))
        yield
        if self.pg:
            self.session.execute(text("SET LOCAL enable_indexscan = DEFAULT"))
            self.session.execute(text("SET LOCAL enable_bitmapscan = DEFAULT"))

    @contextmanager
    def unique_groups(self) -> Iterator[None]:
        """A statement that groups every sale by a key nearly every sale has alone (its code):
        grouping ahead of the exchange saves nothing there. SQLite streams the key index and
        PostgreSQL hashes once; only Spark changes its plan (:class:`SparkSql`)."""
        yield

    def epoch(self, column: str) -> str:
        # Both read a naive timestamp as if it were UTC: the same number, so differences and
        # buckets agree across engines; only differences and buckets are ever used.
        if self.pg:
            return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
        if sqlite3.sqlite_version_info >= (3, 38):
            # The same seconds as strftime('%s') (both truncate), without formatting a string
            # and parsing it back: a sixth of the cost per row.
            return f"unixepoch({column})"
        return f"CAST(strftime('%s', {column}) AS INTEGER)"

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        return list(self.session.execute(text(sql), dict(params or {})).all())

    def temp(
        self,
        name: str,
        columns: str,
        select_sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        sqlite_key: str | None = None,
    ) -> None:
        """Fill a fresh temporary table from a query (created, then filled: PostgreSQL refuses
        bound parameters in ``CREATE TABLE AS``).

        ``sqlite_key`` stores the table in that key's order on SQLite (a ``WITHOUT ROWID``
        table), for a query that fills it in that order and later GROUP BYs on a prefix of it
        that should stream rather than sort. PostgreSQL hashes those, so it keeps a heap.
        """
        ddl = f"CREATE TEMPORARY TABLE {name} ({columns})"
        if sqlite_key and not self.pg:
            ddl = f"CREATE TEMPORARY TABLE {name} ({columns}, PRIMARY KEY ({sqlite_key})) WITHOUT ROWID"
        self.session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        self.session.execute(text(ddl))
        self.session.execute(text(f"INSERT INTO {name} {select_sql}"), dict(params or {}))
        self.analyze(name)
        if name not in self.temps:
            self.temps.append(name)

    def empty_temp(self, name: str, columns: str) -> None:
        self.session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        self.session.execute(text(f"CREATE TEMPORARY TABLE {name} ({columns})"))
        if name not in self.temps:
            self.temps.append(name)

    def fill(self, name: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            marks = ", ".join(f":{c}" for c in columns)
            self.session.execute(
                text(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})"), list(rows)
            )
            self.analyze(name)

    def keep(self, *names: str) -> None:
        """Leave these temporary tables to whoever copies them (:meth:`copy` drops them)."""
        self.temps = [name for name in self.temps if name not in names]

    def copy(self, table: str, temporary: str) -> None:
        """Replace a basis table's rows with a temporary table's, of the same columns in the
        same order (in the caller's transaction), and drop the temporary table."""
        names = ", ".join(column.name for column in models.Base.metadata.tables[table].columns)
        self.session.execute(text(f"DELETE FROM {table}"))
        self.session.execute(text(f"INSERT INTO {table} ({names}) SELECT {names} FROM {temporary}"))
        self.session.execute(text(f"DROP TABLE {temporary}"))
        self.analyze(table, temporary=False)

    def replace(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Replace a basis table's rows with these (in the caller's transaction)."""
        target = models.Base.metadata.tables[table]
        self.session.execute(delete(target))
        if rows:
            self.session.execute(insert(target), list(rows))
        self.analyze(table, temporary=False)

    def analyze(self, name: str, *, temporary: bool = True) -> None:
        """Statistics for a fresh table, which has none. PostgreSQL would guess it tiny;
        SQLite guesses it huge, and then builds a Bloom filter over all of ``dispensing`` (a
        full scan) before looking up a thousand codes in it. SQLite only needs the row count,
        so its sample is kept small."""
        if self.pg:
            self.session.execute(text(f"ANALYZE {name}"))
        else:
            self.session.execute(text("PRAGMA analysis_limit = 1000"))
            self.session.execute(text(f"ANALYZE {'temp.' if temporary else ''}{name}"))
            self.session.execute(text("PRAGMA analysis_limit = 0"))

    def drop_all(self) -> None:
        for name in reversed(self.temps):
            self.session.execute(text(f"DROP TABLE IF EXISTS {name}"))
        self.temps.clear()


# ---------------------------------------------------------------------------------------------
# Freshness
