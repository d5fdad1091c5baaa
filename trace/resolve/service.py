"""Resolve seized codes against the sales record, set-based: one join for a whole batch.

A batch's keys go into a temporary table and one query joins it to ``dispensing``, however many
codes there are; case codes are expanded through ``aggregation`` a level at a time, each level
one query. The classification itself is pure (:mod:`rxtrace.trace.resolve.rules`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from psycopg.types.numeric import Int8
from sqlalchemy import select
from sqlalchemy.orm import Session

from rxtrace.trace.codes import key_and_family, key_parts
from rxtrace.trace.errors import CaseNotFoundError, NotFoundError, ParseError
from rxtrace.trace.gcpause import collector_paused
from rxtrace.trace.resolve.rules import (
    MAX_DEPTH,
    BoxResolution,
    Sale,
    Status,
    Summary,
    classify,
    clone_reasons,
    repeat_uploads,
    summarise,
)
from rxtrace.trace.store import models

__all__ = [
    "CATALOG_COLUMNS",
    "CatalogRow",
    "DatabaseLookups",
    "Lookups",
    "PartyRow",
    "Place",
    "Product",
    "Resolution",
    "SaleRow",
    "SeizedRead",
    "boxes_under",
    "case_resolution",
    "codes_resolution",
    "ordered_reads",
    "resolve_case",
    "resolve_codes",
    "resolve_reads",
    "resolve_seizure",
    "sales_by_key",
    "sales_of_boxes",
    "seized_boxes",
    "seizure_resolution",
]

_CHUNK = 900  # below SQLite's parameter limit on old builds


class Product(Protocol):
    """What a resolution shows of a catalog entry (a stored row, or one read elsewhere)."""

    @property
    def product_id(self) -> str: ...
    @property
    def med_list_codg(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def spec(self) -> str | None: ...
    @property
    def manufacturer(self) -> str | None: ...
    @property
    def units_per_box(self) -> int | None: ...


SaleRow = tuple[Any, ...]
"""(key text, setl_id, rxno, sel_retn_time, fixmedins_code, institution name, psn_no, dr_code,
med_list_codg, trdn_flag, sel_retn_cnt, hifp_pay_fen, sel_retn_type, row id): one insurance
row of a box, as every source hands it over."""

PartyRow = tuple[str, str, str, int, str | None]
"""(key text, psn_no, fixmedins_code, hifp_pay_fen, sel_retn_type): whom one insurance row of a
box names and what the fund paid, for a question that needs no more of the sale (the map's
points). A cluster reads five of the sales' columns for it instead of twelve."""

Place = tuple[str, float | None, float | None, str]
"""(fixmedins_code, lon, lat, name): where an institution that sold a box is, for the map."""


class Lookups(Protocol):
    """Where a resolution reads the few rows it needs: the database, or a cluster's files
    (:mod:`rxtrace.trace.spark`). Everything else, from parsing the reads to the summary, is
    the same code whichever answers."""

    def children(self, keys: Collection[str]) -> list[tuple[str, str]]:
        """(parent key, child key) of every aggregation row under ``keys``."""

    def sale_rows(self, keys: Collection[str]) -> list[SaleRow]:
        """The insurance rows (``mdtrt_setl_type`` 1) of the boxes of ``keys``."""

    def party_rows(self, keys: Collection[str]) -> list[PartyRow]:
        """The same rows as :meth:`sale_rows`, only the parties they name and the fund's money."""

    def products(self, ids: Sequence[str], drugs: Sequence[str]) -> list[Product]:
        """The catalog entries of these product ids, and of these catalogue codes."""


class SeizedRead(NamedTuple):
    """A code as read off a seized box, with where it was seized and what the box showed."""

    code: str
    seizure_id: str | None = None
    box_med_list_codg: str | None = None


@dataclass
class Resolution:
    """A batch's distinct boxes, in the order they were first read, and their summary."""

    boxes: list[BoxResolution]
    summary: Summary
    scope: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, reveal: bool = False, top: int = 10, lazy: bool = False) -> dict[str, Any]:
        """The batch as plain values: its scope, its summary (the ``top`` of each ranking) and
        every box. ``lazy`` gives the boxes as an iterator, each made as it is read, so a
        writer can send a big case's boxes without holding them all as values."""
        codes = (box.to_dict(reveal=reveal) for box in self.boxes)
        return {
            "scope": self.scope,
            "summary": self.summary.to_dict(reveal=reveal, top=top),
            "codes": codes if lazy else list(codes),
        }


