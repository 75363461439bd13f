"""Nearest neighbours of every item in an embedding: exact up to ``EXACT_ITEMS`` items, and the
same whatever the thread count.

Three routes, chosen by size (``embedding_neighbors``):

* a few dimensions: scipy's k-d tree (exact);
* many dimensions, up to ``EXACT_ITEMS`` items: an exact tiled search. The similarities of a block
  of ``ROWS`` queries against ``COLUMNS`` items at a time come from one BLAS product (a tile of
  about a megabyte, which stays in cache), and a compiled loop keeps each query's ``k + 1`` best in
  a heap, so most similarities cost one comparison — instead of a partial sort of every row of
  the whole similarity matrix. Query blocks are shared out among threads; each query's heap is
  filled by one thread, tile after tile in column order, so the result does not depend on the
  thread count;
* above: a partition search (``partition_neighbors``), approximate. A few rounds of k-means on a
  seeded sample place about √n centroids; each item belongs to its nearest. The queries of one
  cluster are searched together, against the items of the clusters nearest to any of them
  (``PROBES`` each), with the tiles and heaps of the exact search. On the planted catalogues'
  48-D embeddings the candidates are about 2% of the items and 99.85–99.99% of the exact
  neighbours are found, from 50k to 1M items (bench/README.md). The partition is computed in one
  thread and each query block by one thread, in a fixed order, so the result does not depend on
  the thread count either — unlike pynndescent, used here before, whose parallel descent applies
  the threads' updates in an order that depends on their count (0.3% of the neighbours of 20,000
  items changed between one and two threads), which would make the same command draw another map
  on a busier machine.

Ties are broken by the smaller item index, the item itself comes first.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from scipy.spatial import cKDTree
from threadpoolctl import threadpool_limits

from ..cores import fitted_thread_count

#: Up to this many dimensions a k-d tree finds exact neighbours fastest; above, a tiled search.
KD_TREE_DIMS = 10
#: Up to this many items the neighbours of a high-dimensional embedding are exact; above,
#: approximate (the partition search). The exact search grows with items²: in 48-D at k = 90 it
#: took 6 s of CPU at 50,000 items and 19 s at 95,000, the partition search 1.5 s and 3.4 s with
#: 99.99% of the same neighbours (bench/README.md).
EXACT_ITEMS = 50_000
#: Queries and items of one tile of the exact search (ROWS × COLUMNS float32: 1 MB).
ROWS = 128
COLUMNS = 2048
#: Queries whose found neighbours' distances are worked again at once (``exact_pairs``).
PAIR_ROWS = 1024
#: Similarities checked at once for any candidate before they are offered one by one.
SPAN = 64
#: The partition search: each query's candidates are the items of its ``PROBES`` nearest clusters
#: (and of those its block's other queries probe). On the planted catalogues' 48-D embeddings 8
#: found 99.86% (k = 15) and 99.88% (k = 90) of the exact neighbours at 300k items, 99.92% and
#: 99.85% at 1M; 5 found 99.8% at 300k, 12 99.95% in 20–40% more time (bench/README.md).
PROBES = 8
#: k-means rounds that place the centroids, on a seeded sample of ``SAMPLE_PER_CENTROID`` rows a
#: centroid: the partition only has to keep neighbours together, not be converged.
ROUNDS = 10
SAMPLE_PER_CENTROID = 64


Found = tuple[np.ndarray, np.ndarray]
"""Each item's neighbours, the item itself first, nearest first: indices (n, k + 1) int64 and
distances (n, k + 1) float32 in the search's metric."""


def search_neighbors(x: np.ndarray, k: int, metric: str) -> Found:
    """The ``k`` nearest neighbours of every row of ``x`` (self first); ``metric`` "cosine" for unit
    rows (distance 1 − cosine similarity), else Euclidean."""
    k = min(k, x.shape[0] - 1)
    if x.shape[1] <= KD_TREE_DIMS and metric != "cosine":
        return kd_tree_neighbors(x.astype(np.float64), k)
    if x.shape[0] > EXACT_ITEMS:
        return partition_neighbors(x, k, metric)
    return exact_neighbors(x, k, metric)


