"""Getis-Ord Gi* of counts with a conditional-permutation pseudo p-value, in NumPy.

The statistic is esda's ``G_Local(y, w, transform="B", star=True)`` (binary weights, each cell
its own neighbour) and its permutation test is esda's conditional randomisation with the
"directed" (folded) alternative: every cell's own count is held fixed and its neighbours'
counts are drawn from the other cells, each permutation the same ids for every cell. The
answers equal esda's given the same permuted ids (``tests/geo/test_gistar.py`` checks both
values exactly against esda).

Why not esda itself: without numba, esda runs its permutation loop in Python, one cell at a
time (3.4 s of a 3.8 s hot-spot run over 38,000 cells here), and with numba every new process
pays for the compilation. Counts are integers, so every permuted sum here is computed in
integers by cell groups of one cardinality at a time: exact, and the same comparisons as
esda's floating sums of whole numbers.

The permuted ids are drawn with NumPy's ``Generator`` (distinct ids per permutation, by
rejection) rather than esda's legacy ``RandomState.choice``, which shuffles all ``n`` cells
for each permutation (0.4 s at 38,000 cells and 999 permutations): the same test, other draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["GiStar", "GiStarError", "gi_star", "permuted_ids"]

# Rows of a chunk × cells of a group held at once while counting the permutations.
_CHUNK_ELEMENTS = 500_000


class GiStarError(ValueError):
    """Input that the statistic cannot be computed on."""


@dataclass(frozen=True)
class GiStar:
    """Gi* per cell: its z-score, and its pseudo p-value from ``permutations`` draws.

    ``p_sim`` is folded towards the tail the observation lies in, ``(larger + 1) / (P + 1)``,
    kept at esda's single precision so that answers do not change with the implementation.
    """

    z: np.ndarray
    p_sim: np.ndarray
    permutations: int


def permuted_ids(max_card: int, n: int, permutations: int, seed: int) -> np.ndarray:
    """``permutations`` rows of ``max_card`` distinct ids drawn from ``range(n - 1)``.

    >>> ids = permuted_ids(6, 1000, 999, seed=1)
    >>> ids.shape, bool(ids.min() >= 0), bool(ids.max() < 999)
    ((999, 6), True, True)
    >>> all(len(set(row)) == 6 for row in ids.tolist())
    True
    >>> bool((permuted_ids(6, 1000, 999, seed=1) == ids).all())
    True
    >>> permuted_ids(3, 3, 10, seed=1)
    Traceback (most recent call last):
    ...
    rxtrace.geo.gistar.GiStarError: Failed to draw 3 distinct neighbours from 2 other cells.
    """
    pool = n - 1
    if max_card > pool:
        raise GiStarError(f"Failed to draw {max_card} distinct neighbours from {pool} other cells.")
    rng = np.random.default_rng(seed)
    if max_card == 0:
        return np.empty((permutations, 0), dtype=np.int64)
    if pool < 8 * max_card:
        # Few cells: rejection would redraw most rows; take the first ids of a shuffle instead.
        return np.argsort(rng.random((permutations, pool)), axis=1)[:, :max_card].astype(np.int64)
    ids = rng.integers(0, pool, size=(permutations, max_card), dtype=np.int64)
    while True:
        ordered = np.sort(ids, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not repeated.any():
            return ids
        ids[repeated] = rng.integers(0, pool, size=(int(repeated.sum()), max_card), dtype=np.int64)


def gi_star(counts: np.ndarray, adjacency: sparse.spmatrix, *, ids: np.ndarray) -> GiStar:
    """Gi* of ``counts`` over the binary ``adjacency`` (no diagonal; each cell is added as its
    own neighbour), tested against the permutations ``ids`` (from :func:`permuted_ids`).

    >>> adj = sparse.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]]))
    >>> g = gi_star(np.array([9, 7, 0, 0]), adj, ids=permuted_ids(2, 4, 99, seed=1))
    >>> [round(float(v), 2) for v in g.z]
    [1.71, 0.98, -1.23, -1.71]
    >>> g.permutations, len(g.p_sim)
    (99, 4)
    >>> gi_star(np.array([1.5, 2, 3]), adj[:3, :3], ids=permuted_ids(2, 3, 9, seed=1))
    Traceback (most recent call last):
    ...
    rxtrace.geo.gistar.GiStarError: Failed to compute Gi*: expected whole counts, got 1.5 at cell 0.
    """
    y = np.asarray(counts)
    if y.ndim != 1 or not np.isfinite(y).all():
        raise GiStarError("Failed to compute Gi*: expected a vector of finite counts.")
    fractional = np.flatnonzero(np.rint(y) != y)
    if fractional.size:
        at = int(fractional[0])
        raise GiStarError(f"Failed to compute Gi*: expected whole counts, got {y[at]} at cell {at}.")
    n = y.size
    if n < 2:
        raise GiStarError(f"Failed to compute Gi*: expected at least 2 cells, got {n}.")
    if adjacency.shape != (n, n):
        raise GiStarError(f"Failed to compute Gi*: {n} counts against a {adjacency.shape} adjacency.")
    yi = y.astype(np.int64)
    # Binary weights off the diagonal: a stored zero is no neighbour, a weight of 2 is one.
    coo = sparse.coo_matrix(adjacency)
    linked = (coo.row != coo.col) & (coo.data != 0)
    ones = np.ones(int(linked.sum()), dtype=np.int64)
    adj = sparse.csr_matrix((ones, (coo.row[linked], coo.col[linked])), shape=(n, n))
    adj.data[:] = 1  # a pair given twice was summed
    cardinality = np.diff(adj.indptr)
    permutations = int(ids.shape[0])
    if ids.ndim != 2 or ids.shape[1] < int(cardinality.max()):
        raise GiStarError(
            f"Failed to compute Gi*: ids of shape {ids.shape} for up to {int(cardinality.max())} neighbours."
        )
    if ids.size and (ids.min() < 0 or ids.max() >= n - 1):
        raise GiStarError(f"Failed to compute Gi*: ids must lie in 0..{n - 2}, one per other cell.")
    around = adj @ yi  # the neighbours' counts, the cell's own left out
    return GiStar(
        z=_z_scores(y.astype(float), adj, cardinality),
        p_sim=_pseudo_p(yi, around, cardinality, ids),
        permutations=permutations,
    )


def _z_scores(y: np.ndarray, adj: sparse.csr_matrix, cardinality: np.ndarray) -> np.ndarray:
    """Gi*'s analytical z-score, in esda's order of floating operations (so equal to its)."""
    n = y.size
    total = y.sum()
    statistic = (adj @ y + y) / total
    mean = total / n
    mean_of_squares = (y**2).sum() / n
    variance = mean_of_squares - mean**2
    weight = (cardinality + 1).astype(float)  # the neighbours and the cell itself
    expected = weight / n
    expected_variance = weight * (n - weight)
    expected_variance /= n - 1
    expected_variance *= 1 / n**2
    expected_variance *= variance / (mean**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((statistic - expected) / np.sqrt(expected_variance))


def _pseudo_p(y: np.ndarray, around: np.ndarray, cardinality: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """How often a permutation's neighbourhood sum reaches the observed one, folded, per cell.

    A permutation's row of ids indexes the cells *other than* cell i: id t is cell t below i
    and cell t + 1 from i on. For the cells of one cardinality k (ascending) and one
    permutation, the sum of the k drawn counts is the sum over the unshifted ids plus, for each
    id t, ``y[t + 1] - y[t]`` on every cell i <= t: a step that a cumulative sum lays over all
    the group's cells at once.
    """
    permutations = ids.shape[0]
    larger = np.zeros(y.size, dtype=np.int64)
    for k in np.unique(cardinality).tolist():
        cells = np.flatnonzero(cardinality == k)
        if k == 0:
            # esda gives an island neither its own nor any other weight: every draw is 0.
            larger[cells] = permutations * (around[cells] + y[cells] <= 0)
            continue
        # The observed neighbourhood without the cell itself (the cell's count is on both sides).
        observed = around[cells]
        step = max(1, _CHUNK_ELEMENTS // max(cells.size, 1))
        for start in range(0, permutations, step):
            drawn = ids[start : start + step, :k]
            low = y[drawn]
            shift = y[drawn + 1] - low
            ends = np.searchsorted(cells, drawn, side="right")
            rows = np.arange(drawn.shape[0])[:, None]
            steps = np.zeros((drawn.shape[0], cells.size + 1), dtype=np.int64)
            steps[:, 0] = low.sum(axis=1) + shift.sum(axis=1)
            np.subtract.at(steps, (np.broadcast_to(rows, drawn.shape), ends), shift)
            sums = np.cumsum(steps[:, :-1], axis=1)
            larger[cells] += (sums >= observed).sum(axis=0)
    folded = np.minimum(larger, permutations - larger)
    p: np.ndarray = ((folded + 1.0) / (permutations + 1.0)).astype(np.float32)
    return p.astype(float)