def resolve_codes(codes: Sequence[str], *, session: Session) -> Resolution:
    """Resolve codes given directly (no seizure)."""
    return codes_resolution(codes, DatabaseLookups(session))


def codes_resolution(codes: Sequence[str], lookups: Lookups) -> Resolution:
    """:func:`resolve_codes` from any source of rows."""
    resolution = _resolve([(code, None, None) for code in codes], lookups)
    resolution.scope = {"codes": len(codes)}
    return resolution


def resolve_seizure(seizure_id: str, *, session: Session) -> Resolution:
    seizure = session.get(models.Seizure, seizure_id)
    reads = _seized_reads(session, [seizure_id])
    return seizure_resolution(
        seizure_id, seizure.case_id if seizure else None, seizure is not None, reads, DatabaseLookups(session)
    )


def seizure_resolution(
    seizure_id: str, case_id: str | None, known: bool, reads: Sequence[SeizedRead], lookups: Lookups
) -> Resolution:
    """:func:`resolve_seizure` from any source: ``known`` says whether the seizure itself is
    recorded (a seizure with codes but no record of its own still resolves)."""
    if not known and not reads:
        raise NotFoundError(f"No seizure '{seizure_id}' and no codes recorded for it.")
    resolution = _resolve(reads, lookups)
    resolution.scope = {"seizure_id": seizure_id, "case_id": case_id}
    return resolution


def resolve_case(case_id: str, *, session: Session) -> Resolution:
    """Every box of every seizure of a case; a box read twice in the case is one box."""
    seizures = session.scalars(
        select(models.Seizure.seizure_id)
        .where(models.Seizure.case_id == case_id)
        .order_by(models.Seizure.seized_at, models.Seizure.seizure_id)
    ).all()
    reads = _seized_reads(session, seizures) if seizures else []
    return case_resolution(case_id, seizures, reads, DatabaseLookups(session))


def case_resolution(
    case_id: str, seizure_ids: Sequence[str], reads: Sequence[SeizedRead], lookups: Lookups
) -> Resolution:
    """:func:`resolve_case` from any source: ``seizure_ids`` in order (time seized, then id),
    ``reads`` in the order :func:`ordered_reads` gives them."""
    if not seizure_ids:
        raise CaseNotFoundError(case_id)
    resolution = _resolve(reads, lookups)
    resolution.scope = {"case_id": case_id, "seizures": list(seizure_ids), "reads": len(reads)}
    return resolution


def seized_boxes(
    seizure_ids: Sequence[str], *, session: Session, lookups: DatabaseLookups | None = None
) -> dict[str, set[str]]:
    """Each seizure's distinct box keys, case codes standing for the boxes under them.

    Malformed reads have no key and are left out. A box read in two seizures is in both.
    ``lookups`` (the session's) finds the boxes under the case codes; a caller that asks
    about the same keys next passes its own, whose batch of keys is then already filled.
    """
    keys_of: dict[str, set[str]] = defaultdict(set)
    ids = sorted(set(seizure_ids))
    for start in range(0, len(ids), _CHUNK):
        for sid, key in session.execute(
            select(models.SeizedCode.seizure_id, models.SeizedCode.code_key).where(
                models.SeizedCode.seizure_id.in_(ids[start : start + _CHUNK]),
                models.SeizedCode.code_key.is_not(None),
            )
        ):
            if key is not None:  # excluded by the query; the column type cannot say so
                keys_of[sid].add(key)
    return boxes_under(keys_of, lookups or DatabaseLookups(session))


def boxes_under(keys_of: Mapping[str, set[str]], lookups: Lookups) -> dict[str, set[str]]:
    """Each seizure's box keys from its read keys, a case code standing for the boxes under it."""
    leaves = _expand_cases(lookups, sorted({k for ks in keys_of.values() for k in ks}))
    return {
        sid: {leaf for key in keys for leaf, _family in leaves.get(key, [(key, "")])}
        for sid, keys in keys_of.items()
    }


def sales_of_boxes(keys: Sequence[str], *, session: Session) -> dict[str, list[Sale]]:
    """The insurance-settled rows of each box key (returns negative), in time order."""
    return sales_by_key(DatabaseLookups(session), keys)


