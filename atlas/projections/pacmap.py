"""PaCMAP: near pairs, mid-near pairs and further pairs balance local and global structure.

The near pairs come from the shared exact neighbours of the embedding, chosen the way PaCMAP
chooses them (the ``n_neighbors`` closest by distance scaled with each point's local density,
among the ``n_neighbors + 50`` nearest), so PaCMAP needs no approximate-neighbour library.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..errors import check_range, check_seed
from ..options import grid, option
from .base import Projection, ProjectionInputs, pca_init, quiet_logger, register

#: PaCMAP keeps its random seed in a module global: fits must not overlap.
_LOCK = threading.Lock()
EXTRA_CANDIDATES = 50
#: A refinement of a finished layout (the items placed among landmarks, see ``landmarks``): the
#: last phase of PaCMAP's schedule only, where near and further pairs balance.
REFINE_ITERS = 100


@dataclass(frozen=True)
class PacmapParams:
    """PaCMAP's knobs: near neighbours, mid-near and further pairs per item, iterations."""

    n_neighbors: int = option(10, "--pacmap-n-neighbors", "PaCMAP near pairs per item (default 10)", steps=(3, 5, 8, 10, 15, 20, 30, 50))
    mn_ratio: float = option(0.5, "--mn-ratio", "PaCMAP mid-near pairs per near pair (default 0.5; more: more global)", steps=grid(0.1, 2.0, 0.1))
    fp_ratio: float = option(2.0, "--fp-ratio", "PaCMAP further pairs per near pair (default 2)", steps=grid(0.5, 5.0, 0.5))
    n_iter: int = option(450, "--pacmap-iter", "PaCMAP iterations, the first 200 in its two warm-up phases (default 450)", steps=(250, 350, 450, 600, 800))
    landmarks: int | None = option(None, "--pacmap-landmarks", "PaCMAP: lay out N landmark items first and place the rest from their neighbours (0: every item at once; default: from 150,000 items, a fifth of them, at least 50,000)")
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("PaCMAP n_neighbors", self.n_neighbors, 1, 500)
        check_range("PaCMAP mn_ratio", self.mn_ratio, 0.0, 20.0)
        check_range("PaCMAP fp_ratio", self.fp_ratio, 0.0, 20.0)
        check_range("PaCMAP n_iter", self.n_iter, 201, 100_000)
        if self.landmarks is not None:
            check_range("PaCMAP landmarks", self.landmarks, 0)
        check_seed(self.seed)


def near_pairs(indices: np.ndarray, distances: np.ndarray, n_neighbors: int) -> np.ndarray:
    """PaCMAP's near pairs from exact neighbours (column 0 = the item itself): for each item the
    ``n_neighbors`` candidates with the smallest d²/(σ_i σ_j), σ = the mean distance to the 4th–6th
    nearest neighbours."""
    idx = indices[:, 1:].astype(np.int64)
    dist = distances[:, 1:].astype(np.float64)
    sigma = np.maximum(dist[:, 3:6].mean(axis=1) if dist.shape[1] > 3 else dist.mean(axis=1), 1e-10)
    scaled = dist**2 / sigma[:, None] / sigma[idx]
    best = np.argsort(scaled, axis=1, kind="stable")[:, :n_neighbors]
    chosen = np.take_along_axis(idx, best, axis=1)
    rows = np.repeat(np.arange(idx.shape[0]), chosen.shape[1])
    return np.stack([rows, chosen.ravel()], axis=1).astype(np.int32)


@register
class Pacmap(Projection):
    name = "pacmap"
    title = "PaCMAP"
    libraries = ("pacmap", "numba")
    sweep = {"n_neighbors": ((5, 10, 20, 30), (10,)), "mn_ratio": ((0.25, 0.5, 1.0, 2.0), (0.5, 2.0))}
    Params = PacmapParams
    order = 30

    def k_needed(self, params: PacmapParams) -> int:
        return params.n_neighbors + EXTRA_CANDIDATES

    def limits(self, params: PacmapParams, n_items: int):
        most = max(1, (n_items - 1) // (1 + int(np.ceil(params.mn_ratio + params.fp_ratio))))
        if params.n_neighbors > most:
            return {"n_neighbors": most}, f"PaCMAP n_neighbors={params.n_neighbors} is too large for {n_items} items; use at most {most}."
        return None

    def fit(self, inputs: ProjectionInputs, params: PacmapParams, *, progress=None) -> np.ndarray:
        import pacmap

        x = inputs.embedding.space()
        pairs = near_pairs(inputs.neighbors.indices, inputs.neighbors.distances, params.n_neighbors)
        with _LOCK, quiet_logger("pacmap.pacmap"):  # it warns on every fit with a seed; atlas always passes one
            reducer = pacmap.PaCMAP(
                n_components=2,
                n_neighbors=params.n_neighbors,
                MN_ratio=params.mn_ratio,
                FP_ratio=params.fp_ratio,
                pair_neighbors=pairs,
                num_iters=(0, 0, REFINE_ITERS) if inputs.refine else (100, 100, params.n_iter - 200),
                random_state=int(params.seed),
                apply_pca=False,
                knn_backend="annoy",  # never used: the near pairs are given
            )
            # PaCMAP standardises a given start itself; its own schedule runs from it
            start = inputs.init if inputs.init is not None else pca_init(x, scale=1.0)
            return reducer.fit_transform(x, init=np.asarray(start, dtype=np.float32))
