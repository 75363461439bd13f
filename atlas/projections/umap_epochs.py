"""UMAP's layout optimisation on every core, the same layout at any thread count.

UMAP's own optimiser walks the graph's edges one by one, moving both ends of each edge, then the
head away from a few random items. Run in several threads it races (its parallel mode is not
reproducible), so a seeded UMAP ran it in one thread: 0.2 s an epoch at 100,000 items, 60 epochs
for every new value of a slider. Here each epoch runs in ``BLOCKS`` rounds, each round moving a
sixteenth of the items (every sixteenth one) side by side:

- a head reads the heads of its own round where they stood as the round began, and every other
  item where it stands now: no other item moves during the round;
- the head moves at once, as in UMAP; the pull on the tail of each of its edges is summed per
  thread in fixed point (integers, whose sums do not depend on their order) and applied when the
  round ends, so the layout is byte-identical at any thread count (``tests/test_umap_epochs.py``);
- the schedule and the arithmetic are UMAP's: each edge sampled as often as its weight says, five
  negative samples per sampled edge, the same gradients and clipping, the learning rate falling
  linearly to zero, each item's random state seeded as UMAP seeds it; the gradients are worked in
  single precision, the layout's own (``FLOAT``).

Without the tail's pull (the head taking both ends' share) or with one round an epoch, the maps
lost 7–15% of their trustworthiness at 100k items; with both, they keep UMAP's own figures
(bench/README "UMAP's epochs on every core").
"""

from __future__ import annotations

import numba
import numpy as np
from umap.utils import tau_rand_int

CLIP = 4.0
"""UMAP's bound on each coordinate's gradient."""

NEGATIVE_RATE = 5
"""Negative samples per sampled edge (UMAP's ``negative_sample_rate``)."""

BLOCKS = 16
"""Rounds an epoch: a round's items read each other where they stood as it began, so more rounds
are closer to UMAP's one-by-one walk; 16 keep its quality at 100k (1 round lost 40% of the 10-NN
recall of the embedding), and each round is still long enough to share between threads."""

FLOAT = np.float32
"""The precision of the gradients: the layout's own. UMAP works them in double precision; in single
precision its ``dist ** b`` (one a negative sample, five a sampled edge) costs half as much, and the
epochs at 100k take 31% less time with the same trustworthiness, 10-NN recall and label agreement
(bench/README "UMAP's epochs on every core")."""

FIXED = float(2**32)
"""Fixed-point scale of the tails' pulls: steps are at most 4, so sums stay far inside int64,
and 2⁻³² is finer than a float32 coordinate's last digit."""


@numba.njit(parallel=True, fastmath=True, nogil=True, cache=True)
def _epoch(layout, start, pending, bounds, starts, tail, per_sample, per_negative, next_sample, next_negative, rng, a, b, alpha, epoch):
    """One epoch in rounds; round ``r`` moves the heads ``bounds[r]:bounds[r + 1]`` side by side.

    A head reads the heads of its own round where they stood as the round began (``start``) and
    every other item where it stands now (only this round's heads move during it). It moves at
    once; the pull on the other end of each edge is added to ``pending`` in fixed point, in a row
    of the thread's own, and applied when the round ends: integer sums are the same in any order,
    so the layout does not depend on which thread took which head. ``starts[j]:starts[j + 1]``
    are the edges item ``j`` heads. ``a``, ``b`` and ``alpha`` are float32, as the layout is: the
    gradients are worked in single precision (``FLOAT``)."""
    n_items, dim = layout.shape
    threads = pending.shape[0]
    zero, one, two, clip = FLOAT(0.0), FLOAT(1.0), FLOAT(2.0), FLOAT(CLIP)
    for r in range(bounds.shape[0] - 1):
        low, high = bounds[r], bounds[r + 1]
        for j in numba.prange(low, high):
            for d in range(dim):
                start[j, d] = layout[j, d]
        for j in numba.prange(low, high):
            mine = pending[numba.get_thread_id()]
            here = layout[j]
            state = rng[j]
            for i in range(starts[j], starts[j + 1]):
                if next_sample[i] > epoch:
                    continue
                k = tail[i]
                there = start[k] if low <= k < high else layout[k]
                dist = zero
                for d in range(dim):
                    gap = here[d] - there[d]
                    dist += gap * gap
                pull = zero
                if dist > zero:
                    powered = dist**b
                    pull = -two * a * b * (powered / dist) / (a * powered + one)
                for d in range(dim):
                    step = min(max(pull * (here[d] - there[d]), -clip), clip) * alpha
                    here[d] += step
                    mine[k, d] -= np.int64(step * FIXED)
                next_sample[i] += per_sample[i]
                negatives = int((epoch - next_negative[i]) / per_negative[i])
                for _ in range(negatives):
                    k = tau_rand_int(state) % n_items
                    if k == j:
                        continue
                    there = start[k] if low <= k < high else layout[k]
                    dist = zero
                    for d in range(dim):
                        gap = here[d] - there[d]
                        dist += gap * gap
                    if dist <= zero:
                        continue
                    push = two * b / ((FLOAT(0.001) + dist) * (a * dist**b + one))
                    for d in range(dim):
                        here[d] += min(max(push * (here[d] - there[d]), -clip), clip) * alpha
                next_negative[i] += negatives * per_negative[i]
        for k in numba.prange(n_items):
            for d in range(dim):
                total = np.int64(0)
                for t in range(threads):
                    total += pending[t, k, d]
                    pending[t, k, d] = 0
                if total != 0:
                    layout[k, d] += total / FIXED


