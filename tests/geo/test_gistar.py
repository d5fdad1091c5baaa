"""rxtrace's Gi* against esda's ``G_Local`` (star, binary weights), value for value."""

from __future__ import annotations

import numpy as np
import pytest
from gistar_reference import esda_gi_star, esda_weights, h3_patch

from rxtrace.geo.gistar import GiStarError, gi_star, permuted_ids


def skewed_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mostly zeros and ones with a few busy cells: ties everywhere, as real counts have."""
    y = rng.poisson(0.6, n).astype(float)
    busy = rng.integers(0, n, max(1, n // 40))
    y[busy] += rng.integers(3, 60, busy.size)
    return y


@pytest.mark.parametrize(("seed", "n_cells", "permutations"), [(1, 40, 99), (2, 700, 999), (3, 3000, 499)])
def test_equals_esda_given_the_same_permutations(seed: int, n_cells: int, permutations: int) -> None:
    from esda.crand import vec_permutations

    adj = h3_patch(n_cells)
    y = skewed_counts(np.random.default_rng(seed), adj.shape[0])
    want_z, want_p = esda_gi_star(y, esda_weights(adj), permutations, seed)
    cardinality = np.diff(adj.indptr)
    assert len(set(cardinality.tolist())) >= 4 and cardinality.max() == 6  # edges and interior
    # esda draws its permutations with this function and this seed; fed the same ids, every
    # z-score and every pseudo p-value must be esda's exactly, ties included.
    ids = vec_permutations(int(cardinality.max()), adj.shape[0], permutations, seed)
    got = gi_star(y, adj, ids=ids)
    assert np.array_equal(got.z, want_z)
    assert np.array_equal(got.p_sim, want_p)
    assert 0 < (want_p < 0.01).sum() < y.size  # a test with significant and ordinary cells


def test_an_island_is_what_esda_makes_of_it() -> None:
    from esda.crand import vec_permutations

    adj = h3_patch(30).tolil()
    adj[5, :] = 0
    adj[:, 5] = 0
    adj = adj.tocsr()
    adj.eliminate_zeros()
    y = skewed_counts(np.random.default_rng(9), 30)
    y[5] = 4.0
    want_z, want_p = esda_gi_star(y, esda_weights(adj), 99, 4)
    ids = vec_permutations(int(np.diff(adj.indptr).max()), 30, 99, 4)
    got = gi_star(y, adj, ids=ids)
    assert np.array_equal(got.p_sim, want_p)
    assert np.array_equal(got.z, want_z)


def test_own_permutations_are_distinct_reproducible_and_give_esdas_test() -> None:
    adj = h3_patch(2000)
    y = skewed_counts(np.random.default_rng(5), adj.shape[0])
    ids = permuted_ids(6, adj.shape[0], 999, seed=12345)
    assert all(len(set(row)) == 6 for row in ids.tolist())
    assert ids.min() >= 0 and ids.max() < adj.shape[0] - 1
    assert np.array_equal(ids, permuted_ids(6, adj.shape[0], 999, seed=12345))
    got = gi_star(y, adj, ids=ids).p_sim
    _, esda_p = esda_gi_star(y, esda_weights(adj), 999, 12345)
    # Other draws, the same test: the cells esda finds significant are found here too, bar
    # the few at the threshold that any two runs of a permutation test disagree on.
    theirs, ours = set(np.flatnonzero(esda_p <= 0.01)), set(np.flatnonzero(got <= 0.01))
    assert len(theirs ^ ours) <= 0.1 * len(theirs | ours), (len(theirs), len(ours))


def test_few_cells_draw_by_shuffle() -> None:
    ids = permuted_ids(6, 9, 500, seed=3)
    assert ids.shape == (500, 6)
    assert all(len(set(row)) == 6 for row in ids.tolist())
    # Every one of the eight other cells is drawn in the first column about equally often.
    counts = np.bincount(ids[:, 0], minlength=8)
    assert counts.min() > 30


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (np.array([1.0, 2.5, 3.0]), "expected whole counts, got 2.5 at cell 1"),
        (np.array([1.0, np.nan, 3.0]), "expected a vector of finite counts"),
    ],
)
def test_counts_that_are_not_whole_are_refused(counts: np.ndarray, message: str) -> None:
    adj = h3_patch(3)
    with pytest.raises(GiStarError, match=message):
        gi_star(counts, adj, ids=permuted_ids(2, 3, 9, seed=1))


def test_too_few_ids_for_the_neighbours_are_refused() -> None:
    adj = h3_patch(10)
    with pytest.raises(GiStarError, match=r"ids of shape \(9, 2\) for up to [3-6] neighbours"):
        gi_star(np.arange(10.0), adj, ids=permuted_ids(2, 10, 9, seed=1))


def test_ids_outside_the_other_cells_and_a_lone_cell_are_refused() -> None:
    adj = h3_patch(10)
    ids = permuted_ids(6, 10, 9, seed=1)
    ids[0, 0] = 9  # there are nine other cells: 0..8
    with pytest.raises(GiStarError, match=r"ids must lie in 0\.\.8"):
        gi_star(np.arange(10.0), adj, ids=ids)
    with pytest.raises(GiStarError, match="at least 2 cells, got 1"):
        gi_star(np.array([3.0]), adj[:1, :1], ids=np.empty((9, 0), dtype=np.int64))


def test_a_weight_other_than_one_is_a_neighbour_and_a_stored_zero_is_none() -> None:
    adj = h3_patch(200)
    y = skewed_counts(np.random.default_rng(2), 200)
    ids = permuted_ids(6, 200, 199, seed=2)
    plain = gi_star(y, adj, ids=ids)
    weighted = adj.copy()
    weighted.data[:] = 2.5
    weighted.setdiag(1.0)  # a diagonal given is dropped: the cell is always its own neighbour
    assert np.array_equal(gi_star(y, weighted, ids=ids).p_sim, plain.p_sim)
    zeroed = adj.copy()
    zeroed.data[: zeroed.indptr[1]] = 0  # cell 0's links stored as zeros: cell 0 is an island
    got = gi_star(y, zeroed, ids=ids)
    assert not np.array_equal(got.z, plain.z)
    assert got.z[0] != plain.z[0]
