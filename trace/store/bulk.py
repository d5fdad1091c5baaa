"""Bulk writes that skip rows already stored: executemany on SQLite, COPY on PostgreSQL.

Never one ORM object per row: a load writes millions of rows. Values go through each column
type's own bind processor, so what lands is byte-for-byte what the ORM would have written.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Date,
    DateTime,
    Dialect,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.dialects.sqlite import DATE as SQLITE_DATE
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME

from rxtrace.trace.store.partitions import MONTHLY, ensure_months, partitioned

__all__ = ["binary_types", "insert_binary_copy", "insert_ignore", "insert_rows", "prepare_rows"]


def _processors(
    dialect: Dialect, table: Table, columns: Sequence[str]
) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, processor) of the columns whose type converts values on the way in."""
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, LargeBinary):
            continue  # sqlite3 and psycopg take bytes as they are; wrapping each costs a call
        impl = column_type.dialect_impl(dialect)
        processor = impl.bind_processor(dialect)
        if processor is not None:
            out.append((position, _faster(impl, processor)))
    return out


def _faster(impl: Any, processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The same text as SQLite's date and time processors, by ``isoformat`` in C.

    SQLAlchemy formats each value with a %-format in Python; for a naive datetime (a date)
    ``isoformat`` writes the very same text, several times faster. Anything else goes through
    SQLAlchemy's own processor.
    """
    if isinstance(impl, SQLITE_DATETIME) and impl._storage_format == _SQLITE_DATETIME_FORMAT:

        def stamp(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is None:
                return value.isoformat(" ", "microseconds")
            return processor(value)

        return stamp
    if isinstance(impl, SQLITE_DATE) and impl._storage_format == _SQLITE_DATE_FORMAT:

        def day(value: Any) -> Any:
            return value.isoformat() if type(value) is date else processor(value)

        return day
    return processor


_SQLITE_DATETIME_FORMAT = SQLITE_DATETIME()._storage_format  # type: ignore[no-untyped-call]
_SQLITE_DATE_FORMAT = SQLITE_DATE()._storage_format  # type: ignore[no-untyped-call]


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping any that collide with a primary or unique key.

    Returns how many were inserted. All rows must have the same keys.
    """
    if not rows:
        return 0
    names = list(rows[0])
    columns = [[row[name] for row in rows] for name in names]
    return insert_rows(conn, table, names, prepare_rows(conn.dialect, table, names, columns))


def prepare_rows(
    dialect: Dialect, table: Table, names: Sequence[str], columns: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """Rows as the driver takes them: each column through its type's processor, if any."""
    if not columns or not columns[0]:
        return []
    converted: list[Sequence[Any]] = list(columns)
    # Most columns pass through untouched; the few whose type converts values (times, dates,
    # JSON) are converted a column at a time.
    for position, processor in _processors(dialect, table, names):
        column = converted[position]
        if column.count(None) < len(column):
            converted[position] = [None if value is None else processor(value) for value in column]
    return list(zip(*converted, strict=True))


def insert_rows(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    values: Sequence[tuple[Any, ...]],
) -> int:
    """Insert rows made by :func:`prepare_rows`, skipping any that collide with a primary or
    unique key; returns how many were inserted. PostgreSQL takes them by text ``COPY``, whose
    values the server checks against their columns (psycopg's binary ``COPY`` with
    ``set_types`` wraps an integer too large for an ``int4`` column instead of refusing it)."""
    if not values:
        return 0
    quoted = ", ".join(f'"{name}"' for name in names)
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":

        def write(cursor: Any, target: str) -> None:
            _copy(cursor, target, quoted, values)

        return _copy_skipping_stored(conn, table, quoted, write, len(values))
    marks = ", ".join("?" for _ in names)
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f'INSERT OR IGNORE INTO "{table.name}" ({quoted}) VALUES ({marks})', values)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def insert_binary_copy(conn: Connection, table: Table, names: Sequence[str], data: bytes, rows: int) -> int:
    """Insert ``rows`` rows given whole in PostgreSQL's binary ``COPY`` format (header and
    trailer included), skipping any that collide with a primary or unique key; returns how
    many were inserted."""
    if not rows:
        return 0
    quoted = ", ".join(f'"{name}"' for name in names)

    def write(cursor: Any, target: str) -> None:
        with cursor.copy(f'COPY "{target}" ({quoted}) FROM STDIN (FORMAT BINARY)') as copy:
            copy.write(data)

    return _copy_skipping_stored(conn, table, quoted, write, rows)


def _copy_skipping_stored(
    conn: Connection, table: Table, quoted: str, write: Callable[[Any, str], None], rows: int
) -> int:
    # The driver loads (80 ms) only where it is used: a SQLite command never needs it.
    from psycopg.errors import CheckViolation, UniqueViolation

    dbapi = conn.connection.driver_connection
    # One staging table per column set: different callers write different columns.
    staging = f"rxtrace_stage_{table.name}_{zlib.crc32(quoted.encode()):08x}"
    with dbapi.cursor() as cursor:  # type: ignore[union-attr]
        # New rows, the usual case, are copied straight in: a staging table costs the server
        # a second write and read of every row. A batch holding a row already stored fails
        # that copy, as does one holding a month a partitioned table has no partition for yet:
        # it is undone to its savepoint and made again through staging.
        cursor.execute("SAVEPOINT rxtrace_copy")
        try:
            write(cursor, table.name)
        except (UniqueViolation, CheckViolation):
            cursor.execute("ROLLBACK TO SAVEPOINT rxtrace_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT rxtrace_copy")
            return rows
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" AS SELECT {quoted} FROM "{table.name}" WITH NO DATA'
        )
        cursor.execute(f'TRUNCATE "{staging}"')
        write(cursor, staging)
        if partitioned(conn, table.name):
            column = MONTHLY[table.name]
            cursor.execute(f'SELECT DISTINCT date_trunc(\'month\', "{column}")::date FROM "{staging}"')
            ensure_months(conn, table.name, [month for (month,) in cursor.fetchall()])
        cursor.execute(
            f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "{staging}" ON CONFLICT DO NOTHING'
        )
        return int(cursor.rowcount)


def _copy(cursor: Any, table: str, quoted: str, values: Sequence[tuple[Any, ...]]) -> None:
    with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
        for value in values:
            copy.write_row(value)


def binary_types(table: Table, names: Sequence[str]) -> list[str]:
    """The PostgreSQL type whose binary form each column takes. A ``varchar(n)`` column takes
    text's (the two share it, and the server still checks the length)."""
    out: list[str] = []
    for name in names:
        column_type = table.c[name].type
        for kind, pg_name in _BINARY_TYPES:
            if isinstance(column_type, kind):
                out.append(pg_name)
                break
        else:
            raise TypeError(f"No binary COPY type for {table.name}.{name} ({column_type}).")
    return out


# Subclasses before their bases: BigInteger and SmallInteger are Integers, Text is a String.
_BINARY_TYPES: tuple[tuple[type[Any], str], ...] = (
    (BigInteger, "int8"),
    (SmallInteger, "int2"),
    (Integer, "int4"),
    (String, "text"),
    (DateTime, "timestamp"),
    (Date, "date"),
    (LargeBinary, "bytea"),
    (JSON, "json"),
    (Float, "float8"),
)