def sales_by_key(lookups: Lookups, keys: Sequence[str]) -> dict[str, list[Sale]]:
    """:func:`sales_of_boxes` from any source of rows."""
    return _sales_by_key(lookups, keys)


def _seized_reads(session: Session, seizure_ids: Sequence[str]) -> list[SeizedRead]:
    """The seizures' reads as stored, by the driver itself: a case of a million reads took
    3.9-4.2 s as SQLAlchemy rows read by name, 1.5-1.9 s as the driver's tuples."""
    dbapi = session.connection().connection.driver_connection
    postgres = session.get_bind().dialect.name == "postgresql"
    reads: list[SeizedRead] = []
    ids = list(dict.fromkeys(seizure_ids))
    for start in range(0, len(ids), _CHUNK):
        # Each seizure's reads fall in one chunk, in the order stored; ordered_reads then
        # puts the seizures in order.
        chunk = ids[start : start + _CHUNK]
        marks = ", ".join(("%s" if postgres else "?") for _ in chunk)
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                "SELECT code, seizure_id, box_med_list_codg FROM seized_code "
                f"WHERE seizure_id IN ({marks}) ORDER BY id",
                chunk,
            )
            reads.extend(map(SeizedRead._make, cursor.fetchall()))
        finally:
            cursor.close()
    return ordered_reads(seizure_ids, reads)


def ordered_reads(seizure_ids: Sequence[str], reads: Iterable[SeizedRead]) -> list[SeizedRead]:
    """Reads by seizure in the given order, each seizure's in the order given (as stored)."""
    if len(seizure_ids) == 1:  # the reads of one seizure: in order already
        return list(reads)
    order = {sid: i for i, sid in enumerate(seizure_ids)}
    return sorted(reads, key=lambda r: order[r.seizure_id or ""])  # stable within a seizure


def resolve_reads(reads: Sequence[SeizedRead], *, session: Session) -> Resolution:
    """Resolve a batch of reads: parse, expand case codes, dedupe boxes, join the sales."""
    return _resolve(reads, DatabaseLookups(session))


# (code as read, seizure, drug printed on the box): a SeizedRead is one, and goes in as it is
# (a case's million reads were copied into plain tuples first: 0.2 s and 64 MB).
_Read = tuple[str, str | None, str | None]


def _resolve(reads: Sequence[_Read], lookups: Lookups) -> Resolution:
    with collector_paused():
        return _resolve_unpaused(reads, lookups)


def _resolve_unpaused(reads: Sequence[_Read], lookups: Lookups) -> Resolution:
    parsed: list[tuple[_Read, tuple[str, str] | ParseError]] = []
    for read in reads:
        try:
            parsed.append((read, key_and_family(read[0])))
        except ParseError as exc:
            parsed.append((read, exc))
    leaves = _expand_cases(lookups, [c[0] for _, c in parsed if not isinstance(c, ParseError)])
    boxes = _distinct_boxes(parsed, leaves)
    _attach_sales(boxes, lookups)
    return Resolution(boxes=boxes, summary=summarise(boxes))


def _distinct_boxes(
    parsed: Sequence[tuple[_Read, tuple[str, str] | ParseError]],
    leaves: Mapping[str, list[tuple[str, str]]],
) -> list[BoxResolution]:
    """Each box once, in the order read: a malformed code as itself, a case's code as the boxes
    it holds, a box read twice (or inside two cases) once."""
    boxes: list[BoxResolution] = []
    seen: set[str] = set()
    for (written, seizure_id, box_drug), code in parsed:
        if isinstance(code, ParseError):
            marker = "malformed:" + written.strip()
            if marker not in seen:
                seen.add(marker)
                boxes.append(
                    BoxResolution(
                        code=written,
                        key=None,
                        family=None,
                        status=Status.MALFORMED,
                        parse_error=str(code),
                        seizure_id=seizure_id,
                        box_med_list_codg=box_drug,
                    )
                )
            continue
        key, family = code
        children = leaves.get(key)
        if children is None:  # the common case: a box, not a case
            if key not in seen:
                seen.add(key)
                boxes.append(
                    BoxResolution(
                        written,
                        key,
                        family,
                        Status.NOT_DISPENSED,
                        seizure_id=seizure_id,
                        box_med_list_codg=box_drug,
                    )
                )
            continue
        for leaf_key, leaf_family in children:
            if leaf_key in seen:
                continue
            seen.add(leaf_key)
            boxes.append(
                BoxResolution(
                    code=leaf_key,
                    key=leaf_key,
                    family=leaf_family,
                    status=Status.NOT_DISPENSED,
                    via_case=written,
                    seizure_id=seizure_id,
                )
            )
    return boxes


