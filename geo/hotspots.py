"""Hot spots of points: H3 hexagons with Getis-Ord Gi*, and compound-scale DBSCAN clusters.

The method follows ArcGIS's Optimized Hot Spot Analysis where it can, with these choices:

* **Resolution from density.** The H3 resolution is the one whose cell spacing is nearest the
  mean nearest-neighbour distance between *distinct* incident locations (many cards share one
  community-level address; coincident points would drag the distance to zero). Sparse data
  thus gets coarse cells: fine cells over near-empty data are what make spurious hot spots.
* **A study area with its zeros.** Cells cover the convex hull of the points, grown by one
  cell, plus one ring around every occupied cell. Gi* compares a neighbourhood with the whole
  area; without the empty cells every occupied cell would look ordinary.
* **Gi* with conditional permutations**: esda's ``G_Local`` with ``star=True`` and binary
  weights over a cell and its six neighbours, computed by :mod:`rxtrace.geo.gistar` (equal to
  esda's, 15-20 times faster than esda without numba). The pseudo p-value's floor is
  ``1/(permutations+1)``; since the Benjamini–Hochberg step needs ``p <= alpha * rank / m``,
  the permutation count grows with the number of cells tested (within a compute budget), else
  no cell could ever pass.
* **Minimum-neighbour rule.** A cell is tested only when incidents lie in at least
  ``min_occupied`` cells of its neighbourhood (itself included). A lone point, or the empty
  ring around it, is then never a hot spot, however sparse the rest of the area.
* **Confidence bins** as ArcGIS's ``Gi_Bin``: ±3, ±2, ±1 when the FDR-adjusted p-value is
  within 1 %, 5 %, 10 %; the sign is that of the z-score.

* **A cap on cells** (60,000 by default): very dense data gets the next coarser resolution
  rather than a map of hundreds of thousands of cells (and, in esda's pure-Python loop that
  this module once ran, about a millisecond per cell at 999 permutations).

Compounds (one address shared by many cards, or a few buildings) are usually smaller than a
cell; DBSCAN in metres (UTM 51N) finds them. Its core count grows with the overall density
(:func:`cluster_min_samples`), so that ordinary density makes no cluster, and each cluster is
tested against the count a uniform spread over the study area would put in its footprint
(Poisson), with the same FDR step across clusters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "UTM51N",
    "Cluster",
    "HexCell",
    "HotspotResult",
    "Incident",
    "bh_adjust",
    "cluster_min_samples",
    "confidence_bin",
    "describe_spot",
    "find_hotspots",
    "pick_resolution",
]

UTM51N = "EPSG:32651"
MIN_RES, MAX_RES = 6, 10
LEVELS = ((0.01, 3), (0.05, 2), (0.10, 1))
# Cells × permutations: the cap on cells at the most permutations, about 2.5 s on one core
# (rxtrace.geo.gistar). It was 20 M while esda's Python loop did the work (20 s), which held
# 38,000 cells to 999 permutations, where the number of hot cells moved by ±15 % with the seed
# alone; at 9,999 by ±1.3 % (bench/RESULTS.md, "Maps and hotspots").
PERMUTATION_BUDGET = 600_000_000
MAX_PERMUTATIONS = 9_999
DEFAULT_SEED = 12345
SNAP_ABOVE = 50_000  # points; see _clusters


@dataclass(frozen=True)
class Incident:
    """What one point stands for: the seizures, cards and boxes it links."""

    seizures: tuple[str, ...] = ()
    cards: tuple[str, ...] = ()
    boxes: tuple[str, ...] = ()


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class HexCell:
    """One H3 cell of the study area with its Gi* result and what lies in it."""

    cell: str
    resolution: int
    lon: float
    lat: float
    count: int
    z: float
    p: float
    p_fdr: float
    bin: int
    tested: bool
    seizures: tuple[str, ...] = ()
    cards: tuple[str, ...] = ()
    boxes: int = 0
    fund_fen: int = 0

    @property
    def fund_yuan(self) -> Decimal:
        return _yuan(self.fund_fen)

    def boundary(self) -> list[list[float]]:
        """The hexagon's closed ring as [lon, lat] pairs."""
        import h3

        ring = [[round(lng, 6), round(lat, 6)] for lat, lng in h3.cell_to_boundary(self.cell)]
        return [*ring, ring[0]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "resolution": self.resolution,
            "lon": self.lon,
            "lat": self.lat,
            "count": self.count,
            "z": round(self.z, 4),
            "p": round(self.p, 6),
            "p_fdr": round(self.p_fdr, 6),
            "bin": self.bin,
            "tested": self.tested,
            "seizures": list(self.seizures),
            "cards": len(self.cards),
            "card_ids": list(self.cards),
            "boxes": self.boxes,
            "fund_yuan": format(self.fund_yuan, "f"),
        }

    def to_feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "properties": {"kind": "cell", **self.to_dict()},
            "geometry": {"type": "Polygon", "coordinates": [self.boundary()]},
        }


