"""The contract's own files (CSV in UTF-8 or GB18030, JSON Lines) as Spark tables, converted
on the executors exactly as ``rxtrace load`` converts them.

Which table a file is, how its records are read and how each is checked and turned into stored
values are the load's own functions (:func:`~rxtrace.trace.ingest.sniff`,
:func:`~rxtrace.trace.ingest.detect_table`, the row reader, the columnar path for dispensing CSV,
:func:`~rxtrace.trace.ingest.convert_batch`): they run inside ``mapInArrow``, one file a task,
their stored values crossing to the JVM as Arrow batches, so no sale passes through the driver
and no rule of the contract is written a second time. What
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
from concurrent.futures import ThreadPoolExecutor
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

    >>> find_sources([])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rxtrace.trace.errors.RxtraceError: No contract table among the paths given: ...
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
"""What a record of the converted stream is (its ``_kind``): a row taken, a record set aside
(``_line`` and ``_reason``), or a file's end (``_order`` = the rows it gave)."""
_SIDE = (
    ("_kind", "int8"),
    ("_file", "int64"),
    ("_order", "int64"),
    ("_line", "int64"),
    ("_reason", "string"),
)


def _converted(
    file: ContractFile, protector: Protector, batch_rows: int
) -> Iterator[tuple[dict[str, Any], list[int], list[tuple[int, str]]]]:
    """The file's batches as the load converts them: stored values by column (Arrow arrays from
    the columnar path, Python lists from the row path), the line of each row taken, and
    ``(line, reason)`` of each record set aside. The same readers and converters as
    ``rxtrace.trace.ingest.load._prepare_batches``: the columnar path for dispensing CSV, the
    row reader and :func:`convert_batch` for the rest."""
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
        columns: dict[str, Any]
        if isinstance(item, RecordBatch):
            batch = convert_batch(spec, item.columns, item.rows, protector)
            columns = dict(zip(batch.names, batch.columns, strict=True))
            taken, failed = batch.taken, batch.failed
            line_nos, unreadable = item.line_nos, item.rejects
        else:
            parsed = parse_block(item, file.shape)
            block, line_nos = convert_block(spec, parsed, protector)
            columns = {**block.arrays, "extra": block.extra}
            taken, failed, unreadable = block.taken, block.failed, parsed.rejects
        rejects = [(rec.line_no, rec.error or "unreadable") for rec in unreadable]
        rejects += [(line_nos[index], reason) for index, reason in failed.items()]
        yield columns, [line_nos[index] for index in taken], rejects


