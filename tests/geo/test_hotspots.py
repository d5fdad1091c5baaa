"""Gi* hot spots and DBSCAN clusters on built point patterns (no database)."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from esda import fdr

from rxtrace.geo.hotspots import Incident, bh_adjust, confidence_bin, find_hotspots, pick_resolution

_BACK = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)
X0, Y0 = 350_000.0, 3_460_000.0  # UTM 51N metres: western Shanghai


def lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _BACK.transform(X0 + x, Y0 + y)
    return np.asarray(lon), np.asarray(lat)


def background(rng: np.random.Generator, n: int, side: float = 20_000.0) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(0, side, n), rng.uniform(0, side, n)


def test_dense_cluster_is_hot_after_fdr() -> None:
    rng = np.random.default_rng(1)
    bx, by = background(rng, 150)
    cx, cy = 8_000 + rng.normal(0, 500, 60), 9_000 + rng.normal(0, 500, 60)
    result = find_hotspots(*lonlat(np.r_[bx, cx], np.r_[by, cy]))
    hot = result.hot_cells
    assert hot, result.summary()
    assert all(c.p_fdr < 0.05 or c.bin == 1 for c in hot)
    strongest = [c for c in hot if c.bin >= 2]
    assert strongest and all(c.p_fdr <= 0.05 for c in strongest)
    # Every hot cell lies on the cluster (within 2 km of its centre), none in the background.
    cx0, cy0 = lonlat(np.array([8_000.0]), np.array([9_000.0]))
    for c in hot:
        assert abs(c.lon - cx0[0]) < 0.025 and abs(c.lat - cy0[0]) < 0.02, c


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_uniform_points_make_no_hot_spot(seed: int) -> None:
    rng = np.random.default_rng(seed)
    result = find_hotspots(*lonlat(*background(rng, 220)))
    assert result.n_tested > 50  # the test ran on a real family of cells...
    assert result.hot_cells == () and result.cold_cells == ()  # ...and found nothing


def test_lone_island_point_is_not_hot() -> None:
    rng = np.random.default_rng(5)
    bx, by = background(rng, 150)
    result = find_hotspots(*lonlat(np.r_[bx, 45_000.0], np.r_[by, 45_000.0]))
    island = [
        c for c in result.cells if c.count and c.lon > lonlat(np.array([40_000.0]), np.array([0.0]))[0][0]
    ]
    assert len(island) == 1 and island[0].bin == 0 and not island[0].tested
    assert result.hot_cells == ()
    assert any("outlying" in n for n in result.notes)


def test_lone_point_in_an_otherwise_empty_corner_does_not_light_its_ring() -> None:
    # Thirty points in one corner and one alone: without the minimum-neighbour rule the empty
    # ring round the lone point is where Gi* finds "hot" cells.
    rng = np.random.default_rng(6)
    x = np.r_[rng.uniform(0, 3_000, 40), 9_000.0]
    y = np.r_[rng.uniform(0, 3_000, 40), 9_000.0]
    result = find_hotspots(*lonlat(x, y), resolution=8)
    far = lonlat(np.array([9_000.0]), np.array([9_000.0]))
    near_lone = [c for c in result.cells if abs(c.lon - far[0][0]) < 0.012 and abs(c.lat - far[1][0]) < 0.012]
    assert near_lone and all(c.bin == 0 for c in near_lone)


def test_compound_in_one_cell_is_a_cluster_with_its_contents() -> None:
    rng = np.random.default_rng(7)
    bx, by = background(rng, 120)
    # Twelve cards registered at one community address, plus four at the next building.
    cx = np.r_[np.full(12, 10_000.0), 10_060 + rng.normal(0, 5, 4)]
    cy = np.r_[np.full(12, 10_000.0), 10_030 + rng.normal(0, 5, 4)]
    info = [Incident()] * 120 + [Incident(("S1",), (f"P{i}",), (f"B{i}",)) for i in range(16)]
    fund = {f"B{i}": 1_234 for i in range(16)}
    fund["B0"] = -34  # a box whose sale was mostly returned
    result = find_hotspots(*lonlat(np.r_[bx, cx], np.r_[by, cy]), info=info, box_fund=fund)
    clusters = [c for c in result.clusters if c.count >= 16]
    assert len(clusters) == 1
    c = clusters[0]
    assert c.bin == 3 and c.p_fdr < 0.01 and c.z > 3
    assert c.seizures == ("S1",) and len(c.cards) == 16 and c.boxes == 16
    assert c.to_dict()["fund_yuan"] == "184.76"  # 15 × 12.34 − 0.34, exact in fen
    assert c.radius_m < 100


def test_background_alone_makes_no_cluster() -> None:
    rng = np.random.default_rng(8)
    assert find_hotspots(*lonlat(*background(rng, 200))).clusters == ()


def test_too_few_points_classes_nothing_and_says_why() -> None:
    rng = np.random.default_rng(9)
    x, y = 5_000 + rng.normal(0, 200, 20), 5_000 + rng.normal(0, 200, 20)
    result = find_hotspots(*lonlat(x, y))
    assert result.hot_cells == () and result.n_tested == 0
    assert any("under 30" in n for n in result.notes)


def test_no_points() -> None:
    result = find_hotspots([], [])
    assert result.n_points == 0 and result.cells == () and result.notes


def test_same_input_same_result() -> None:
    rng = np.random.default_rng(10)
    bx, by = background(rng, 100)
    pts = lonlat(np.r_[bx, 5_000 + rng.normal(0, 400, 40)], np.r_[by, 5_000 + rng.normal(0, 400, 40)])
    assert find_hotspots(*pts).to_dict() == find_hotspots(*pts).to_dict()


def test_resolution_follows_density() -> None:
    area = 400e6
    assert pick_resolution(5_000.0, area) == 6
    assert pick_resolution(700.0, area) == 8
    assert pick_resolution(250.0, area) == 9
    assert pick_resolution(10.0, area) == 10
    # Fine cells over a huge extent are refused: coarser until under the cap.
    assert pick_resolution(10.0, 6_000e6, max_cells=10_000) <= 8


def test_bh_adjust_agrees_with_esda_fdr_cutoff() -> None:
    rng = np.random.default_rng(11)
    p = np.r_[rng.uniform(0, 0.002, 8), rng.uniform(0, 1, 200)]
    cutoff = fdr(p, 0.05)
    q = bh_adjust(p)
    assert set(np.flatnonzero(q <= 0.05)) == set(np.flatnonzero(p <= cutoff))
    assert np.all(q >= p) and np.all(q <= 1)


@pytest.mark.parametrize(
    ("z", "q", "expected"),
    [(4.0, 0.001, 3), (2.5, 0.03, 2), (1.8, 0.08, 1), (1.0, 0.2, 0), (-4.0, 0.005, -3), (-2.0, 0.05, -2)],
)
def test_confidence_bins_match_arcgis(z: float, q: float, expected: int) -> None:
    assert confidence_bin(z, q) == expected


def test_geojson_has_cells_and_clusters() -> None:
    rng = np.random.default_rng(12)
    x = np.r_[rng.uniform(0, 20_000, 100), np.full(10, 4_000.0)]
    y = np.r_[rng.uniform(0, 20_000, 100), np.full(10, 4_000.0)]
    doc = find_hotspots(*lonlat(x, y)).to_geojson()
    kinds = {f["properties"]["kind"] for f in doc["features"]}
    assert kinds == {"cell", "cluster"}
    ring = next(f for f in doc["features"] if f["properties"]["kind"] == "cell")["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1]
