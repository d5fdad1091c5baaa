"""``rxtrace spark resolve``: seized codes to the sales that paid for them, over all sales on a
cluster, answered by the embedded path's own code (:mod:`rxtrace.trace.resolve.service`).

Spark does the one thing that grows with the sales: joining a batch's keys to every sale (and
to the aggregation and the catalog). What comes back to the driver is the batch's own rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from rxtrace.trace.codes import key_parts
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.resolve.service import (
    CATALOG_COLUMNS,
    CatalogRow,
    Product,
    Resolution,
    SaleRow,
    SeizedRead,
    case_resolution,
    codes_resolution,
    ordered_reads,
    seizure_resolution,
)
from rxtrace.trace.spark.tables import Tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkLookups", "spark_resolve"]


class SparkLookups:
    """:class:`~rxtrace.trace.resolve.service.Lookups` over Parquet folders."""

    def __init__(self, spark: SparkSession, tables: Tables) -> None:
        self.spark = spark
        self.tables = tables
        self._frames: dict[str, DataFrame] = {}
        self._catalog: list[CatalogRow] | None = None

    def frame(self, name: str) -> DataFrame:
        if name in self.tables.frames:
            return self.tables.frames[name]  # type: ignore[no-any-return]
        if name not in self._frames:
            self.tables.require(name)
            # basePath keeps the month folders' column when one month's folder is given.
            folder = str(self.tables.folders[name])
            self._frames[name] = self.spark.read.option("basePath", folder).parquet(folder)
        return self._frames[name]

    def _keys(self, keys: Collection[str]) -> DataFrame:
        # A national key's halves inline, as the database side does.
        rows = [(int(k[:10]), int(k[10:]), k) if k[0] == "8" else (*key_parts(k), k) for k in keys]
        return self.spark.createDataFrame(rows, "hi long, lo long, key_text string")

    def children(self, keys: Collection[str]) -> list[tuple[str, str]]:
        if not keys or not self.tables.has("aggregation"):
            return []  # no aggregation exported: no case codes to open
        a = self.frame("aggregation")
        k = self._keys(keys)
        joined = k.join(a, (a.parent_hi == k.hi) & (a.parent_lo == k.lo)).select("parent_key", "child_key")
        return [(r.parent_key, r.child_key) for r in joined.collect()]

    def sale_rows(self, keys: Collection[str]) -> list[SaleRow]:
        if not keys:
            return []
        d = self.frame("dispensing").where("mdtrt_setl_type = 1")
        k = self._keys(keys)
        sales = k.join(d, (d.key_hi == k.hi) & (d.key_lo == k.lo))
        if self.tables.has("institutions"):
            i = self.frame("institutions").select("fixmedins_code", "name")
            sales = sales.join(i, "fixmedins_code", "left")
            name = "name"
        else:
            name = "CAST(NULL AS STRING) AS name"
        columns = (
            f"key_text, setl_id, rxno, sel_retn_time, fixmedins_code, {name}, psn_no, dr_code, "
            "med_list_codg, trdn_flag, sel_retn_cnt, hifp_pay_fen, sel_retn_type, id"
        )
        return [tuple(r) for r in sales.selectExpr(*columns.split(", ")).collect()]

    def products(self, ids: Sequence[str], drugs: Sequence[str]) -> list[Product]:
        if (not ids and not drugs) or not self.tables.has("catalog"):
            return []
        if self._catalog is None:
            # The catalog is the country's list of drug products (10^5 rows, not 10^11): read
            # whole once, it spares every batch a Spark job of its own.
            rows = self.frame("catalog").select(*CATALOG_COLUMNS).collect()
            self._catalog = [CatalogRow(*r) for r in rows]
        wanted_ids, wanted_drugs = set(ids), set(drugs)
        return [p for p in self._catalog if p.product_id in wanted_ids or p.med_list_codg in wanted_drugs]

    def matching(
        self, name: str, column: str, values: Collection[str], columns: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the rows of table ``name`` whose ``column`` is one of ``values``
        (joined, not listed in the query: a big case names a hundred thousand cards)."""
        if not values:
            return []
        wanted = self.spark.createDataFrame([(v,) for v in sorted(set(values))], f"{column} string")
        return [tuple(r) for r in self.frame(name).join(wanted, column).select(*columns).collect()]

    def case_reads(self, case_id: str) -> tuple[list[str], list[SeizedRead]]:
        """The case's seizures (by time seized, then id) and their reads, in one Spark job:
        each job costs a second or two whatever its size."""
        from pyspark.sql import functions as f

        z = self.frame("seizures").where(f.col("case_id") == case_id).select("seizure_id", "seized_at")
        c = self.frame("seized_codes").select("seizure_id", "id", "code", "box_med_list_codg")
        rows = z.join(c, "seizure_id", "left").collect()
        order = sorted({(r.seized_at, r.seizure_id) for r in rows}, key=lambda t: (t[0] is not None, t))
        seizures = [sid for _, sid in order]
        found = sorted((r for r in rows if r.id is not None), key=lambda r: r.id)
        reads = [SeizedRead(r.code, r.seizure_id, r.box_med_list_codg) for r in found]
        return seizures, ordered_reads(seizures, reads)

    def seizure(self, seizure_id: str) -> tuple[bool, str | None]:
        from pyspark.sql import functions as f

        rows = self.frame("seizures").where(f.col("seizure_id") == seizure_id).select("case_id").collect()
        return (True, rows[0].case_id) if rows else (False, None)

    def reads(self, seizure_ids: Sequence[str]) -> list[SeizedRead]:
        if not seizure_ids:
            return []
        from pyspark.sql import functions as f

        rows = (
            self.frame("seized_codes")
            .where(f.col("seizure_id").isin(list(seizure_ids)))
            .orderBy("id")
            .select("seizure_id", "code", "box_med_list_codg")
            .collect()
        )
        return ordered_reads(
            seizure_ids, [SeizedRead(r.code, r.seizure_id, r.box_med_list_codg) for r in rows]
        )


def spark_resolve(
    spark: SparkSession,
    tables: Tables,
    *,
    codes: Sequence[str] = (),
    case_id: str | None = None,
    seizure_id: str | None = None,
) -> Resolution:
    """What ``rxtrace resolve`` answers for the same data, computed over ``tables``."""
    if sum((bool(codes), case_id is not None, seizure_id is not None)) != 1:
        raise RxtraceError("Give exactly one of: --code CODE..., --case ID, --seizure ID.")
    tables.require("dispensing")
    lookups = SparkLookups(spark, tables)
    if case_id is not None:
        tables.require("seizures", "seized_codes")
        seizures, reads = lookups.case_reads(case_id)
        return case_resolution(case_id, seizures, reads, lookups)
    if seizure_id is not None:
        tables.require("seizures", "seized_codes")
        known, case = lookups.seizure(seizure_id)
        return seizure_resolution(seizure_id, case, known, lookups.reads([seizure_id]), lookups)
    return codes_resolution(codes, lookups)