def kd_tree_neighbors(x: np.ndarray, k: int) -> Found:
    dist, idx = cKDTree(x).query(x, k=k + 1, workers=fitted_thread_count())
    # a duplicate point may come before the item itself: put the item first
    self_pos = idx == np.arange(x.shape[0])[:, None]
    for i in np.flatnonzero(~self_pos[:, 0]):
        row = [i] + [j for j in idx[i] if j != i][:k]
        idx[i] = row
        dist[i] = np.r_[0.0, np.linalg.norm(x[row[1:]] - x[i], axis=1)]
    return idx.astype(np.int64), dist.astype(np.float32)


def exact_neighbors(x: np.ndarray, k: int, metric: str, *, threads: int | None = None, queries: np.ndarray | None = None) -> Found:
    """Exact neighbours by tiles (see the module's docstring), of every row or of the rows
    ``queries`` only (one result row each, in their order). For unit rows (cosine) the score is the
    dot product; else 2·a·b − ‖b‖², which ranks like −‖a − b‖²."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    k = min(k, n - 1)
    queries = np.arange(n, dtype=np.int64) if queries is None else np.asarray(queries, dtype=np.int64)
    m = queries.shape[0]
    squared = np.einsum("ij,ij->i", x, x, dtype=np.float64).astype(np.float32)
    indices = np.empty((m, k + 1), dtype=np.int64)
    distances = np.empty((m, k + 1), dtype=np.float32)
    cosine = metric == "cosine"

    def block(lo: int) -> None:
        hi = min(m, lo + ROWS)
        owners = queries[lo:hi]
        rows = x[owners]
        heap_score = np.full((hi - lo, k + 1), -np.inf, dtype=np.float32)
        heap_index = np.full((hi - lo, k + 1), n, dtype=np.int64)  # n: worse than any item
        for start in range(0, n, COLUMNS):
            stop = min(n, start + COLUMNS)
            tile = rows @ x[start:stop].T
            if not cosine:
                tile *= 2
                tile -= squared[start:stop]
            _keep_best(tile, owners, start, heap_score, heap_index)
        _sort_heaps(heap_score, heap_index)
        heap_score[:, 0] = 1.0 if cosine else squared[owners]  # the item itself (scored +inf while searching)
        indices[lo:hi], distances[lo:hi] = exact_pairs(rows, x, heap_index, cosine)

    starts = range(0, m, ROWS)
    workers = max(1, threads or fitted_thread_count())
    with threadpool_limits(1, "blas"):  # the threads share out query blocks, not products
        if workers == 1:
            for lo in starts:
                block(lo)
        else:
            with ThreadPoolExecutor(workers) as pool:
                for _ in pool.map(block, starts):
                    pass
    return indices, distances


def partition_neighbors(x: np.ndarray, k: int, metric: str, *, threads: int | None = None) -> Found:
    """Approximate neighbours of every row by the partition search (see the module's docstring),
    in the format of ``exact_neighbors``."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    k = min(k, n - 1)
    workers = max(1, threads or fitted_thread_count())
    with threadpool_limits(1, "blas"):
        partition = Partition.of(x, workers)
        return partition.search(x, partition.labels, np.arange(n, dtype=np.int64), k + 1, metric == "cosine", workers)


def neighbors_among(base: np.ndarray, points: np.ndarray, k: int, *, threads: int | None = None) -> Found:
    """The ``k`` nearest rows of ``base`` (Euclidean) to each of ``points``, nearest first, by the
    partition search: indices into ``base`` (m, k) and distances (m, k)."""
    base = np.ascontiguousarray(base, dtype=np.float32)
    points = np.ascontiguousarray(points, dtype=np.float32)
    k = min(k, base.shape[0])
    workers = max(1, threads or fitted_thread_count())
    with threadpool_limits(1, "blas"):
        partition = Partition.of(base, workers)
        labels = nearest_centroids(points, partition.centroids, workers)
        return partition.search(points, labels, np.full(points.shape[0], -1, dtype=np.int64), k, False, workers)


class Partition:
    """The rows of ``base`` grouped by their nearest centroid: ``members[starts[c]:starts[c + 1]]``
    are cluster c's rows, in index order; ``labels`` each row's cluster."""

    def __init__(self, base: np.ndarray, centroids: np.ndarray, labels: np.ndarray) -> None:
        self.base, self.centroids, self.labels = base, centroids, labels
        self.members = np.argsort(labels, kind="stable")
        self.sizes = np.bincount(labels, minlength=centroids.shape[0])
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)])

    @classmethod
    def of(cls, base: np.ndarray, workers: int) -> "Partition":
        """The partition of ``base`` by about √n seeded k-means centroids (BLAS pinned to one
        thread by the caller; the centroids are computed in this thread)."""
        count = max(1, min(base.shape[0], int(round(np.sqrt(base.shape[0])))))
        centroids = fit_centroids(base, count)
        return cls(base, centroids, nearest_centroids(base, centroids, workers))

    def search(self, points: np.ndarray, labels: np.ndarray, owners: np.ndarray, size: int, cosine: bool, workers: int) -> Found:
        """Each point's ``size`` best rows of ``base``, its owner (the row it is, or −1) first.
        Points are searched in blocks of one cluster's points; a block's answer is computed whole
        by one thread, so it does not depend on ``workers``."""
        m = points.shape[0]
        twins = self.twins() if np.any(owners >= 0) else None
        squared = np.einsum("ij,ij->i", self.base, self.base, dtype=np.float64).astype(np.float32)
        point_squared = np.einsum("ij,ij->i", points, points, dtype=np.float64).astype(np.float32)
        half_norms = 0.5 * np.einsum("ij,ij->i", self.centroids, self.centroids)
        indices = np.empty((m, size), dtype=np.int64)
        distances = np.empty((m, size), dtype=np.float32)

        def block(rows: np.ndarray) -> None:
            queries = points[rows]
            items = self.candidates(queries @ self.centroids.T - half_norms, size)
            heap_score = np.full((rows.size, size), -np.inf, dtype=np.float32)
            heap_index = np.full((rows.size, size), self.base.shape[0], dtype=np.int64)  # worse than any row
            own = owners[rows]
            heap_score[own >= 0, -1] = np.inf  # the point itself, first (a leaf: the heap stays a heap)
            heap_index[own >= 0, -1] = own[own >= 0]
            mine = None if twins is None else np.where(own >= 0, twins[np.maximum(own, 0)], -1)[:, None]  # each query's group
            for start in range(0, items.size, COLUMNS):
                columns = items[start:start + COLUMNS]
                tile = queries @ self.base[columns].T
                if not cosine:
                    tile *= 2
                    tile -= squared[columns]
                if twins is not None:  # a row equal to the query's own scores as the query itself
                    same = (twins[columns][None, :] == mine).nonzero()
                    tile[same] = 1.0 if cosine else point_squared[rows][same[0]]
                _keep_best_among(tile, own, columns, heap_score, heap_index)
            _sort_heaps(heap_score, heap_index)
            heap_score[own >= 0, 0] = 1.0 if cosine else point_squared[rows][own >= 0]
            indices[rows], distances[rows] = exact_pairs(queries, self.base, heap_index, cosine, first=int(np.all(own >= 0)))

        blocks = query_blocks(labels)
        if workers == 1:
            for rows in blocks:
                block(rows)
        else:
            with ThreadPoolExecutor(workers) as pool:
                for _ in pool.map(block, blocks):
                    pass
        return indices, distances

    def twins(self) -> np.ndarray | None:
        """Each row's group of rows equal to it (items with the same embedding), or None where
        every row is distinct. The tiles' products of equal rows can differ in their last bit with
        their column in the tile (as this machine's BLAS kernel does), which would rank equal rows
        by rounding instead of by index: such rows are given the query's own exact score."""
        rows = np.ascontiguousarray(self.base)
        keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
        _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
        return group.astype(np.int64) if np.any(counts > 1) else None

    def candidates(self, scores: np.ndarray, size: int) -> np.ndarray:
        """The rows a block of queries searches, from their ``scores`` against the centroids
        (higher: nearer): the members of each query's ``PROBES`` nearest clusters, and of the next
        nearest to the block until there are ``size``; nearest cluster first, so that the heaps
        fill with good rows early."""
        count = scores.shape[1]
        order = np.argsort(-scores.max(axis=0), kind="stable")  # clusters, nearest to the block first
        probed = np.zeros(count, dtype=bool)
        if PROBES < count:
            probed[np.argpartition(-scores, PROBES - 1, axis=1)[:, :PROBES].ravel()] = True
        else:
            probed[:] = True
        chosen = order[probed[order]]
        rest = order[~probed[order]]
        short = size - self.sizes[chosen].sum()
        if short > 0 and rest.size:  # a full heap needs ``size`` rows
            chosen = np.concatenate([chosen, rest[: np.searchsorted(np.cumsum(self.sizes[rest]), short) + 1]])
        return np.concatenate([self.members[self.starts[c]:self.starts[c + 1]] for c in chosen])


