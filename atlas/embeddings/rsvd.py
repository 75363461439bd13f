"""The randomized SVD of a sparse matrix, its sparse products shared among the idle cores.

The steps are scikit-learn's ``randomized_svd`` (Halko et al.; n_components + 10 random
vectors, power iterations normalised by LU, a QR, the SVD of the small projected matrix), with
the same random start and the same LAPACK calls, so the result is the same to the bit. What
differs is the sparse products, which take most of the time on large catalogues (at 1,000,000
items the dense blocks are hundreds of megabytes and every non-zero is a cache miss), and which
scipy computes in one thread: here each row of a product is summed by one thread, over its
non-zeros in the order scipy takes them, so the bytes do not depend on the thread count.

``A @ Q`` walks the rows of ``A`` (CSR); ``Aᵀ @ Q`` walks the rows of ``Aᵀ``, i.e. the columns of
``A`` (its CSC form, made once), where scipy scatters row by row — the same terms added to each
output in the same order.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from scipy import linalg

#: Random vectors beyond the components asked for (scikit-learn's default).
OVERSAMPLES = 10


@numba.njit(parallel=True, nogil=True, cache=True)
def _rows_times(indptr, indices, data, q, out):  # pragma: no cover - compiled
    """``out[i] = Σ data[k] · q[indices[k]]`` over row i's non-zeros in order, one row per thread."""
    width = q.shape[1]
    for i in numba.prange(out.shape[0]):
        for c in range(width):
            out[i, c] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            a = data[k]
            j = indices[k]
            for c in range(width):
                out[i, c] += a * q[j, c]


class _Product:
    """A sparse matrix and its transpose, both as CSR, multiplied by dense blocks in ``threads``."""

    def __init__(self, matrix: sp.csr_matrix, threads: int) -> None:
        self.rows = _canonical(matrix)
        self.columns = _canonical(matrix.T.tocsr())
        self.threads = threads

    def times(self, q: np.ndarray, *, transposed: bool = False) -> np.ndarray:
        m = self.columns if transposed else self.rows
        q = np.ascontiguousarray(q)
        out = np.empty((m.shape[0], q.shape[1]), dtype=np.result_type(m.dtype, q.dtype))
        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(self.threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            _rows_times(m.indptr, m.indices, m.data, q, out)
        finally:
            numba.set_num_threads(previous)
        return out


def _canonical(m: sp.csr_matrix) -> sp.csr_matrix:
    """CSR with sorted indices and no duplicates: the order scipy's own products add the terms in."""
    m = sp.csr_matrix(m)
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()
    return m


def randomized_svd(matrix: sp.spmatrix, n_components: int, *, n_iter: int, seed: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``U, s, Vt`` of the ``n_components`` largest singular values of ``matrix``, as
    ``sklearn.utils.extmath.randomized_svd(matrix, n_components, n_iter=n_iter, random_state=seed)``
    gives them, the sparse products in ``threads`` threads."""
    matrix = sp.csr_matrix(matrix)
    rng = np.random.RandomState(seed)
    size = n_components + OVERSAMPLES
    transpose = matrix.shape[0] < matrix.shape[1]  # the narrower side is the one the products sweep
    product = _Product(matrix.T.tocsr() if transpose else matrix, threads)
    a_times = product.times

    q = rng.normal(size=(product.rows.shape[1], size))
    if product.rows.dtype == np.float32:
        q = q.astype(np.float32, copy=False)
    if n_iter > 2:
        normalise = lambda y: linalg.lu(y, permute_l=True, check_finite=False)[0]  # noqa: E731
    else:
        normalise = lambda y: y  # noqa: E731
    for _ in range(n_iter):
        q = normalise(a_times(q))
        q = normalise(a_times(q, transposed=True))
    q, _ = linalg.qr(a_times(q), mode="economic", check_finite=False)
    b = a_times(q, transposed=True).T  # Qᵀ·A, as scipy computes it: (Aᵀ·Q)ᵀ
    u_hat, s, vt = linalg.svd(b, full_matrices=False, lapack_driver="gesdd")
    del b
    u = q @ u_hat
    u, vt = _flip(u, vt, by_u=not transpose)
    if transpose:
        return vt[:n_components].T, s[:n_components], u[:, :n_components].T
    return u[:, :n_components], s[:n_components], vt[:n_components]


def _flip(u: np.ndarray, vt: np.ndarray, *, by_u: bool) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``svd_flip``: each component's largest entry (in u's columns, or vt's rows) positive."""
    if by_u:
        signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    else:
        signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    u *= signs[np.newaxis, :]
    vt *= signs[:, np.newaxis]
    return u, vt
