"""Stage 3 — co-occurrence: each item's strongest partners, without the item × item matrix.

For item i the kernel (:mod:`atlas.cooccur_kernel`) walks the users of i and, for each, the items
of that user, adding the pair's weight (:mod:`atlas.pairweights`: 1, ``w_ui · w_uj``,
``min(w_ui, w_uj)`` …) into a dense per-thread accumulator — one row of XᵀX at a time. The row is
ranked by the weighting's rank key (:mod:`atlas.weightings`) and only its ``n_candidates`` best
entries are kept in a small heap. Memory is O(items × n_candidates) plus one accumulator per
thread, instead of the O(nnz(XᵀX)) that a sparse matrix product materialises. The items go to the
kernel heaviest row first, in blocks of equal work (``work_blocks``: up to ``N_BLOCKS``, none
smaller than ``BLOCK_WORK`` pair updates); the threads take the rows of a block one at a time as
they get free. Each block ends with the threads waiting for each other, which on a busy machine
can cost a scheduler time slice: a small stage runs as one block.

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
from .cooccur_kernel import candidate_rows
from .pairweights import get_pair_weight, pair_weight_names
from .weightings import WEIGHTINGS, ItemSums, Weighting, get_weighting

log = logging.getLogger(__name__)

N_BLOCKS = 50  # at most this many kernel calls per stage: the progress ticks
BLOCK_WORK = 500_000_000  # pair updates a block holds at least (a second or so of work)



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


@numba.njit(cache=True)
def _row_work(user_ptr, item_ptr, item_users):  # pragma: no cover - compiled
    """Per item i: the pair updates of its row, Σ over the users of i of their profile length."""
    n = item_ptr.shape[0] - 1
    work = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for p in range(item_ptr[i], item_ptr[i + 1]):
            u = item_users[p]
            work[i] += user_ptr[u + 1] - user_ptr[u]
    return work


def work_blocks(work: np.ndarray, n_blocks: int) -> list[np.ndarray]:
    """The items, heaviest row first (ties by index), cut into about ``n_blocks`` blocks of
    equal work: one kernel call each, and a progress tick between them that moves with time."""
    order = np.lexsort((np.arange(work.shape[0]), -work)).astype(np.int64)
    cum = np.cumsum(work[order])
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, n_blocks) / n_blocks, side="right")
    return [b for b in np.split(order, np.unique(cuts)) if b.shape[0]]


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

    ``progress(done, total)`` is called between blocks of items (blocks of equal work, so the
    ticks move with time). ``n_threads`` threads share the rows (default, and at most, numba's
    thread count); the result is the same whatever their number.
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
    work = _row_work(arrays["user_ptr"], arrays["item_ptr"], arrays["item_users"])
    blocks = work_blocks(work, int(np.clip(np.ceil(work.sum() / BLOCK_WORK), 1, N_BLOCKS)))
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        progress(done, n_items)

    candidate_rows(
        blocks, arrays, pair, terms, params.min_count, out_index, out_key,
        n_threads=n_threads, after_block=tick if progress is not None else None,
    )
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
