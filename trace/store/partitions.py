"""Month partitions of the sales table on PostgreSQL.

A city loads over a billion sales a year. On PostgreSQL ``dispensing`` is partitioned by month
of ``sel_retn_time`` (migration 0008): each month's rows and indexes are a table of their own,
so a query bounded in time reads only its months, an index stays the size of a month, and a
month can be archived alone. SQLite keeps one table (a laptop's district has no use for it).

Partitions are made when a row first needs one, by whatever writes it (a load's ``COPY``, the
ORM), never ahead of time: exports span any dates. A partition is made on a connection of its
own and committed at once, as ``CREATE TABLE … (LIKE …)`` then ``ATTACH PARTITION``: attaching
takes only a SHARE UPDATE EXCLUSIVE lock on the parent, which lets the writer's own open
transaction (it holds ROW EXCLUSIVE there) and every reader go on. ``CREATE TABLE … PARTITION
OF`` would want ACCESS EXCLUSIVE and wait for the very load that asked for it.

A partitioned table's unique keys must hold the partition key, so on PostgreSQL the row
digest's key is ``(row_digest, sel_retn_time)`` and the primary key ``(id, sel_retn_time)``:
the digest covers the time (``rxtrace.trace.ingest.contract``), so the rule is the same one,
a sale stored once.

>>> month_of(datetime(2025, 3, 31, 23, 59))
datetime.date(2025, 3, 1)
>>> partition_name("dispensing", date(2025, 3, 1))
'dispensing_p2025_03'
>>> bounds(date(2025, 12, 1))
('2025-12-01 00:00:00', '2026-01-01 00:00:00')
>>> is_partition("dispensing_p2025_03"), is_partition("dispensing")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, text

from rxtrace.trace.errors import PartitionError
from rxtrace.trace.store.locks import advisory_key

__all__ = [
    "MONTHLY",
    "bounds",
    "ensure_months",
    "is_partition",
    "month_of",
    "months_in",
    "partition_name",
    "partitioned",
    "widened_key",
]

MONTHLY: dict[str, str] = {"dispensing": "sel_retn_time"}
"""Tables partitioned by month on PostgreSQL, and the time column that places a row."""

_PARTITION = re.compile(r"^(?P<table>[a-z_]+)_p(?P<year>\d{4})_(?P<month>\d{2})$")

# How long making a partition may wait for the parent's lock before the writer gives up with
# a reason: another load building the parent's indexes holds a lock that attaching must wait
# for, and that load may in turn wait for the writer (a wait PostgreSQL cannot see, since the
# writer waits in Python), so waiting for ever could hang both.
LOCK_TIMEOUT = "20s"


def month_of(moment: datetime | date) -> date:
    """The first day of ``moment``'s month."""
    return date(moment.year, moment.month, 1)


def partition_name(table: str, month: date) -> str:
    """The partition of ``table`` that holds ``month``'s rows."""
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def bounds(month: date) -> tuple[str, str]:
    """The partition's range, from its month's first instant up to the next month's."""
    following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return f"{month.isoformat()} 00:00:00", f"{following.isoformat()} 00:00:00"


def is_partition(name: str) -> bool:
    """Whether ``name`` is a month partition of a partitioned table (a table no model declares)."""
    found = _PARTITION.match(name)
    return found is not None and found["table"] in MONTHLY


def widened_key(table: str, declared: Sequence[str], found: Sequence[str]) -> bool:
    """Whether a unique key ``found`` in the database is the one the model ``declared`` with
    the partition key added, as a partitioned table's keys must be (for schema comparison).

    >>> widened_key("dispensing", ["row_digest"], ["row_digest", "sel_retn_time"])
    True
    >>> widened_key("dispensing", ["row_digest"], ["row_digest"])
    False
    """
    column = MONTHLY.get(table)
    return column is not None and column not in declared and list(found) == [*declared, column]


def months_in(moments: Iterable[datetime | date | None]) -> set[date]:
    """The months ``moments`` fall in."""
    return {month_of(moment) for moment in moments if moment is not None}


def partitioned(conn: Connection, table: str) -> bool:
    """Whether ``table`` is partitioned in this database (PostgreSQL from migration 0008 on)."""
    if conn.dialect.name != "postgresql" or table not in MONTHLY:
        return False
    cache = _known(conn.engine)
    if table not in cache:
        found = conn.execute(
            text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:t)"), {"t": table}
        ).first()
        cache[table] = set() if found else None
    return cache[table] is not None


def ensure_months(conn: Connection, table: str, months: Iterable[date]) -> None:
    """Make the partitions of ``table`` that ``months`` need and do not have yet.

    Each is made and committed on a connection of its own (see the module's text), under one
    advisory lock so two writers needing the same month make it once. A no-op on SQLite and for
    a table that is not partitioned.
    """
    if not partitioned(conn, table):
        return
    known = _known(conn.engine)[table]
    assert known is not None
    wanted = set(months) - known
    if not wanted:
        return
    with conn.engine.connect() as own:
        own.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        own.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(f"partition:{table}")})
        present = _present(own, table)
        for month in sorted(wanted - present):
            _make(own, table, month)
        try:
            own.commit()
        except Exception as exc:  # the lock timeout, a server gone: one reason, not a driver dump
            raise PartitionError(_reason(table, wanted, exc)) from exc
    known.update(wanted | present)


def _make(own: Connection, table: str, month: date) -> None:
    name = partition_name(table, month)
    start, end = bounds(month)
    try:
        # LIKE copies the columns, their defaults (the id sequence) and NOT NULLs; attaching
        # adds the parent's indexes and keys to the new table.
        own.execute(text(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)'))
        # DDL takes no bound parameters: the bounds are dates this module wrote.
        values = f"FOR VALUES FROM ('{start}') TO ('{end}')"
        own.execute(text(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" {values}'))
    except Exception as exc:
        own.rollback()
        raise PartitionError(_reason(table, {month}, exc)) from exc


def _present(conn: Connection, table: str) -> set[date]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": table},
    )
    out: set[date] = set()
    for (name,) in rows:
        found = _PARTITION.match(name)
        if found is not None:
            out.add(date(int(found["year"]), int(found["month"]), 1))
    return out


def _reason(table: str, months: Iterable[date], exc: Exception) -> str:
    shown = ", ".join(sorted(m.strftime("%Y-%m") for m in months))
    # The driver's own first line (SQLAlchemy's wrapper adds the statement and a link).
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"Failed to add the partition of {table} for {shown}: {lines[0] if lines else type(exc).__name__}."


# Partitions are only ever added (migration 0008's downgrade drops the table itself), so what
# one connection saw stays true for every connection of the engine: None for a table found not
# partitioned, else the months known to have their partition.
_KNOWN: WeakKeyDictionary[Engine, dict[str, set[date] | None]] = WeakKeyDictionary()


def _known(engine: Engine) -> dict[str, set[date] | None]:
    return _KNOWN.setdefault(engine, {})
