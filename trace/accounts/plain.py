"""Plain SQL on the driver's own connection, for the statements every server request runs
(the session check, the audit event): through the ORM each cost more than the resolution
of a code (statement construction, its cache key, a unit of work, mapped objects), while
the driver runs them in tens of microseconds. Values are converted exactly as SQLAlchemy
converts them for the column types, so what is stored and read back is the same whichever
path wrote it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Boolean, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

__all__ = ["DialectTypes", "Driver", "dialect_types"]

_Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class DialectTypes:
    """How one dialect's driver takes parameters and writes this module's column types."""

    qmark: bool
    time_in: _Convert
    time_out: _Convert
    bool_in: _Convert
    bool_out: _Convert


_TYPES: WeakKeyDictionary[Dialect, DialectTypes] = WeakKeyDictionary()


def dialect_types(dialect: Dialect) -> DialectTypes:
    """How ``dialect``'s driver takes parameters and writes times and booleans."""
    found = _TYPES.get(dialect)
    if found is None:
        # SQLAlchemy's own processors: on SQLite a time is its text ('2026-12-04 10:00:00.000000')
        # and a boolean 0/1; PostgreSQL's driver takes and gives both natively (no processor).
        time, boolean = DateTime().dialect_impl(dialect), Boolean().dialect_impl(dialect)
        found = DialectTypes(
            qmark=dialect.paramstyle == "qmark",
            time_in=time.bind_processor(dialect) or _same,
            time_out=time.result_processor(dialect, None) or _same,
            bool_in=boolean.bind_processor(dialect) or _same,
            bool_out=boolean.result_processor(dialect, None) or _same,
        )
        _TYPES[dialect] = found
    return found


class Driver:
    """The session's connection as its driver's (sqlite3 or psycopg), in the session's
    transaction: statements are written with ``?`` markers, whatever the driver's style."""

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        self.dialect_name: str = connection.dialect.name
        self.types = dialect_types(connection.dialect)
        self._dbapi: Any = connection.connection.driver_connection

    @property
    def dbapi(self) -> Any:
        return self._dbapi

    def _sql(self, sql: str) -> str:
        return sql if self.types.qmark else sql.replace("?", "%s")

    def first(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
            row = cursor.fetchone()
            return None if row is None else tuple(row)
        finally:
            cursor.close()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        cursor = self._dbapi.cursor()
        try:
            cursor.execute(self._sql(sql), tuple(params))
        finally:
            cursor.close()

    def time_in(self, value: datetime | None) -> Any:
        return None if value is None else self.types.time_in(value)

    def time_out(self, value: Any) -> datetime | None:
        return None if value is None else self.types.time_out(value)

    def bool_in(self, value: bool) -> Any:
        return self.types.bool_in(value)

    def bool_out(self, value: Any) -> bool:
        return bool(self.types.bool_out(value))
