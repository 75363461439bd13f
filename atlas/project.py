"""Stage 6 — projection to 2D with UMAP or openTSNE, and alignment of one layout onto another.

The embedding has only a few dimensions, so its exact nearest neighbours come cheaply from a
k-d tree; they are computed once (``EmbeddingNeighbors``) and handed to both UMAP
(``precomputed_knn``) and openTSNE (``PrecomputedNeighbors``), which then skip their own
approximate neighbour search.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .cores import threads_for_now
from .embed import Embedding
from .errors import AtlasError, check_range, check_seed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UmapParams:
    """UMAP's main knobs. Large ``n_neighbors`` (100–200) gives the global "continent"."""

    n_neighbors: int = 50
    min_dist: float = 0.3
    spread: float = 1.0
    n_epochs: int | None = None
    seed: int = 0

    method = "umap"

    def __post_init__(self) -> None:
        check_range("UMAP n_neighbors", self.n_neighbors, 2, 1000)
        check_range("UMAP min_dist", self.min_dist, 0.0, 10.0)
        check_range("UMAP spread", self.spread, 0.01, 100.0)
        if self.n_epochs is not None:
            check_range("UMAP n_epochs", self.n_epochs, 1, 100_000)
        if self.min_dist > self.spread:
            raise AtlasError(f"UMAP min_dist ({self.min_dist}) must not exceed spread ({self.spread}); lower min_dist or raise spread.")
        check_seed("seed", self.seed)

    @property
    def k_needed(self) -> int:
        return self.n_neighbors


@dataclass(frozen=True)
class TsneParams:
    """openTSNE's main knobs. Perplexity 25–40 gives the local "archipelago"."""

    perplexity: float = 30.0
    early_exaggeration: float = 12.0
    learning_rate: float | str = "auto"
    dof: float = 1.0
    n_iter: int = 500
    seed: int = 0

    method = "tsne"

    def __post_init__(self) -> None:
        check_range("t-SNE perplexity", self.perplexity, 1.0, 500.0)
        check_range("t-SNE early_exaggeration", self.early_exaggeration, 1.0, 100.0)
        check_range("t-SNE dof", self.dof, 0.05, 100.0)
        check_range("t-SNE n_iter", self.n_iter, 10, 100_000)
        if self.learning_rate != "auto" and not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise AtlasError(f"t-SNE learning_rate must be 'auto' or a positive number, got {self.learning_rate!r}.")
        if self.learning_rate != "auto":
            check_range("t-SNE learning_rate", self.learning_rate, 0.0)
        check_seed("seed", self.seed)

    @property
    def k_needed(self) -> int:
        return int(min(3 * self.perplexity, 1000))


ProjectionParams = UmapParams | TsneParams
PROJECTIONS = ("umap", "tsne")


@dataclass(frozen=True, eq=False)
class EmbeddingNeighbors:
    """Exact k nearest neighbours in embedding space; column 0 is the item itself."""

    indices: np.ndarray  # int64, n × (k+1)
    distances: np.ndarray  # float32
    key: str = ""
    seconds: float = 0.0

    @property
    def k(self) -> int:
        return self.indices.shape[1] - 1


@dataclass(frozen=True, eq=False)
class Layout:
    """2D coordinates of every item, with the method and parameters that made them."""

    xy: np.ndarray  # float32, n × 2
    method: str
    params: object
    key: str = ""
    seconds: float = 0.0

    @property
    def n_items(self) -> int:
        return self.xy.shape[0]


def embedding_neighbors(embedding: Embedding, k: int) -> EmbeddingNeighbors:
    """Exact ``k`` nearest neighbours of every item in embedding space (self included first)."""
    x = embedding.coords.astype(np.float64)
    k = min(k, x.shape[0] - 1)
    dist, idx = cKDTree(x).query(x, k=k + 1, workers=-1)
    # a duplicate point may come before the item itself: put the item first
    self_pos = idx == np.arange(x.shape[0])[:, None]
    bad = ~self_pos[:, 0]
    if bad.any():
        for i in np.flatnonzero(bad):
            row = [i] + [j for j in idx[i] if j != i][:k]
            idx[i] = row
            dist[i] = np.r_[0.0, np.linalg.norm(x[row[1:]] - x[i], axis=1)]
    return EmbeddingNeighbors(idx.astype(np.int64), dist.astype(np.float32))


def _check_size(n: int, params: ProjectionParams) -> None:
    if n < 5:
        raise AtlasError(f"a 2D projection needs at least 5 items, but only {n} are left; lower the filters.")
    if isinstance(params, TsneParams) and 3 * params.perplexity >= n:
        raise AtlasError(
            f"t-SNE perplexity {params.perplexity:g} is too large for {n} items; use at most {max(1, (n - 1) // 3)}."
        )
    if isinstance(params, UmapParams) and params.n_neighbors >= n:
        raise AtlasError(f"UMAP n_neighbors={params.n_neighbors} is too large for {n} items; use at most {n - 1}.")


