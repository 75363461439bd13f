"""The randomized SVD with shared-out sparse products gives scikit-learn's result to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd as sklearn_svd
from threadpoolctl import threadpool_limits

from atlas.embeddings import rsvd


def _sparse(rows: int, cols: int, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sp.random(rows, cols, density=0.03, format="csr", random_state=rng)
    m.data = rng.gamma(1.0, 2.0, size=m.nnz)  # weights of several scales, as BM25 gives
    return m


@pytest.mark.parametrize(("rows", "cols", "n_iter"), [(700, 300, 7), (300, 700, 7), (500, 400, 2)])
def test_the_same_bytes_as_scikit_learns_randomized_svd(rows, cols, n_iter):
    """Tall and wide matrices (the products sweep the narrower side), with and without the LU steps."""
    m = _sparse(rows, cols, seed=rows)
    with threadpool_limits(1, "blas"):
        want = sklearn_svd(m, 12, n_iter=n_iter, random_state=4)
        for threads in (1, 2):
            got = rsvd.randomized_svd(m, 12, n_iter=n_iter, seed=4, threads=threads)
            for a, b in zip(got, want):
                assert a.shape == b.shape and a.tobytes() == b.tobytes()


def test_unsorted_and_duplicate_entries_are_summed_as_scipy_sums_them():
    m = _sparse(400, 200, seed=9)
    shuffled = m.tocoo()
    order = np.random.default_rng(1).permutation(shuffled.nnz)
    doubled = sp.csr_matrix(
        (np.r_[shuffled.data[order] / 2, shuffled.data[order] / 2], (np.r_[shuffled.row[order], shuffled.row[order]], np.r_[shuffled.col[order], shuffled.col[order]])),
        shape=m.shape,
    )
    with threadpool_limits(1, "blas"):
        a = rsvd.randomized_svd(doubled, 8, n_iter=5, seed=0, threads=2)
        b = rsvd.randomized_svd(m, 8, n_iter=5, seed=0, threads=1)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)


def test_a_product_of_many_rows_is_the_same_at_one_and_two_threads():
    m = _sparse(20_000, 3_000, seed=2)
    q = np.random.default_rng(0).normal(size=(3_000, 24))
    one = rsvd._Product(m, 1)
    two = rsvd._Product(m, 2)
    expected = m @ q
    assert one.times(q).tobytes() == two.times(q).tobytes() == expected.tobytes()
    back = np.random.default_rng(1).normal(size=(20_000, 24))
    assert one.times(back, transposed=True).tobytes() == two.times(back, transposed=True).tobytes() == (m.T @ back).tobytes()
