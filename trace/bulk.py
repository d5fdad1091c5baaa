"""Bulk writes that skip rows already stored: executemany on SQLite, COPY on PostgreSQL.

Never one ORM object per row: a load writes millions of rows. Values go through each column
type's own bind processor, so what lands is byte-for-byte what the ORM would have written.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["insert_ignore"]


def _processors(conn: Connection, table: Table, columns: Sequence[str]) -> list[Callable[[Any], Any]]:
    dialect = conn.dialect
    out: list[Callable[[Any], Any]] = []
    for name in columns:
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        out.append(processor if processor is not None else _identity)
    return out


def _identity(value: Any) -> Any:
    return value


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping any that collide with a primary or unique key.

    Returns how many were inserted. All rows must have the same keys.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    processors = _processors(conn, table, columns)
    values = [tuple(proc(row[name]) for proc, name in zip(processors, columns, strict=False)) for row in rows]
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
