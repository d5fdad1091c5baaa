"""Administrative boundaries and city table shipped with rxtrace (WGS-84; see data/README.md).

Everything here reads the files in ``data/`` once per process; nothing touches the network.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_DIR",
    "City",
    "District",
    "city",
    "city_of",
    "district",
    "district_at",
    "districts",
    "districts_geojson",
    "haversine_m",
    "provinces_geojson",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
# The mean Earth radius PostGIS uses for sphere distances (ST_DWithin(..., use_spheroid=false)),
# so a distance computed here and one computed in the database agree to the millimetre.
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class City:
    """A prefecture-level city (or a county-level unit that reports to its province directly)."""

    adcode: str
    name: str
    province_adcode: str
    province: str
    lon: float
    lat: float


@dataclass(frozen=True)
class District:
    """A district of Shanghai with its label point."""

    adcode: str
    name: str
    lon: float
    lat: float


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres on PostGIS's sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@cache
def _cities() -> dict[str, City]:
    with (DATA_DIR / "cities.csv").open(encoding="utf-8", newline="") as f:
        return {
            r["adcode"]: City(
                r["adcode"], r["name"], r["province_adcode"], r["province"], float(r["lon"]), float(r["lat"])
            )
            for r in csv.DictReader(f)
        }


@cache
def _provinces() -> dict[str, dict[str, Any]]:
    doc = json.loads((DATA_DIR / "provinces.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["adcode"]: f for f in doc["features"]}


def city_of(adcode: str) -> str:
    """The destination city code for a receiver's division code.

    The prefecture is ``adcode[:4] + "00"``; county-level units that report straight to their
    province (codes xx90xx, such as 仙桃 429004) have no prefecture and stand for themselves.
    A code of a province alone (``xx0000``) or an unknown code is returned as the prefecture
    form, so routes still group; :func:`city` then finds the province's label point.
    """
    prefecture = adcode[:4] + "00"
    table = _cities()
    if prefecture in table and adcode[2:4] != "90":
        return prefecture
    if adcode in table:
        return adcode
    return prefecture


def city(adcode: str) -> City | None:
    """The city named by ``adcode`` (as :func:`city_of` returns), falling back to its province."""
    found = _cities().get(adcode)
    if found is not None:
        return found
    province = _provinces().get(adcode[:2] + "0000")
    if province is None:
        return None
    props = province["properties"]
    lon, lat = props["label"]
    return City(adcode, props["name"], props["adcode"], props["name"], float(lon), float(lat))


@cache
def _district_shapes() -> tuple[tuple[District, Any], ...]:
    from shapely.geometry import shape
    from shapely.prepared import prep

    doc = districts_geojson()
    out = []
    for feature in doc["features"]:
        p = feature["properties"]
        out.append(
            (District(p["adcode"], p["name"], p["label"][0], p["label"][1]), prep(shape(feature["geometry"])))
        )
    return tuple(out)


def districts() -> list[District]:
    """Shanghai's districts, in adcode order."""
    return [d for d, _g in _district_shapes()]


def district(adcode: str) -> District | None:
    return next((d for d in districts() if d.adcode == adcode), None)


def district_at(lon: float, lat: float) -> str | None:
    """The Shanghai district containing the point, if any."""
    from shapely.geometry import Point

    point = Point(lon, lat)
    for d, geom in _district_shapes():
        if geom.contains(point):
            return d.adcode
    return None


@cache
def _districts_doc() -> str:
    return (DATA_DIR / "shanghai_districts.geojson").read_text(encoding="utf-8")


def districts_geojson() -> dict[str, Any]:
    """Shanghai's districts as a GeoJSON FeatureCollection (a fresh copy each call)."""
    doc: dict[str, Any] = json.loads(_districts_doc())
    return doc


def provinces_geojson() -> dict[str, Any]:
    """The provincial-level outlines as a GeoJSON FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(_provinces().values())}
