"""``rxtrace spark leads``: every lead rule over all sales on a cluster, by the embedded path's
own rules (:mod:`rxtrace.trace.investigate`).

The rules speak SQL through one seam (:class:`~rxtrace.trace.investigate.sql.Sql`); here it
speaks Spark SQL. Each temporary table a rule fills becomes a cached temporary view, and the
leads' basis (the part the kind asked reads) is built from every sale in each job, unless it
is kept whole in a folder between jobs. What comes
back to the driver is what the rules read on SQLite and PostgreSQL too: per-institution
figures, flagged windows and pairs, the rows of the codes and cards already singled out, never
the sales themselves.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.ingest.export import EXPORTED
from rxtrace.trace.investigate.basis import basis_shape, build_basis
from rxtrace.trace.investigate.leads import check_question, run_rules
from rxtrace.trace.investigate.params import Lead, LeadParams
from rxtrace.trace.investigate.sql import Sql
from rxtrace.trace.spark.contract import stored_schema
from rxtrace.trace.spark.resolve import SparkLookups
from rxtrace.trace.spark.tables import Tables, fetched
from rxtrace.trace.store import models

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["BASIS_TABLES", "SparkSql", "spark_leads"]

# A column's type as the rules' DDL writes it, in Spark's words.
_TYPES = {
    "TEXT": "string",
    "BIGINT": "bigint",
    "INTEGER": "bigint",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp_ntz",  # the sales' times have no zone, as Spark reads them
}
_BYPASS = "spark.sql.execution.bypassPartialAggregation"
_COLUMN = re.compile(r"^\s*(\w+)\s+(\w+)")
# What a division check skips: string literals, and comments (a hint is one: /*+ ... */).
_LITERAL = re.compile(r"'[^']*'|/\*.*?\*/", re.DOTALL)


def _ddl_schema(columns: str) -> list[tuple[str, str]]:
    """(name, Spark type) of each column of a temporary table's DDL.

    >>> _ddl_schema("med TEXT PRIMARY KEY, typical DOUBLE PRECISION, n BIGINT NOT NULL")
    [('med', 'string'), ('typical', 'double'), ('n', 'bigint')]
    """
    schema = []
    for part in columns.split(","):
        match = _COLUMN.match(part)
        if match is None or match.group(2).upper() not in _TYPES:
            raise RxtraceError(f"Failed to parse '{part.strip()}' as a column: expected NAME TYPE.")
        schema.append((match.group(1), _TYPES[match.group(2).upper()]))
    return schema


def _spelled(schema: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in schema)


@functools.lru_cache(maxsize=256)
def _row_type(columns: tuple[str, ...]) -> Any:
    """A row type with the result's column names as fields, read as the rules read a row
    of SQLAlchemy's: by name, by position, unpacked. A name Python cannot take (``count(1)``, a
    repeated one) becomes ``_N``, its position; the rules read such columns by position.

    >>> row = _row_type(("hi", "count(1)", "hi"))._make((1, 2, 3))
    >>> row.hi, row[1], tuple(row)
    (1, 2, (1, 2, 3))
    """
    return namedtuple("SparkRow", columns, rename=True)


def _small(frame: DataFrame) -> DataFrame:
    """``frame``, made from rows the driver held, marked to be copied whole to every task that
    joins it. Spark knows no size for rows from Python and would otherwise sort and shuffle
    every sale to meet a few thousand rows (the candidate codes' join with the catalog's
    products: 9.6 s against 7.0 s at 10 M sales)."""
    from pyspark.sql.functions import broadcast

    return broadcast(frame)


class SparkSql(Sql):
    """The rules' SQL seam on a Spark session: temporary tables are cached views."""

    spark = True

    def __init__(self, spark: SparkSession) -> None:
        # No database session: every statement goes through the methods below.
        self.pg = True  # window functions, hash aggregation: PostgreSQL's spellings
        self.spark_session = spark
        self.temps: list[str] = []
        self.cache: dict[str, Any] = {}
        self._frames: dict[str, DataFrame] = {}
        self._schemas: dict[str, list[tuple[str, str]]] = {}

    # -- what the rules call -------------------------------------------------------------

    def tune(self, *, spill: bool = False) -> None:
        """Spark plans and spills by itself."""

    @contextmanager
    def scanning(self) -> Iterator[None]:
        yield

    @contextmanager
    def unique_groups(self) -> Iterator[None]:
        # Spark groups each task's rows before the exchange, and with a code per sale that
        # pass hands on as many rows as it took: skipped, the candidate codes took 15.3 s
        # against 17.2 s at 20 M sales. The session's own setting comes back after.
        conf = self.spark_session.conf
        before = conf.get(_BYPASS, None)
        conf.set(_BYPASS, "true")
        try:
            yield
        finally:
            if before is None:
                conf.unset(_BYPASS)
            else:
                conf.set(_BYPASS, before)

    def epoch(self, column: str) -> str:
        # The session reads times in UTC (see spark_session): the naive time's seconds, as
        # SQLite and PostgreSQL count them.
        return f"CAST(unix_timestamp({column}) AS BIGINT)"

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        # Through Arrow, as named tuples: pyspark's Row finds a field by a list search on each
        # attribute read, and the code rule reads a dozen per row of tens of thousands (1.4
        # million reads at 20 M sales); collect() also pickles each row in the JVM.
        frame = self._query(sql, params)
        return list(map(_row_type(tuple(frame.columns))._make, fetched(frame)))

    def temp(
        self,
        name: str,
        columns: str,
        select_sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        sqlite_key: str | None = None,
    ) -> None:
        schema = _ddl_schema(columns)
        frame = self._query(select_sql, params)
        if len(frame.columns) != len(schema):
            raise RxtraceError(
                f"Internal error: {name} declares {len(schema)} columns, "
                f"its query gives {len(frame.columns)}."
            )
        frame = frame.toDF(*(c for c, _ in schema)).selectExpr(
            *(f"CAST(`{c}` AS {kind}) AS `{c}`" for c, kind in schema)
        )
        self._schemas[name] = schema
        self._put(name, frame)
        if name not in self.temps:
            self.temps.append(name)

    def empty_temp(self, name: str, columns: str) -> None:
        schema = _ddl_schema(columns)
        self._schemas[name] = schema
        self._put(name, _small(self.spark_session.createDataFrame([], _spelled(schema))))
        if name not in self.temps:
            self.temps.append(name)

    def fill(self, name: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        schema = self._schemas[name]
        values = [tuple(row.get(c) for c, _ in schema) for row in rows]
        added = self.spark_session.createDataFrame(values, _spelled(schema))
        self._put(name, _small(self._frames[name].unionByName(added)))

    def copy(self, table: str, temporary: str) -> None:
        names = [c.name for c in models.Base.metadata.tables[table].columns]
        frame = self._frames.pop(temporary)
        self.temps = [t for t in self.temps if t != temporary]
        self.spark_session.catalog.dropTempView(temporary)
        self._put(table, frame.toDF(*names))

    def replace(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        schema = stored_schema(table)
        values = [tuple(row.get(c) for c in schema.names) for row in rows]
        self._put(table, _small(self.spark_session.createDataFrame(values, schema)))

    def analyze(self, name: str, *, temporary: bool = True) -> None:
        """Spark keeps no statistics the rules would need refreshed."""

    def drop_all(self) -> None:
        for name in reversed(self.temps):
            self._drop(name)
        self.temps.clear()

    # -- the session's own -----------------------------------------------------------------

    def register(self, name: str, frame: DataFrame) -> None:
        """A stored table (``dispensing``, ``institution``, ...) under its database name."""
        frame.createOrReplaceTempView(name)

    def close(self) -> None:
        """Drop every view and cached frame this object made."""
        self.drop_all()
        for name in list(self._frames):
            self._drop(name)

    def _query(self, sql: str, params: Mapping[str, Any] | None) -> DataFrame:
        if "/" in _LITERAL.sub("''", sql):
            # Spark's / of two integers is a double: a bucket or a product number computed so
            # silently matches nothing (a clone's candidate codes were lost this way).
            raise RxtraceError(f"Internal error: a division in the rules' SQL not spelled by Sql.quot: {sql}")
        return self.spark_session.sql(sql, args=dict(params)) if params else self.spark_session.sql(sql)

    def frame(self, name: str) -> DataFrame:
        """The frame behind a view this object made."""
        return self._frames[name]

    def put(self, name: str, frame: DataFrame) -> None:
        """Make ``frame`` view ``name`` (a basis table read back, say)."""
        self._put(name, frame)

    def _put(self, name: str, frame: DataFrame) -> None:
        """Keep ``frame`` as view ``name``, cached when first computed. A view holds the plan
        of the frames it was made from, not their names, so a later view of the same name
        (the rules fill some tables again) leaves what was made from this one as it was.
        Computing each view as it is made (as the database fills its table) was measured
        slower: 49 s against 45 s for the planted world's leads."""
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        old = self._frames.get(name)
        self._frames[name] = frame
        frame.createOrReplaceTempView(name)
        if old is not None:
            old.unpersist()

    def _drop(self, name: str) -> None:
        self.spark_session.catalog.dropTempView(name)
        frame = self._frames.pop(name, None)
        if frame is not None:
            frame.unpersist()


BASIS_TABLES = tuple(name for name in models.Base.metadata.tables if name.startswith("lead_basis_"))
_META = "basis.json"


def spark_leads(
    spark: SparkSession,
    tables: Tables,
    *,
    kind: str | None = None,
    case_id: str | None = None,
    params: LeadParams | None = None,
    basis: Path | None = None,
    on_build: Callable[[], None] | None = None,
) -> list[Lead]:
    """What ``rxtrace leads --no-save`` finds on the same data, computed over ``tables``.

    The leads' basis is built from every sale first (for ``kind``, only the tables its rules
    read), or, with ``basis`` (a folder every executor reaches at the same path), read from
    there when it was written for the same data and parameters, and written there, whole, when
    built. ``on_build`` is called just before a build, for the caller to say so."""
    tables.require("dispensing")
    params = params or LeadParams()
    lookups = SparkLookups(spark, tables)
    sql = SparkSql(spark)
    try:
        for contract_name, stored in EXPORTED.items():
            if tables.has(contract_name):
                frame = lookups.frame(contract_name)
            else:
                # A table not given is an empty one: no seizures, no cartons, no catalog.
                frame = spark.createDataFrame([], stored_schema(stored))
            sql.register(stored, frame)
        check_question(sql, kind, case_id)
        _basis(sql, params, basis, on_build, kind)
        return run_rules(sql, kind=kind, case_id=case_id, params=params)
    finally:
        sql.close()
        for stored in EXPORTED.values():
            spark.catalog.dropTempView(stored)


def _fingerprint(sql: SparkSql) -> list[Any]:
    """The data a basis describes: every sale's row digest and id, the institutions' kinds and
    the catalog's drugs and box sizes, each folded into one hash (one pass over two columns of
    the sales), with the row counts. A rewritten export of other data has other digests."""
    folds = {
        "dispensing": "id, row_digest",
        "institution": "fixmedins_code, kind",
        "catalog_product": "product_id, med_list_codg, units_per_box",
    }
    return [
        list(sql.rows(f"SELECT COUNT(*), bit_xor(xxhash64({columns})) FROM {table}")[0])
        for table, columns in folds.items()
    ]


def _basis(
    sql: SparkSql,
    params: LeadParams,
    folder: Path | None,
    on_build: Callable[[], None] | None,
    kind: str | None,
) -> None:
    if folder is None:
        if on_build is not None:
            on_build()
        # For this run only: what the kind asked reads (a kept basis below is built whole,
        # for every kind of the runs that will read it).
        build_basis(sql, params, kinds=None if kind is None else (kind,))
        return
    wanted = {"data": _fingerprint(sql), **basis_shape(params)}
    meta = folder / _META
    try:
        kept = json.loads(meta.read_text())
    except (OSError, ValueError):
        kept = None
    if isinstance(kept, dict) and all(kept.get(k) == v for k, v in wanted.items()):
        for table in BASIS_TABLES:
            reader = sql.spark_session.read.schema(stored_schema(table))
            sql.put(table, reader.parquet(str(folder / table)))
        return
    if on_build is not None:
        on_build()
    started = time.perf_counter()
    build_basis(sql, params)
    # The description goes first and comes back last: a build cut short leaves no basis that
    # looks whole.
    folder.mkdir(parents=True, exist_ok=True)
    meta.unlink(missing_ok=True)
    for table in BASIS_TABLES:
        sql.frame(table).write.mode("overwrite").parquet(str(folder / table))
    written = {
        **wanted,
        "built_at": datetime.now().replace(microsecond=0).isoformat(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    partial = folder / f".{_META}.partial"
    partial.write_text(json.dumps(written, sort_keys=True) + "\n")
    partial.replace(meta)
