"""Stage 3 — co-occurrence: each item's strongest partners, without the item × item matrix.

For item i the kernel walks the users of i and, for each, the items of that user, adding the
pair's weight (:mod:`atlas.pairweights`: 1, ``w_ui · w_uj``, ``min(w_ui, w_uj)`` …) into a dense per-thread accumulator —
one row of XᵀX at a time. The row is ranked by the weighting's rank key (:mod:`atlas.weightings`)
and only its ``n_candidates`` best entries are kept in a small heap. Memory is O(items × n_candidates) plus one accumulator per thread,
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
from .options import option
from .profiles import Profiles
from .pairweights import get_pair_weight, pair_contribution, pair_weight_names
from .weightings import WEIGHTINGS, ItemSums, Weighting, get_weighting

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class CooccurrenceParams:
    """How to score item pairs and how many candidates per item to keep.

    ``weighting`` names a strategy of :mod:`atlas.weightings`; ``pair_weight`` one of
    :mod:`atlas.pairweights`: how the two interactions' weights of a shared user combine
    (``none``: each shared user counts 1; ``product``: w_i·w_j, e.g. rating × rating; ``min``:
    min(w_i, w_j)). ``n_candidates`` bounds
    the graph's ``n_neighbors`` that can be served without recomputing.
    """

    weighting: str = option("cosine", "--weighting", "pair similarity (default cosine)", choices=WEIGHTINGS)
    min_count: float = option(1.0, "--min-count", "ignore pairs whose weight (shared users) is below this (default 1)", label="min pair weight")
    n_candidates: int = 64
    pair_weight: str = option(
        "none", "--pair-weight", "how a shared user's two weights make the pair's weight (default none: each shared user counts 1)", choices=pair_weight_names, label="pair weight"
    )

    def __post_init__(self) -> None:
        check_choice("weighting", self.weighting, WEIGHTINGS)
        check_choice("pair_weight", self.pair_weight, pair_weight_names())
        check_range("min_count", self.min_count, 0)
        check_range("n_candidates", self.n_candidates, 1, 4096)


@dataclass(frozen=True, eq=False)
class Candidates:
    """Each item's best partners, best first: ``index[i, r]`` (−1 pads), ``score[i, r]``
    (negative = rejected by the weighting, kept as fall-back) and ``count[i, r]``.

    Ties in score are broken by the smaller partner index, so the result is one well-defined
    answer that any engine can reproduce."""

    index: np.ndarray  # int32, n_items × n_candidates
    score: np.ndarray  # float32
    count: np.ndarray  # float32: Σ_u pair(w_ui, w_uj)
    weighting: str
    pair_updates: int
    key: str = ""
    seconds: float = 0.0

    @property
    def n_items(self) -> int:
        return self.index.shape[0]


@numba.njit(cache=True, inline="always")
def _worse(key_a, idx_a, key_b, idx_b):
    """Whether candidate a ranks below b: a smaller key, or the same key and a larger index."""
    return key_a < key_b or (key_a == key_b and idx_a > idx_b)


@numba.njit(cache=True, inline="always")
def _sift_down(keys, idx, size, pos):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        if left + 1 < size and _worse(keys[left + 1], idx[left + 1], keys[left], idx[left]):
            child = left + 1
        if _worse(keys[child], idx[child], keys[pos], idx[pos]):
            keys[child], keys[pos] = keys[pos], keys[child]
            idx[child], idx[pos] = idx[pos], idx[child]
            pos = child
        else:
            return


@numba.njit(cache=True, inline="always")
def _sift_up(keys, idx, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if _worse(keys[pos], idx[pos], keys[parent], idx[parent]):
            keys[pos], keys[parent] = keys[parent], keys[pos]
            idx[pos], idx[parent] = idx[parent], idx[pos]
            pos = parent
        else:
            return


@numba.njit(parallel=True, cache=True)
def _topk_block(
    items, n_chunks, user_ptr, user_items, user_w, item_ptr, item_users, item_w, pair_key,
    scale, half, threshold, min_count, out_index, out_key,
):  # pragma: no cover - compiled
    """Top candidates of ``items`` by the rank key ``s · scale[j] / (half[i] + half[j])``.

    ``s`` accumulates, per shared user, the contribution of the pair weight whose ``kernel_key``
    is ``pair_key`` (a compile-time constant: one specialisation per pair weight).
    The exact scores are derived for the winners only (``Weighting.score_from_key``). Rejected
    pairs get the key −1/(1+s) — behind every accepted pair, ordered by ``s`` — and are skipped
    outright once the heap holds only accepted partners.
    """
    n_items = half.shape[0]
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
                wi = item_w[p]
                for q in range(user_ptr[u], user_ptr[u + 1]):
                    j = user_items[q]
                    weight = pair_contribution(pair_key, wi, user_w[q])
                    if seen[j] != i:
                        seen[j] = i
                        touched[n_touched] = j
                        n_touched += 1
                    acc[j] += weight
            size = 0
            hi = half[i]
            thr = threshold[i]
            for r in range(n_touched):
                j = touched[r]
                s = acc[j]
                acc[j] = 0.0
                if j == i:
                    continue
                key = s * scale[j] / (hi + half[j])
                if s < min_count or key <= thr:
                    if size == m and heap_key[0] >= 0.0:
                        continue
                    key = -1.0 / (1.0 + s)
                if size < m:
                    heap_key[size] = key
                    heap_idx[size] = j
                    _sift_up(heap_key, heap_idx, size)
                    size += 1
                elif _worse(heap_key[0], heap_idx[0], np.float32(key), j):
                    heap_key[0] = key
                    heap_idx[0] = j
                    _sift_down(heap_key, heap_idx, size, 0)
            # pop the heap (worst first) into the row from the back: best ends up first
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
    """Per column: the sum of weights and the sum of squared weights."""
    n = ptr.shape[0] - 1
    sums = np.zeros(n, dtype=np.float64)
    squares = np.zeros(n, dtype=np.float64)
    for j in range(n):
        for p in range(ptr[j], ptr[j + 1]):
            v = np.float64(w[p])
            sums[j] += v
            squares[j] += v * v
    return sums, squares


def _keys_to_counts(weighting: Weighting, key: np.ndarray, index: np.ndarray, sums: ItemSums, integral: bool) -> np.ndarray:
    """``s`` of the kept candidates, recovered exactly from their rank keys."""
    k = key.astype(np.float64)
    j = np.maximum(index, 0)
    i = np.broadcast_to(np.arange(key.shape[0])[:, None], key.shape)
    s = np.zeros_like(k)
    accepted = (k >= 0) & (index >= 0)
    s[accepted] = weighting.count_from_key(k[accepted], i[accepted], j[accepted], sums)
    rejected = (k < 0) & (index >= 0)
    s[rejected] = -1.0 / k[rejected] - 1.0
    if integral:
        s = np.rint(s)
    return s.astype(np.float32)


def _keys_to_scores(weighting: Weighting, key: np.ndarray, sums: ItemSums) -> np.ndarray:
    """Exact scores of the kept candidates from their rank keys (negative keys stay as they are)."""
    score = key.astype(np.float64)
    ok = key > 0
    rows = np.nonzero(ok)[0]
    score[ok] = weighting.score_from_key(key[ok].astype(np.float64), rows, sums)
    return score.astype(np.float32)


def profile_arrays(profiles: Profiles) -> dict[str, np.ndarray]:
    """The profile matrix by user and by item, in the kernel's dtypes (views where possible:
    one copy of the interactions is about 8 bytes each, 0.4 GB at 50M)."""
    csr = profiles.matrix.tocsr()
    csc = profiles.matrix.tocsc()
    csc.sort_indices()
    return {
        "user_ptr": csr.indptr.astype(np.int64),
        "user_items": np.asarray(csr.indices, dtype=np.int32),
        "user_w": np.asarray(csr.data, dtype=np.float32),
        "item_ptr": csc.indptr.astype(np.int64),
        "item_users": np.asarray(csc.indices, dtype=np.int32),
        "item_w": np.asarray(csc.data, dtype=np.float32),
    }


def pair_sums(profiles: Profiles, pair_weight: str, arrays: dict | None = None) -> ItemSums:
    """The per-item sums every weighting is built from, under ``pair_weight``."""
    arrays = arrays or profile_arrays(profiles)
    sums, squares = _column_sums(arrays["item_ptr"], arrays["item_w"])
    return get_pair_weight(pair_weight).item_sums(np.diff(arrays["item_ptr"]), sums, squares, profiles.n_users)


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
    n_users, n_items = profiles.matrix.shape
    if n_items < 2:
        raise AtlasError("co-occurrence needs at least two items; lower the filters.")
    m = min(params.n_candidates, n_items - 1)
    arrays = profile_arrays(profiles)
    pair = get_pair_weight(params.pair_weight)
    if pair.weighted:
        check_no_negative_weights(int((arrays["user_w"] < 0).sum()), params.pair_weight)
    weighting = get_weighting(params.weighting)
    sums = pair_sums(profiles, params.pair_weight, arrays)
    terms = weighting.terms(sums)

    out_index = np.full((n_items, m), -1, dtype=np.int32)
    out_key = np.full((n_items, m), -np.inf, dtype=np.float32)
    threads = n_threads or numba.get_num_threads()
    # interleave popular and rare items so that every block and chunk costs about the same
    order = np.random.default_rng(0).permutation(n_items).astype(np.int64)
    block = max(256, n_items // 50)
    n_chunks = max(4 * threads, 1)
    done = 0
    pair_key = pair.kernel_key
    for lo in range(0, n_items, block):
        items = order[lo : lo + block]
        _topk_block(
            items, min(n_chunks, items.shape[0]), arrays["user_ptr"], arrays["user_items"], arrays["user_w"],
            arrays["item_ptr"], arrays["item_users"], arrays["item_w"], pair_key,
            terms.scale, terms.half, terms.threshold, float(params.min_count), out_index, out_key,
        )
        done += items.shape[0]
        if progress is not None:
            progress(done, n_items)
    integral = not pair.weighted or pair.integral(bool(np.all(arrays["user_w"] == np.rint(arrays["user_w"]))))
    return candidates_from_keys(params.weighting, out_index, out_key, sums, integral, profiles.pair_updates)


def candidates_from_keys(
    weighting: str, index: np.ndarray, key: np.ndarray, sums: ItemSums, integral: bool, pair_updates: int
) -> Candidates:
    """``Candidates`` from each item's partners and float32 rank keys, best first (what every
    engine computes): scores and counts by the weighting's exact inverses of the key."""
    strategy = get_weighting(weighting)
    count = _keys_to_counts(strategy, key, index, sums, integral)
    score = _keys_to_scores(strategy, key, sums)
    return Candidates(index, score, count, weighting, pair_updates)


def check_no_negative_weights(n_negative: int, pair_weight: str) -> None:
    """The error when a weighted pair weight meets negative weights (every engine raises this one)."""
    if n_negative and get_pair_weight(pair_weight).weighted:
        raise AtlasError(
            f"{n_negative:,} of the kept interactions have negative weights, which a {pair_weight} pair weight cannot rank; "
            "drop them with --min-weight 0 or use --pair-weight none."
        )
