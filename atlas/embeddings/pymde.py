"""``pymde``: the item graph embedded by PyMDE in a few dimensions (:mod:`atlas.embed`).

With ``--init svd`` the solve starts from the SVD of the profiles' PPMI matrix in the same
number of dimensions (:mod:`atlas.embeddings.svd`) instead of from random positions.
"""

from __future__ import annotations

from ..embed import EmbedParams, Embedding, embed_graph
from ..errors import AtlasError
from .base import EmbeddingInputs, EmbeddingMethod, register
from .svd import SvdParams, svd_vectors


@register
class Pymde(EmbeddingMethod):
    name = "pymde"
    title = "PyMDE"
    Params = EmbedParams
    order = 30
    reads = ("graph",)
    libraries = ("pymde", "torch")

    def check(self, inputs: EmbeddingInputs, params: EmbedParams) -> None:
        super().check(inputs, params)
        if params.init == "svd" and not hasattr(inputs.profiles, "matrix"):
            raise AtlasError("--init svd starts from the profile matrix, which this build does not hold on this machine; use --init random.")

    def fit(self, inputs: EmbeddingInputs, params: EmbedParams, *, progress=None) -> Embedding:
        start = None
        if params.init == "svd":
            start = svd_vectors(inputs.profiles, SvdParams(dim=params.embedding_dim, seed=params.seed))
        return embed_graph(inputs.graph, params, init=start, progress=progress)
