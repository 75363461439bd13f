"""Stage 5 — the embedding: item vectors from the interactions, one module per method.

``pymde`` embeds the sparse item graph in a few dimensions; ``svd`` factorises a weighted item
matrix (PPMI, BM25 …) and ``als`` the users × items matrix (``implicit``'s ALS or BPR), both to
tens of dimensions compared by cosine. Every module of this package other than ``base`` holds
one method and registers itself; ``names()`` lists them all.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import (
    DEFAULT,
    EmbeddingInputs,
    EmbeddingMethod,
    default_params,
    embed,
    from_dict,
    get,
    libraries,
    methods,
    names,
    of,
    register,
    to_dict,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "choice") and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

from .choice import changed_options, embedding_fields, embedding_params  # noqa: E402

__all__ = [
    "DEFAULT", "EmbeddingInputs", "EmbeddingMethod", "changed_options", "default_params", "embed", "embedding_fields",
    "embedding_params", "from_dict", "get", "libraries", "methods", "names", "of", "register", "to_dict",
]
