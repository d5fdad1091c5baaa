"""The contract's tables as Parquet, from any database: what a cluster reads.

Each table is written as stored (keys split into their two halves, identities as their keyed
hashes and masks, amounts in fen and ten-thousandths of a yuan), so what a Spark job computes
from the files joins with the server's own answers. Sales are partitioned by month
(``dispensing/month=2025-03/…``, Hive style), the layout every engine that reads Parquet prunes
by. Rows stream through in batches and are written in row groups of about a million rows, four
groups a file: memory stays bounded whatever the table's size (:class:`_Files`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column
from sqlalchemy import types as satypes
from sqlalchemy.orm import Session

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.contract import TABLES
from rxtrace.trace.store import models

__all__ = ["EXPORTED", "PARTITION", "ExportReport", "export_parquet"]

# Contract table name -> stored table, in the contract's order: the contract's own table.
EXPORTED: dict[str, str] = {name: spec.model_table for name, spec in TABLES.items()}
PARTITION = "month"
"""The column sales are partitioned by: the sale's month, ``YYYY-MM``."""
_BATCH = 50_000
GROUP_ROWS = 1 << 20
"""Rows per Parquet row group, as big as readers expect (pyarrow's default; Spark's 128 MB
blocks). Each 50,000-row batch cut by month once made a row group of its own, ~3,800 rows:
every column chunk with its own dictionary and header, every scan paying for it."""
FILE_GROUPS = 4
"""Row groups per file before the next file of the month: files of a few hundred MB, which a
cluster splits by row group, rather than one file per month however large the month."""
_HELD_BYTES = 256 << 20
"""What the months' unwritten rows may take together before the fullest is written short:
memory stays bounded whatever the order the rows come in and however many months there are."""


@dataclass
class ExportReport:
    """What was written: rows per table, and the files."""

    folder: Path
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "tables": [
                {"table": name, "rows": self.rows[name], "files": self.files[name]} for name in self.rows
            ],
        }


def _arrow_type(column: Column[Any]) -> Any:
    import pyarrow as pa

    kind = column.type
    if isinstance(kind, satypes.JSON):
        return pa.string()  # JSON text: every engine reads it, none agrees on a JSON type
    if isinstance(kind, satypes.LargeBinary):
        return pa.binary()
    if isinstance(kind, satypes.DateTime):
        return pa.timestamp("us")
    if isinstance(kind, satypes.Date):
        return pa.date32()
    if isinstance(kind, satypes.Boolean):
        return pa.bool_()
    if isinstance(kind, satypes.SmallInteger):
        return pa.int16()
    if isinstance(kind, satypes.Integer):  # BigInteger and Integer alike: ids outgrow 32 bits
        return pa.int64()
    if isinstance(kind, satypes.Float | satypes.Numeric):
        return pa.float64()
    if isinstance(kind, satypes.String):
        return pa.string()
    raise RxtraceError(f"Internal error: no Parquet type for column {column.name} of type {kind}.")


