"""Bulk writes that skip rows already stored: executemany on SQLite, COPY on PostgreSQL.

Never one ORM object per row: a load writes millions of rows. Values go through each column
type's own bind processor, so what lands is byte-for-byte what the ORM would have written.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["insert_ignore"]


def _processors(
    conn: Connection, table: Table, columns: Sequence[str]
) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, processor) of the columns whose type converts values on the way in."""
    dialect = conn.dialect
    out: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            out.append((position, processor))
    return out


def _tuples(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], processors: list[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    # Most columns pass through untouched: take them all at once in C, then convert the few
    # (times, dates, JSON) whose type has a processor.
    take = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    if not processors:
        return [take(row) for row in rows]
    out = []
    for row in rows:
        values = list(take(row))
        for position, processor in processors:
            values[position] = processor(values[position])
        out.append(tuple(values))
    return out


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping any that collide with a primary or unique key.

    Returns how many were inserted. All rows must have the same keys.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    processors = _processors(conn, table, columns)
    values = _tuples(rows, columns, processors)
    names = ", ".join(f'"{name}"' for name in columns)
    dbapi = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        # One staging table per column set: different callers write different columns.
        staging = f"rxtrace_stage_{table.name}_{zlib.crc32(names.encode()):08x}"
        with dbapi.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(
                f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" AS '
                f'SELECT {names} FROM "{table.name}" WITH NO DATA'
            )
            cursor.execute(f'TRUNCATE "{staging}"')
            with cursor.copy(f'COPY "{staging}" ({names}) FROM STDIN') as copy:
                for value in values:
                    copy.write_row(value)
            cursor.execute(
                f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{staging}" ON CONFLICT DO NOTHING'
            )
            return int(cursor.rowcount)
    marks = ", ".join("?" for _ in columns)
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f'INSERT OR IGNORE INTO "{table.name}" ({names}) VALUES ({marks})', values)
        return int(cursor.rowcount)
    finally:
        cursor.close()
