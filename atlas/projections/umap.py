"""UMAP: the global "continent with fronds" (large ``n_neighbors``, 100–200, shows it best)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import AtlasError, check_range
from ..options import grid, option
from .base import Projection, ProjectionInputs, pca_init, register


@dataclass(frozen=True)
class UmapParams:
    """UMAP's main knobs; ``n_epochs`` None lets UMAP choose (500 below 10,000 items, else 200)."""

    n_neighbors: int = option(50, "--umap-n-neighbors", "UMAP n_neighbors (default 50)", steps=(5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300))
    min_dist: float = option(0.3, "--min-dist", "UMAP min_dist (default 0.3)", steps=grid(0.0, 1.0, 0.05))
    spread: float = option(1.0, "--spread", "UMAP spread (default 1.0)", steps=grid(0.5, 3.0, 0.1))
    n_epochs: int | None = option(None, "--umap-epochs", "UMAP optimisation epochs (default: UMAP's choice)")
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("UMAP n_neighbors", self.n_neighbors, 2, 1000)
        check_range("UMAP min_dist", self.min_dist, 0.0, 10.0)
        check_range("UMAP spread", self.spread, 0.01, 100.0)
        if self.n_epochs is not None:
            check_range("UMAP n_epochs", self.n_epochs, 1, 100_000)
        if self.min_dist > self.spread:
            raise AtlasError(f"UMAP min_dist ({self.min_dist}) must not exceed spread ({self.spread}); lower min_dist or raise spread.")


@register
class Umap(Projection):
    name = "umap"
    title = "UMAP"
    Params = UmapParams
    order = 10

    def k_needed(self, params: UmapParams) -> int:
        return params.n_neighbors

    def limits(self, params: UmapParams, n_items: int):
        if params.n_neighbors >= n_items:
            most = max(2, n_items - 1)
            return {"n_neighbors": most}, f"UMAP n_neighbors={params.n_neighbors} is too large for {n_items} items; use at most {most}."
        return None

    def fit(self, inputs: ProjectionInputs, params: UmapParams, *, progress=None) -> np.ndarray:
        import umap

        x = inputs.embedding.coords
        k = params.n_neighbors
        knn = (inputs.neighbors.indices[:, :k].astype(np.int32), inputs.neighbors.distances[:, :k].astype(np.float32))
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