def _batches(session: Session, table_name: str, schema: Any, partitioned: bool) -> Iterator[Any]:
    """The table's rows as Arrow batches, read through the driver's own cursor (a server-side
    one on PostgreSQL, so the rows stream): SQLAlchemy's result rows cost several times more."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = models.Base.metadata.tables[table_name]
    columns = list(table.columns)
    names = ", ".join(c.name for c in columns)
    order = ", ".join(c.name for c in table.primary_key.columns)
    statement = f"SELECT {names} FROM {table_name} ORDER BY {order}"
    dbapi = session.connection().connection.driver_connection
    postgres = session.get_bind().dialect.name == "postgresql"
    cursor = dbapi.cursor(name="rxtrace_export") if postgres else dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
        while rows := cursor.fetchmany(_BATCH):
            arrays = [
                _column(values, c, schema.field(c.name).type)
                for c, values in zip(columns, zip(*rows, strict=True), strict=True)
            ]
            if partitioned:
                arrays.append(pc.strftime(arrays[names.split(", ").index("sel_retn_time")], format="%Y-%m"))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    finally:
        cursor.close()


def _column(values: Sequence[Any], column: Column[Any], arrow_type: Any) -> Any:
    import pyarrow as pa

    if isinstance(column.type, satypes.JSON):
        # PostgreSQL hands JSON back parsed, SQLite as the text SQLAlchemy wrote (json.dumps
        # with its defaults): written back the same way, both give the same text.
        values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
        return pa.array(values, type=pa.string())
    if isinstance(column.type, satypes.DateTime | satypes.Date) and any(isinstance(v, str) for v in values):
        # SQLite stores times as ISO text: parsed in one pass over the column.
        return pa.array(values, type=pa.string()).cast(arrow_type)
    if isinstance(column.type, satypes.LargeBinary):
        values = [None if v is None else bytes(v) for v in values]
    return pa.array(values, type=arrow_type)


def export_parquet(
    folder: Path, *, session: Session, tables: Sequence[str] | None = None, replace: bool = False
) -> ExportReport:
    """Write ``tables`` (contract names; all by default) under ``folder``, one folder each.

    A table's folder that already holds files is refused unless ``replace``: two exports mixed
    in one folder would read as one table with every row twice.
    """
    import pyarrow as pa

    wanted = list(tables) if tables else list(EXPORTED)
    unknown = [t for t in wanted if t not in EXPORTED]
    if unknown:
        raise RxtraceError(f"Unknown table '{unknown[0]}': use one of {', '.join(EXPORTED)}.")
    report = ExportReport(folder)
    for name in wanted:
        target = folder / name
        if target.exists() and any(target.iterdir()):
            if not replace:
                raise RxtraceError(f"{target} already holds files: give an empty folder, or --replace.")
            shutil.rmtree(target)
        table = models.Base.metadata.tables[EXPORTED[name]]
        fields = [pa.field(c.name, _arrow_type(c), nullable=bool(c.nullable)) for c in table.columns]
        partitioned = name == "dispensing"
        if partitioned:
            fields.append(pa.field(PARTITION, pa.string(), nullable=False))
        schema = pa.schema(fields)
        files = _Files(target, schema, PARTITION if partitioned else None)
        try:
            for batch in _batches(session, EXPORTED[name], schema, partitioned):
                files.add(batch)
            written = files.close()
        except BaseException:
            # Half a table would read as the whole of a smaller one: none is left, and the
            # folder (empty or replaced before) takes the next export without --replace.
            files.discard()
            shutil.rmtree(target, ignore_errors=True)
            raise
        if not written:  # an empty table is still a table: its schema, no rows
            target.mkdir(parents=True, exist_ok=True)
            import pyarrow.parquet as pq

            pq.write_table(schema.empty_table(), target / "part-0.parquet")
            written.append(str(target / "part-0.parquet"))
        report.rows[name] = files.rows
        report.files[name] = len(written)
    return report


class _Files:
    """A table's rows written under ``folder``, one folder per value of ``partition`` (Hive
    style: ``month=2025-03/part-0.parquet``, the column itself left out of the files, as
    every Parquet reader expects) or straight in it, in row groups of :data:`GROUP_ROWS`.

    Rows are held per folder until a group is full, and written in the order they came, so a
    month's file keeps the export's order (by id). When the folders together hold more than
    :data:`_HELD_BYTES`, the fullest is written at once, a shorter group."""

    def __init__(self, folder: Path, schema: Any, partition: str | None) -> None:
        self.folder = folder
        self.partition = partition
        self.schema = schema if partition is None else schema.remove(schema.get_field_index(partition))
        self.rows = 0
        self.held: dict[str | None, list[Any]] = {}
        self.held_rows: dict[str | None, int] = {}
        self.held_bytes = 0
        self.writers: dict[str | None, Any] = {}
        self.groups: dict[str | None, int] = {}
        self.parts: dict[str | None, int] = {}
        self.written: list[str] = []
        # Encoding a group takes about as long as reading its rows: one thread writes while
        # the next rows are read (2 M sales: 15.4-17.4 s written in line, 13.7-14.2 s so,
        # 13.1-14.2 s by pyarrow's dataset writer on its own threads). One write at a time in
        # flight, in the order given, so memory stays bounded and each file in order.
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="rxtrace-export")
        self.pending: Future[None] | None = None

    def add(self, batch: Any) -> None:
        """Hold ``batch``'s rows (the partition column last, as :func:`_batches` gives it)."""
        import pyarrow.compute as pc

        self.rows += batch.num_rows
        if self.partition is None:
            self._hold(None, batch)
            return
        values = batch.column(batch.num_columns - 1)
        rows = batch.drop_columns([self.partition])
        for value in pc.unique(values).to_pylist():
            self._hold(value, rows.filter(pc.equal(values, value)))

    def _hold(self, key: str | None, batch: Any) -> None:
        self.held.setdefault(key, []).append(batch)
        self.held_rows[key] = self.held_rows.get(key, 0) + batch.num_rows
        self.held_bytes += batch.nbytes
        if self.held_rows[key] >= GROUP_ROWS:
            self._write(key, whole=False)
        while self.held_bytes > _HELD_BYTES:
            self._write(max(self.held_rows, key=self.held_rows.__getitem__), whole=True)

    def _write(self, key: str | None, *, whole: bool) -> None:
        """Write ``key``'s full groups, and with ``whole`` the rest too, a shorter group."""
        import pyarrow as pa

        batches = self.held.pop(key)
        del self.held_rows[key]
        self.held_bytes -= sum(b.nbytes for b in batches)
        table = pa.Table.from_batches(batches, schema=self.schema)
        written = table.num_rows if whole else table.num_rows - table.num_rows % GROUP_ROWS
        rest = table.slice(written)
        if rest.num_rows:
            self.held[key] = rest.to_batches()
            self.held_rows[key] = rest.num_rows
            self.held_bytes += rest.nbytes
        if self.pending is not None:
            self.pending.result()  # a failed write fails the export here
        self.pending = self.pool.submit(self._groups_of, key, table.slice(0, written))

    def _groups_of(self, key: str | None, table: Any) -> None:
        """Write ``table`` as ``key``'s next groups (on the writing thread)."""
        import pyarrow.parquet as pq

        while table.num_rows:
            if key not in self.writers:
                folder = self.folder if key is None else self.folder / f"{self.partition}={key}"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"part-{self.parts.get(key, 0)}.parquet"
                self.parts[key] = self.parts.get(key, 0) + 1
                self.writers[key] = pq.ParquetWriter(path, self.schema)
                self.groups[key] = 0
                self.written.append(str(path))
            group = table.slice(0, GROUP_ROWS)
            table = table.slice(group.num_rows)
            self.writers[key].write_table(group, row_group_size=GROUP_ROWS)
            self.groups[key] += 1
            if self.groups[key] >= FILE_GROUPS:
                self.writers.pop(key).close()

    def discard(self) -> None:
        """Close every file open, for it to be removed; what is held is dropped."""
        self._close_files()
        self.held.clear()

    def _close_files(self) -> None:
        self.pool.shutdown(wait=True)  # the write in flight ends (or fails) first
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()

    def close(self) -> list[str]:
        """Write what is held, close every file; the files written."""
        for key in list(self.held):
            self._write(key, whole=True)
        if self.pending is not None:
            self.pending.result()
        self._close_files()
        return self.written
