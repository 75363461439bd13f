"""The embedding's neighbour search (atlas/projections/knn.py): exact where it says so, the item
first, ties by index, and the same answer at every thread count."""

from __future__ import annotations

import numpy as np
import pytest

from atlas.projections import knn


def brute_force(x: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Each row's k nearest by a full sort of exact float64 distances (ties: smaller index)."""
    x = x.astype(np.float64)
    if metric == "cosine":
        dist = 1.0 - x @ x.T
    else:
        dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(dist, -1.0)  # the item itself first
    return np.lexsort((np.broadcast_to(np.arange(len(x)), dist.shape), dist), axis=1)[:, : k + 1]


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_the_exact_search_finds_the_true_neighbours_across_tiles(monkeypatch, metric):
    monkeypatch.setattr(knn, "ROWS", 16)
    monkeypatch.setattr(knn, "COLUMNS", 64)  # many tiles, and a last one cut short
    rng = np.random.default_rng(3)
    x = rng.normal(size=(301, 24)).astype(np.float32)
    if metric == "cosine":
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    idx, dist = knn.exact_neighbors(x, 12, metric, threads=1)
    assert idx.shape == dist.shape == (301, 13)
    np.testing.assert_array_equal(idx, brute_force(x, 12, metric))
    assert np.all(dist[:, 0] == 0) and np.all(np.diff(dist, axis=1) >= -1e-6)
    expected = 1 - np.einsum("ij,ij->i", x[idx[:, 5]], x) if metric == "cosine" else np.linalg.norm(x[idx[:, 5]] - x, axis=1)
    np.testing.assert_allclose(dist[:, 5], expected, atol=2e-3)


def test_ties_go_to_the_smaller_index_and_duplicates_do_not_displace_the_item():
    x = np.zeros((40, 16), dtype=np.float32)
    x[:, 0] = np.repeat([0.0, 1.0], 20)  # two groups of 20 identical points
    idx, dist = knn.exact_neighbors(x, 5, "euclidean", threads=1)
    assert np.array_equal(idx[:, 0], np.arange(40))
    assert idx[25].tolist() == [25, 20, 21, 22, 23, 24] and idx[0].tolist() == [0, 1, 2, 3, 4, 5]
    assert np.all(dist == 0)


def test_the_exact_search_gives_the_same_bytes_with_one_and_two_threads(monkeypatch):
    monkeypatch.setattr(knn, "ROWS", 32)
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=(700, 20)), 1).astype(np.float32)  # many equal distances
    one = knn.exact_neighbors(x, 30, "euclidean", threads=1)
    two = knn.exact_neighbors(x, 30, "euclidean", threads=2)
    assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_large_catalogues_get_approximate_neighbours_in_one_thread(monkeypatch):
    import numba

    monkeypatch.setattr(knn, "EXACT_ITEMS", 500)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(12, 20))
    x = (centres[rng.integers(0, 12, 1200)] + 0.3 * rng.normal(size=(1200, 20))).astype(np.float32)  # clustered, as embeddings are
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    before = numba.get_num_threads()
    idx, dist = knn.search_neighbors(x, 10, "cosine")
    assert numba.get_num_threads() == before  # restored
    exact, _ = knn.exact_neighbors(x, 10, "cosine")
    assert np.array_equal(idx[:, 0], np.arange(1200))
    recall = np.mean([len(np.intersect1d(a[1:], b[1:])) / 10 for a, b in zip(idx, exact)])
    assert recall > 0.9
    again, _ = knn.search_neighbors(x, 10, "cosine")
    assert np.array_equal(idx, again)


def test_the_neighbours_of_some_queries_are_those_of_the_whole_search():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 16)).astype(np.float32)
    every, every_dist = knn.exact_neighbors(x, 7, "euclidean", threads=1)
    queries = np.array([499, 3, 250, 3])
    some, some_dist = knn.exact_neighbors(x, 7, "euclidean", queries=queries)
    assert np.array_equal(some, every[queries]) and np.array_equal(some_dist, every_dist[queries])