def _arrow_of(
    indices: Iterator[Any],
    files: Sequence[ContractFile],
    protector: Protector,
    batch_rows: int,
    schema: Any,
) -> Iterator[Any]:
    """``mapInArrow``'s function: for each file index that comes in, the file's rows taken,
    its records set aside and its end, as Arrow batches of ``schema`` (the stored table's
    columns after the ``_SIDE`` ones): Arrow crosses to the JVM a column at a time, where rows
    would be pickled one by one."""
    import pyarrow as pa

    def batch(n: int, given: dict[str, Any]) -> Any:
        arrays = []
        for column in schema:
            value = given.get(column.name)
            if value is None:
                arrays.append(pa.nulls(n, column.type))
            elif isinstance(value, pa.Array):
                arrays.append(value.cast(column.type))
            else:
                arrays.append(pa.array(value, column.type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    for chunk in indices:
        for index in chunk.column(0).to_pylist():
            file = files[index]
            rows = 0
            for columns, lines, rejects in _converted(file, protector, batch_rows):
                if lines:
                    base = file.index * _LINES
                    order = [base + line for line in lines]
                    given = {
                        **columns,
                        "extra": [_json(v) for v in columns["extra"]] if "extra" in columns else None,
                        "_kind": [_ROW] * len(lines),
                        "_file": [file.index] * len(lines),
                        "_order": order,
                        "id": [_FILE_IDS + o for o in order],
                        "file_id": [file.index] * len(lines),
                        "line_no": lines,
                    }
                    yield batch(len(lines), given)
                    rows += len(lines)
                if rejects:
                    lines_out = [line for line, _ in rejects]
                    yield batch(
                        len(rejects),
                        {
                            "_kind": [_REJECT] * len(rejects),
                            "_file": [file.index] * len(rejects),
                            "_order": [file.index * _LINES + line for line in lines_out],
                            "_reason": [reason for _, reason in rejects],
                            "_line": lines_out,
                        },
                    )
            yield batch(1, {"_kind": [_COUNT], "_file": [file.index], "_order": [rows]})


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)  # JSON as the export writes it: text


# ---- on the driver -------------------------------------------------------------------------


def _arrow_schema(table: str) -> Any:
    """The stored table's columns as ``rxtrace export`` writes them to Parquet, after the
    ``_SIDE`` columns of the converted stream."""
    import pyarrow as pa

    from rxtrace.trace.ingest.export import _arrow_type
    from rxtrace.trace.store import models

    columns = models.Base.metadata.tables[EXPORTED[table]].columns
    side = [pa.field(name, getattr(pa, kind)()) for name, kind in _SIDE]
    return pa.schema([*side, *(pa.field(c.name, _arrow_type(c)) for c in columns)])


def stored_schema(stored: str) -> Any:
    """A stored table's columns (``dispensing``, ``lead_basis_card``, ...) as Spark reads them
    from the Parquet ``rxtrace export`` writes."""
    import pyarrow as pa

    from rxtrace.trace.ingest.export import _arrow_type
    from rxtrace.trace.store import models

    columns = models.Base.metadata.tables[stored].columns
    return _spark_schema(pa.schema([pa.field(c.name, _arrow_type(c)) for c in columns]))


def _spark_schema(arrow: Any) -> Any:
    """The Arrow schema as Spark reads the same types from Parquet (times without a zone)."""
    import pyarrow as pa
    from pyspark.sql import types as t

    def spark_type(kind: Any) -> Any:
        if pa.types.is_string(kind):
            return t.StringType()
        if pa.types.is_binary(kind):
            return t.BinaryType()
        if pa.types.is_timestamp(kind):
            return t.TimestampNTZType()
        if pa.types.is_date32(kind):
            return t.DateType()
        if pa.types.is_boolean(kind):
            return t.BooleanType()
        if pa.types.is_int8(kind):
            return t.ByteType()
        if pa.types.is_int16(kind):
            return t.ShortType()
        if pa.types.is_int64(kind):
            return t.LongType()
        if pa.types.is_float64(kind):
            return t.DoubleType()
        raise RxtraceError(f"Internal error: no Spark type for {kind}.")

    return t.StructType([t.StructField(f.name, spark_type(f.type), True) for f in arrow])


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

    Each table from files is converted once (one task a file, by ``mapInArrow``), its
    duplicates dropped, and kept (memory, then disk) for the jobs that follow; only each
    file's count and its first rows set aside come back to the driver.
    """
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as f

    frames: dict[str, DataFrame] = {}
    counts: list[TableCount] = []
    by_table: dict[str, list[ContractFile]] = {}
    for file in sources.files:
        by_table.setdefault(file.table, []).append(file)

    def one(name: str, files: list[ContractFile]) -> tuple[DataFrame, TableCount]:
        arrow = _arrow_schema(name)
        schema = _spark_schema(arrow)
        stored = [c for c in schema.names if not c.startswith("_")]
        # One file a partition: a task reads its file, the files are read side by side.
        indices = spark.createDataFrame(
            spark.sparkContext.parallelize([(i,) for i in range(len(files))], len(files)), "i long"
        )
        convert = functools.partial(
            _arrow_of, files=files, protector=protector, batch_rows=batch_rows, schema=arrow
        )
        stream = indices.mapInArrow(convert, schema)
        stream.persist(StorageLevel.MEMORY_AND_DISK)
        # Each file's end and its first records set aside, with how many it set aside.
        by_file = Window.partitionBy("_file", "_kind")
        side = (
            stream.where(f"_kind <> {_ROW}")
            .select(
                "_file",
                "_kind",
                "_order",
                "_line",
                "_reason",
                f.count("*").over(by_file).alias("_many"),
                f.row_number().over(by_file.orderBy("_order")).alias("_nth"),
            )
            .where(f"_nth <= {SHOWN_REJECTS}")
            .collect()
        )
        per_file = [FileCount(file.path, name) for file in files]
        of_file = {file.index: count for file, count in zip(files, per_file, strict=True)}
        for r in sorted(side, key=lambda r: (r["_file"], r["_order"])):
            count = of_file[r["_file"]]
            if r["_kind"] == _COUNT:
                count.rows = r["_order"]
            else:
                count.rejected = r["_many"]
                count.rejects.append((r["_line"], r["_reason"]))
        rows = stream.where(f"_kind = {_ROW}").select("_order", *stored)
        if name in sources.folders:
            export = _read_export(spark, sources.folders[name])
            order = f.col("id") if "id" in export.columns else f.lit(-1).cast("long")
            rows = export.select(order.alias("_order"), *stored).unionByName(rows)
        first = f.row_number().over(Window.partitionBy(*_unique_key(name)).orderBy("_order"))
        kept = rows.withColumn("_first", first).where("_first = 1").drop("_first", "_order")
        kept.persist(StorageLevel.MEMORY_AND_DISK)
        taken = kept.count()
        stream.unpersist()
        before = _read_export(spark, sources.folders[name]).count() if name in sources.folders else 0
        read = sum(c.rows for c in per_file)
        return kept, TableCount(
            name,
            taken=taken - before,
            duplicate=read - (taken - before),
            rejected=sum(c.rejected for c in per_file),
            files=per_file,
        )

    # The tables side by side: each runs a few small jobs whose fixed cost (a second or two)
    # would otherwise add up table after table; Spark takes jobs from several threads.
    with ThreadPoolExecutor(max(len(by_table), 1)) as pool:
        done = {name: pool.submit(one, name, files) for name, files in by_table.items()}
        for name, future in done.items():
            frames[name], count = future.result()
            counts.append(count)
    folders = {n: p for n, p in sources.folders.items() if n not in frames}
    return Tables(folders, frames), counts


def _read_export(spark: SparkSession, folder: Path) -> DataFrame:
    return spark.read.option("basePath", str(folder)).parquet(str(folder))
