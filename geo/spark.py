"""``rxtrace spark hotspots``: a case's hot spots from the Parquet export, computed on Spark.

The points of a case come from the seized boxes' sales: Spark joins those boxes to all sales
(:class:`rxtrace.trace.spark.SparkLookups`) and reads the few persons and institutions they
name; the points, the H3 cells, Gi* and the clusters are then the embedded path's own code
(:func:`rxtrace.geo.service.points_of`, :func:`rxtrace.geo.service.hotspots_of`), sized by the
case, not by the sales.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from rxtrace.geo.hotspots import HotspotResult
from rxtrace.geo.service import SeizureSite, hotspots_of, points_of
from rxtrace.trace.resolve.rules import Sale
from rxtrace.trace.resolve.service import boxes_under, sales_by_key
from rxtrace.trace.spark import SparkLookups, Tables

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


class SparkPoints:
    """:class:`~rxtrace.geo.service.PointSource` over Parquet folders."""

    def __init__(self, lookups: SparkLookups) -> None:
        self.lookups = lookups

    def seizures(self, case_id: str | None) -> list[SeizureSite]:
        from pyspark.sql import functions as f

        frame = self.lookups.frame("seizures")
        if case_id is not None:
            frame = frame.where(f.col("case_id") == case_id)
        rows = frame.orderBy("seizure_id").select(*_Site._fields).collect()
        return [_Site(*r) for r in rows]

    def seized_boxes(self, seizure_ids: Sequence[str]) -> dict[str, set[str]]:
        keys_of: dict[str, set[str]] = defaultdict(set)
        for sid, key in self.lookups.matching(
            "seized_codes", "seizure_id", seizure_ids, ("seizure_id", "code_key")
        ):
            if key is not None:
                keys_of[sid].add(key)
        return boxes_under(keys_of, self.lookups)

    def sales_of_boxes(self, keys: Sequence[str]) -> dict[str, list[Sale]]:
        return sales_by_key(self.lookups, keys)

    def residences(self, cards: Sequence[str]) -> list[tuple[str, float | None, float | None]]:
        if not self.lookups.tables.has("insured"):
            return []
        return [
            (r[0], r[1], r[2])
            for r in self.lookups.matching("insured", "psn_no", cards, ("psn_no", "lon", "lat"))
        ]

    def places(self, institutions: Sequence[str]) -> list[tuple[str, float | None, float | None, str]]:
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
    lookups = SparkLookups(spark, tables)
    try:
        return hotspots_of(points_of(SparkPoints(lookups), case_id), case_id=case_id, layer=layer, **options)
    finally:
        lookups.close()
