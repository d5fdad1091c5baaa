"""``rxtrace spark resolve``: seized codes to the sales that paid for them, over all sales on a
cluster, answered by the embedded path's own code (:mod:`rxtrace.trace.resolve.service`).

Spark does the one thing that grows with the sales: joining a batch's keys to every sale (and
to the aggregation and the catalog). What comes back to the driver is the batch's own rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from rxtrace.trace.codes import key_parts
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.resolve.service import (
    CATALOG_COLUMNS,
    CatalogRow,
    PartyRow,
    Place,
    Product,
    Resolution,
    SaleRow,
    SeizedRead,
    case_resolution,
    codes_resolution,
    ordered_reads,
    seizure_resolution,
)
from rxtrace.trace.spark.tables import Started, Tables, arrow_columns, fetched

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkLookups", "spark_resolve"]

_T = TypeVar("_T")

_PARTY_COLUMNS = ("key_text", "psn_no", "fixmedins_code", "hifp_pay_fen", "sel_retn_type")


class SparkLookups:
    """:class:`~rxtrace.trace.resolve.service.Lookups` over Parquet folders.

    A case's resolution asks for its reads, then for its case codes' children, then for the
    sales of its boxes, then for their catalog entries: four Spark jobs one after another,
    each a second or two of scheduling in local mode whatever its size, where the raw join is
    one. So they run side by side on threads of the driver (Spark runs the jobs of several
    threads together): a resolution starts reading the catalog first (:meth:`start_catalog`);
    a case's reads, which hold their keys already, start the children and the sales of those
    keys as they are read (a batch of codes given directly starts them at its first question).
    The later questions take their answers from those when they cover them; a case inside a
    case, or a key the stored reads do not hold, goes on with a job of its own. A question that
    needs only the parties of the sales (:meth:`party_rows`: the map's) has them started
    instead, five of the sales' columns read rather than twelve. With ``places`` the parties'
    rows also carry their institution's place (:meth:`places`), which the institutions' map
    would otherwise ask for in a job of its own once the parties are back.
    """

    def __init__(self, spark: SparkSession, tables: Tables, *, places: bool = False) -> None:
        self.spark = spark
        self.tables = tables
        self._with_places = places and tables.has("institutions")
        # From the parties' rows read so far: every institution they name, and the place of
        # each that the institutions' table holds.
        self._named: set[str] = set()
        self._places: dict[str, Place] = {}
        self._frames: dict[str, DataFrame] = {}
        self._catalog: Future[list[CatalogRow]] | None = None
        # Started ahead (_start_ahead): the keys with the boxes inside them, and their sales;
        # then, once the first is read, the keys those sales cover with the second.
        # Each future's rows are SaleRow or, with parties, PartyRow.
        self._opened: Future[list[tuple[str, str | None]]] | None = None
        self._ahead: tuple[bool, Future[list[tuple[Any, ...]]]] | None = None
        self._sales: tuple[bool, Started[tuple[Any, ...]]] | None = None
        self._threads: ThreadPoolExecutor | None = None

    def submit(self, work: Callable[[], _T]) -> Future[_T]:
        """Run ``work`` (a Spark job and what the driver makes of its rows) on a thread of the
        driver; Spark runs the jobs of several threads side by side."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(max_workers=3, thread_name_prefix="rxtrace-spark")
        return self._threads.submit(work)

    def close(self) -> None:
        """Wait for the jobs started ahead (an error in one is its question's to raise)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)

    def start_catalog(self) -> None:
        """Read the catalog on a thread of its own, for :meth:`products` to take later."""
        if self._catalog is None and self.tables.has("catalog"):
            # The catalog is the country's list of drug products (10^5 rows, not 10^11): read
            # whole once, it spares every batch a Spark job of its own.
            frame = self.frame("catalog").select(*CATALOG_COLUMNS)
            self._catalog = self.submit(lambda: [CatalogRow(*r) for r in frame.collect()])

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

    def _start_ahead(self, k: DataFrame, *, parties: bool = False) -> None:
        """Start a batch's first two questions about the keys ``k(hi, lo, key_text)`` side by
        side: each key with the boxes inside it (none: not a case code), and the sales of the
        keys and of those boxes (with ``parties``, only the parties of those sales)."""
        from pyspark.sql import functions as f

        nothing = k.select("key_text", f.lit(None).cast("string").alias("child_key"))
        if self.tables.has("aggregation"):
            under = self._under(k)
            inside = under.selectExpr("child_hi AS hi", "child_lo AS lo", "child_key AS key_text")
            # Each key once with no child (the keys asked), then each case code with each box.
            opened = nothing.unionByName(under.select("key_text", "child_key"))
            k = k.unionByName(inside)
        else:  # no aggregation exported: no case codes to open
            opened = nothing
        sales = self._parties_frame(k.distinct()) if parties else self._sales_frame(k.distinct())
        self._opened = self.submit(lambda: fetched(opened))
        self._ahead = (parties, self.submit(lambda: fetched(sales)))

    def children(self, keys: Collection[str]) -> list[tuple[str, str]]:
        if not keys:
            return []
        if self._sales is None and self._opened is None:  # a batch's first question
            self._start_ahead(self._keys(keys))
        if self._opened is not None and self._ahead is not None:
            opened, self._opened = self._opened.result(), None
            covered = {key for key, _ in opened}
            inside = {child for _, child in opened if child is not None}
            self._sales = (self._ahead[0], Started(covered | inside, self._ahead[1]))
            if covered.issuperset(keys):
                wanted = set(keys)
                return [(key, child) for key, child in opened if child is not None and key in wanted]
        if not self.tables.has("aggregation"):
            return []
        joined = self._under(self._keys(keys)).select("parent_key", "child_key")
        return fetched(joined)

    def _under(self, k: DataFrame) -> DataFrame:
        """The aggregation rows whose parent is one of the keys ``k(hi, lo, key_text)``, beside
        it. The keys are broadcast: they are a batch's, the aggregation holds every carton."""
        from pyspark.sql import functions as f

        a = self.frame("aggregation")
        b = f.broadcast(k)
        return b.join(a, (a.parent_hi == b.hi) & (a.parent_lo == b.lo))

    def sale_rows(self, keys: Collection[str]) -> list[SaleRow]:
        return self._rows(keys, parties=False)

    def party_rows(self, keys: Collection[str]) -> list[PartyRow]:
        rows = self._rows(keys, parties=True)
        if not self._with_places:
            return rows
        width = len(_PARTY_COLUMNS)
        for row in rows:
            self._named.add(row[2])
            if row[width] is not None:  # the institution is in the table (a left join)
                self._places[row[width]] = row[width:]
        return [row[:width] for row in rows]

    def places(self, institutions: Collection[str]) -> list[Place] | None:
        """The places of ``institutions`` that the parties' rows read so far carried (with
        ``places``), those the institutions' table lacks left out, in code order; None when
        the rows did not name them all (the table is to be asked)."""
        if not self._with_places or not self._named.issuperset(institutions):
            return None
        return [self._places[code] for code in sorted(institutions) if code in self._places]

    def _rows(self, keys: Collection[str], *, parties: bool) -> list[tuple[Any, ...]]:
        if not keys:
            return []
        if self._sales is not None and self._sales[0] == parties:
            started = self._sales[1].rows_of(keys)
            if started is not None:
                return started
        k = self._keys(keys)
        return fetched(self._parties_frame(k) if parties else self._sales_frame(k))

    def _insurance(self, k: DataFrame) -> DataFrame:
        """The insurance rows of the keys ``k(hi, lo, key_text)``, beside their key."""
        from pyspark.sql import functions as f

        # The keys go to every task that reads sales (a case's million boxes are tens of MB):
        # Spark cannot size a relation built from the case's reads, and would otherwise
        # shuffle every sale to join them.
        k = f.broadcast(k)
        d = self.frame("dispensing").where("mdtrt_setl_type = 1")
        return k.join(d, (d.key_hi == k.hi) & (d.key_lo == k.lo))

    def _parties_frame(self, k: DataFrame) -> DataFrame:
        """The insurance rows of the keys ``k(hi, lo, key_text)``, as :data:`PartyRow` columns
        (with ``places``, then the institution's code, lon, lat and name, or nulls)."""
        rows = self._insurance(k)
        if not self._with_places:
            return rows.select(*_PARTY_COLUMNS)
        from pyspark.sql import functions as f

        i = self.frame("institutions").select(
            f.col("fixmedins_code").alias("place_code"),
            f.col("lon").alias("place_lon"),
            f.col("lat").alias("place_lat"),
            f.col("name").alias("place_name"),
        )
        joined = rows.join(i, rows.fixmedins_code == i.place_code, "left")
        return joined.select(*_PARTY_COLUMNS, "place_code", "place_lon", "place_lat", "place_name")

    def _sales_frame(self, k: DataFrame) -> DataFrame:
        """The insurance sales of the keys ``k(hi, lo, key_text)``, as :data:`SaleRow` columns."""
        sales = self._insurance(k)
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
        return sales.selectExpr(*columns.split(", "))

    def products(self, ids: Sequence[str], drugs: Sequence[str]) -> list[Product]:
        self.start_catalog()
        if (not ids and not drugs) or self._catalog is None:
            return []
        wanted_ids, wanted_drugs = set(ids), set(drugs)
        return [
            p for p in self._catalog.result() if p.product_id in wanted_ids or p.med_list_codg in wanted_drugs
        ]

    def matching(
        self, name: str, column: str, values: Collection[str], columns: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the rows of table ``name`` whose ``column`` is one of ``values``
        (joined, not listed in the query: a big case names a hundred thousand cards)."""
        if not values:
            return []
        import pyarrow as pa

        # Handed over as an Arrow column: as Python rows a million cards took 5.3 s, so 3.8.
        wanted = self.spark.createDataFrame(pa.table({column: pa.array(sorted(set(values)), pa.string())}))
        return fetched(self.frame(name).join(wanted, column).select(*columns))

    def case_reads(self, case_id: str) -> tuple[list[str], list[SeizedRead]]:
        """The case's seizures (by time seized, then id) and their reads, in one Spark job:
        each job costs a second or two whatever its size."""
        from pyspark.sql import functions as f

        z = self.frame("seizures").where(f.col("case_id") == case_id).select("seizure_id", "seized_at")
        self.start_reads(z)
        c = self.frame("seized_codes").select("seizure_id", "id", "code", "box_med_list_codg")
        joined = z.join(c, "seizure_id", "left").select(
            "seizure_id", "seized_at", "id", "code", "box_med_list_codg"
        )
        # A million reads: sorted and taken apart as Arrow columns, each read made once from
        # them (as rows, then sorted and remade, they took 8.6 s of a 32 s case).
        import pyarrow.compute as pc

        table = joined.toArrow()
        distinct = table.group_by(["seized_at", "seizure_id"]).aggregate([])  # one row a seizure
        pairs = zip(*arrow_columns(distinct.select(["seized_at", "seizure_id"])), strict=True)
        seizures = [sid for _, sid in sorted(pairs, key=lambda t: (t[0] is not None, t))]
        found = table.filter(pc.is_valid(table["id"])).sort_by("id")  # stable, as stored
        codes, sids, drugs = arrow_columns(found.select(["code", "seizure_id", "box_med_list_codg"]))
        return seizures, ordered_reads(seizures, list(map(SeizedRead, codes, sids, drugs)))

    def start_reads(self, z: DataFrame, *, parties: bool = False) -> None:
        """Start the questions about the boxes read in the seizures ``z(seizure_id, ...)``: the
        stored reads hold their keys already, so these need not wait for the reads to come to
        the driver (:meth:`_start_ahead`)."""
        from pyspark.sql import functions as f

        keys = z.join(self.frame("seized_codes"), "seizure_id").where(f.col("code_key").isNotNull())
        self._start_ahead(
            keys.select(
                f.col("key_hi").alias("hi"), f.col("key_lo").alias("lo"), f.col("code_key").alias("key_text")
            ).distinct(),  # a box read twice is asked about once, as the database is
            parties=parties,
        )

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
    lookups.start_catalog()  # while the reads and the sales are read
    try:
        if case_id is not None:
            tables.require("seizures", "seized_codes")
            seizures, reads = lookups.case_reads(case_id)
            return case_resolution(case_id, seizures, reads, lookups)
        if seizure_id is not None:
            tables.require("seizures", "seized_codes")
            known, case = lookups.seizure(seizure_id)
            return seizure_resolution(seizure_id, case, known, lookups.reads([seizure_id]), lookups)
        return codes_resolution(codes, lookups)
    finally:
        lookups.close()
