"""PostgreSQL keeps sales in month partitions (migration 0008): made by the rows that need them,
each with its indexes, pruned by a query bounded in time, safe beside an open load."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from rxtrace.trace.errors import PartitionError
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.store import models, partitions
from rxtrace.trace.store.bulk import insert_ignore
from rxtrace.trace.store.db import make_engine, migrate

from .builders import sale, write_csv

DISPENSING = models.Base.metadata.tables["dispensing"]
_serial = iter(range(1, 10**9))


def stored_sale(at: datetime, **overrides: Any) -> dict[str, Any]:
    """One row as ``dispensing`` stores it (what a load's converter hands the writer)."""
    n = next(_serial)
    row: dict[str, Any] = {
        "row_digest": n.to_bytes(16, "big"),
        "file_id": 1,
        "line_no": n,
        "setl_id": f"S{n}",
        "fixmedins_code": "C1",
        "psn_no": f"P{n % 7}",
        "med_list_codg": "X1",
        "drug_trac_codg": f"8{n:019d}",
        "code_family": "nmpa20",
        "key_hi": n,
        "key_lo": n,
        "trdn_flag": 0,
        "sel_retn_cnt": 1,
        "sel_retn_time": at,
        "sel_retn_type": "sale",
        "mdtrt_setl_type": 1,
        "hifp_pay_fen": 100,
    }
    row.update(overrides)
    return row


def partitions_of(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'dispensing'::regclass ORDER BY 1"
        )
    )
    return [name for (name,) in rows]


def indexes_of(conn: Connection, table: str) -> set[str]:
    rows = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": table})
    # The definitions without the index's own name: a partition's indexes are named after it.
    return {
        definition.split(" ON ", 1)[1].replace("ONLY ", "").replace(f"public.{table} ", "")
        for (definition,) in rows
    }


def plan(conn: Connection, sql: str) -> str:
    return "\n".join(line for (line,) in conn.execute(text(f"EXPLAIN {sql}")))


