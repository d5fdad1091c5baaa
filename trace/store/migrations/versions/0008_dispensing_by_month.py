"""PostgreSQL: the sales table partitioned by month of the sale

A city's year is over a billion rows: one table of that size has indexes that no longer fit in
memory and can only be vacuumed, archived or rebuilt whole. Partitioned by month of
``sel_retn_time``, each month is a table with its own indexes (see
``rxtrace.trace.store.partitions``). SQLite is left as it is.

The rows are copied into the new table as they are, ids included (the id sequence carries
over), one month's partition made for each month present; the indexes are built after the
copy, one sort each.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

from rxtrace.trace.store.partitions import bounds, partition_name

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_dispensing_fixmedins_code", "fixmedins_code"),
    ("ix_dispensing_key", "key_hi, key_lo"),
    ("ix_dispensing_psn_no", "psn_no"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside_old()
    op.execute(
        "CREATE TABLE dispensing (LIKE dispensing_old INCLUDING DEFAULTS) PARTITION BY RANGE (sel_retn_time)"
    )
    months = op.get_bind().execute(
        text("SELECT DISTINCT date_trunc('month', sel_retn_time)::date FROM dispensing_old ORDER BY 1")
    )
    for (month,) in months.all():
        start, end = bounds(month)
        op.execute(
            f'CREATE TABLE "{partition_name("dispensing", month)}" PARTITION OF dispensing '
            f"FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    op.execute("INSERT INTO dispensing SELECT * FROM dispensing_old ORDER BY id")
    _keys_and_indexes(partitioned=True)
    _finish()


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside_old()
    op.execute("CREATE TABLE dispensing (LIKE dispensing_old INCLUDING DEFAULTS)")
    op.execute("INSERT INTO dispensing SELECT * FROM dispensing_old ORDER BY id")
    _keys_and_indexes(partitioned=False)
    _finish()


def _set_aside_old() -> None:
    """The current table renamed, its keys and indexes dropped so their names are free, its
    id sequence kept for the new table (dropping the table would drop a sequence it owns)."""
    op.execute("ALTER TABLE dispensing RENAME TO dispensing_old")
    op.execute("ALTER SEQUENCE dispensing_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE dispensing_old DROP CONSTRAINT pk_dispensing")
    op.execute("ALTER TABLE dispensing_old DROP CONSTRAINT uq_dispensing_row_digest")
    for name, _ in _INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def _keys_and_indexes(*, partitioned: bool) -> None:
    # A partitioned table's unique keys must hold the partition key; the row digest covers
    # the time, so (row_digest, sel_retn_time) is still "a sale stored once".
    time = ", sel_retn_time" if partitioned else ""
    op.execute(f"ALTER TABLE dispensing ADD CONSTRAINT pk_dispensing PRIMARY KEY (id{time})")
    op.execute(f"ALTER TABLE dispensing ADD CONSTRAINT uq_dispensing_row_digest UNIQUE (row_digest{time})")
    for name, columns in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON dispensing ({columns})")


def _finish() -> None:
    op.execute("DROP TABLE dispensing_old CASCADE")
    op.execute("ALTER SEQUENCE dispensing_id_seq OWNED BY dispensing.id")
    op.execute("ANALYZE dispensing")
