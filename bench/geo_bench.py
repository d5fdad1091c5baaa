"""Hot spot benchmark: the whole rxtrace pipeline on 1 M points beside raw esda calls (and
rxtrace's own Gi* beside esda's on the same cells).

Run from the repository root::

    .venv/bin/python bench/geo_bench.py            # 1,000,000 points
    .venv/bin/python bench/geo_bench.py --points 200000

Prints the figures recorded in bench/RESULTS.md ("Maps and hotspots").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# esda's Gi* as the tests call it, the reference rxtrace's own is held to (one home for both).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "geo"))


def synthetic_shanghai(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """70 % of points spread over central Shanghai, 30 % in 300 compounds (sd 150 m)."""
    import pyproj

    rng = np.random.default_rng(seed)
    back = pyproj.Transformer.from_crs("EPSG:32651", "EPSG:4326", always_xy=True)
    x0, y0, w, h = 330_000.0, 3_430_000.0, 60_000.0, 50_000.0
    n_bg = int(n * 0.7)
    n_cl = n - n_bg
    centres = np.column_stack([x0 + rng.uniform(0, w, 300), y0 + rng.uniform(0, h, 300)])
    which = rng.integers(0, 300, n_cl)
    x = np.r_[x0 + rng.uniform(0, w, n_bg), centres[which, 0] + rng.normal(0, 150, n_cl)]
    y = np.r_[y0 + rng.uniform(0, h, n_bg), centres[which, 1] + rng.normal(0, 150, n_cl)]
    lon, lat = back.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def raw_esda(n_cells: int, permutations: int, seed: int = 1) -> tuple[float, float, float, bool]:
    """esda's G_Local (star, binary H3 ring weights) on ``n_cells`` cells, and rxtrace's own
    Gi* (``rxtrace.geo.gistar``) on the same cells, given esda's permutations (drawing them
    included) and drawing its own: the seconds of each, and whether every z-score and pseudo
    p-value given esda's permutations is equal to esda's."""
    from esda.crand import vec_permutations
    from gistar_reference import esda_gi_star, esda_weights, h3_patch

    from rxtrace.geo.gistar import gi_star, permuted_ids

    rng = np.random.default_rng(seed)
    adjacency = h3_patch(n_cells)
    n = adjacency.shape[0]
    w = esda_weights(adjacency)
    y = rng.poisson(2.0, n).astype(float)
    started = time.perf_counter()
    esda_z, esda_p = esda_gi_star(y, w, permutations, seed)
    esda_s = time.perf_counter() - started
    started = time.perf_counter()
    ids = vec_permutations(int(np.diff(adjacency.indptr).max()), n, permutations, seed)
    own = gi_star(y, adjacency, ids=ids)
    own_s = time.perf_counter() - started
    same = np.array_equal(own.z, esda_z) and np.array_equal(own.p_sim, esda_p)
    started = time.perf_counter()
    gi_star(y, adjacency, ids=permuted_ids(ids.shape[1], n, permutations, seed))
    drawn_s = time.perf_counter() - started
    return esda_s, own_s, drawn_s, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    from rxtrace.geo.hotspots import find_hotspots

    try:
        import numba

        jit = f"numba {numba.__version__}"
    except ImportError:
        jit = "no numba (esda runs its permutation loop in pure Python; rxtrace's Gi* needs none)"
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, {jit}"
    )

    lon, lat = synthetic_shanghai(args.points)
    started = time.perf_counter()
    result = find_hotspots(lon, lat, layer="bench")
    pipeline = time.perf_counter() - started
    s = result.summary()
    print(
        f"rxtrace hotspots, {args.points:,} points: {pipeline:.2f} s "
        f"(H3 res {s['resolution']}, {s['cells']:,} cells, {s['cells_tested']:,} tested, "
        f"{s['permutations']} permutations, {s['hot_cells']:,} hot, {s['cold_cells']:,} cold, "
        f"{s['clusters']} clusters)"
    )

    for n_cells, permutations, what in (
        (10_000, 999, ""),
        (result.n_cells, result.permutations, " (the pipeline's size)"),
    ):
        esda_s, own_s, drawn_s, same = raw_esda(n_cells, permutations)
        print(
            f"raw esda G_Local, {n_cells:,} cells, {permutations} permutations{what}: {esda_s:.2f} s; "
            f"rxtrace's Gi* with esda's permutations {own_s:.2f} s ({esda_s / own_s:.1f}x faster, "
            f"every value equal: {same}), with its own {drawn_s:.2f} s ({esda_s / drawn_s:.1f}x faster)"
        )
        if what:
            esda_same, own_same = esda_s, drawn_s
        else:
            esda_10k = esda_s
    print(
        f"ratio pipeline / raw esda on the same cells: {pipeline / esda_same:.2f} "
        f"(everything but Gi*, which is rxtrace's own: {max(pipeline - own_same, 0):.2f} s)"
    )
    print(f"ratio pipeline (1 M points) / raw esda (10k cells): {pipeline / esda_10k:.1f}")
    print(f"throughput: {args.points / pipeline:,.0f} points/s")


if __name__ == "__main__":
    main()