@pytest.mark.postgres
def test_sales_make_their_months_each_with_every_index(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_partitioned_table")).scalar() == 1
        assert partitions_of(conn) == []
        rows = [stored_sale(datetime(2025, month, 28, 23, 59, 59)) for month in (1, 2, 2, 12)]
        rows.append(stored_sale(datetime(2026, 1, 1, 0, 0, 0)))
        assert insert_ignore(conn, DISPENSING, rows) == 5
        # The same rows again: the row digest's key still keeps a sale once.
        assert insert_ignore(conn, DISPENSING, rows) == 0
    with pg_engine.connect() as conn:
        assert partitions_of(conn) == [
            "dispensing_p2025_01",
            "dispensing_p2025_02",
            "dispensing_p2025_12",
            "dispensing_p2026_01",
        ]
        placed = conn.execute(
            text("SELECT tableoid::regclass::text, count(*) FROM dispensing GROUP BY 1 ORDER BY 1")
        ).all()
        assert [tuple(row) for row in placed] == [
            ("dispensing_p2025_01", 1),
            ("dispensing_p2025_02", 2),
            ("dispensing_p2025_12", 1),
            ("dispensing_p2026_01", 1),
        ]
        wanted = {
            "USING btree (fixmedins_code)",
            "USING btree (key_hi, key_lo)",
            "USING btree (psn_no)",
            "USING btree (id, sel_retn_time)",
            "USING btree (row_digest, sel_retn_time)",
        }
        assert indexes_of(conn, "dispensing") == wanted
        for name in partitions_of(conn):
            assert indexes_of(conn, name) == wanted, name


@pytest.mark.postgres
def test_a_query_bounded_in_time_reads_only_its_months_and_a_code_uses_each_months_index(
    pg_engine: Engine,
) -> None:
    with pg_engine.begin() as conn:
        rows = [stored_sale(datetime(2025, month, 10)) for month in range(1, 13) for _ in range(3)]
        insert_ignore(conn, DISPENSING, rows)
        conn.execute(text("ANALYZE dispensing"))
    with pg_engine.connect() as conn:
        march = plan(
            conn,
            "SELECT count(*) FROM dispensing"
            " WHERE sel_retn_time >= '2025-03-01' AND sel_retn_time < '2025-04-01'",
        )
        assert "dispensing_p2025_03" in march
        assert not any(f"dispensing_p2025_{m:02d}" in march for m in range(1, 13) if m != 3), march
        # A seized code carries no date: its lookup probes every month, by that month's index.
        conn.execute(text("SET enable_seqscan = off"))
        code = plan(conn, "SELECT id FROM dispensing WHERE key_hi = 5 AND key_lo = 5")
        assert "Seq Scan" not in code, code
        for month in range(1, 13):
            assert f"dispensing_p2025_{month:02d}" in code


@pytest.mark.postgres
def test_a_load_spanning_months_into_an_open_load_neither_waits_for_the_other(
    pg_engine: Engine, pg_url: str, protector: Protector
) -> None:
    """Two writers, each with its transaction open on the sales table, each needing new months:
    the partitions are made beside them, not behind them."""
    other = make_engine(pg_url)
    try:
        with pg_engine.connect() as first, other.connect() as second:
            insert_ignore(first, DISPENSING, [stored_sale(datetime(2025, 1, 5))])
            insert_ignore(second, DISPENSING, [stored_sale(datetime(2025, 2, 5))])
            insert_ignore(first, DISPENSING, [stored_sale(datetime(2025, 3, 5))])
            insert_ignore(second, DISPENSING, [stored_sale(datetime(2025, 4, 5))])
            first.commit()
            second.commit()
        with pg_engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM dispensing")).scalar() == 4
            assert len(partitions_of(conn)) == 4
    finally:
        other.dispose()


@pytest.mark.postgres
def test_a_partition_that_cannot_be_made_fails_the_write_with_its_month(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(partitions, "LOCK_TIMEOUT", "200ms")
    with pg_engine.connect() as holder:
        # What attaching waits for (a VACUUM, another attach), held past the wait.
        holder.execute(text("LOCK TABLE dispensing IN SHARE UPDATE EXCLUSIVE MODE"))
        with pg_engine.connect() as conn, pytest.raises(PartitionError) as failed:
            insert_ignore(conn, DISPENSING, [stored_sale(datetime(2025, 7, 1))])
        holder.rollback()
    message = str(failed.value)
    assert message.startswith("Failed to add the partition of dispensing for 2025-07: ")
    assert "\n" not in message
    with pg_engine.begin() as conn:  # the wait over, the same write goes through
        assert insert_ignore(conn, DISPENSING, [stored_sale(datetime(2025, 7, 1))]) == 1


@pytest.mark.postgres
def test_the_orm_finds_its_months_partition(pg_engine: Engine) -> None:
    with Session(pg_engine) as session:
        values = stored_sale(datetime(2024, 2, 29, 12))
        session.add(models.Dispensing(**values))
        session.commit()
    with pg_engine.connect() as conn:
        assert partitions_of(conn) == ["dispensing_p2024_02"]


@pytest.mark.postgres
def test_migration_partitions_stored_sales_and_back(
    pg_url: str, tmp_path: Path, protector: Protector
) -> None:
    engine = make_engine(pg_url)
    try:
        migrate(engine, "0007")
        with engine.begin() as conn:
            conn.execute(
                DISPENSING.insert(),
                [stored_sale(datetime(2025, m, 3)) for m in (1, 1, 5, 9)],
            )
        before = _rows(engine)
        migrate(engine, "0008")
    finally:
        engine.dispose()
    engine = make_engine(pg_url)  # a new engine: nothing cached from before the migration
    try:
        with engine.connect() as conn:
            assert partitions_of(conn) == [
                "dispensing_p2025_01",
                "dispensing_p2025_05",
                "dispensing_p2025_09",
            ]
        assert _rows(engine) == before
        # The id sequence carried over: a new sale follows the old ones.
        path = write_csv(
            tmp_path / "d.csv", [sale("83456789012345678901", sel_retn_time="2025-11-02 08:00:00")]
        )
        with Session(engine) as session:
            load_paths([path], session=session, protector=protector)
        after = _rows(engine)
        assert after[:4] == before and after[4][0] > before[-1][0]
        from alembic import command

        from rxtrace.trace.store.db import alembic_config

        config = alembic_config()
        with engine.connect() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0007")
            conn.commit()
            assert conn.execute(text("SELECT count(*) FROM pg_partitioned_table")).scalar() == 0
        assert _rows(engine) == after
    finally:
        engine.dispose()


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text("SELECT * FROM dispensing ORDER BY id"))]


def test_month_arithmetic() -> None:
    assert partitions.months_in([datetime(2025, 1, 31), None, date(2025, 1, 1)]) == {date(2025, 1, 1)}
    assert partitions.bounds(date(2024, 2, 1)) == ("2024-02-01 00:00:00", "2024-03-01 00:00:00")
    assert not partitions.is_partition("lead_basis_p2025_01")