@dataclass(frozen=True)
class Cluster:
    """A compound-scale cluster of points (DBSCAN) with its density test."""

    cluster_id: int
    lon: float
    lat: float
    radius_m: float
    count: int
    expected: float
    z: float
    p: float
    p_fdr: float
    bin: int
    seizures: tuple[str, ...] = ()
    cards: tuple[str, ...] = ()
    boxes: int = 0
    fund_fen: int = 0

    @property
    def fund_yuan(self) -> Decimal:
        return _yuan(self.fund_fen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster_id,
            "lon": self.lon,
            "lat": self.lat,
            "radius_m": round(self.radius_m, 1),
            "count": self.count,
            "expected": round(self.expected, 4),
            "z": round(self.z, 4),
            "p": float(f"{self.p:.6g}"),
            "p_fdr": float(f"{self.p_fdr:.6g}"),
            "bin": self.bin,
            "seizures": list(self.seizures),
            "cards": len(self.cards),
            "card_ids": list(self.cards),
            "boxes": self.boxes,
            "fund_yuan": format(self.fund_yuan, "f"),
        }

    def to_feature(self) -> dict[str, Any]:
        return {
            "type": "Feature",
            "properties": {"kind": "cluster", **self.to_dict()},
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
        }


@dataclass(frozen=True)
class HotspotResult:
    """Cells (occupied or significant; empty ordinary cells are left out) and clusters."""

    layer: str
    case_id: str | None
    n_points: int
    resolution: int | None
    cell_spacing_m: float | None
    nn_distance_m: float | None
    n_cells: int
    n_tested: int
    permutations: int
    seed: int
    eps_m: float
    min_samples: int
    cells: tuple[HexCell, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def hot_cells(self) -> tuple[HexCell, ...]:
        return tuple(c for c in self.cells if c.bin > 0)

    @property
    def cold_cells(self) -> tuple[HexCell, ...]:
        return tuple(c for c in self.cells if c.bin < 0)

    def summary(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "case_id": self.case_id,
            "points": self.n_points,
            "resolution": self.resolution,
            "cell_spacing_m": None if self.cell_spacing_m is None else round(self.cell_spacing_m, 1),
            "nn_distance_m": None if self.nn_distance_m is None else round(self.nn_distance_m, 1),
            "cells": self.n_cells,
            "cells_tested": self.n_tested,
            "hot_cells": len(self.hot_cells),
            "cold_cells": len(self.cold_cells),
            "clusters": len(self.clusters),
            "permutations": self.permutations,
            "seed": self.seed,
            "dbscan_eps_m": self.eps_m,
            "dbscan_min_samples": self.min_samples,
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "cells": [c.to_dict() for c in self.cells],
            "clusters": [c.to_dict() for c in self.clusters],
        }

    def to_geojson(self) -> dict[str, Any]:
        """A FeatureCollection of cell polygons then cluster points; the summary rides along."""
        return {
            "type": "FeatureCollection",
            "properties": self.summary(),
            "features": [c.to_feature() for c in self.cells] + [c.to_feature() for c in self.clusters],
        }


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values): q <= alpha ⇔ rejected at FDR alpha."""
    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return p.copy()
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)


def confidence_bin(z: float, p_fdr: float) -> int:
    """ArcGIS's Gi_Bin: ±3/±2/±1 for 99/95/90 % confidence after the FDR step, else 0."""
    for alpha, level in LEVELS:
        if p_fdr <= alpha:
            return level if z > 0 else -level
    return 0


def _cell_spacing(res: int) -> float:
    import h3

    # Centre-to-centre distance of neighbouring hexagons.
    return math.sqrt(3.0) * float(h3.average_hexagon_edge_length(res, unit="m"))


