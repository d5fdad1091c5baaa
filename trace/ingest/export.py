"""The contract's tables as Parquet, from any database: what a cluster reads.

Each table is written as stored (keys split into their two halves, identities as their keyed
hashes and masks, amounts in fen and ten-thousandths of a yuan), so what a Spark job computes
from the files joins with the server's own answers. Sales are partitioned by month
(``dispensing/month=2025-03/…``, Hive style), the layout every engine that reads Parquet prunes
by. Rows stream through in batches: memory stays flat whatever the table's size.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
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
    import pyarrow.dataset as ds

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
        counted = 0
        written: list[str] = []

        def counting(batches: Iterator[Any]) -> Iterator[Any]:
            nonlocal counted
            for batch in batches:
                counted += batch.num_rows
                yield batch

        def visited(file: Any, written: list[str] = written) -> None:
            written.append(file.path)

        ds.write_dataset(
            counting(_batches(session, EXPORTED[name], schema, partitioned)),
            target,
            schema=schema,
            format="parquet",
            partitioning=[PARTITION] if partitioned else None,
            partitioning_flavor="hive" if partitioned else None,
            existing_data_behavior="overwrite_or_ignore",
            basename_template="part-{i}.parquet",
            file_visitor=visited,
            max_rows_per_group=_BATCH * 4,
        )
        if not written:  # an empty table is still a table: its schema, no rows
            target.mkdir(parents=True, exist_ok=True)
            import pyarrow.parquet as pq

            pq.write_table(schema.empty_table(), target / "part-0.parquet")
            written.append(str(target / "part-0.parquet"))
        report.rows[name] = counted
        report.files[name] = len(written)
    return report
