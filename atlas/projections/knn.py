"""Nearest neighbours of every item in an embedding: exact, and the same whatever the thread count.

Three routes, chosen by size (``embedding_neighbors``):

* a few dimensions: scipy's k-d tree (exact);
* many dimensions, up to ``EXACT_ITEMS`` items: an exact tiled search. The similarities of a block
  of ``ROWS`` queries against ``COLUMNS`` items at a time come from one BLAS product (a tile of
  about a megabyte, which stays in cache), and a compiled loop keeps each query's ``k + 1`` best in
  a heap, so most similarities cost one comparison — instead of a partial sort of every row of
  the whole similarity matrix. Query blocks are shared out among threads; each query's heap is
  filled by one thread, tile after tile in column order, so the result does not depend on the
  thread count;
* above: pynndescent, in one thread. Its parallel descent applies the threads' updates in an
  order that depends on their count (0.3% of the neighbours of 20,000 items changed between one
  and two threads), which would make the same command draw another map on a busier machine.

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
#: approximate (pynndescent). The exact search grows with items²: on the 2-core machine 95k items
#: in 48-D took about as long as pynndescent's single-threaded search (bench/README.md).
EXACT_ITEMS = 150_000
#: Queries and items of one tile of the exact search (ROWS × COLUMNS float32: 1 MB).
ROWS = 128
COLUMNS = 2048
#: Similarities checked at once for any candidate before they are offered one by one.
SPAN = 64


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
        return approximate_neighbors(x, k, metric)
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
        indices[lo:hi] = heap_index
        if cosine:
            distances[lo:hi] = np.maximum(1.0 - heap_score, 0.0)
        else:
            distances[lo:hi] = np.sqrt(np.maximum(squared[owners, None] - heap_score, 0.0))

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


def approximate_neighbors(x: np.ndarray, k: int, metric: str) -> Found:
    """pynndescent's neighbour graph, searched in one thread (see the module's docstring)."""
    from pynndescent import NNDescent

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        index = NNDescent(x, metric="cosine" if metric == "cosine" else "euclidean", n_neighbors=k + 1, random_state=0, n_jobs=1)
        idx, dist = index.neighbor_graph
    finally:
        numba.set_num_threads(previous)
    return np.asarray(idx, dtype=np.int64), np.maximum(np.asarray(dist, dtype=np.float32), 0.0)


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