def pick_resolution(nn_distance_m: float | None, area_m2: float, *, max_cells: int = 60_000) -> int:
    """The H3 resolution whose spacing is nearest the distance, kept under ``max_cells`` cells."""
    import h3

    if nn_distance_m is None or nn_distance_m <= 0:
        res = MAX_RES
    else:
        res = min(range(MIN_RES, MAX_RES + 1), key=lambda r: abs(math.log(_cell_spacing(r) / nn_distance_m)))
    while res > MIN_RES and area_m2 / (float(h3.average_hexagon_area(res, unit="m^2"))) > max_cells:
        res -= 1
    return res


def _to_utm(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    import pyproj

    tr = pyproj.Transformer.from_crs("EPSG:4326", UTM51N, always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


def _study_cells(xy_distinct: np.ndarray, occupied: np.ndarray, res: int) -> np.ndarray:
    """Cells of the hull grown by one spacing, plus a ring round each occupied cell."""
    import h3.api.basic_int as h3i
    import pyproj
    import shapely
    from shapely.geometry import MultiPoint, mapping

    spacing = _cell_spacing(res)
    hull = MultiPoint(xy_distinct).convex_hull.buffer(spacing)
    back = pyproj.Transformer.from_crs(UTM51N, "EPSG:4326", always_xy=True)
    hull_ll = shapely.transform(hull, lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))
    cells = set(h3i.geo_to_cells(mapping(hull_ll), res))
    for c in occupied.tolist():
        cells.update(h3i.grid_disk(c, 1))
    return np.array(sorted(cells), dtype=np.uint64)


def _gi_star(
    y: np.ndarray,
    cells: np.ndarray,
    occupied_min: int,
    *,
    testable: bool,
    permutations: int | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """For counts ``y`` on ``cells`` (sorted H3 ints): z, pseudo p, the cells tested (the FDR
    family), whether each cell's permutation tail agrees with its z, and the permutations."""
    import h3.api.basic_int as h3i
    from scipy import sparse

    from rxtrace.geo.gistar import gi_star, permuted_ids

    n = cells.size
    index = {int(c): i for i, c in enumerate(cells.tolist())}
    focal: list[int] = []
    neighbor: list[int] = []
    for i, c in enumerate(cells.tolist()):
        for nb in h3i.grid_disk(c, 1):
            j = index.get(nb)
            if j is not None and j != i:
                focal.append(i)
                neighbor.append(j)
    adj = sparse.csr_matrix((np.ones(len(focal)), (focal, neighbor)), shape=(n, n))
    occ = (y > 0).astype(float)
    occupied_around = adj @ occ + occ
    tested = (occupied_around >= occupied_min) & testable
    m = int(tested.sum())
    if permutations is None:
        wanted = math.ceil(m / 0.05) if m else 0
        affordable = PERMUTATION_BUDGET // max(n, 1)
        permutations = int(min(MAX_PERMUTATIONS, max(999, min(wanted, affordable))))
    if n < 3 or not testable or m == 0 or np.all(y == y[0]):
        return np.zeros(n), np.ones(n), tested, np.zeros(n, dtype=bool), permutations
    cardinality = np.diff(adj.indptr)
    ids = permuted_ids(int(cardinality.max()), n, permutations, seed)
    g = gi_star(y, adj, ids=ids)
    z = np.nan_to_num(g.z)
    p = g.p_sim
    # The pseudo p-value is folded towards whichever tail the observation is in, and the
    # conditional test holds the cell's own count fixed: a busy cell with quiet neighbours can
    # sit in the *low* tail while its z is positive. That is an outlier, not a hot or cold
    # spot, so such cells are left unclassified.
    expected = y + cardinality * (y.sum() - y) / (n - 1)
    observed = y + adj @ y
    agrees = np.sign(observed - expected) == np.sign(z)
    return z, p, tested, agrees, permutations


def _contents(
    groups: Mapping[int, list[int]], info: Sequence[Incident] | None, box_fund: Mapping[str, int]
) -> dict[int, tuple[tuple[str, ...], tuple[str, ...], int, int]]:
    out: dict[int, tuple[tuple[str, ...], tuple[str, ...], int, int]] = {}
    if info is None:
        return out
    for key, members in groups.items():
        seizures: set[str] = set()
        cards: set[str] = set()
        boxes: set[str] = set()
        for k in members:
            item = info[k]
            seizures.update(item.seizures)
            cards.update(item.cards)
            boxes.update(item.boxes)
        out[key] = (
            tuple(sorted(seizures)),
            tuple(sorted(cards)),
            len(boxes),
            sum(box_fund.get(b, 0) for b in boxes),
        )
    return out


def _distinct(xy: np.ndarray, snap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct points on a ``snap``-metre grid: the points, each input's index, the counts.

    One int64 key per point: ``np.unique(axis=0)`` sorts rows as structured data, several
    times slower on a million points.
    """
    if len(xy) == 0:
        return xy.copy(), np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    grid = np.round(xy / snap).astype(np.int64)
    origin = grid.min(axis=0)
    grid -= origin
    span = int(grid[:, 1].max()) + 1
    keys = grid[:, 0] * span + grid[:, 1]
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    points = (grid[first] + origin).astype(float) * snap
    return points, inverse.reshape(-1), counts


def cluster_min_samples(n: int, study_area_m2: float, eps_m: float) -> int:
    """DBSCAN's core count: at least 5, and more than a uniform spread of ``n`` points over the
    area would put within ``eps_m`` of any one point (Poisson, once in ``n`` tries), so that
    ordinary density makes no cluster however many points there are."""

    if n == 0 or study_area_m2 <= 0:
        return 5
    mean = n * math.pi * eps_m**2 / study_area_m2
    return max(5, int(stats.poisson.isf(1.0 / max(n, 2), mean)) + 1)


def _clusters(
    xy: np.ndarray,
    info: Sequence[Incident] | None,
    box_fund: Mapping[str, int],
    study_area_m2: float,
    eps_m: float,
    min_samples: int,
) -> list[Cluster]:
    import pyproj
    from sklearn.cluster import DBSCAN

    n = len(xy)
    if n < min_samples or study_area_m2 <= 0:
        return []
    # Coincident points (one community address) are one sample with a weight: the same
    # clustering as the raw points, at the cost of the distinct locations only. With very many
    # locations, DBSCAN's neighbour lists in dense compounds would not fit in memory, so points
    # are snapped to a grid of a quarter of eps first (compound-scale, and residences are only
    # known to the community anyway).
    snap = 1.0 if n <= SNAP_ABOVE else eps_m / 4
    distinct, inverse, weight = _distinct(xy, snap)
    labels_d = (
        DBSCAN(eps=eps_m, min_samples=min_samples, n_jobs=-1 if n > SNAP_ABOVE else None)
        .fit(distinct, sample_weight=weight)
        .labels_
    )
    labels = labels_d[inverse]
    back = pyproj.Transformer.from_crs(UTM51N, "EPSG:4326", always_xy=True)
    found: list[tuple[int, float, float, float, int, float, float, float]] = []
    groups: dict[int, list[int]] = {}
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(labels.max() + 2) if labels.size else [])
    for label in range(int(labels.max()) + 1 if labels.size else 0):
        members = order[bounds[label] : bounds[label + 1]]
        pts = xy[members]
        centre = pts.mean(axis=0)
        radius = float(np.sqrt(((pts - centre) ** 2).sum(axis=1)).max())
        count = int(members.size)
        # Footprint: the disc the cluster occupies, never smaller than DBSCAN's own reach.
        expected = n * math.pi * max(radius, eps_m) ** 2 / study_area_m2
        z = (count - expected) / math.sqrt(expected) if expected > 0 else 0.0
        p = float(stats.poisson.sf(count - 1, expected))
        lon, lat = back.transform(float(centre[0]), float(centre[1]))
        found.append((label, round(float(lon), 6), round(float(lat), 6), radius, count, expected, z, p))
        groups[label] = members.tolist()
    if not found:
        return []
    q = bh_adjust(np.array([f[7] for f in found]))
    contents = _contents(groups, info, box_fund)
    out = []
    for rank, (f, qv) in enumerate(
        sorted(zip(found, q.tolist(), strict=True), key=lambda t: (-t[0][4], t[0][1], t[0][2])), start=1
    ):
        label, lon, lat, radius, count, expected, z, p = f
        seizures, cards, boxes, fund = contents.get(label, ((), (), 0, 0))
        out.append(
            Cluster(
                rank,
                lon,
                lat,
                radius,
                count,
                expected,
                z,
                p,
                qv,
                confidence_bin(z, qv),
                seizures,
                cards,
                boxes,
                fund,
            )
        )
    return out


def find_hotspots(
    lon: Sequence[float] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    *,
    info: Sequence[Incident] | None = None,
    box_fund: Mapping[str, int] | None = None,
    layer: str = "points",
    case_id: str | None = None,
    resolution: int | None = None,
    permutations: int | None = None,
    min_occupied: int = 2,
    min_points: int = 30,
    eps_m: float = 150.0,
    min_samples: int | None = None,
    max_cells: int = 60_000,
    seed: int = DEFAULT_SEED,
) -> HotspotResult:
    """Gi* hot spots over H3 cells and DBSCAN clusters for points given in WGS-84.

    ``info[i]`` tells what point ``i`` links (seizures, cards, boxes); ``box_fund`` gives the
    fund's net payment per box in fen, so a box reached from two points is counted once.
    ``permutations=None`` picks the count from the cells tested (see the module's notes).
    """
    import h3.api.basic_int as h3i

    lon_a, lat_a, info_kept = _located(lon, lat, info)
    fund = box_fund or {}
    n = int(lon_a.size)
    notes: list[str] = []
    base: dict[str, Any] = {
        "layer": layer,
        "case_id": case_id,
        "n_points": n,
        "seed": seed,
        "eps_m": eps_m,
        "min_samples": min_samples or 5,
    }
    if n == 0:
        return _no_points(base)

    xy = _to_utm(lon_a, lat_a)
    distinct, core, nn = _study_extent(xy, notes)
    hull_area = float(_hull_area(core))
    res = resolution if resolution is not None else pick_resolution(nn, hull_area, max_cells=max_cells)

    cells, y, groups = _counts_per_cell(lon_a, lat_a, core, res)
    testable = n >= min_points
    if not testable:
        notes.append(
            f"only {n} points: under {min_points} no cell is classed hot or cold "
            "(ArcGIS's rule for Gi*); clusters still are"
        )
    z, p, tested, agrees, perms = _gi_star(
        y, cells, min_occupied, testable=testable, permutations=permutations, seed=seed
    )
    q = np.ones(cells.size)
    q[tested] = bh_adjust(p[tested])
    if len(distinct) == 1:
        notes.append("all points share one location: no spatial pattern to test")
    stats = (y, z, p, q, tested, agrees)
    out_cells = _hex_cells(cells, res, stats, _contents(groups, info_kept, fund))
    # Clusters are judged against the study area's own extent (the cells' total area).
    cell_area = float(h3i.average_hexagon_area(res, unit="m^2"))
    area = cells.size * cell_area
    samples = min_samples if min_samples is not None else cluster_min_samples(n, area, eps_m)
    clusters = _clusters(xy, info_kept, fund, area, eps_m, samples)
    base["min_samples"] = samples
    return HotspotResult(
        **base,
        resolution=res,
        cell_spacing_m=_cell_spacing(res),
        nn_distance_m=nn,
        n_cells=int(cells.size),
        n_tested=int(tested.sum()),
        permutations=perms,
        cells=tuple(out_cells),
        clusters=tuple(clusters),
        notes=tuple(notes),
    )


def _no_points(base: dict[str, Any]) -> HotspotResult:
    """The answer when no point has coordinates: no cells, no clusters, and a note saying so."""
    return HotspotResult(
        **base,
        resolution=None,
        cell_spacing_m=None,
        nn_distance_m=None,
        n_cells=0,
        n_tested=0,
        permutations=0,
        notes=("no points with coordinates",),
    )


def _located(
    lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray, info: Sequence[Incident] | None
) -> tuple[np.ndarray, np.ndarray, list[Incident] | None]:
    """The points that have coordinates, with what each links; the others are left out."""
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if info is not None and len(info) != lon_a.size:
        raise ValueError("info must have one entry per point")
    keep = np.isfinite(lon_a) & np.isfinite(lat_a)
    index_kept = np.flatnonzero(keep)
    info_kept = None if info is None else [info[i] for i in index_kept.tolist()]
    return lon_a[keep], lat_a[keep], info_kept


def _counts_per_cell(
    lon: np.ndarray, lat: np.ndarray, core: np.ndarray, res: int
) -> tuple[np.ndarray, np.ndarray, dict[int, list[int]]]:
    """The study's cells (sorted), how many points fall in each, and which points (by index)
    each cell holds."""
    import h3.api.basic_int as h3i

    point_cells = np.fromiter(
        (h3i.latlng_to_cell(la, lo, res) for lo, la in zip(lon.tolist(), lat.tolist(), strict=True)),
        dtype=np.uint64,
        count=lon.size,
    )
    occupied, point_cell_idx, counts_occ = np.unique(point_cells, return_inverse=True, return_counts=True)
    cells = _study_cells(core, occupied, res)
    pos = np.searchsorted(cells, occupied)
    y = np.zeros(cells.size)
    y[pos] = counts_occ
    groups: dict[int, list[int]] = {}
    for k, occ_i in enumerate(point_cell_idx.reshape(-1).tolist()):
        groups.setdefault(int(pos[occ_i]), []).append(k)
    return cells, y, groups


def _study_extent(xy: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray, float | None]:
    """The distinct locations, those inside the study extent (locational outliers out, as
    ArcGIS leaves them out) and their mean nearest-neighbour distance in metres."""
    distinct = _distinct(xy, 1.0)[0]
    nn: float | None = None
    core = distinct
    if len(distinct) >= 2:
        from sklearn.neighbors import NearestNeighbors

        dist, _ = NearestNeighbors(n_neighbors=2).fit(distinct).kneighbors(distinct)
        nn_each = dist[:, 1]
        if len(distinct) >= 10:
            # One far point would otherwise stretch the hull over empty land and make every
            # ordinary cell look hot.
            inlier = nn_each <= nn_each.mean() + 3 * nn_each.std()
            if (~inlier).any():
                notes.append(f"{int((~inlier).sum())} outlying location(s) left out of the study extent")
            core, nn_each = distinct[inlier], nn_each[inlier]
        nn = float(nn_each.mean())
    return distinct, core, nn


def _hex_cells(
    cells: np.ndarray, res: int, stats: tuple[np.ndarray, ...], contents: dict[int, Any]
) -> list[HexCell]:
    """The cells worth showing (occupied, or significant though empty), hottest first."""
    import h3.api.basic_int as h3i

    y, z, p, q, tested, agrees = stats
    out_cells: list[HexCell] = []
    for i in range(cells.size):
        b = confidence_bin(float(z[i]), float(q[i])) if tested[i] and agrees[i] else 0
        if y[i] == 0 and b == 0:
            continue
        cid = int(cells[i])
        clat, clon = h3i.cell_to_latlng(cid)
        seizures, cards, boxes, fund_fen = contents.get(i, ((), (), 0, 0))
        out_cells.append(
            HexCell(
                h3i.int_to_str(cid),
                res,
                round(clon, 6),
                round(clat, 6),
                int(y[i]),
                float(z[i]),
                float(p[i]),
                float(q[i]),
                b,
                bool(tested[i]),
                seizures,
                cards,
                boxes,
                fund_fen,
            )
        )
    out_cells.sort(key=lambda c: (-c.bin, -c.z, c.cell))
    return out_cells


def _hull_area(xy: np.ndarray) -> float:
    from shapely.geometry import MultiPoint

    return float(MultiPoint(xy).convex_hull.area) if len(xy) else 0.0


_NOUNS = {"seizures": "seizure sites", "residences": "card holders' homes", "institutions": "institutions"}


def describe_spot(bin_: int, count: int, layer: str) -> str:
    """A cell or cluster in words, as an investigator says it.

    >>> describe_spot(3, 12, "residences")
    "hot spot, 99 % confidence: 12 card holders' homes"
    >>> describe_spot(3, 0, "residences")
    'hot spot, 99 % confidence: none here, the cells around it are hot'
    >>> describe_spot(0, 2, "seizures")
    'not significant: 2 seizure sites'
    """
    level = {1: 90, 2: 95, 3: 99}.get(abs(bin_))
    what = (
        "not significant" if level is None else f"{'hot' if bin_ > 0 else 'cold'} spot, {level} % confidence"
    )
    if count == 0 and bin_ > 0:
        return f"{what}: none here, the cells around it are hot"  # Gi* weighs a cell's neighbours
    return f"{what}: {count} {_NOUNS.get(layer, 'points')}"