def head_starts(head: np.ndarray, n_items: int) -> np.ndarray:
    """Where each item's edges begin in ``head`` (sorted, as a COO graph made from CSR is):
    ``starts[j]:starts[j + 1]`` are item ``j``'s."""
    if head.size and np.any(np.diff(head) < 0):
        raise ValueError("the graph's edges must be sorted by their head item")
    return np.searchsorted(head, np.arange(n_items + 1)).astype(np.int64)


def rounds(n_items: int, blocks: int = BLOCKS) -> np.ndarray:
    """The items of each round: round ``r`` holds items ``r, r + blocks, r + 2·blocks, …``, so that
    each round takes a share of every part of the map whatever order the items come in."""
    return np.argsort(np.arange(n_items) % blocks, kind="stable")


def optimize(layout, head, tail, epochs, epochs_per_sample, a, b, rng_state, *, alpha, report, threads=None) -> None:
    """UMAP's optimisation of ``layout`` (float32, items × 2) in place over the symmetric graph
    ``head → tail`` with UMAP's per-edge schedule ``epochs_per_sample``, in numba's threads (the
    running stage's count, then as many as the other processes leave free: ``cores.FreeCores``,
    or ``threads(epoch, count)``); ``report(epoch, epochs, xy)`` after each epoch.

    The items are stored round by round (``rounds``) while it runs, so that a round reads its
    heads' edges in order rather than one item in ``BLOCKS``."""
    n_items = layout.shape[0]
    first = head_starts(np.asarray(head), n_items)
    order = rounds(n_items)
    place = np.empty(n_items, dtype=np.int64)
    place[order] = np.arange(n_items)
    degree = np.diff(first)[order]
    starts = np.concatenate([[0], np.cumsum(degree)]).astype(np.int64)
    # each item's edges, in their own order, item after item in the rounds' order
    edges = np.repeat(first[:-1][order] - starts[:-1], degree) + np.arange(starts[-1])
    tail = place[np.asarray(tail)[edges]]
    per_sample = np.ascontiguousarray(np.asarray(epochs_per_sample, dtype=np.float64)[edges])
    per_negative = per_sample / NEGATIVE_RATE
    next_sample = per_sample.copy()
    next_negative = per_negative.copy()
    # each item's own random state, seeded as UMAP seeds it: the run's state plus the item's first coordinate's bits
    rng = (np.full((n_items, len(rng_state)), rng_state, dtype=np.int64) + layout[:, 0].astype(np.float64).view(np.int64).reshape(-1, 1))[order]
    bounds = np.searchsorted(np.arange(n_items)[order] % BLOCKS, np.arange(BLOCKS + 1)).astype(np.int64)
    moving = np.ascontiguousarray(layout[order])
    start = np.empty_like(moving)
    pending = np.zeros((numba.config.NUMBA_NUM_THREADS, n_items, layout.shape[1]), dtype=np.int64)
    if threads is None:
        from ..cores import FreeCores

        free = FreeCores()
        threads = lambda epoch, count: free.threads(count)  # noqa: E731
    before = numba.get_num_threads()
    try:
        for epoch in range(epochs):
            # the count may change from epoch to epoch: no sum depends on it
            numba.set_num_threads(max(1, min(threads(epoch, numba.get_num_threads()), numba.config.NUMBA_NUM_THREADS)))
            rate = alpha if epoch == 0 else alpha * (1.0 - float(epoch - 1) / float(epochs))  # UMAP's schedule
            _epoch(moving, start, pending, bounds, starts, tail, per_sample, per_negative, next_sample, next_negative, rng, FLOAT(a), FLOAT(b), FLOAT(rate), epoch)
            report(epoch + 1, epochs, lambda: moving[place])
    finally:
        numba.set_num_threads(before)
    layout[order] = moving
