"""Storage: the engines and sessions for SQLite and PostgreSQL, the tables (models), their
migrations, bulk writing, and the per-database turn a step takes when two processes share one
database. Every other layer of ``rxtrace.trace`` reaches the database through this one; it knows
nothing of contract files, resolution or leads."""

from rxtrace.trace.store import models
from rxtrace.trace.store.bulk import insert_ignore, insert_rows, prepare_rows
from rxtrace.trace.store.db import (
    build_indexes,
    connect,
    drop_indexes,
    include_object,
    is_postgres,
    make_engine,
    migrate,
    one_at_a_time,
    session_scope,
)

__all__ = [
    "build_indexes",
    "connect",
    "drop_indexes",
    "include_object",
    "insert_ignore",
    "insert_rows",
    "is_postgres",
    "make_engine",
    "migrate",
    "models",
    "one_at_a_time",
    "prepare_rows",
    "session_scope",
]
