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
    items, n_chunks, user_ptr, user_items, user_w, item_ptr, item_users, item_w, binary,
    method, rank_scale, diag, threshold, min_count, out_index, out_key,
):  # pragma: no cover - compiled
    """Top candidates of ``items`` by a *rank key* that orders pairs like the final score.

    The keys cost one multiply (count, cosine, PMI) or one division (Jaccard) per touched
    partner; the exact scores are derived for the winners only (``_keys_to_scores``).
    Rejected pairs get the key −1/(1+s), and are skipped outright once the heap holds only
    accepted partners.
    """
    n_items = diag.shape[0]
    m = out_index.shape[1]
    n = items.shape[0]
    for chunk in numba.prange(n_chunks):
        acc = np.zeros(n_items, dtype=np.float32)
        touched = np.empty(n_items, dtype=np.int32)
        seen = np.full(n_items, -1, dtype=np.int64)  # last item whose row listed j
        heap_key = np.empty(m, dtype=np.float32)
        heap_idx = np.empty(m, dtype=np.int32)
        for t in range(chunk, n, n_chunks):
            i = items[t]
            n_touched = 0
            for p in range(item_ptr[i], item_ptr[i + 1]):
                u = item_users[p]
                if binary:
                    for q in range(user_ptr[u], user_ptr[u + 1]):
                        j = user_items[q]
                        if seen[j] != i:
                            seen[j] = i
                            touched[n_touched] = j
                            n_touched += 1
                        acc[j] += 1.0
                else:
                    wi = item_w[p]
                    for q in range(user_ptr[u], user_ptr[u + 1]):
                        j = user_items[q]
                        if seen[j] != i:
                            seen[j] = i
                            touched[n_touched] = j
                            n_touched += 1
                        acc[j] += wi * user_w[q]
            size = 0
            di = diag[i]
            thr = threshold[i]
            for r in range(n_touched):
                j = touched[r]
                s = acc[j]
                acc[j] = 0.0
                if j == i:
                    continue
                if method == 2:
                    key = s / (di + diag[j])
                else:
                    key = s * rank_scale[j]
                if s < min_count or key <= thr:
                    if size == m and heap_key[0] >= 0.0:
                        continue
                    key = -1.0 / (1.0 + s)
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
                out_key[i, r] = heap_key[0]
                out_index[i, r] = heap_idx[0]
                heap_key[0] = heap_key[r]
                heap_idx[0] = heap_idx[r]
                _sift_down(heap_key, heap_idx, r, 0)
            for r in range(size, m):
                out_index[i, r] = -1
                out_key[i, r] = -np.inf


@numba.njit(cache=True)
def _column_sums(ptr, w):  # pragma: no cover - compiled
    """Per column: the sum of squared weights (the diagonal of XᵀX) and the sum of weights."""
    n = ptr.shape[0] - 1
    squares = np.zeros(n, dtype=np.float64)
    sums = np.zeros(n, dtype=np.float64)
    for j in range(n):
        for p in range(ptr[j], ptr[j + 1]):
            v = np.float64(w[p])
            squares[j] += v * v
            sums[j] += v
    return squares, sums


def _rank_terms(method: str, diag: np.ndarray, mass: np.ndarray, n_users: int):
    """Per-item factors of the rank key, and each item's acceptance threshold on it."""
    n = diag.shape[0]
    with np.errstate(divide="ignore"):
        if method == "cosine":
            scale = 1.0 / np.sqrt(diag)
        elif method == "pmi":
            scale = 1.0 / mass
        else:
            scale = np.ones(n)
    # PMI > 0  ⟺  s·N/(m_i m_j) > 1  ⟺  s/m_j > m_i/N
    threshold = mass / n_users if method == "pmi" else np.zeros(n)
    return scale.astype(np.float64), threshold.astype(np.float64)


def _keys_to_counts(method: str, key: np.ndarray, index: np.ndarray, diag: np.ndarray, mass: np.ndarray, binary: bool) -> np.ndarray:
    """Σ_u w_ui w_uj of the kept candidates, recovered exactly from their rank keys."""
    k = key.astype(np.float64)
    j = np.maximum(index, 0)
    i = np.arange(key.shape[0])[:, None]
    if method == "cosine":
        s = k * np.sqrt(diag[j])
    elif method == "jaccard":
        s = k * (diag[i] + diag[j])
    elif method == "pmi":
        s = k * mass[j]
    else:
        s = k.copy()
    rejected = k < 0
    s[rejected] = -1.0 / k[rejected] - 1.0
    s[index < 0] = 0.0
    if binary:
        s = np.rint(s)
    return s.astype(np.float32)


def _keys_to_scores(method: str, key: np.ndarray, diag: np.ndarray, mass: np.ndarray, n_users: int) -> np.ndarray:
    """Exact scores of the kept candidates from their rank keys (negative keys stay as they are)."""
    score = key.astype(np.float64)
    ok = key > 0
    rows = np.nonzero(ok)[0]
    if method == "cosine":
        score[ok] = key[ok] / np.sqrt(diag[rows])
    elif method == "jaccard":
        score[ok] = key[ok] / (1.0 - key[ok])
    elif method == "pmi":
        score[ok] = np.log(key[ok].astype(np.float64) * n_users / mass[rows])
    return score.astype(np.float32)


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
    # views, not copies, where the matrix already has the kernel's dtypes (one copy of the
    # interactions is about 8 bytes each: 0.4 GB at 50M)
    user_ptr = csr.indptr.astype(np.int64)
    user_items = np.asarray(csr.indices, dtype=np.int32)
    user_w = np.asarray(csr.data, dtype=np.float32)
    item_ptr = csc.indptr.astype(np.int64)
    item_users = np.asarray(csc.indices, dtype=np.int32)
    item_w = np.asarray(csc.data, dtype=np.float32)
    diag, mass = _column_sums(item_ptr, item_w)

    out_index = np.full((n_items, m), -1, dtype=np.int32)
    out_key = np.full((n_items, m), -np.inf, dtype=np.float32)
    scale, threshold = _rank_terms(params.weighting, diag, mass, n_users)
    binary = bool(np.all(user_w == 1.0))
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
            items, min(n_chunks, items.shape[0]), user_ptr, user_items, user_w, item_ptr, item_users, item_w, binary,
            method, scale, diag, threshold, float(params.min_count), out_index, out_key,
        )
        done += items.shape[0]
        if progress is not None:
            progress(done, n_items)
    count = _keys_to_counts(params.weighting, out_key, out_index, diag, mass, binary)
    score = _keys_to_scores(params.weighting, out_key, diag, mass, n_users)
    return Candidates(out_index, score, count, params.weighting, profiles.pair_updates)
