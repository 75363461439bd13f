"""Stage 6 — projection to 2D, one module per method, and alignment of one layout onto another.

The embedding's nearest neighbours, in its own metric (cosine for SVD and ALS vectors), come
from a k-d tree when it has a few dimensions and from an exact tiled search (approximate above
50,000 items, :mod:`.knn`) when it has many; they are computed once (``EmbeddingNeighbors``) and handed to every method that reads
neighbours (UMAP's ``precomputed_knn``, t-SNE's affinities, PaCMAP's near pairs),
which then skip their own approximate search.

Every module of this package other than ``base``, ``knn`` (the neighbour search) and ``landmarks`` (large catalogues: a sample
laid out first, the rest placed from neighbours) holds one projection; it registers itself, and
``names()`` lists them all.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (
    EmbeddingNeighbors,
    Layout,
    Projection,
    ProjectionInputs,
    align_layout,
    default_names,
    embedding_neighbors,
    fit_similarity,
    get,
    libraries,
    names,
    of,
    pca_init,
    procrustes,
    project,
    projections,
    register,
    sweep_grid,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "knn", "landmarks") and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

from .pacmap import PacmapParams  # noqa: E402
from .pymde import PymdeParams  # noqa: E402
from .tsne import TsneParams  # noqa: E402
from .umap import UmapParams  # noqa: E402

__all__ = [
    "EmbeddingNeighbors", "Layout", "PacmapParams", "Projection", "ProjectionInputs", "PymdeParams", "TsneParams",
    "UmapParams", "align_layout", "default_names", "embedding_neighbors", "fit_similarity", "get", "libraries", "names", "of", "pca_init",
    "procrustes", "project", "projections", "register", "sweep_grid",
]
