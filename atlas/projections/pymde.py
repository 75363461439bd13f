"""PyMDE's own 2D layout: the item graph embedded straight into two dimensions.

Not a projection of the embedding but a second PyMDE solve with ``embedding_dim=2`` and the
embedding's other settings, offered so that people can see what the intermediate dimensions
buy (the published recipe found 2D alone looks poor).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..embed import EmbedParams, embed_graph
from ..errors import AtlasError, check_seed
from .base import Projection, ProjectionInputs, Throttle, register


@dataclass(frozen=True)
class PymdeParams:
    """No knobs of its own: the embedding's parameters (PyMDE's defaults after another
    method's embedding), with two dimensions."""

    seed: int = 0

    def __post_init__(self) -> None:
        check_seed(self.seed)


@register
class Pymde2d(Projection):
    name = "pymde"
    title = "PyMDE 2D"
    Params = PymdeParams
    order = 40
    compare_by_default = False
    needs_graph = True
    libraries = ("pymde", "torch")

    def fit(self, inputs: ProjectionInputs, params: PymdeParams, *, progress=None) -> np.ndarray:
        embed_params = inputs.embedding.params
        if embed_params is None:
            raise AtlasError("the PyMDE 2D layout needs an embedding made by atlas (it reuses its parameters).")
        if not isinstance(embed_params, EmbedParams):  # an embedding by another method: PyMDE's defaults
            embed_params = EmbedParams()
        init = "random" if embed_params.init == "svd" else embed_params.init
        two = dataclasses.replace(embed_params, embedding_dim=2, init=init, seed=params.seed)
        report = Throttle(progress)
        coords = embed_graph(inputs.graph, two, init=inputs.init, progress=lambda done, total: report(done, total, None)).coords
        report(two.max_iter, two.max_iter, coords)
        return coords
