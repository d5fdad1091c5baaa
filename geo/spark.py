"""``rxtrace spark hotspots``: a case's hot spots from the Parquet export, computed on Spark.

The points of a case come from the seized boxes' sales: Spark joins those boxes to all sales
(:class:`rxtrace.trace.spark.SparkLookups`) and reads the few persons and institutions they
name; the points, the H3 cells, Gi* and the clusters are then the embedded path's own code
(:func:`rxtrace.geo.service.points_of`, :func:`rxtrace.geo.service.hotspots_of`), sized by the
case, not by the sales.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from rxtrace.geo.hotspots import HotspotResult
from rxtrace.geo.layers import LAYERS
from rxtrace.geo.service import SeizureSite, hotspots_of, points_of
from rxtrace.trace.resolve.service import PartyRow, Place, boxes_under
from rxtrace.trace.spark import SparkLookups, Tables
from rxtrace.trace.spark.tables import Started, fetched

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SparkPoints", "spark_hotspots"]


class _Site(NamedTuple):
    seizure_id: str
    lon: float | None
    lat: float | None
    address: str | None
    place_kind: str | None
    seized_at: datetime | None


_Located = tuple[str, float | None, float | None]


class SparkPoints:
    """:class:`~rxtrace.geo.service.PointSource` over Parquet folders.

    The points ask five questions one after another (the seizures, their reads, the boxes'
    sales, the cards' homes, the institutions' places), each a Spark job with a fixed cost
    whatever its size. So each starts as soon as what it needs is known: the seizures' reads
    and their boxes' sales as the seizures are read (the stored reads hold their keys), the
    homes and the places side by side as the sales come back; each question then takes its
    answer from what was started when that covers it, or runs a job of its own.
    """

    def __init__(self, lookups: SparkLookups, *, layers: Collection[str] = LAYERS) -> None:
        self.lookups = lookups
        self.layers = frozenset(layers)
        self._read: Started[tuple[str, str | None]] | None = None
        self._homes: Started[_Located] | None = None
        self._places: Started[Place] | None = None

    def seizures(self, case_id: str | None) -> list[SeizureSite]:
        from pyspark.sql import functions as f

        frame = self.lookups.frame("seizures")
        if case_id is not None:
            frame = frame.where(f.col("case_id") == case_id)
        self.lookups.start_reads(frame, parties=True)
        reads = frame.join(self.lookups.frame("seized_codes"), "seizure_id").select("seizure_id", "code_key")
        started = self.lookups.submit(lambda: fetched(reads))
        rows = frame.orderBy("seizure_id").select(*_Site._fields).collect()
        self._read = Started({r.seizure_id for r in rows}, started)
        return [_Site(*r) for r in rows]

    def seized_boxes(self, seizure_ids: Sequence[str]) -> dict[str, set[str]]:
        read = self._read.rows_of(seizure_ids) if self._read is not None else None
        if read is None:
            columns = ("seizure_id", "code_key")
            read = self.lookups.matching("seized_codes", "seizure_id", seizure_ids, columns)
        keys_of: dict[str, set[str]] = defaultdict(set)
        for sid, key in read:
            if key is not None:
                keys_of[sid].add(key)
        return boxes_under(keys_of, self.lookups)

    def party_rows(self, keys: Sequence[str]) -> list[PartyRow]:
        rows = self.lookups.party_rows(keys)
        # The homes and places of every card and institution named (returns too: the points
        # ask for fewer, a part of these), both read while the first is answered; only for
        # the layers the points are read for (a hot spot analysis takes one).
        cards, places = {r[1] for r in rows}, {r[2] for r in rows}
        if "residences" in self.layers:
            self._homes = Started(cards, self.lookups.submit(lambda: self._homes_of(cards)))
        if "institutions" in self.layers and self.lookups.places(places) is None:
            self._places = Started(places, self.lookups.submit(lambda: self._places_of(places)))
        return rows

    def residences(self, cards: Sequence[str]) -> list[_Located]:
        started = self._homes.rows_of(cards) if self._homes is not None else None
        return self._homes_of(cards) if started is None else started

    def places(self, institutions: Sequence[str]) -> list[Place]:
        carried = self.lookups.places(institutions)
        if carried is not None:
            return carried
        started = self._places.rows_of(institutions) if self._places is not None else None
        return self._places_of(institutions) if started is None else started

    def _homes_of(self, cards: Collection[str]) -> list[_Located]:
        if not self.lookups.tables.has("insured"):
            return []
        return [
            (r[0], r[1], r[2])
            for r in self.lookups.matching("insured", "psn_no", cards, ("psn_no", "lon", "lat"))
        ]

    def _places_of(self, institutions: Collection[str]) -> list[Place]:
        if not self.lookups.tables.has("institutions"):
            return []
        columns = ("fixmedins_code", "lon", "lat", "name")
        rows = self.lookups.matching("institutions", "fixmedins_code", institutions, columns)
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def spark_hotspots(
    spark: SparkSession, tables: Tables, *, case_id: str | None, layer: str, **options: Any
) -> HotspotResult:
    """What ``rxtrace hotspots`` answers for the same data, computed over ``tables``."""
    tables.require("dispensing", "seizures", "seized_codes")
    # The institutions' places come with the parties' rows, not in a job of their own after.
    lookups = SparkLookups(spark, tables, places=layer == "institutions")
    try:
        points = points_of(SparkPoints(lookups, layers=(layer,)), case_id, layers=(layer,))
        return hotspots_of(points, case_id=case_id, layer=layer, **options)
    finally:
        lookups.close()
