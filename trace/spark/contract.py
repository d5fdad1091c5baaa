"""The contract's own files (CSV in UTF-8 or GB18030, JSON Lines) as Spark tables, converted
on the executors exactly as ``rxtrace load`` converts them.

Which table a file is, how its records are read and how each is checked and turned into stored
values are the load's own functions (:func:`~rxtrace.trace.ingest.sniff`,
:func:`~rxtrace.trace.ingest.detect_table`, the row reader, the columnar path for dispensing CSV,
:func:`~rxtrace.trace.ingest.convert_batch`): they run inside ``mapPartitions``, one file a task,
so no sale passes through the driver and no rule of the contract is written a second time. What
the database then does to the rows is done here as Spark steps: a row whose unique key (the row
digest of a sale or a seized code, the code of an institution, ...) an earlier row already has is
a duplicate, the first in load order kept; row ids follow load order (files in the order
``rxtrace load`` takes them, then lines), which is all the answers read of them.

A table may come both from a Parquet export and from contract files: the export's rows come
first, as if the files were loaded into the database the export was written from.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rxtrace.trace.errors import ContractError, RxtraceError
from rxtrace.trace.ingest.contract import TABLES, detect_table
from rxtrace.trace.ingest.export import EXPORTED
from rxtrace.trace.ingest.load import BATCH_ROWS, expand_paths
from rxtrace.trace.ingest.reading import FileShape, sniff
from rxtrace.trace.protect import Protector
from rxtrace.trace.spark.tables import Tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = [
    "ContractFile",
    "FileCount",
    "Sources",
    "TableCount",
    "contract_tables",
    "find_sources",
]

SHOWN_REJECTS = 20
"""Rows set aside whose line and reason come back to the driver, per file: the rest are counted
(``rxtrace load`` then ``rxtrace rejects`` lists every one)."""
_FILE_IDS = 1 << 60
"""Ids of rows from files start here, above any id a database gave a row of an export."""
_LINES = 1 << 32
"""A file's lines, in the ids: a file's rows are numbered ``index * _LINES + line``."""


@dataclass(frozen=True)
class ContractFile:
    """A contract file to read: its place in load order, its shape and its table."""

    index: int
    path: Path
    shape: FileShape
    table: str


@dataclass
class Sources:
    """What the paths given hold: Parquet table folders, contract files by table, and the files
    no table fits (with their reasons, as ``rxtrace load`` refuses them)."""

    folders: dict[str, Path] = field(default_factory=dict)
    files: list[ContractFile] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    again: list[tuple[Path, Path]] = field(default_factory=list)
    """Files with the bytes of a file before them (that one given second): read once, as
    ``rxtrace load`` finds the second already loaded."""


def _parquet_table(folder: Path) -> bool:
    """A folder named as a contract table that holds Parquet files (an export's table)."""
    return folder.name in EXPORTED and any(p.suffix == ".parquet" for p in folder.rglob("*") if p.is_file())


def find_sources(paths: Sequence[Path], *, table: str | None = None) -> Sources:
    """Classify ``paths``: a folder named as a contract table holding Parquet files is that
    table's export; inside any other folder, such folders are tables' exports and every other
    file (not hidden) is a contract file, told by its content as ``rxtrace load`` tells it
    (``table`` forces the table of every contract file, as ``rxtrace load --table`` does).

    >>> find_sources([])
    Sources(folders={}, files=[], refused=[], again=[])
    """
    found = Sources()
    loose: list[Path] = []

    def add(name: str, folder: Path) -> None:
        if name in found.folders and found.folders[name] != folder:
            raise RxtraceError(f"The '{name}' table is given twice: {found.folders[name]} and {folder}.")
        found.folders[name] = folder

    for path in paths:
        if path.is_dir() and _parquet_table(path):
            add(path.name, path)
            continue
        if not path.is_dir():
            loose.extend(expand_paths([path]))  # refuses a path that is not there
            continue
        exports = [path / name for name in EXPORTED if _parquet_table(path / name)]
        for folder in exports:
            add(folder.name, folder)
        loose.extend(p for p in expand_paths([path]) if not any(p.is_relative_to(f) for f in exports))
    for path in _first_copies(loose, found.again):
        if path.suffix == ".parquet":
            found.refused.append(
                (path, "a Parquet file outside a table's folder: give the folder `rxtrace export` wrote")
            )
            continue
        try:
            shape = sniff(path)
            spec = detect_table(shape.columns, table)
        except ContractError as exc:
            found.refused.append((path, str(exc)))
            continue
        found.files.append(ContractFile(len(found.files), path, shape, spec.name))
    if not found.folders and not found.files:
        reasons = "; ".join(f"{p}: {why}" for p, why in found.refused[:3])
        raise RxtraceError(
            "No contract table among the paths given: give contract files (CSV or JSON Lines) or "
            f"the folders `rxtrace export --parquet` wrote{f' ({reasons})' if reasons else ''}."
        )
    return found


def _first_copies(paths: Sequence[Path], again: list[tuple[Path, Path]]) -> list[Path]:
    """``paths`` without those whose bytes an earlier one has (noted in ``again``). Only files
    of one size are hashed: two files of different sizes differ, and most files' sizes do."""
    sizes: dict[int, int] = {}
    for path in paths:
        size = path.stat().st_size
        sizes[size] = sizes.get(size, 0) + 1
    first: dict[tuple[int, str], Path] = {}
    out: list[Path] = []
    for path in paths:
        size = path.stat().st_size
        if sizes[size] > 1:
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            earlier = first.setdefault((size, digest), path)
            if earlier is not path:
                again.append((path, earlier))
                continue
        out.append(path)
    return out


@dataclass
class FileCount:
    """One file's records: taken (before duplicates are told), set aside, and the first few
    set aside as ``(line, reason)``."""

    path: Path
    table: str
    rows: int = 0
    rejected: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class TableCount:
    """One table's rows from files: taken, duplicate (of an earlier row, or of the export's),
    set aside; and each file's count."""

    table: str
    taken: int = 0
    duplicate: int = 0
    rejected: int = 0
    files: list[FileCount] = field(default_factory=list)


# ---- on the executors ----------------------------------------------------------------------

_ROW, _REJECT, _COUNT = 0, 1, 2


def _stored_columns(table: str) -> list[str]:
    from rxtrace.trace.store import models

    return [c.name for c in models.Base.metadata.tables[EXPORTED[table]].columns]


def _converted(
    file: ContractFile, protector: Protector, batch_rows: int
) -> Iterator[tuple[list[str], list[list[Any]], list[int], list[tuple[int, str]]]]:
    """The file's batches as the load converts them: stored values column by column (``names``,
    ``columns``), the line of each row taken, and ``(line, reason)`` of each record set aside.
    The same readers and converters as ``rxtrace.trace.ingest.load._prepare_batches``: the
    columnar path for dispensing CSV, the row reader and :func:`convert_batch` for the rest."""
    from rxtrace.trace.ingest.batch import convert_batch
    from rxtrace.trace.ingest.reading import LineTally, RecordBatch, RecordReader

    spec = TABLES[file.table]
    items: Iterable[Any]
    if spec.name == "dispensing" and file.shape.file_format == "csv":
        from rxtrace.trace.ingest.columnar import BlockReader, convert_block, parse_block

        items = BlockReader(file.path, file.shape, LineTally()).items(batch_rows)
    else:
        reader = RecordReader(file.path, file.shape)
        items = reader.batches(batch_rows)
    for item in items:
        if isinstance(item, RecordBatch):
            batch = convert_batch(spec, item.columns, item.rows, protector)
            names, columns, taken, failed = batch.names, batch.columns, batch.taken, batch.failed
            line_nos, unreadable = item.line_nos, item.rejects
        else:
            parsed = parse_block(item, file.shape)
            block, line_nos = convert_block(spec, parsed, protector)
            names, columns = block.python_columns()
            taken, failed, unreadable = block.taken, block.failed, parsed.rejects
        rejects = [(rec.line_no, rec.error or "unreadable") for rec in unreadable]
        rejects += [(line_nos[index], reason) for index, reason in failed.items()]
        yield names, columns, [line_nos[index] for index in taken], sorted(rejects)


def _rows_of(
    files: Iterable[ContractFile], protector: Protector, batch_rows: int
) -> Iterator[tuple[int, Any]]:
    """Each file's rows as tuples of the stored table's columns (``(_ROW, (order, row))``), its
    records set aside (``(_REJECT, ...)``) and, last, its count (``(_COUNT, FileCount)``)."""
    for file in files:
        stored = _stored_columns(file.table)
        count = FileCount(file.path, file.table)
        for names, columns, lines, rejects in _converted(file, protector, batch_rows):
            at = {name: j for j, name in enumerate(names)}
            picks = [at.get(name) for name in stored]
            for i, line in enumerate(lines):
                order = file.index * _LINES + line
                values: dict[str, Any] = {"id": _FILE_IDS + order, "file_id": file.index, "line_no": line}
                row = tuple(
                    _value(name, columns[j][i]) if j is not None else values.get(name)
                    for name, j in zip(stored, picks, strict=True)
                )
                yield _ROW, (order, row)
            count.rows += len(lines)
            count.rejected += len(rejects)
            room = SHOWN_REJECTS - len(count.rejects)
            count.rejects.extend(rejects[: max(room, 0)])
        yield _COUNT, count


def _value(name: str, value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)  # JSON as the export writes it: text
    return value


# ---- on the driver -------------------------------------------------------------------------


def _spark_schema(table: str) -> Any:
    """The stored table's columns as Spark reads them from ``rxtrace export``'s Parquet, so a
    table from files and one from an export are the same to every job."""
    import pyarrow as pa
    from pyspark.sql import types as t

    from rxtrace.trace.ingest.export import _arrow_type
    from rxtrace.trace.store import models

    def spark_type(arrow: Any) -> Any:
        if pa.types.is_string(arrow):
            return t.StringType()
        if pa.types.is_binary(arrow):
            return t.BinaryType()
        if pa.types.is_timestamp(arrow):
            return t.TimestampNTZType()
        if pa.types.is_date32(arrow):
            return t.DateType()
        if pa.types.is_boolean(arrow):
            return t.BooleanType()
        if pa.types.is_int16(arrow):
            return t.ShortType()
        if pa.types.is_int64(arrow):
            return t.LongType()
        if pa.types.is_float64(arrow):
            return t.DoubleType()
        raise RxtraceError(f"Internal error: no Spark type for {arrow}.")

    columns = models.Base.metadata.tables[EXPORTED[table]].columns
    fields = [t.StructField(c.name, spark_type(_arrow_type(c)), True) for c in columns]
    return t.StructType([t.StructField("_order", t.LongType(), False), *fields])


def _unique_key(table: str) -> list[str]:
    """The columns the database refuses a second row on: the unique ones, else the primary key."""
    from rxtrace.trace.store import models

    stored = models.Base.metadata.tables[EXPORTED[table]]
    unique = [c.name for c in stored.columns if c.unique]
    return unique or [c.name for c in stored.primary_key.columns]


def contract_tables(
    spark: SparkSession,
    sources: Sources,
    protector: Protector,
    *,
    batch_rows: int = BATCH_ROWS,
) -> tuple[Tables, list[TableCount]]:
    """The tables of ``sources`` for the Spark jobs, and what was taken from each file.

    Each table from files is converted once (one task a file), its duplicates dropped, and
    kept (memory, then disk) for the jobs that follow; only each file's count and its first
    rows set aside come back to the driver.
    """
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as f

    frames: dict[str, DataFrame] = {}
    counts: list[TableCount] = []
    by_table: dict[str, list[ContractFile]] = {}
    for file in sources.files:
        by_table.setdefault(file.table, []).append(file)
    for name, files in by_table.items():
        convert = functools.partial(_rows_of, protector=protector, batch_rows=batch_rows)
        raw = spark.sparkContext.parallelize(files, len(files)).mapPartitions(convert)
        raw.persist(StorageLevel.MEMORY_AND_DISK)
        per_file = sorted(
            raw.filter(lambda item: item[0] == _COUNT).values().collect(), key=_file_order(files)
        )
        schema = _spark_schema(name)
        rows = spark.createDataFrame(
            raw.filter(lambda item: item[0] == _ROW).map(lambda item: (item[1][0], *item[1][1])), schema
        )
        if name in sources.folders:
            export = _read_export(spark, sources.folders[name])
            order = f.col("id") if "id" in export.columns else f.lit(-1).cast("long")
            rows = export.select(order.alias("_order"), *schema.names[1:]).unionByName(rows)
        first = f.row_number().over(Window.partitionBy(*_unique_key(name)).orderBy("_order"))
        kept = rows.withColumn("_first", first).where("_first = 1").drop("_first", "_order")
        kept.persist(StorageLevel.MEMORY_AND_DISK)
        taken = kept.count()
        raw.unpersist()
        stored = _read_export(spark, sources.folders[name]).count() if name in sources.folders else 0
        read = sum(c.rows for c in per_file)
        counts.append(
            TableCount(
                name,
                taken=taken - stored,
                duplicate=read - (taken - stored),
                rejected=sum(c.rejected for c in per_file),
                files=per_file,
            )
        )
        frames[name] = kept
    folders = {n: p for n, p in sources.folders.items() if n not in frames}
    return Tables(folders, frames), counts


def _file_order(files: Sequence[ContractFile]) -> Any:
    place = {file.path: file.index for file in files}
    return lambda count: place[count.path]


def _read_export(spark: SparkSession, folder: Path) -> DataFrame:
    return spark.read.option("basePath", str(folder)).parquet(str(folder))
