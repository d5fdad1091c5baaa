"""The stored tables as Parquet: every row, every value as stored, sales by month."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest import export
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


def _months(folder: Path) -> dict[str, list[pq.ParquetFile]]:
    """Each month folder's files, in the order written (``part-0``, ``part-1``, ...)."""
    return {
        month.name: [pq.ParquetFile(f) for f in sorted(month.iterdir(), key=lambda f: int(f.stem[5:]))]
        for month in sorted(folder.iterdir())
    }


def _groups(folder: Path) -> dict[str, list[list[int]]]:
    """Each month's files as the row counts of their row groups."""
    return {
        month: [[f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)] for f in files]
        for month, files in _months(folder).items()
    }


def _each_sale_once_in_order(folder: Path, session: Session) -> None:
    """Every sale written once, each month's in the export's order (by id)."""
    ids = {
        month: [i for f in files for i in f.read(columns=["id"]).column("id").to_pylist()]
        for month, files in _months(folder).items()
    }
    assert all(month == sorted(month) for month in ids.values())
    assert sorted(i for month in ids.values() for i in month) == sorted(
        session.scalars(select(models.Dispensing.id))
    )


def _sample_exported_with(
    session: Session, protector: Protector, monkeypatch: pytest.MonkeyPatch, **settings: int
) -> None:
    """The contract sample stored, the export's sizes (``_BATCH``, ``GROUP_ROWS``, ...) set
    small enough for its 1,422 sales to fill several batches and groups."""
    load_paths([SAMPLE], session=session, protector=protector)
    session.commit()
    for name, value in settings.items():
        monkeypatch.setattr(export, name, value)


def test_sales_come_in_whole_row_groups_whatever_batches_the_months_arrive_in(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches far smaller than a group, each cut across the months: one group per cut was
    # what the export wrote (~3,800 rows a group at 50,000 a batch).
    _sample_exported_with(session, protector, monkeypatch, _BATCH=37, GROUP_ROWS=100, FILE_GROUPS=2)
    export_parquet(tmp_path / "out", session=session, tables=["dispensing"])
    month = func.strftime("%Y-%m", models.Dispensing.sel_retn_time)
    months = session.execute(select(month, func.count()).group_by(month)).all()
    assert len(months) >= 2
    groups = _groups(tmp_path / "out" / "dispensing")
    for month, count in months:
        files = groups[f"month={month}"]
        full, last = divmod(count, 100)
        # Whole groups but the month's last, two groups a file.
        flat = [n for file in files for n in file]
        assert flat == [100] * full + ([last] if last else []), month
        assert all(len(file) <= 2 for file in files) and len(files) == -(-len(flat) // 2), month
    _each_sale_once_in_order(tmp_path / "out" / "dispensing", session)


def test_memory_held_for_the_months_is_bounded_and_every_row_still_written(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sample_exported_with(session, protector, monkeypatch, _BATCH=37, GROUP_ROWS=1000, _HELD_BYTES=20_000)
    held: list[int] = []
    hold = export._Files._hold

    def watched(self: export._Files, key: str | None, batch: object) -> None:
        hold(self, key, batch)
        held.append(self.held_bytes)

    monkeypatch.setattr(export._Files, "_hold", watched)
    report = export_parquet(tmp_path / "out", session=session, tables=["dispensing"])
    assert held and max(held) <= 20_000
    groups = [n for files in _groups(tmp_path / "out" / "dispensing").values() for f in files for n in f]
    # Written early, so in shorter groups; every row once, each month still in order.
    assert max(groups) < 1000 and sum(groups) == report.rows["dispensing"] == 1422
    _each_sale_once_in_order(tmp_path / "out" / "dispensing", session)


def test_an_export_that_fails_leaves_no_half_table(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sample_exported_with(session, protector, monkeypatch, _BATCH=300, GROUP_ROWS=100)
    batches = export._batches

    def failing(*args: object, **kwargs: object) -> Iterator[object]:
        for n, batch in enumerate(batches(*args, **kwargs)):  # type: ignore[arg-type]
            if n == 3:
                raise OSError("disk full")
            yield batch

    monkeypatch.setattr(export, "_batches", failing)
    with pytest.raises(OSError, match="disk full"):
        export_parquet(tmp_path / "out", session=session, tables=["catalog", "dispensing"])
    # The table written before stays; the one that failed is gone, files and folder.
    assert (tmp_path / "out" / "catalog").is_dir()
    assert not (tmp_path / "out" / "dispensing").exists()
    monkeypatch.setattr(export, "_batches", batches)
    report = export_parquet(tmp_path / "out", session=session, tables=["dispensing"])
    assert report.rows["dispensing"] == 1422


def test_a_write_that_fails_on_the_writing_thread_fails_the_export_and_leaves_nothing(
    session: Session, protector: Protector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sample_exported_with(session, protector, monkeypatch, _BATCH=300, GROUP_ROWS=100)
    groups_of = export._Files._groups_of
    calls: list[str | None] = []

    def failing(self: export._Files, key: str | None, table: object) -> None:
        calls.append(key)
        if len(calls) == 2:
            raise OSError("disk full")
        groups_of(self, key, table)

    monkeypatch.setattr(export._Files, "_groups_of", failing)
    with pytest.raises(OSError, match="disk full"):
        export_parquet(tmp_path / "out", session=session, tables=["dispensing"])
    assert len(calls) >= 2 and not (tmp_path / "out" / "dispensing").exists()


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