def fit_centroids(x: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` centroids from ``ROUNDS`` rounds of k-means on a seeded sample of ``x``, starting
    from sampled rows. Sums run in a fixed order, in one thread."""
    n = x.shape[0]
    rng = np.random.default_rng([seed, n, count])
    sample = x[np.sort(rng.choice(n, min(n, SAMPLE_PER_CENTROID * count), replace=False))]
    centroids = sample[np.sort(rng.choice(sample.shape[0], count, replace=False))].astype(np.float32)
    for _ in range(ROUNDS):
        labels = nearest_centroids(sample, centroids, 1)
        order = np.argsort(labels, kind="stable")
        sizes = np.bincount(labels, minlength=count)
        filled = np.flatnonzero(sizes)
        sums = np.add.reduceat(sample[order].astype(np.float64), np.concatenate([[0], np.cumsum(sizes)])[filled], axis=0)
        centroids[filled] = (sums / sizes[filled, None]).astype(np.float32)  # an empty cluster keeps its centroid
    return centroids


def nearest_centroids(x: np.ndarray, centroids: np.ndarray, workers: int) -> np.ndarray:
    """Each row's nearest centroid (Euclidean; ties: the first), rows shared out among threads."""
    half_norms = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    labels = np.empty(x.shape[0], dtype=np.int64)

    def chunk(lo: int) -> None:
        labels[lo:lo + 4096] = np.argmax(x[lo:lo + 4096] @ centroids.T - half_norms, axis=1)

    starts = range(0, x.shape[0], 4096)
    if workers == 1:
        for lo in starts:
            chunk(lo)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(chunk, starts):
                pass
    return labels


def query_blocks(labels: np.ndarray) -> list[np.ndarray]:
    """The queries cut into blocks of at most ``ROWS`` of one cluster, in index order."""
    order = np.argsort(labels, kind="stable")
    ends = np.flatnonzero(np.diff(labels[order])) + 1
    return [block for group in np.split(order, ends) for block in np.array_split(group, -(-group.size // ROWS))]


def exact_pairs(points: np.ndarray, base: np.ndarray, indices: np.ndarray, cosine: bool, first: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The found neighbours' distances worked again pair by pair, each in the same order of sums
    wherever its query and its neighbour sat in their tiles, and columns ``first:`` sorted by
    them (ties by index). A tile's products can differ in their last bit with a row's place in
    it (as this machine's BLAS kernel does), so a query searched alone or among others, or equal
    rows, would otherwise rank and measure by rounding."""
    m, size = indices.shape
    distances = np.zeros((m, size), dtype=np.float32)
    for lo in range(0, m, PAIR_ROWS):
        hi = min(m, lo + PAIR_ROWS)
        near = base[indices[lo:hi]].astype(np.float64)
        here = points[lo:hi].astype(np.float64)[:, None, :]
        if cosine:
            distances[lo:hi] = np.maximum(1.0 - np.einsum("ijk,ijk->ij", near, np.broadcast_to(here, near.shape)), 0.0)
        else:
            gap = near - here
            distances[lo:hi] = np.sqrt(np.einsum("ijk,ijk->ij", gap, gap))
    rest = np.lexsort((indices[:, first:], distances[:, first:]), axis=-1)
    indices = np.concatenate([indices[:, :first], np.take_along_axis(indices[:, first:], rest, axis=1)], axis=1)
    distances = np.concatenate([np.zeros((m, first), dtype=np.float32), np.take_along_axis(distances[:, first:], rest, axis=1)], axis=1)
    return indices, distances


@numba.njit(cache=True, inline="always")
def _worse(score_a, index_a, score_b, index_b):  # pragma: no cover - compiled
    """Whether (score_a, index_a) ranks below (score_b, index_b): a lower score, or the same score
    and a larger index."""
    return score_a < score_b or (score_a == score_b and index_a > index_b)


@numba.njit(cache=True, inline="always")
def _sift_down(score, index, size, pos, value, item):  # pragma: no cover - compiled
    """Put (value, item) at ``pos`` of a heap whose root is its worst entry and restore the order."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _worse(score[child + 1], index[child + 1], score[child], index[child]):
            child += 1
        if _worse(score[child], index[child], value, item):
            score[pos] = score[child]
            index[pos] = index[child]
            pos = child
        else:
            break
    score[pos] = value
    index[pos] = item


@numba.njit(nogil=True, cache=True)
def _keep_best(tile, owners, col0, heap_score, heap_index):  # pragma: no cover - compiled
    """Offer every similarity of ``tile`` (queries: the items ``owners``; items ``col0…``) to its query's heap
    of the k + 1 best (full heaps, root the worst, padded with −inf and index n); the query itself
    scores +inf, so it comes first."""
    rows, cols = tile.shape
    size = heap_score.shape[1]
    for r in range(rows):
        score = heap_score[r]
        index = heap_index[r]
        own = owners[r] - col0
        if 0 <= own < cols:
            tile[r, own] = np.inf
        worst, worst_index = score[0], index[0]
        for lo in range(0, cols, SPAN):
            hi = min(cols, lo + SPAN)
            hits = 0
            for c in range(lo, hi):  # the common case: no candidate in the span (a vectorised count)
                hits += tile[r, c] >= worst
            if hits == 0:
                continue
            for c in range(lo, hi):
                value = tile[r, c]
                if value < worst:
                    continue
                item = col0 + c
                if value > worst or item < worst_index:
                    _sift_down(score, index, size, 0, value, item)
                    worst, worst_index = score[0], index[0]


@numba.njit(nogil=True, cache=True)
def _keep_best_among(tile, owners, columns, heap_score, heap_index):  # pragma: no cover - compiled
    """``_keep_best`` for a tile of gathered rows: column c is row ``columns[c]``. A query's own
    row (``owners``, −1: none) is skipped: the heaps hold it already."""
    rows, cols = tile.shape
    size = heap_score.shape[1]
    for r in range(rows):
        score = heap_score[r]
        index = heap_index[r]
        own = owners[r]
        worst, worst_index = score[0], index[0]
        for lo in range(0, cols, SPAN):
            hi = min(cols, lo + SPAN)
            hits = 0
            for c in range(lo, hi):
                hits += tile[r, c] >= worst
            if hits == 0:
                continue
            for c in range(lo, hi):
                value = tile[r, c]
                if value < worst:
                    continue
                item = columns[c]
                if item == own:
                    continue
                if value > worst or item < worst_index:
                    _sift_down(score, index, size, 0, value, item)
                    worst, worst_index = score[0], index[0]


@numba.njit(nogil=True, cache=True)
def _sort_heaps(heap_score, heap_index):  # pragma: no cover - compiled
    """Each heap row in place, best first (the worst is popped to the end, one at a time)."""
    rows, size = heap_score.shape
    for r in range(rows):
        score = heap_score[r]
        index = heap_index[r]
        for end in range(size - 1, 0, -1):
            worst_score, worst_index = score[0], index[0]
            _sift_down(score, index, end, 0, score[end], index[end])
            score[end] = worst_score
            index[end] = worst_index
