"""Engines, sessions and the schema's migrations, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock
from sqlalchemy import URL, Connection, Engine, Index, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from rxtrace.trace.errors import ParseError
from rxtrace.trace.store.locks import advisory_key
from rxtrace.trace.store.partitions import is_partition, widened_key

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "analyze",
    "build_indexes",
    "connect",
    "drop_indexes",
    "end_session",
    "include_object",
    "is_postgres",
    "make_engine",
    "migrate",
    "never_sampled",
    "one_at_a_time",
    "parse_database_url",
    "refresh_statistics",
    "session_scope",
    "stale_statistics",
]

MIGRATIONS = Path(__file__).parent / "migrations"


_DRIVERS = {"sqlite": {"pysqlite"}, "postgresql": {"psycopg"}}


def parse_database_url(url: str) -> URL:
    """The URL parsed, if it names an engine and driver rxtrace ships; else a one-line reason."""
    expected = "rxtrace works with sqlite:///PATH or postgresql://USER@HOST/DB."
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ParseError(f"Failed to parse '{url[:200]}' as a database URL: {expected}") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in _DRIVERS or ("+" in parsed.drivername and driver not in _DRIVERS[backend]):
        shown = parsed.render_as_string(hide_password=True)
        raise ParseError(f"Failed to parse '{shown[:200]}' as a database URL: {expected}")
    return parsed


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created and tuned for bulk loads.

    >>> make_engine("mysql://u@h/db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rxtrace.trace.errors.ParseError: Failed to parse 'mysql://u@h/db' as a database URL: ...
    """
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _sqlite_memory_temp)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is the driver rxtrace ships; SQLAlchemy's bare default is psycopg2.
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkin", _idle_from)
    event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


# A pooled connection is pinged before use only once it has been idle this long. SQLAlchemy's
# pre-ping sends one on every checkout: a server answer made nine round trips to PostgreSQL
# and its audit event, each a wake-up of both processes, and the ping was two of them. A
# connection that a restarted database dropped in the last seconds fails its request
# instead, and SQLAlchemy then renews every connection of the pool made before the failure.
PING_AFTER_IDLE_SECONDS = 5.0
_IDLE_SINCE = "rxtrace.idle_since"


def _idle_from(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    since = record.info.get(_IDLE_SINCE)
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
        return  # just connected, or used a moment ago
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as exc:  # the pool takes this as a dead connection and opens another
        raise DisconnectionError(
            f"a pooled connection idle for {time.monotonic() - since:.0f} s is gone"
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web app read while a load writes; NORMAL sync is safe under WAL.
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Random-order index inserts (row digests, code keys) thrash the default 2 MB page cache.
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _switch_to_wal(cursor: Any, *, wait_s: float = 30.0, pause_s: float = 0.05) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while SQLite says the database is locked.

    Two commands opening a new database at once both switch it to WAL, and the switch can
    fail at once with "database is locked" without waiting for SQLite's busy handler (seen:
    two loads started together, the second failing in its first statement); a moment later
    the database is in WAL and the switch is a no-op. Any other error is raised at once.

    >>> class Busy:
    ...     tries = 0
    ...     def execute(self, sql):
    ...         self.tries += 1
    ...         if self.tries < 3:
    ...             raise sqlite3.OperationalError("database is locked")
    >>> cursor = Busy(); _switch_to_wal(cursor, pause_s=0); cursor.tries
    3
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause_s)


def _sqlite_memory_temp(dbapi_connection: Any, _record: Any) -> None:
    """Temporary tables back in memory for the connection's next user: a big analysis moves
    them to a file (``rxtrace.trace.investigate.basis``), and SQLite only lets that change outside a
    transaction, as a returned connection is."""
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        dbapi_connection.execute("PRAGMA temp_store=MEMORY")


