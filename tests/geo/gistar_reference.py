"""esda's Gi*, the reference that ``rxtrace.geo.gistar`` is held to (by its tests and by
``bench/geo_bench.py``), and the H3 patches both run it on."""

from __future__ import annotations

import warnings
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
from scipy import sparse


def h3_patch(n_cells: int) -> sparse.csr_matrix:
    """The ring adjacency of ``n_cells`` H3 cells taken in id order from one disk: a ragged
    patch, so that edge cells have fewer than six neighbours (every cardinality occurs)."""
    centre = h3i.latlng_to_cell(31.23, 121.47, 10)
    k = 1
    while 3 * k * (k + 1) + 1 < n_cells:
        k += 1
    cells = sorted(h3i.grid_disk(centre, k))[:n_cells]
    index = {c: i for i, c in enumerate(cells)}
    pairs = [
        (i, index[nb]) for i, c in enumerate(cells) for nb in h3i.grid_disk(c, 1) if nb != c and nb in index
    ]
    rows, cols = zip(*pairs, strict=True)
    return sparse.csr_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(cells), len(cells)))


def esda_weights(adj: sparse.csr_matrix) -> Any:
    """libpysal's weights of the same adjacency."""
    import libpysal

    neighbours = {i: adj.indices[adj.indptr[i] : adj.indptr[i + 1]].tolist() for i in range(adj.shape[0])}
    return libpysal.weights.W(neighbours, silence_warnings=True)


def esda_gi_star(y: np.ndarray, w: Any, permutations: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """esda's ``G_Local`` as rxtrace's hot spots ask for Gi*: star, binary weights, one process;
    its z-scores and pseudo p-values."""
    from esda.getisord import G_Local

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda's notice that its default alternative will change
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
    return np.asarray(g.Zs, dtype=float), np.asarray(g.p_sim, dtype=float)
