"""The co-occurrence kernel: each item's row of XᵀX, one item at a time, and its best partners.

For item i the kernel walks the users of i (in increasing user order) and each of those users'
items j, adding the pair's contribution into a dense per-thread accumulator — one row of XᵀX —
then offers the touched partners to a heap that keeps the ``m`` best by the weighting's rank key,
writes them best first and clears the accumulator for the next row. What makes it fast:

* **prefetching the users' profiles**: a row reads the profiles of all its users, which lie
  anywhere in a large array; waiting for each one cost a full memory latency (half the time on
  the benchmark's data). While the row adds user p's items it asks for the profile of user
  p + ``AHEAD`` (``_prefetch_profile``);
* **narrow counters**: unweighted pair weights (every shared user adds 1) count in an integer
  array, ``uint16`` when no item has 65,536 users (a count never exceeds the row item's number of
  users), else ``int32``: 2 bytes an item, 40 kB at 20k items (in the L1 cache). A count
  converted to float32 is the float32 sum of ones that it replaces as long as it is at most 2²⁴,
  which ``accumulator_dtype`` checks (above that the row sums ones in float32, as weighted rows do);
* **no branch per pair**: the first touch of j is ``count == 0``, so the list of touched j grows
  by a store and an add. A row with at least ``DENSE_SHARE`` pair updates per item does not
  keep the list at all: it lists the non-zero counts afterwards, in item order, in one pass;
* **rows shared out as threads get free** (``_take``, an atomic counter), heaviest rows first,
  in blocks of equal work: a thread that loses its core to another process holds up no one.

Weighted pair weights sum float32 contributions in user order, as before, with a byte per item
that marks the first touch, and offer the partners in the order they were first met.

Results do not depend on the thread count nor on the split: each row is summed by one thread in
user order; the heap keeps the unique top m under (key descending, index ascending), so for
counts (whose keys are never NaN) the order of the offers does not matter, and for weighted sums
it is the order in which they were first met, as it always was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .pairweights import PairWeight, pair_contribution
from .weightings import KeyTerms

COUNT_EXACT = 1 << 24  # a float32 sum of ones is exact up to here
AHEAD = 2  # prefetch the profile of the user this many places ahead in the row's user list
LINE = 16  # 4-byte values per 64-byte cache line
DENSE_SHARE = 1.0  # a count row with this many pair updates per item scans the whole accumulator


@intrinsic
def _prefetch(typingctx, array, index):
    """Hint the CPU to load ``array[index]`` into the cache (LLVM's ``llvm.prefetch``: read,
    high locality); it changes no value."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0])
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]))
        address = builder.bitcast(builder.gep(data.data, [args[1]]), byte_ptr)
        builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@intrinsic
