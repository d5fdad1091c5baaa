"""GCJ-02 conversion against pairs published with other implementations of the transform."""

from __future__ import annotations

import pytest

from rxtrace.geo.boundaries import haversine_m
from rxtrace.trace.coords import gcj02_to_wgs84, wgs84_to_gcj02

# (WGS-84 lon, lat) -> (GCJ-02 lon, lat). The first three are the test vectors of
# googollee/eviltransform (Shanghai, Shenzhen, Beijing); the fourth is the example in
# wandergis/coordtransform's README.
PUBLISHED = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
]


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_forward_matches_published_pairs(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_inverse_recovers_wgs84_within_a_millimetre(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    lon, lat = gcj02_to_wgs84(*gcj)
    assert haversine_m(lon, lat, *wgs) < 0.001


def test_peoples_square_offset_is_about_430_m_east_and_210_m_south() -> None:
    lon, lat = 121.4737, 31.2304
    glon, glat = wgs84_to_gcj02(lon, lat)
    east = haversine_m(lon, lat, glon, lat)
    south = haversine_m(lon, lat, lon, glat)
    assert glon > lon and glat < lat
    assert 400 < east < 460
    assert 190 < south < 230


def test_outside_china_is_left_alone() -> None:
    assert gcj02_to_wgs84(2.3522, 48.8566) == (2.3522, 48.8566)