def _attach_sales(boxes: Sequence[BoxResolution], lookups: Lookups) -> None:
    """Each keyed box's sales, product and, from its sales, its status and clone reasons."""
    keyed = [box for box in boxes if box.key is not None]
    sales = _sales_by_key(lookups, [box.key for box in keyed if box.key])
    products = _products(lookups, keyed, sales)
    described: dict[str, dict[str, Any]] = {}
    for box in keyed:
        assert box.key is not None
        box_sales = sales.get(box.key)
        product = products.get(_product_id(box.key))
        if product is None and box_sales:
            product = products.get("med:" + box_sales[0].med_list_codg)
        if product is not None:
            if product.product_id not in described:
                described[product.product_id] = {
                    "name": product.name,
                    "spec": product.spec,
                    "manufacturer": product.manufacturer,
                    "product_id": product.product_id,
                }
            box.product = dict(described[product.product_id])
            box.units_per_box = product.units_per_box
        if box_sales:  # unsold boxes keep their status and have no clone reasons
            box.sales = box_sales
            box.status = classify(box_sales, box.units_per_box)
            box.clone_reasons = clone_reasons(box_sales, box.box_med_list_codg)
            if len(box_sales) > 1:
                repeats = repeat_uploads([sale.upload() for sale in box_sales])
                box.repeat_uploads = tuple(box_sales[i].setl_id for i in sorted(repeats))


def _product_id(key: str) -> str:
    # A national key opens with its 7-digit product identifier; a GS1 key is 01 + GTIN-14 + …
    return key[:7] if key[0] == "8" else key[2:16]


def _family(key: str) -> str:
    return "national" if key[0] == "8" else "gs1"