def _take(typingctx, counter):
    """``counter[0] += 1`` as one atomic step; returns the value before (how threads share out
    the rows of a block: each takes the next row when it is free)."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", data.data, ir.Constant(ir.IntType(64), 1), "monotonic")

    return types.int64(counter), codegen


@numba.njit(cache=True, inline="always")
def _prefetch_profile(p, end, user_ptr, item_users, values):  # pragma: no cover - compiled
    """While the row is at its ``p``-th user: start loading the profile of the user ``AHEAD``
    places on, and the ``user_ptr`` entry of the one after that. The profiles of a row's users
    lie anywhere in memory; without this each of them costs a full memory latency."""
    if p + 2 * AHEAD < end:
        _prefetch(user_ptr, item_users[p + 2 * AHEAD])
    if p + AHEAD < end:
        u = item_users[p + AHEAD]
        for q in range(user_ptr[u], user_ptr[u + 1], LINE):
            _prefetch(values, q)


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


@numba.njit(cache=True, inline="always")
def _row_work(i, user_ptr, item_ptr, item_users):  # pragma: no cover - compiled
    """The pair updates of row i: Σ over the users of i of their profile length."""
    work = 0
    for p in range(item_ptr[i], item_ptr[i + 1]):
        u = item_users[p]
        work += user_ptr[u + 1] - user_ptr[u]
    return work


@numba.njit(cache=True, inline="always")
def _count_row(i, user_ptr, user_items, item_ptr, item_users, acc, touched):  # pragma: no cover - compiled
    """Shared users of i and each j, counted into ``acc``; returns how many j were touched."""
    n = 0
    end = item_ptr[i + 1]
    for p in range(item_ptr[i], end):
        _prefetch_profile(p, end, user_ptr, item_users, user_items)
        u = item_users[p]
        for q in range(user_ptr[u], user_ptr[u + 1]):
            j = user_items[q]
            c = acc[j]
            touched[n] = j  # kept only if this is j's first touch: no branch (touched has a spare slot)
            n += c == 0
            acc[j] = c + 1
    return n


@numba.njit(cache=True, inline="always")
def _count_dense_row(i, user_ptr, user_items, item_ptr, item_users, acc):  # pragma: no cover - compiled
    """Shared users of i and each j, counted into ``acc``, without a list of the touched j."""
    end = item_ptr[i + 1]
    for p in range(item_ptr[i], end):
        _prefetch_profile(p, end, user_ptr, item_users, user_items)
        u = item_users[p]
        for q in range(user_ptr[u], user_ptr[u + 1]):
            j = user_items[q]
            acc[j] += 1


@numba.njit(cache=True, inline="always")
def _sum_row(i, user_ptr, user_items, user_w, item_ptr, item_users, item_w, pair_key, acc, mark, touched):  # pragma: no cover - compiled
    """Σ_u pair(w_ui, w_uj) into ``acc``, users in increasing order; returns how many j were touched."""
    n = 0
    end = item_ptr[i + 1]
    for p in range(item_ptr[i], end):
        _prefetch_profile(p, end, user_ptr, item_users, user_items)
        _prefetch_profile(p, end, user_ptr, item_users, user_w)
        u = item_users[p]
        wi = item_w[p]
        for q in range(user_ptr[u], user_ptr[u + 1]):
            j = user_items[q]
            touched[n] = j
            n += 1 - mark[j]
            mark[j] = 1
            acc[j] += pair_contribution(pair_key, wi, user_w[q])
    return n


@numba.njit(cache=True, inline="always")
def _select_row(i, n, touched, acc, mark, weighted, scale, half, threshold, min_count, heap_key, heap_idx):  # pragma: no cover - compiled
    """Offer row i's partners ``touched[:n]`` to its heap (worst on top) and clear them from
    ``acc`` (and ``mark``); returns the heap's size. The rank key is
    ``s · scale[j] / (half[i] + half[j])``; rejected pairs get the key −1/(1+s) — behind every
    accepted pair, ordered by ``s`` — and are skipped outright once the heap holds only
    accepted partners. (One loop with the heap inline: a function called per partner with the
    heap's arrays made the row twice as slow.)"""
    m = heap_key.shape[0]
    size = 0
    hi = half[i]
    thr = threshold[i]
    for r in range(n):
        j = touched[r]
        s = np.float32(acc[j])
        acc[j] = 0
        if weighted:
            mark[j] = 0
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
    return size


@numba.njit(cache=True, inline="always")
def _emit(i, size, heap_key, heap_idx, out_index, out_key):  # pragma: no cover - compiled
    """Pop the heap (worst first) into row i from the back, so that the best ends up first;
    pad with −1 / −inf."""
    for r in range(size - 1, -1, -1):
        out_key[i, r] = heap_key[0]
        out_index[i, r] = heap_idx[0]
        heap_key[0] = heap_key[r]
        heap_idx[0] = heap_idx[r]
        _sift_down(heap_key, heap_idx, r, 0)
    for r in range(size, heap_key.shape[0]):
        out_index[i, r] = -1
        out_key[i, r] = -np.inf


@numba.njit(cache=True)
def _row(
    i, user_ptr, user_items, user_w, item_ptr, item_users, item_w, pair_key, weighted,
    scale, half, threshold, min_count, acc, mark, touched, heap_key, heap_idx, out_index, out_key,
):  # pragma: no cover - compiled
    """Row i's best partners into ``out_*[i]``; leaves the scratch rows cleared."""
    if weighted:
        n = _sum_row(i, user_ptr, user_items, user_w, item_ptr, item_users, item_w, pair_key, acc, mark, touched)
    elif _row_work(i, user_ptr, item_ptr, item_users) >= acc.shape[0] * DENSE_SHARE:
        _count_dense_row(i, user_ptr, user_items, item_ptr, item_users, acc)
        n = 0
        for j in range(acc.shape[0]):  # the touched j, in item order, without a branch
            touched[n] = j
            n += acc[j] != 0
    else:
        n = _count_row(i, user_ptr, user_items, item_ptr, item_users, acc, touched)
    size = _select_row(i, n, touched, acc, mark, weighted, scale, half, threshold, min_count, heap_key, heap_idx)
    _emit(i, size, heap_key, heap_idx, out_index, out_key)


@numba.njit(parallel=True, cache=True)
def topk_rows(
    items, n_workers, user_ptr, user_items, user_w, item_ptr, item_users, item_w, pair_key, weighted,
    scale, half, threshold, min_count, acc, mark, touched, out_index, out_key,
):  # pragma: no cover - compiled
    """Top candidates of ``items`` into ``out_index``/``out_key`` (rows by item number).

    ``n_workers`` threads each take the next untaken row of ``items`` until none is left
    (heaviest first, the load stays balanced whatever share of the cores a thread gets).
    ``acc`` (zeros), ``mark`` (zeros, used when ``weighted``) and ``touched`` are per-thread
    scratch rows, ``[numba.get_thread_id()]``, one per thread of numba's pool, left cleared.
    ``pair_key`` is a pair weight's ``kernel_key`` (a compile-time constant: one specialisation
    per pair weight); unweighted rows count into an integer ``acc`` and ignore it.
    """
    m = out_index.shape[1]
    n = items.shape[0]
    next_row = np.zeros(1, dtype=np.int64)
    for _ in numba.prange(n_workers):
        tid = numba.get_thread_id()
        acc_t, mark_t, touched_t = acc[tid], mark[tid], touched[tid]
        heap_key = np.empty(m, dtype=np.float32)
        heap_idx = np.empty(m, dtype=np.int32)
        t = _take(next_row)
        while t < n:
            _row(
                items[t], user_ptr, user_items, user_w, item_ptr, item_users, item_w, pair_key, weighted,
                scale, half, threshold, min_count, acc_t, mark_t, touched_t, heap_key, heap_idx, out_index, out_key,
            )
            t = _take(next_row)


def accumulator_dtype(weighted: bool, max_item_users: int):
    """The accumulator's dtype: float32 sums for weighted pairs, else the narrowest integer
    count that holds the largest possible count (an item's number of users) exactly as the
    float32 sum of ones would; float32 where even that is not exact."""
    if weighted or max_item_users > COUNT_EXACT:
        return np.float32
    return np.uint16 if max_item_users < 1 << 16 else np.int32


def scratch(n_items: int, weighted: bool, max_item_users: int, threads: int):
    """The per-thread rows of ``topk_rows``: (acc, mark, touched, weighted) — ``weighted`` is
    True also for an unweighted pair weight whose counts outgrow an exact float32 (then its
    contribution, 1, is summed like any other)."""
    dtype = accumulator_dtype(weighted, max_item_users)
    summing = dtype is np.float32
    acc = np.zeros((threads, n_items), dtype=dtype)
    mark = np.zeros((threads, n_items if summing else 1), dtype=np.uint8)
    touched = np.empty((threads, n_items + 1), dtype=np.int32)  # + 1: the branch-free append writes one past the row's last j
    return acc, mark, touched, summing


def narrow_items(user_items: np.ndarray, n_items: int) -> np.ndarray:
    """The profiles' item numbers as ``uint16`` where every item number fits (65,536 items or
    fewer): the kernel streams them from memory once per row that reads the profile, and half
    the bytes are a quarter less time (2 bytes an interaction more memory while it runs)."""
    return user_items.astype(np.uint16) if n_items <= 1 << 16 else user_items


def candidate_rows(
    blocks: Iterable[np.ndarray], arrays: dict[str, np.ndarray], pair: PairWeight, terms: KeyTerms, min_count: float,
    out_index: np.ndarray, out_key: np.ndarray, *, n_threads: int | None = None, after_block: Callable[[int], None] | None = None,
) -> None:
    """The best partners of the items of each block in turn into ``out_index``/``out_key``
    (``arrays``: :func:`atlas.cooccur.profile_arrays`); ``after_block(n)`` after each block of
    n items. ``n_threads`` threads share the rows (default, and at most, numba's thread count)."""
    threads = numba.get_num_threads()
    item_ptr = arrays["item_ptr"]
    acc, mark, touched, summing = scratch(out_index.shape[0], pair.weighted, int(np.diff(item_ptr).max(initial=0)), threads)
    user_items = narrow_items(arrays["user_items"], out_index.shape[0])
    for items in blocks:
        if numba.get_num_threads() != threads:  # the scratch rows are indexed by thread id
            raise RuntimeError("numba's thread count changed while the co-occurrence kernel ran")
        topk_rows(
            items, min(n_threads or threads, threads), arrays["user_ptr"], user_items, arrays["user_w"], item_ptr,
            arrays["item_users"], arrays["item_w"], pair.kernel_key, summing, terms.scale, terms.half, terms.threshold,
            float(min_count), acc, mark, touched, out_index, out_key,
        )
        if after_block is not None:
            after_block(items.shape[0])
