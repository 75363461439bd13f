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


def clustered(n: int, dims: int, seed: int) -> np.ndarray:
    """Unit rows around a few dozen centres, as embeddings are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dims))
    x = (centres[rng.integers(0, 40, n)] + 0.7 * rng.normal(size=(n, dims))).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(a, b)) / len(b) for a, b in zip(found, exact)]))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_large_catalogues_get_the_partition_search_which_finds_almost_all_neighbours(monkeypatch, metric):
    partition_neighbors = knn.partition_neighbors
    monkeypatch.setattr(knn, "EXACT_ITEMS", 500)
    monkeypatch.setattr(knn, "ROWS", 32)  # several query blocks a cluster
    x = clustered(4000, 24, 1)
    if metric == "euclidean":
        x *= np.random.default_rng(2).uniform(0.5, 2.0, size=(4000, 1)).astype(np.float32)
    calls = []
    monkeypatch.setattr(knn, "partition_neighbors", lambda *a: calls.append(a) or partition_neighbors(*a))
    idx, dist = knn.search_neighbors(x, 30, metric)
    assert len(calls) == 1
    exact, exact_dist = knn.exact_neighbors(x, 30, metric)
    assert idx.shape == dist.shape == (4000, 31) and idx.dtype == np.int64 and dist.dtype == np.float32
    assert np.array_equal(idx[:, 0], np.arange(4000)) and np.all(dist[:, 0] == 0)
    assert recall(idx, exact) >= 0.99
    assert np.all(np.diff(dist, axis=1) >= 0)
    expected = 1 - np.einsum("ij,ij->i", x[idx[:, 7]], x) if metric == "cosine" else np.linalg.norm(x[idx[:, 7]] - x, axis=1)
    np.testing.assert_allclose(dist[:, 7], expected, atol=2e-3)
    found_exactly = np.all(idx == exact, axis=1)
    assert found_exactly.mean() > 0.7
    np.testing.assert_allclose(dist[found_exactly], exact_dist[found_exactly], atol=1e-5)


def test_the_partition_search_breaks_ties_by_index_and_puts_the_item_first():
    rng = np.random.default_rng(5)
    x = np.repeat(rng.normal(size=(60, 16)), 25, axis=0).astype(np.float32)  # 60 groups of 25 identical points
    x = x[rng.permutation(len(x))]
    idx, dist = knn.partition_neighbors(x, 6, "euclidean", threads=1)
    for i in range(0, len(x), 37):
        same = np.flatnonzero(np.all(x == x[i], axis=1))
        assert idx[i].tolist() == [i] + [j for j in same if j != i][:6]
    assert np.all(dist[:, 0] == 0) and dist.max() < 1e-2  # equal points: 0 up to float32 rounding


def test_the_partition_search_gives_the_same_bytes_with_one_and_two_threads_and_every_time(monkeypatch):
    monkeypatch.setattr(knn, "ROWS", 16)
    x = np.round(clustered(3000, 20, 7), 1)  # many equal distances
    one = knn.partition_neighbors(x, 25, "cosine", threads=1)
    two = knn.partition_neighbors(x, 25, "cosine", threads=2)
    again = knn.partition_neighbors(x, 25, "cosine", threads=2)
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(one, two, again))


def test_the_partition_centroids_do_not_depend_on_the_thread_count():
    x = clustered(3000, 20, 8)
    assert np.array_equal(knn.nearest_centroids(x, x[:50], 1), knn.nearest_centroids(x, x[:50], 3))
    assert np.array_equal(knn.fit_centroids(x, 55), knn.fit_centroids(x, 55))


def test_neighbours_among_other_points_are_those_of_a_full_sort():
    x = clustered(3700, 16, 9) * 3.0
    base, points = x[:3000], x[3000:]  # landmarks and the other items, from one catalogue
    idx, dist = knn.neighbors_among(base, points, 8, threads=2)
    true = np.argsort(((points[:, None, :] - base[None, :, :]) ** 2).sum(axis=2), axis=1, kind="stable")[:, :8]
    assert idx.shape == dist.shape == (700, 8)
    assert recall(idx, true) >= 0.99
    np.testing.assert_allclose(dist[:, 0], np.linalg.norm(points - base[idx[:, 0]], axis=1), atol=2e-3)


def test_the_neighbours_of_some_queries_are_those_of_the_whole_search():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 16)).astype(np.float32)
    every, every_dist = knn.exact_neighbors(x, 7, "euclidean", threads=1)
    queries = np.array([499, 3, 250, 3])
    some, some_dist = knn.exact_neighbors(x, 7, "euclidean", queries=queries)
    assert np.array_equal(some, every[queries]) and np.array_equal(some_dist, every_dist[queries])