def project(embedding: Embedding, params: ProjectionParams, neighbors: EmbeddingNeighbors | None = None) -> Layout:
    """Project the embedding to 2D with UMAP or t-SNE, reusing ``neighbors`` when given."""
    n = embedding.coords.shape[0]
    _check_size(n, params)
    if neighbors is None or neighbors.k < params.k_needed:
        neighbors = embedding_neighbors(embedding, params.k_needed)
    if isinstance(params, UmapParams):
        xy = _umap(embedding.coords, params, neighbors)
    elif isinstance(params, TsneParams):
        xy = _tsne(embedding.coords, params, neighbors)
    else:
        raise AtlasError(f"unknown projection parameters {type(params).__name__}; use UmapParams or TsneParams.")
    xy = np.asarray(xy, dtype=np.float32)
    if not np.all(np.isfinite(xy)):
        raise AtlasError(f"the {params.method} layout has non-finite coordinates; change its parameters (e.g. a lower learning rate).")
    return Layout(xy - xy.mean(axis=0), params.method, params)


def pca_init(x: np.ndarray, *, scale: float) -> np.ndarray:
    """The embedding's first two principal components, scaled to ±``scale``.

    Both projections start from it, so UMAP and t-SNE inherit the same global arrangement
    from the PyMDE embedding and their aligned layouts can be compared item by item.
    """
    x0 = x.astype(np.float64) - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x0, full_matrices=False)
    pcs = x0 @ vt[:2].T
    if pcs.shape[1] < 2:
        pcs = np.c_[pcs, np.zeros(pcs.shape[0])]
    for col in range(2):  # fix the sign so the start does not flip between runs
        if pcs[np.argmax(np.abs(pcs[:, col])), col] < 0:
            pcs[:, col] *= -1
    extent = np.abs(pcs).max()
    return (pcs / (extent if extent > 0 else 1.0) * scale).astype(np.float32)


def _umap(x: np.ndarray, params: UmapParams, neighbors: EmbeddingNeighbors) -> np.ndarray:
    import umap

    k = params.n_neighbors
    knn = (neighbors.indices[:, :k].astype(np.int32), neighbors.distances[:, :k].astype(np.float32))
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=params.min_dist,
        spread=params.spread,
        n_epochs=params.n_epochs,
        random_state=params.seed,
        init=pca_init(x, scale=10.0),
        precomputed_knn=(*knn, None),
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reducer.fit_transform(x.astype(np.float32))


def _tsne(x: np.ndarray, params: TsneParams, neighbors: EmbeddingNeighbors) -> np.ndarray:
    import openTSNE
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    k = params.k_needed
    # Threads for the idle cores only: openTSNE's threads wait on each other at every step, so
    # on a busy machine extra threads slow it down several times. The result does not depend on
    # the number of threads.
    n_jobs = threads_for_now()
    knn = PrecomputedNeighbors(neighbors.indices[:, 1 : k + 1].copy(), neighbors.distances[:, 1 : k + 1].astype(np.float64))
    affinities = PerplexityBasedNN(perplexity=params.perplexity, knn_index=knn, n_jobs=n_jobs, random_state=params.seed, verbose=False)
    init = pca_init(x, scale=1e-4 * 2)
    tsne = openTSNE.TSNE(
        early_exaggeration=params.early_exaggeration,
        learning_rate=params.learning_rate,
        dof=params.dof,
        n_iter=params.n_iter,
        random_state=params.seed,
        n_jobs=n_jobs,
        verbose=False,
    )
    return np.asarray(tsne.fit(affinities=affinities, initialization=init))


def align_layout(layout: Layout, reference: Layout) -> Layout:
    """Rotate, reflect, scale and shift ``layout`` to best match ``reference`` point by point."""
    a = layout.xy.astype(np.float64)
    b = reference.xy.astype(np.float64)
    if a.shape != b.shape:
        raise AtlasError(f"layouts of {a.shape[0]} and {b.shape[0]} items cannot be aligned; they must hold the same items.")
    xy = procrustes(a, b)
    return Layout(xy.astype(np.float32), layout.method, layout.params, layout.key + ":aligned", layout.seconds)


def procrustes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The similarity transform of ``a`` (rotation/reflection, uniform scale, shift) closest to ``b``."""
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(a0.T @ b0)
    r = u @ vt
    norm = (a0**2).sum()
    scale = s.sum() / norm if norm > 0 else 1.0
    return a0 @ r * scale + mb
