"""The stored tables as Parquet: every row, every value as stored, sales by month."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.export import EXPORTED, export_parquet
from rxtrace.trace.ingest.load import load_paths
from rxtrace.trace.protect import Protector
from rxtrace.trace.store import models

from .test_cli import run
from .test_load import SAMPLE

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="shared sample absent")


def test_every_table_is_written_as_stored(any_session: Session, protector: Protector, tmp_path: Path) -> None:
    load_paths([SAMPLE], session=any_session, protector=protector)
    any_session.commit()
    report = export_parquet(tmp_path / "out", session=any_session)
    for name, table in EXPORTED.items():
        stored = any_session.query(models.Base.metadata.tables[table]).count()
        assert report.rows[name] == stored, name
        read = ds.dataset(tmp_path / "out" / name, format="parquet", partitioning="hive").to_table()
        assert read.num_rows == stored, name
    # Sales by month, each row under its own month, every value as the database holds it.
    sales = ds.dataset(tmp_path / "out" / "dispensing", format="parquet", partitioning="hive").to_table()
    months = {p.name for p in (tmp_path / "out" / "dispensing").iterdir()}
    assert months == {f"month={m}" for m in sales.column("month").to_pylist()}
    assert all(
        f"{t:%Y-%m}" == m
        for t, m in zip(*(sales.column(c).to_pylist() for c in ("sel_retn_time", "month")), strict=True)
    )
    by_id = {row["id"]: row for row in sales.to_pylist()}
    for row in any_session.scalars(select(models.Dispensing)):
        written = by_id[row.id]
        for column in models.Dispensing.__table__.columns:
            value = getattr(row, column.key)
            if column.name == "extra":
                assert (None if written["extra"] is None else json.loads(written["extra"])) == value
            else:
                assert written[column.name] == value, column.name
    assert isinstance(sales.column("sel_retn_time").to_pylist()[0], datetime)
    # A second export into the same folder is refused, unless asked to replace it.
    with pytest.raises(RxtraceError, match="already holds files"):
        export_parquet(tmp_path / "out", session=any_session, tables=["catalog"])
    again = export_parquet(tmp_path / "out", session=any_session, tables=["catalog"], replace=True)
    assert again.rows == {"catalog": report.rows["catalog"]}
    with pytest.raises(RxtraceError, match="Unknown table 'sales'"):
        export_parquet(tmp_path / "other", session=any_session, tables=["sales"])


def test_an_empty_table_is_written_with_its_columns(session: Session, tmp_path: Path) -> None:
    report = export_parquet(tmp_path, session=session, tables=["waybills", "dispensing"])
    assert report.rows == {"waybills": 0, "dispensing": 0}
    empty = ds.dataset(tmp_path / "waybills", format="parquet").to_table()
    assert empty.num_rows == 0 and "waybill_no" in empty.column_names


def test_export_command(tmp_path: Path) -> None:
    assert run(["load", str(SAMPLE), "--no-prepare-leads"], tmp_path).returncode == 0
    result = run(["export", "--parquet", str(tmp_path / "pq"), "--format", "json"], tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    rows = {t["table"]: t["rows"] for t in document["tables"]}
    assert rows["dispensing"] == 1422 and set(rows) == set(EXPORTED)
    table = run(["export", "--parquet", str(tmp_path / "pq"), "--table", "catalog", "--replace"], tmp_path)
    assert table.returncode == 0 and "catalog" in table.stdout
    refused = run(["export", "--parquet", str(tmp_path / "pq"), "--table", "catalog"], tmp_path)
    assert refused.returncode != 0 and "already holds files" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    unknown = run(["export", "--parquet", str(tmp_path / "pq"), "--table", "sales"], tmp_path)
    assert unknown.returncode != 0 and "Unknown table 'sales'" in unknown.stderr