# Tables that extensions own (PostGIS's reference systems); migrations must never touch them.
FOREIGN_TABLES = frozenset({"spatial_ref_sys"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic's filter: compare and generate only what rxtrace's models own (not PostGIS's
    tables, nor the month partitions of a partitioned table, which its model stands for; a
    partitioned table's unique key holds the partition key too, and is still the model's)."""
    if type_ == "table" and reflected and compare_to is None:
        return name not in FOREIGN_TABLES and not (name is not None and is_partition(name))
    if type_ == "unique_constraint" and compare_to is not None:
        declared = [column.name for column in obj.columns]
        found = [column.name for column in compare_to.columns]
        return not widened_key(obj.table.name, declared, found)
    return True


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


# The newest migration. A database already there is used as it is, without loading Alembic
# (a third of a second of every command's start); tests/core/test_migrations.py checks this
# against Alembic's own head.
HEAD_REVISION = "0009"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema's migration, or None for a database with none applied."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if found is None else str(found)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default); safe to call every start,
    also by two commands starting at once on a new database (one migrates, the other then
    finds the schema current)."""
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command  # 0.19 s to import: only when there is something to migrate

    config = alembic_config()
    with engine.connect() as connection, one_at_a_time(connection, "migrate"):
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()  # inside the turn: the next one must find the schema current


@contextmanager
def one_at_a_time(connection: Connection, step: str) -> Iterator[None]:
    """Wait until no other process runs ``step`` on this database, then run it alone, in
    the connection's transaction (begun here if need be).

    PostgreSQL: an advisory lock held by that transaction, so the next one goes on only once
    this one's work is committed or rolled back, and sees it. SQLite: an exclusive lock on a
    file beside the database, released when the block ends, so a caller that must be seen
    done commits inside the block (SQLite's own write lock would stop every other writer,
    loads included, for the whole step). An in-memory database has only one user.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(step)})
        yield
        return
    database = connection.engine.url.database
    if connection.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        yield
        return
    with FileLock(f"{Path(database).expanduser()}.{step}.lock"):
        if not connection.in_transaction():
            connection.begin()
        yield


def drop_indexes(conn: Connection, indexes: Sequence[Index]) -> None:
    """Drop ``indexes`` for a bulk load; :func:`build_indexes` makes them again."""
    for index in indexes:
        index.drop(conn, checkfirst=True)


def build_indexes(conn: Connection, indexes: Sequence[Index]) -> None:
    """Create those of ``indexes`` that are missing, each from the rows stored, in one sort."""
    if conn.dialect.name == "sqlite":
        # SQLite sorts in temporary files; held in memory they would grow with the table.
        conn.exec_driver_sql("PRAGMA temp_store=FILE")
    else:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    try:
        for index in indexes:
            index.create(conn, checkfirst=True)
    finally:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")


STALE_SHARE = 0.1
"""A table that a load grew by more than this share of the rows its last sample saw is sampled
again: autovacuum's own default threshold for the same decision."""

# A table and its partitions, with the rows the planner last sampled of each
# (pg_class.reltuples; -1 when never sampled) and whether it holds any page at all.
_SAMPLED_SQL = """
    SELECT c.relname, c.oid = to_regclass(:name) AS whole, c.reltuples, c.relkind,
           pg_relation_size(c.oid) > 0 AS pages
    FROM pg_class c
    WHERE c.oid = to_regclass(:name)
       OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(:name))
"""


def stale_statistics(conn: Connection, grown: Mapping[str, int]) -> list[str]:
    """The tables and partitions whose statistics ``grown`` (table → rows just added) left
    misinformed, on PostgreSQL; none on SQLite.

    PostgreSQL plans from statistics that only ANALYZE gathers (or autovacuum, which a unit's
    server may run late or not at all). Right after a first load a table has none, and the
    planner took month partitions of hundreds of rows for a row each: a case code's ten boxes
    were joined to the sales by a scan of every partition, 11 ms instead of 0.1 ms by the key
    index. A table that the load grew by more than ``STALE_SHARE`` is stale whole (for a
    partitioned one: every partition, and the parent's statistics over them, which a join
    with it is planned from); otherwise only its partitions never sampled (a new month's). A
    sampled partition that grew is not: the planner scales its sample to the table's current
    size by itself. SQLite plans from its indexes without statistics, and gathering them
    would read every index whole.
    """
    if conn.dialect.name != "postgresql":
        return []
    stale: list[str] = []
    for table, rows in sorted(grown.items()):
        if rows <= 0:
            continue
        found = conn.execute(text(_SAMPLED_SQL), {"name": table}).all()
        sampled = next((row.reltuples for row in found if row.whole), None)
        if sampled is None:
            continue  # not a table of this database: nothing to plan from
        if sampled < 0 or rows > STALE_SHARE * sampled:
            stale.append(table)
        else:
            stale.extend(never_sampled(conn, [table]))  # its partitions only: the table was sampled
    return stale


def never_sampled(conn: Connection, tables: Iterable[str]) -> list[str]:
    """Those of ``tables``, or of their partitions, that hold rows no ANALYZE has ever
    sampled, on PostgreSQL: a database restored from a dump (which carries no statistics) or
    filled while no autovacuum ran. A sampled table stays as it is, however it grew since;
    an empty one has nothing to sample."""
    if conn.dialect.name != "postgresql":
        return []
    unsampled: list[str] = []
    for table in sorted(tables):
        found = conn.execute(text(_SAMPLED_SQL), {"name": table}).all()
        whole = next((row for row in found if row.whole), None)
        if whole is None:
            continue
        parts = sorted(row.relname for row in found if not row.whole and row.reltuples < 0 and row.pages)
        if whole.relkind != "p":
            unsampled.extend([table] if whole.reltuples < 0 and whole.pages else [])
        elif parts:  # the parent's statistics over its partitions too, when it has none
            unsampled.extend([table] if whole.reltuples < 0 else parts)
    return unsampled


def refresh_statistics(
    conn: Connection, grown: Mapping[str, int], *, told: Callable[[list[str]], None] | None = None
) -> list[str]:
    """ANALYZE the :func:`stale_statistics` of ``grown``, ``told`` of them first; their names."""
    return analyze(conn, stale_statistics(conn, grown), told=told)


def analyze(
    conn: Connection, names: list[str], *, told: Callable[[list[str]], None] | None = None
) -> list[str]:
    """ANALYZE these tables or partitions, ``told`` of them first (when there are any)."""
    if names and told is not None:
        told(names)
    for name in names:
        conn.exec_driver_sql(f'ANALYZE "{name}"')
    return names


def connect(url: str) -> tuple[Engine, sessionmaker[Session]]:
    """Engine and session factory for ``url`` with the schema migrated."""
    engine = make_engine(url)
    migrate(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on any error."""
    session = factory()
    try:
        yield session
    except BaseException:
        end_session(session, failed=True)
        raise
    end_session(session, failed=False)


def end_session(session: Session, *, failed: bool) -> None:
    """The end of a unit of work: committed when it did not fail, rolled back when it did or
    when the commit fails, closed in any case."""
    try:
        if failed:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
