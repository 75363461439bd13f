"""``als``: implicit-feedback matrix factorisation of the users × items matrix (``implicit``).

The interactions — the weight column when the data has one and ``use_weights`` is on, else ones
— are BM25-weighted per item (as ``implicit``'s own examples do, so that heavy users and
popular items do not dominate), then factorised by alternating least squares (Hu, Koren and
Volinsky) or, with ``model="bpr"``, by Bayesian personalised ranking. The item factors are the
vectors, compared by cosine.

ALS solves each user's and each item's row independently, so its result does not depend on the
number of threads; BPR's stochastic updates do, so it runs on one thread.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..cores import fitted_thread_count
from ..embed import Embedding
from ..errors import AtlasError, check_choice, check_range, check_seed
from ..options import option
from .base import EmbeddingInputs, EmbeddingMethod, register

log = logging.getLogger(__name__)

MODELS = ("als", "bpr")


@dataclass(frozen=True)
class AlsParams:
    """The factorisation: model, factors, regularisation, iterations and the BM25 weighting."""

    factors: int = option(64, "--als-factors", "ALS/BPR latent factors (default 64)", steps=(8, 16, 32, 48, 64, 96, 128), label="ALS factors")
    model: str = option("als", "--als-model", "als (alternating least squares) or bpr (Bayesian personalised ranking)", choices=MODELS, label="ALS model")
    regularization: float = option(0.01, "--als-regularization", "ALS/BPR regularisation (default 0.01)", steps=(0.001, 0.01, 0.05, 0.1, 0.5, 1.0))
    iterations: int = option(15, "--als-iter", "ALS sweeps (default 15; BPR epochs are 10 times as many)", steps=(5, 10, 15, 20, 30, 50))
    bm25_b: float = option(0.8, "--als-bm25-b", "BM25 length normalisation of the interactions (default 0.8; 0: none)", steps=(0.0, 0.25, 0.5, 0.75, 0.8, 1.0))
    use_weights: bool = option(True, "--als-weights", "use the weight column when the data has one (default true)")
    learning_rate: float = 0.01  # BPR only
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("als factors", self.factors, 2, 1024)
        check_choice("als model", self.model, MODELS)
        check_range("als regularization", self.regularization, 0.0, 1e6)
        check_range("als iterations", self.iterations, 1, 10_000)
        check_range("als bm25_b", self.bm25_b, 0.0, 1.0)
        check_range("als learning_rate", self.learning_rate, 1e-9, 10.0)
        check_seed(self.seed)


def weighted_interactions(profiles, params: AlsParams) -> sp.csr_matrix:
    """The users × items matrix the factorisation reads: weights (or ones), BM25-weighted per item."""
    from implicit.nearest_neighbours import bm25_weight

    x = sp.csr_matrix(profiles.matrix, dtype=np.float32, copy=True)
    if not params.use_weights:
        x.data[:] = 1.0
    if x.nnz and x.data.min() < 0:
        raise AtlasError("the als embedding needs non-negative weights; filter with --min-weight or set --als-weights false.")
    x.eliminate_zeros()
    return sp.csr_matrix(bm25_weight(x.T.tocoo(), K1=100, B=params.bm25_b)).T.tocsr().astype(np.float32)


@contextlib.contextmanager
def _quiet():
    """implicit warns about OpenBLAS threads and checks its input's dtype loudly; atlas sets threads itself."""
    logger = logging.getLogger("implicit")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def als_vectors(profiles, params: AlsParams) -> np.ndarray:
    """The item factors (n_items × factors, float32); ``factors`` is lowered to n_items − 1 on
    a catalogue smaller than it (a warning says so)."""
    from threadpoolctl import threadpool_limits

    x = weighted_interactions(profiles, params)
    n = x.shape[1]
    if n < 3:
        raise AtlasError(f"the als embedding needs at least 3 items, but only {n} are left; lower the filters.")
    factors = min(params.factors, n - 1)
    if factors < params.factors:
        log.warning("--als-factors %d lowered to %d: only %d items are left", params.factors, factors, n)
    with _quiet(), threadpool_limits(1, "blas"):
        if params.model == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            model = AlternatingLeastSquares(
                factors=factors, regularization=params.regularization, iterations=params.iterations,
                num_threads=fitted_thread_count(), random_state=params.seed,
            )  # fmt: skip
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            model = BayesianPersonalizedRanking(
                factors=factors, learning_rate=params.learning_rate, regularization=params.regularization,
                iterations=10 * params.iterations, num_threads=1, random_state=params.seed,
            )  # fmt: skip
        model.fit(x, show_progress=False)
    vectors = np.asarray(model.item_factors, dtype=np.float32)
    if not np.all(np.isfinite(vectors)):
        raise AtlasError("the ALS factors diverged (non-finite values); raise --als-regularization.")
    return vectors


@register
class Als(EmbeddingMethod):
    name = "als"
    title = "ALS (implicit)"
    Params = AlsParams
    order = 20
    reads = ("profiles",)
    libraries = ("implicit",)

    def fit(self, inputs: EmbeddingInputs, params: AlsParams, *, progress=None) -> Embedding:
        coords = als_vectors(inputs.profiles, params)
        if progress is not None:
            progress(1, 1)
        return Embedding(coords, float("nan"), params.iterations, params, metric="cosine")
