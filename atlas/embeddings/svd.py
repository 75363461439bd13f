"""``svd``: a truncated, randomized SVD of a weighted item matrix, sparse throughout.

Two kinds of matrix:

* ``ppmi`` / ``sppmi``: the item × item co-occurrence matrix (shared users, or Σ w·w with
  ``use_weights``) turned into positive pointwise mutual information, the partner's probability
  smoothed by ``cds`` (0.75, as for word vectors) and, for ``sppmi``, shifted down by
  log(``shift``). Item vectors are U·S^power of its SVD.
* ``bm25`` / ``tfidf``: the users × items matrix with each item's column weighted like a
  document (BM25 or tf-idf over users), whose right singular vectors V·S^power are the items.

Vectors are compared by cosine. The SVD is scikit-learn's ``randomized_svd`` (Halko et al.),
seeded, so the same input gives the same vectors; its sparse products are shared among the idle
cores (:mod:`atlas.embeddings.rsvd`, the same bytes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..embed import Embedding
from ..errors import AtlasError, check_choice, check_range, check_seed
from ..options import grid, option
from .base import EmbeddingInputs, EmbeddingMethod, register

log = logging.getLogger(__name__)

WEIGHTINGS = ("ppmi", "sppmi", "bm25", "tfidf")


@dataclass(frozen=True)
class SvdParams:
    """The matrix (``weighting``), its SVD's rank (``dim``) and how singular values scale the vectors."""

    dim: int = option(48, "--svd-dim", "SVD dimensions (default 48)", steps=(8, 16, 24, 32, 48, 64, 96, 128), label="SVD dimensions")
    weighting: str = option("bm25", "--svd-weighting", "matrix the SVD factorises (default bm25)", choices=WEIGHTINGS, label="SVD weighting")
    shift: float = option(5.0, "--svd-shift", "sppmi: PMI shifted down by log(shift) (default 5)", steps=(1.0, 2.0, 5.0, 10.0, 20.0))
    cds: float = option(0.75, "--svd-cds", "ppmi: partner probabilities raised to this power (default 0.75)", steps=grid(0.5, 1.0, 0.05))
    power: float = option(0.75, "--svd-power", "singular values raised to this power in the vectors (default 0.75)", steps=grid(0.0, 1.0, 0.25))
    use_weights: bool = option(False, "--svd-weights", "weigh interactions by the weight column instead of counting them (default false)")
    n_iter: int = 7  # power iterations of the randomized SVD
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("svd dim", self.dim, 2, 1024)
        check_choice("svd weighting", self.weighting, WEIGHTINGS)
        check_range("svd shift", self.shift, 1.0, 1e6)
        check_range("svd cds", self.cds, 0.0, 1.0)
        check_range("svd power", self.power, 0.0, 1.0)
        check_range("svd n_iter", self.n_iter, 0, 100)
        check_seed(self.seed)


def interaction_matrix(profiles, use_weights: bool) -> sp.csr_matrix:
    """The users × items matrix as float64: the weights, or ones."""
    x = sp.csr_matrix(profiles.matrix, dtype=np.float64, copy=True)
    if not use_weights:
        x.data[:] = 1.0
    if x.nnz and x.data.min() < 0:
        raise AtlasError("the svd embedding needs non-negative weights; filter with --min-weight or set --svd-weights false.")
    return x


def ppmi_matrix(x: sp.csr_matrix, *, cds: float = 0.75, shift: float = 1.0) -> sp.csr_matrix:
    """Positive PMI of the item × item co-occurrence matrix ``xᵀx`` (diagonal left out)."""
    c = (x.T @ x).tocoo()
    off = c.row != c.col
    rows, cols, counts = c.row[off], c.col[off], c.data[off]
    n = x.shape[1]
    totals = np.bincount(rows, weights=counts, minlength=n)
    total = counts.sum()
    if total <= 0:
        raise AtlasError("no two items share a user, so there is no co-occurrence to factorise; lower the filters.")
    smoothed = totals**cds
    pmi = np.log(counts) + np.log(smoothed.sum()) - np.log(totals[rows]) - np.log(smoothed[cols]) - np.log(shift)
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (rows[keep], cols[keep])), shape=(n, n))


def document_weighted(x: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """The users × items matrix with each item weighted as a document over users (BM25 or tf-idf)."""
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    items = x.T.tocoo()
    weighted = bm25_weight(items, K1=100, B=0.8) if weighting == "bm25" else tfidf_weight(items)
    return sp.csr_matrix(weighted).T.tocsr()


def svd_vectors(profiles, params: SvdParams) -> np.ndarray:
    """The item vectors (n_items × dim, float32) of ``params``' matrix; ``dim`` is lowered to
    n_items − 1 on a catalogue smaller than it (a warning says so)."""
    from ..cores import plan_threads
    from .rsvd import randomized_svd

    # the products give the same bytes at any thread count (atlas/embeddings/rsvd.py), so they take
    # the idle cores, although the embedding stage runs one thread for PyMDE's sake
    threads = plan_threads().threads
    x = interaction_matrix(profiles, params.use_weights)
    n = x.shape[1]
    if n < 3:
        raise AtlasError(f"the svd embedding needs at least 3 items, but only {n} are left; lower the filters.")
    dim = min(params.dim, n - 1)
    if dim < params.dim:
        log.warning("--svd-dim %d lowered to %d: only %d items are left", params.dim, dim, n)
    if params.weighting in ("ppmi", "sppmi"):
        matrix = ppmi_matrix(x, cds=params.cds, shift=params.shift if params.weighting == "sppmi" else 1.0)
        if matrix.nnz == 0:
            raise AtlasError(f"no pair of items has a positive {params.weighting.upper()}; lower --svd-shift or the filters.")
        u, s, _ = randomized_svd(matrix, dim, n_iter=params.n_iter, seed=params.seed, threads=threads)
        vectors = u * s**params.power
    else:
        _, s, vt = randomized_svd(document_weighted(x, params.weighting), dim, n_iter=params.n_iter, seed=params.seed, threads=threads)
        vectors = vt.T * s**params.power
    # one sign per component, so that the same matrix gives the same vectors whatever the solver's start
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    return (vectors * np.where(signs == 0, 1.0, signs)).astype(np.float32)


@register
class Svd(EmbeddingMethod):
    name = "svd"
    title = "SVD"
    Params = SvdParams
    order = 10
    reads = ("profiles",)
    libraries = ("scikit-learn", "implicit")

    def fit(self, inputs: EmbeddingInputs, params: SvdParams, *, progress=None) -> Embedding:
        coords = svd_vectors(inputs.profiles, params)
        if progress is not None:
            progress(1, 1)
        return Embedding(coords, float("nan"), params.n_iter, params, metric="cosine")
