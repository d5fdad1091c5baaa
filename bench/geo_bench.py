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
import time
import warnings

import numpy as np


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
    import h3.api.basic_int as h3i
    import libpysal
    from esda.crand import vec_permutations
    from esda.getisord import G_Local

    from rxtrace.geo.gistar import gi_star, permuted_ids

    rng = np.random.default_rng(seed)
    centre = h3i.latlng_to_cell(31.23, 121.47, 10)
    k = 1
    while 3 * k * (k + 1) + 1 < n_cells:
        k += 1
    cells = sorted(h3i.grid_disk(centre, k))[:n_cells]
    index = {c: i for i, c in enumerate(cells)}
    neighbours = {
        i: [index[nb] for nb in h3i.grid_disk(c, 1) if nb != c and nb in index] for i, c in enumerate(cells)
    }
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    y = rng.poisson(2.0, len(cells)).astype(float)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = G_Local(
            y,
            w,
            transform="B",
            permutations=permutations,
            star=True,
            keep_simulations=False,
            seed=seed,
            n_jobs=1,
        )
    esda_s = time.perf_counter() - started
    adjacency = w.sparse
    started = time.perf_counter()
    ids = vec_permutations(int(np.diff(adjacency.indptr).max()), len(cells), permutations, seed)
    own = gi_star(y, adjacency, ids=ids)
    own_s = time.perf_counter() - started
    same = np.array_equal(own.z, np.asarray(g.Zs)) and np.array_equal(own.p_sim, np.asarray(g.p_sim, float))
    started = time.perf_counter()
    gi_star(y, adjacency, ids=permuted_ids(ids.shape[1], len(cells), permutations, seed))
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
