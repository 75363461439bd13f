"""Stage 3 — co-occurrence: each item's strongest partners, without the item × item matrix.

For item i the kernel walks the users of i and, for each, the items of that user, adding
``w_ui * w_uj`` into a dense per-thread accumulator — one row of XᵀX at a time. The row is
scored (count, cosine, Jaccard or positive PMI) and only its ``n_candidates`` best entries are
kept in a small heap. Memory is O(items × n_candidates) plus one accumulator per thread,
instead of the O(nnz(XᵀX)) that a sparse matrix product materialises.

Pairs that a weighting rejects (PMI ≤ 0, fewer than ``min_count`` shared users) are not lost:
they are kept behind every accepted pair with a negative score ordered by count, so that an
item with too few accepted partners still gets neighbours (the graph stage marks them).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from .errors import AtlasError, check_choice, check_range
from .profiles import Profiles

log = logging.getLogger(__name__)

WEIGHTINGS = ("count", "cosine", "jaccard", "pmi")
_METHOD_CODE = {name: code for code, name in enumerate(WEIGHTINGS)}


@dataclass(frozen=True)
class CooccurrenceParams:
    """How to score item pairs and how many candidates per item to keep.

    ``n_candidates`` bounds the graph's ``n_neighbors`` that can be served without recomputing.
    """

    weighting: str = "cosine"
    min_count: float = 1.0
    n_candidates: int = 64

    def __post_init__(self) -> None:
        check_choice("weighting", self.weighting, WEIGHTINGS)
        check_range("min_count", self.min_count, 0)
        check_range("n_candidates", self.n_candidates, 1, 4096)


@dataclass(frozen=True, eq=False)
class Candidates:
    """Each item's best partners, best first: ``index[i, r]`` (−1 pads), ``score[i, r]``
    (negative = rejected by the weighting, kept as fall-back) and ``count[i, r]``."""

    index: np.ndarray  # int32, n_items × n_candidates
    score: np.ndarray  # float32
    count: np.ndarray  # float32: Σ_u w_ui w_uj
    weighting: str
    pair_updates: int
    key: str = ""
    seconds: float = 0.0

    @property
    def n_items(self) -> int:
        return self.index.shape[0]


@numba.njit(cache=True, inline="always")
def _score(method: int, s: float, di: float, dj: float, mi: float, mj: float, n_users: float, min_count: float) -> float:
    if s < min_count:
        return -1.0 / (1.0 + s)
    if method == 0:
        return s
    if method == 1:
        return s / math.sqrt(di * dj)
    if method == 2:
        return s / (di + dj - s)
    pmi = math.log(s * n_users / (mi * mj))
    if pmi <= 0.0:
        return -1.0 / (1.0 + s)
    return pmi


@numba.njit(cache=True, inline="always")
def _sift_down(keys, idx, size, pos):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        if left + 1 < size and keys[left + 1] < keys[left]:
            child = left + 1
        if keys[child] < keys[pos]:
            keys[child], keys[pos] = keys[pos], keys[child]
            idx[child], idx[pos] = idx[pos], idx[child]
            pos = child
        else:
            return


@numba.njit(cache=True, inline="always")
def _sift_up(keys, idx, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if keys[pos] < keys[parent]:
            keys[pos], keys[parent] = keys[parent], keys[pos]
            idx[pos], idx[parent] = idx[parent], idx[pos]
            pos = parent
        else:
            return


@numba.njit(parallel=True, cache=True)
def _topk_block(
    items, n_chunks, user_ptr, user_items, user_w, item_ptr, item_users, item_w,
    diag, mass, n_users, method, min_count, out_index, out_score,
):  # pragma: no cover - compiled
    n_items = diag.shape[0]
    m = out_index.shape[1]
    n = items.shape[0]
    for chunk in numba.prange(n_chunks):
        acc = np.zeros(n_items, dtype=np.float32)
        touched = np.empty(n_items, dtype=np.int32)
        heap_key = np.empty(m, dtype=np.float32)
        heap_idx = np.empty(m, dtype=np.int32)
        for t in range(chunk, n, n_chunks):
            i = items[t]
            n_touched = 0
            for p in range(item_ptr[i], item_ptr[i + 1]):
                u = item_users[p]
                wi = item_w[p]
                for q in range(user_ptr[u], user_ptr[u + 1]):
                    j = user_items[q]
                    if acc[j] == 0.0:
                        touched[n_touched] = j
                        n_touched += 1
                    acc[j] += wi * user_w[q]
            size = 0
            for r in range(n_touched):
                j = touched[r]
                s = acc[j]
                acc[j] = 0.0
                if j == i:
                    continue
                key = _score(method, s, diag[i], diag[j], mass[i], mass[j], n_users, min_count)
                if size < m:
                    heap_key[size] = key
                    heap_idx[size] = j
                    _sift_up(heap_key, heap_idx, size)
                    size += 1
                elif key > heap_key[0]:
                    heap_key[0] = key
                    heap_idx[0] = j
                    _sift_down(heap_key, heap_idx, size, 0)
            # pop the heap (smallest first) into the row from the back: best ends up first
            for r in range(size - 1, -1, -1):
                out_score[i, r] = heap_key[0]
                out_index[i, r] = heap_idx[0]
                heap_key[0] = heap_key[r]
                heap_idx[0] = heap_idx[r]
                _sift_down(heap_key, heap_idx, r, 0)
            for r in range(size, m):
                out_index[i, r] = -1
                out_score[i, r] = -np.inf


def cooccurrence_candidates(
    profiles: Profiles,
    params: CooccurrenceParams = CooccurrenceParams(),
    *,
    progress: Callable[[int, int], None] | None = None,
    n_threads: int | None = None,
) -> Candidates:
    """Each item's ``n_candidates`` best partners under ``params.weighting``.

    ``progress(done, total)`` is called between blocks of items.
    """
    x = profiles.matrix
    n_users, n_items = x.shape
    if n_items < 2:
        raise AtlasError("co-occurrence needs at least two items; lower the filters.")
    m = min(params.n_candidates, n_items - 1)
    csr = x.tocsr()
    csc = x.tocsc()
    csc.sort_indices()
    user_ptr = csr.indptr.astype(np.int64)
    user_items = csr.indices.astype(np.int32)
    user_w = csr.data.astype(np.float32)
    item_ptr = csc.indptr.astype(np.int64)
    item_users = csc.indices.astype(np.int32)
    item_w = csc.data.astype(np.float32)
    diag = np.asarray(csc.multiply(csc).sum(axis=0)).ravel().astype(np.float64)
    mass = np.asarray(csc.sum(axis=0)).ravel().astype(np.float64)

    out_index = np.full((n_items, m), -1, dtype=np.int32)
    out_score = np.full((n_items, m), -np.inf, dtype=np.float32)
    threads = n_threads or numba.get_num_threads()
    # interleave popular and rare items so that every block and chunk costs about the same
    order = np.random.default_rng(0).permutation(n_items).astype(np.int64)
    block = max(256, n_items // 50)
    n_chunks = max(4 * threads, 1)
    method = _METHOD_CODE[params.weighting]
    done = 0
    for lo in range(0, n_items, block):
        items = order[lo : lo + block]
        _topk_block(
            items, min(n_chunks, items.shape[0]), user_ptr, user_items, user_w, item_ptr, item_users, item_w,
            diag, mass, float(n_users), method, float(params.min_count), out_index, out_score,
        )
        done += items.shape[0]
        if progress is not None:
            progress(done, n_items)
    count = _gather_counts(out_index, csc)
    return Candidates(out_index, out_score, count, params.weighting, profiles.pair_updates)


def _gather_counts(index: np.ndarray, csc) -> np.ndarray:
    """Σ_u w_ui w_uj for each listed pair (a sparse dot product of two columns)."""
    n_items, m = index.shape
    rows = np.repeat(np.arange(n_items), m)
    cols = index.ravel()
    valid = cols >= 0
    out = np.zeros(n_items * m, dtype=np.float32)
    out[valid] = _column_dots(csc.indptr.astype(np.int64), csc.indices.astype(np.int32), csc.data.astype(np.float32), rows[valid].astype(np.int64), cols[valid].astype(np.int64))
    return out.reshape(n_items, m)


@numba.njit(parallel=True, cache=True)
def _column_dots(ptr, idx, val, a, b):  # pragma: no cover - compiled
    out = np.zeros(a.shape[0], dtype=np.float32)
    for t in numba.prange(a.shape[0]):
        p, pe = ptr[a[t]], ptr[a[t] + 1]
        q, qe = ptr[b[t]], ptr[b[t] + 1]
        s = 0.0
        while p < pe and q < qe:
            if idx[p] == idx[q]:
                s += val[p] * val[q]
                p += 1
                q += 1
            elif idx[p] < idx[q]:
                p += 1
            else:
                q += 1
        out[t] = s
    return out