class DatabaseLookups:
    """:class:`Lookups` from the database: a batch's keys joined in one query each."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.table = _KeyTable(session)

    def children(self, keys: Collection[str]) -> list[tuple[str, str]]:
        self.table.fill(keys)
        return [
            (parent, child)
            for parent, child in self.table.driver_rows(
                "SELECT a.parent_key, a.child_key FROM {k} "
                "CROSS JOIN aggregation a WHERE a.parent_hi = k.hi AND a.parent_lo = k.lo"
            )
        ]

    def sale_rows(self, keys: Collection[str]) -> list[SaleRow]:
        self.table.fill(keys)
        return self.table.driver_rows(
            "SELECT k.key_text, d.setl_id, d.rxno, d.sel_retn_time, d.fixmedins_code, i.name, "
            "d.psn_no, d.dr_code, d.med_list_codg, d.trdn_flag, d.sel_retn_cnt, d.hifp_pay_fen, "
            "d.sel_retn_type, d.id "
            + _INSURANCE_ROWS.format(joined="LEFT JOIN institution i ON i.fixmedins_code = d.fixmedins_code ")
        )

    def party_rows(self, keys: Collection[str]) -> list[PartyRow]:
        self.table.fill(keys)
        return self.table.driver_rows(
            "SELECT k.key_text, d.psn_no, d.fixmedins_code, d.hifp_pay_fen, d.sel_retn_type "
            + _INSURANCE_ROWS.format(joined="")
        )

    def products(self, ids: Sequence[str], drugs: Sequence[str]) -> list[Product]:
        # Plain rows on the driver, not mapped objects: for a single code this query through
        # the ORM (an IN statement built, its cache key, two objects loaded) cost more than
        # the code's lookup itself. One query a chunk for both lookups: on a single-code
        # resolve each round trip counts.
        found: list[Product] = []
        for start in range(0, max(len(ids), len(drugs)), _CHUNK):
            wanted_ids, wanted_drugs = ids[start : start + _CHUNK], drugs[start : start + _CHUNK]
            found.extend(CatalogRow(*row) for row in self.table.catalog_rows(wanted_ids, wanted_drugs))
        return found


# The insurance rows of a batch's boxes, whatever is read of them; ``{joined}`` joins more to
# them, and ``{{k}}`` names the batch (_KeyTable.driver_rows).
_INSURANCE_ROWS = (
    "FROM {{k}} "
    # SQLite keeps the order of a CROSS JOIN: the batch always drives the code index.
    "CROSS JOIN dispensing d "
    "{joined}"
    "WHERE d.key_hi = k.hi AND d.key_lo = k.lo AND d.mdtrt_setl_type = 1"
)


class CatalogRow(NamedTuple):
    """A catalog entry, as much of it as a resolution shows: a :class:`Product` read by a
    driver (the database's, or Spark's), in the order of :data:`CATALOG_COLUMNS`."""

    product_id: str
    med_list_codg: str | None
    name: str
    spec: str | None
    manufacturer: str | None
    units_per_box: int | None


CATALOG_COLUMNS = CatalogRow._fields
_CATALOG_SQL = f"SELECT {', '.join(CATALOG_COLUMNS)} FROM catalog_product WHERE "


_ARRAY_KEYS = "unnest(%(his)s::bigint[], %(los)s::bigint[], %(keys)s::text[]) AS k(hi, lo, key_text)"
_ONE_KEY = "(SELECT %(hi)s::bigint AS hi, %(lo)s::bigint AS lo, %(key)s::text AS key_text) AS k"


class _KeyTable:
    """A batch's keys as a relation ``k(hi, lo, key_text)`` to join against.

    PostgreSQL takes them as three array parameters unnested in the query: the planner then
    knows the batch's exact size (a temporary table has no statistics until analysed, and
    analysing costs more than a single-code lookup). A single key, the server's most common
    question, is a one-row relation of three scalar parameters instead: the planner can only
    size an array it sees, so an unnested batch is planned afresh at every execution (0.7 ms of
    a single-code lookup's 0.8 ms on thirteen month partitions, each planned), where a scalar
    lookup's statement, once the driver has prepared it, runs on a plan kept for the
    connection. SQLite has no arrays, so the keys go into a temporary table, filled once per
    distinct key set.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self.current: frozenset[str] | None = None
        self.params: dict[str, list[Any]] = {}
        if not self.postgres:
            self._sqlite(
                "CREATE TEMPORARY TABLE IF NOT EXISTS rxtrace_batch_keys "
                "(hi BIGINT NOT NULL, lo BIGINT NOT NULL, key_text TEXT NOT NULL)"
            )

    def _sqlite(self, sql: str, rows: Sequence[tuple[Any, ...]] | None = None) -> None:
        # Straight to the driver: a single-code resolve runs four of these, and each through
        # SQLAlchemy's execute cost more than SQLite took to run it.
        dbapi = self.session.connection().connection.driver_connection
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            if rows is None:
                cursor.execute(sql)
            else:
                cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def driver_rows(self, select_sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``select_sql``, which names the batch ``{k}``, fetched by the driver itself:
        a big batch's rows cost several times more as SQLAlchemy result rows."""
        dbapi = self.session.connection().connection.driver_connection
        if self.postgres:
            relation = _ARRAY_KEYS
            params: Mapping[str, Any] = self.params
            if len(self.params["keys"]) == 1:
                # Int8: psycopg types an int by its size, and each type is another statement to prepare.
                relation = _ONE_KEY
                params = {
                    "hi": Int8(self.params["his"][0]),
                    "lo": Int8(self.params["los"][0]),
                    "key": self.params["keys"][0],
                }
            with dbapi.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(select_sql.format(k=relation), params)
                return list(cursor.fetchall())
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(select_sql.format(k="rxtrace_batch_keys k"))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def catalog_rows(self, ids: Sequence[str], drugs: Sequence[str]) -> list[tuple[Any, ...]]:
        """The catalog rows of these product ids and these catalogue codes, by the driver."""
        dbapi = self.session.connection().connection.driver_connection
        if self.postgres:
            sql = _CATALOG_SQL + "product_id = ANY(%(ids)s::text[]) OR med_list_codg = ANY(%(drugs)s::text[])"
            with dbapi.cursor() as cursor:  # type: ignore[union-attr]
                cursor.execute(sql, {"ids": list(ids), "drugs": list(drugs)})
                return list(cursor.fetchall())
        marks = ", ".join("?" * len(ids)), ", ".join("?" * len(drugs))
        cursor = dbapi.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                _CATALOG_SQL + f"product_id IN ({marks[0]}) OR med_list_codg IN ({marks[1]})", (*ids, *drugs)
            )
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def fill(self, keys: Iterable[str]) -> None:
        wanted = frozenset(keys)
        if wanted == self.current:
            return
        self.current = wanted
        # A national key's halves inline: this runs for every key of a batch of 100,000.
        rows = [(int(k[:10]), int(k[10:]), k) if k[0] == "8" else (*key_parts(k), k) for k in wanted]
        if self.postgres:
            self.params = {
                "his": [r[0] for r in rows],
                "los": [r[1] for r in rows],
                "keys": [r[2] for r in rows],
            }
            return
        self._sqlite("DELETE FROM rxtrace_batch_keys")
        if rows:
            # In the code index's order: SQLite joins in the table's order, and a big batch
            # in a set's order walked the index (and the rows it points to) at random, twice
            # as slow (a million keys over 10 M sales: 7.0 s against 3.6 s sorted).
            rows = _index_order(rows)
            self._sqlite("INSERT INTO rxtrace_batch_keys (hi, lo, key_text) VALUES (?, ?, ?)", rows)
        # Once the database has statistics (ANALYZE, PRAGMA optimize) SQLite guesses an
        # unanalysed temporary table to be large and builds a Bloom filter by scanning all of
        # dispensing: 370 ms for one code on 1 M rows. Its own statistics cost under a millisecond.
        self._sqlite("ANALYZE temp.rxtrace_batch_keys")


def _index_order(rows: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """A batch's ``(hi, lo, key)`` rows in the order of the index on the two halves.

    >>> _index_order([(2, 1, "b"), (-5, 9, "g"), (2, 0, "a")])
    [(-5, 9, 'g'), (2, 0, 'a'), (2, 1, 'b')]
    """
    if len(rows) < 10_000:
        return sorted(rows)
    import numpy as np

    # Sorting a million tuples compares them field by field in Python: 1.5 s; this, 0.5 s.
    hi = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    lo = np.fromiter((r[1] for r in rows), np.int64, len(rows))
    return [rows[i] for i in np.lexsort((lo, hi)).tolist()]


def _expand_cases(lookups: Lookups, keys: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """For each key that is a packaging parent, the leaf box keys under it (any depth)."""
    result: dict[str, list[tuple[str, str]]] = {}
    frontier: dict[str, str] = {key: key for key in keys}  # current key -> top-level key read
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        children: dict[str, list[str]] = defaultdict(list)
        for parent, child in sorted(lookups.children(frontier.keys())):
            children[parent].append(child)
        next_frontier: dict[str, str] = {}
        for key, top in frontier.items():
            if key not in children:
                if key != top:
                    result.setdefault(top, []).append((key, _family(key)))
                continue
            for child in children[key]:
                next_frontier[child] = top
        frontier = next_frontier
    return result


def _sales_by_key(lookups: Lookups, keys: Sequence[str]) -> dict[str, list[Sale]]:
    out: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in lookups.sale_rows(keys):
        out[row[0]].append(row)
    sales: dict[str, list[Sale]] = {}
    for key, rows in out.items():
        if len(rows) > 1:  # a code's rows in time order; sorting each few is cheaper in SQL's stead
            rows.sort(key=lambda row: (_time(row[3]), row[13]))
        sales[key] = [
            Sale(r[1], r[2], _time(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12])
            for r in rows
        ]
    return sales


def _time(value: datetime | str) -> datetime:
    # SQLite hands times back as the text SQLAlchemy stored; PostgreSQL as datetimes.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _products(
    lookups: Lookups, boxes: Sequence[BoxResolution], sales: dict[str, list[Sale]]
) -> dict[str, Product]:
    """Catalog entries by product id, and by ``med:`` + catalogue code as a fallback (the
    first by product id when several entries name one catalogue code)."""
    ids = sorted({_product_id(box.key) for box in boxes if box.key})
    drugs = sorted({s.med_list_codg for rows in sales.values() for s in rows})
    wanted_ids, wanted_drugs = set(ids), set(drugs)
    found: dict[str, Product] = {}
    for product in sorted(lookups.products(ids, drugs), key=lambda p: p.product_id):
        if product.product_id in wanted_ids:
            found[product.product_id] = product
        if product.med_list_codg in wanted_drugs:
            found.setdefault("med:" + product.med_list_codg, product)
    return found
