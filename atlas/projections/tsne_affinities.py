"""t-SNE's input affinities from the neighbours atlas already found, and its gradient without the error.

openTSNE's ``PerplexityBasedNN`` finds each item's bandwidth by halving an interval about forty
times, then symmetrises the conditional probabilities as ``(P + Pᵀ) / 2`` with scipy: at 100,000
items and 75 neighbours an item (perplexity 25, 13 million pairs) that took 1.8–2.5 s before a
new perplexity's first step. Here the bandwidth comes from Newton's steps inside the same kind of
bracket (a handful per item, each item's entropy within 1e-10 of log(perplexity); openTSNE stops
at 1e-8, and at perplexity 5 left some items 0.4 away), and the sum is one pass over each
item's neighbours and the items that name it: the same pairs, each ``(p_j|i + p_i|j) / 2``, in
0.6 s on one thread; rows are independent, so the bytes do not depend on any thread count.

openTSNE's optimiser also works out the KL divergence at each callback and the whole gradient once
more after every call's last step, only to report the error; atlas never reads it, and a
refinement in pieces of 20 steps paid one gradient in 21 for it (``GradientOnly``).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


TOLERANCE = 1e-10
"""How near each row's entropy comes to log(perplexity) (openTSNE stops at 1e-8)."""

MAX_STEPS = 100


@numba.njit(nogil=True, cache=True)
def _symmetrise(neighbors: np.ndarray, conditional: np.ndarray):
    """CSR arrays of ``(P + Pᵀ) / 2`` for the n × n row-stochastic P whose row i holds
    ``conditional[i]`` at columns ``neighbors[i]`` (distinct within a row). Row i lists its own
    neighbours in their order, then the items that name i without being named by it, by index."""
    n, k = neighbors.shape
    # Pᵀ by counting: row j lists the rows that name j, in increasing order
    t_ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        for c in range(k):
            t_ptr[neighbors[i, c] + 1] += 1
    for j in range(n):
        t_ptr[j + 1] += t_ptr[j]
    t_fill = t_ptr[:-1].copy()
    t_src = np.empty(n * k, dtype=np.int64)
    t_val = np.empty(n * k, dtype=np.float64)
    for i in range(n):
        for c in range(k):
            j = neighbors[i, c]
            t_src[t_fill[j]] = i
            t_val[t_fill[j]] = conditional[i, c]
            t_fill[j] += 1
    # a row of the sum: its own neighbours, and those naming it that it does not name
    where = np.full(n, -1, dtype=np.int64)  # where = position + 1 of column j in the row being written
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        for c in range(k):
            where[neighbors[i, c]] = i
        extra = 0
        for b in range(t_ptr[i], t_ptr[i + 1]):
            if where[t_src[b]] != i:
                extra += 1
        indptr[i + 1] = indptr[i] + k + extra
    where[:] = -1
    indices = np.empty(indptr[n], dtype=np.int32)
    data = np.empty(indptr[n], dtype=np.float64)
    for i in range(n):
        start = indptr[i]
        for c in range(k):
            where[neighbors[i, c]] = start + c
            indices[start + c] = neighbors[i, c]
            data[start + c] = conditional[i, c]
        out = start + k
        for b in range(t_ptr[i], t_ptr[i + 1]):
            at = where[t_src[b]]
            if start <= at < start + k:  # named both ways: p_j|i + p_i|j
                data[at] += t_val[b]
            else:
                indices[out] = t_src[b]
                data[out] = t_val[b]
                out += 1
        for e in range(start, out):
            data[e] *= 0.5
    return indptr, indices, data


@numba.njit(nogil=True, cache=True)
def _conditional(distances: np.ndarray, perplexity: float, tolerance: float, max_steps: int) -> np.ndarray:
    """Each row's Gaussian weights of its neighbours at the bandwidth whose entropy is
    log(perplexity) to within ``tolerance``, normalised to sum to 1.

    The entropy falls as the precision τ grows, at the rate τ·Var(d²)/4: Newton's steps on τ,
    kept inside the bracket known so far (halving it where a step would leave it), reach 1e-10 in
    a handful of steps where openTSNE's halving alone takes about forty. Rows are independent."""
    n, k = distances.shape
    target = np.log(perplexity)
    out = np.empty((n, k), dtype=np.float64)
    d2 = np.empty(k, dtype=np.float64)
    w = np.empty(k, dtype=np.float64)
    for i in range(n):
        d2_min = np.inf
        for j in range(k):
            d2[j] = distances[i, j] * distances[i, j]
            d2_min = min(d2_min, d2[j])
        spread = 0.0
        for j in range(k):
            d2[j] -= d2_min  # the nearest at 0: the same weights once normalised, no underflow
            spread += d2[j]
        spread /= k
        lo, hi = 0.0, np.inf
        tau = 1.0 / spread if spread > 0 else 1.0
        for _ in range(max_steps):
            total = 0.0
            for j in range(k):
                w[j] = np.exp(-0.5 * tau * d2[j])
                total += w[j]
            mean = 0.0
            second = 0.0
            for j in range(k):
                mean += w[j] * d2[j]
                second += w[j] * d2[j] * d2[j]
            mean /= total
            second /= total
            entropy = np.log(total) + 0.5 * tau * mean
            diff = entropy - target
            if abs(diff) <= tolerance:
                break
            if diff > 0:  # too flat: a larger precision
                lo = tau
            else:
                hi = tau
            slope = -0.25 * tau * (second - mean * mean)
            step = tau - diff / slope if slope < 0 else np.inf
            if lo < step < hi:
                tau = step
            elif hi == np.inf:
                tau = 2.0 * tau
            else:
                tau = 0.5 * (lo + hi)
        for j in range(k):
            out[i, j] = w[j] / total
    return out


def joint_affinities(neighbors: np.ndarray, distances: np.ndarray, perplexity: float) -> sp.csr_matrix:
    """t-SNE's joint probabilities P (symmetric, summing to 1) from each item's ``neighbors`` and
    ``distances`` (n × k, the item itself left out) at ``perplexity``: openTSNE's
    ``joint_probabilities_nn`` with pair-wise normalisation, its rows ordered as ``_symmetrise``
    orders them."""
    n = neighbors.shape[0]
    conditional = _conditional(np.ascontiguousarray(distances, dtype=np.float64), float(perplexity), TOLERANCE, MAX_STEPS)
    indptr, indices, data = _symmetrise(np.ascontiguousarray(neighbors, dtype=np.int64), conditional)
    data /= np.sum(data)
    return sp.csr_matrix((data, indices, indptr), shape=(n, n))


#: openTSNE's "auto" choice of the repulsive forces' method: Barnes–Hut below this many items, FFT above.
BH_BELOW = 10_000


class GradientOnly:
    """openTSNE's gradient (Barnes–Hut or FFT, as its "auto" chooses for ``n_items``) for ``steps``
    steps of one ``optimize`` call, never the KL divergence.

    The optimiser asks for the error at each callback (a log per pair) and for one more whole
    gradient after the last step only to report it; both are skipped, the steps' gradients are the
    same numbers."""

    def __init__(self, steps: int, n_items: int) -> None:
        from openTSNE.tsne import kl_divergence_bh, kl_divergence_fft

        self.left = steps
        self.objective = kl_divergence_bh if n_items < BH_BELOW else kl_divergence_fft

    def __call__(self, embedding, P, **kwargs):
        if self.left == 0:  # the extra call after the last step: its gradient is thrown away
            return float("nan"), None
        self.left -= 1
        kwargs["should_eval_error"] = False
        return self.objective(embedding, P, **kwargs)
