"""Stage 5 — the initial embedding: a PyMDE problem built directly from the item graph.

The graph's edges attract (``attractive`` penalty on positive weights); randomly sampled
non-edges repel (``repulsive`` penalty, ``repulsive_fraction`` of them per attractive edge).
Randomness comes from the ``seed`` alone: the global torch generator is left untouched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import AtlasError, check_choice, check_range, check_seed
from .graph import ItemGraph
from .options import grid, option

log = logging.getLogger(__name__)

ATTRACTIVE = ("log1p", "quadratic", "huber", "logistic")
REPULSIVE = ("log", "inv_power", "log_ratio")
INITS = ("random", "spectral", "svd")
CONSTRAINTS = ("centered", "standardized")


@dataclass(frozen=True)
class EmbedParams:
    """The PyMDE problem: dimension, penalties, repulsion, initialisation and iterations.

    ``embedding_dim`` matters most: 3–4 keeps structure that 2 loses and projects well.
    """

    embedding_dim: int = option(3, "--embedding-dim", "PyMDE embedding dimension (default 3)", steps=(2, 3, 4, 5, 6, 8))
    attractive: str = "log1p"
    repulsive: str = "log"
    repulsive_fraction: float = option(
        1.0, "--repulsive-fraction", "PyMDE repulsive edges per attractive edge (default 1)", steps=grid(0.1, 3.0, 0.1), label="repulsion"
    )
    constraint: str = "centered"
    init: str = option("random", "--init", "PyMDE initialisation (default random; svd: the SVD of the PPMI matrix)", choices=INITS)
    max_iter: int = option(300, "--max-iter", "PyMDE iterations (default 300)", steps=(50, 100, 200, 300, 500, 1000, 2000), label="PyMDE iterations")
    seed: int = 0

    def __post_init__(self) -> None:
        # UMAP and t-SNE lay out at least two dimensions; a 1-D embedding gives them nothing to spread.
        check_range("embedding_dim", self.embedding_dim, 2, 64)
        check_choice("attractive penalty", self.attractive, ATTRACTIVE)
        check_choice("repulsive penalty", self.repulsive, REPULSIVE)
        check_range("repulsive_fraction", self.repulsive_fraction, 0.0, 100.0)
        check_choice("constraint", self.constraint, CONSTRAINTS)
        check_choice("init", self.init, INITS)
        check_range("max_iter", self.max_iter, 1, 100_000)
        check_seed(self.seed)


@dataclass(frozen=True, eq=False)
class Embedding:
    """Item coordinates in ``dim`` dimensions, compared by ``metric`` (``euclidean`` or
    ``cosine``); ``distortion`` is PyMDE's final average distortion (NaN for other methods)."""

    coords: np.ndarray  # float32, n × d
    distortion: float
    iterations: int
    params: object = None  # the method's parameters (EmbedParams for PyMDE)
    key: str = ""
    seconds: float = 0.0
    metric: str = "euclidean"
    method: str = "pymde"

    @property
    def dim(self) -> int:
        return int(self.coords.shape[1])

    def space(self) -> np.ndarray:
        """The coordinates in which Euclidean distance ranks neighbours as ``metric`` does
        (unit rows for cosine), as float32."""
        x = np.asarray(self.coords, dtype=np.float32)
        if self.metric != "cosine":
            return x
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.where(norms > 0, norms, 1.0)


def _penalties():
    from pymde.functions import penalties as P

    attractive = {"log1p": P.Log1p, "quadratic": P.Quadratic, "huber": P.Huber, "logistic": P.Logistic}
    repulsive = {"log": P.Log, "inv_power": P.InvPower, "log_ratio": P.LogRatio}
    return attractive, repulsive


def sample_non_edges(n_items: int, edges: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n_samples`` distinct pairs (i < j) that are not in ``edges``."""
    n_pairs = n_items * (n_items - 1) // 2
    n_samples = int(min(n_samples, n_pairs - edges.shape[0]))
    if n_samples <= 0:
        return np.empty((0, 2), dtype=np.int64)
    existing_sorted = np.sort(edges[:, 0].astype(np.int64) * n_items + edges[:, 1])
    found = np.empty(0, dtype=np.int64)
    for _ in range(20):
        need = n_samples - found.shape[0]
        if need <= 0:
            break
        a = rng.integers(0, n_items, int(need * 1.3) + 16)
        b = rng.integers(0, n_items, a.shape[0])
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        ok = lo != hi
        key = lo[ok] * n_items + hi[ok]
        pos = np.searchsorted(existing_sorted, key)
        pos = np.minimum(pos, max(existing_sorted.shape[0] - 1, 0))
        if existing_sorted.size:
            key = key[existing_sorted[pos] != key]
        found = np.unique(np.concatenate([found, key]))
    if found.shape[0] > n_samples:
        found = rng.choice(found, n_samples, replace=False)
    return np.stack([found // n_items, found % n_items], axis=1)


class _IterationLog(logging.Handler):
    """Reads PyMDE's "iteration 030 | distortion …" log lines into ``progress(done, total)``."""

    def __init__(self, progress: Callable[[int, int], None], total: int) -> None:
        super().__init__()
        self.progress, self.total = progress, total

    def emit(self, record: logging.LogRecord) -> None:
        words = record.getMessage().split()
        if len(words) > 1 and words[0] == "iteration" and words[1].isdigit():
            self.progress(int(words[1]) + 1, self.total)


@contextlib.contextmanager
def _pymde_progress(progress: Callable[[int, int], None] | None, total: int):
    """While solving, send PyMDE's iteration log to ``progress`` instead of stderr."""
    if progress is None:
        yield False
        return
    logger = logging.getLogger("__pymde__")
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers = [_IterationLog(progress, total)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield True
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


def embed_graph(
    graph: ItemGraph,
    params: EmbedParams = EmbedParams(),
    *,
    init: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Embedding:
    """Solve the PyMDE problem for ``graph`` and return the coordinates.

    ``init`` (n × embedding_dim) starts the solve there instead of from ``params.init``, scaled
    like PyMDE's own random start (centred, unit variance per item); e.g. an earlier map.
    ``progress(iterations done, max_iter)`` is called as the solver advances (about 50 times).
    """
    import pymde
    import torch

    n = graph.n_items
    if graph.n_edges == 0:
        raise AtlasError("the item graph has no edges, so there is nothing to embed; lower the filters or the weighting's min_count.")
    if params.embedding_dim >= n:
        raise AtlasError(f"embedding_dim={params.embedding_dim} needs more than {params.embedding_dim} items, but only {n} are left.")
    rng = np.random.default_rng(params.seed)
    attractive, repulsive = _penalties()
    edges = graph.edges.astype(np.int64)
    weights = graph.weights.astype(np.float32)
    n_rep = int(round(params.repulsive_fraction * edges.shape[0]))
    negative = sample_non_edges(n, edges, n_rep, rng)
    all_edges = torch.from_numpy(np.concatenate([edges, negative]).astype(np.int64))
    all_weights = torch.from_numpy(np.concatenate([weights, -np.ones(negative.shape[0], dtype=np.float32)]))
    if negative.shape[0]:
        f = pymde.functions.penalties.PushAndPull(
            all_weights, attractive_penalty=attractive[params.attractive], repulsive_penalty=repulsive[params.repulsive]
        )
    else:
        f = attractive[params.attractive](all_weights)
    constraint = pymde.Standardized() if params.constraint == "standardized" or not negative.shape[0] else pymde.Centered()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        if init is not None:
            start = np.asarray(init, dtype=np.float64)
            if start.shape != (n, params.embedding_dim):
                raise AtlasError(f"a start for the embedding must hold {params.embedding_dim} coordinates for all {n} items, got shape {start.shape}.")
            start = start - start.mean(axis=0)
            x0 = torch.from_numpy((start / max(float(start.std()), 1e-12)).astype(np.float32))
        elif params.init == "svd":
            raise AtlasError("init='svd' starts from the profiles' SVD; embed through atlas.embeddings, which computes it.")
        elif params.init == "spectral":
            x0 = pymde.quadratic.spectral(n, params.embedding_dim, all_edges[: edges.shape[0]], all_weights[: edges.shape[0]], max_iter=1000)
            x0 = x0.float()
        else:
            x0 = torch.from_numpy(rng.standard_normal((n, params.embedding_dim)).astype(np.float32))
            x0 -= x0.mean(dim=0)
        if isinstance(constraint, type(pymde.Standardized())):
            x0 = constraint.project_onto_constraint(x0)
        mde = pymde.MDE(n_items=n, embedding_dim=params.embedding_dim, edges=all_edges, distortion_function=f, constraint=constraint)
        with _pymde_progress(progress, params.max_iter) as verbose:
            x = mde.embed(X=x0, max_iter=params.max_iter, verbose=verbose, print_every=max(1, params.max_iter // 50))
        distortion = float(mde.average_distortion(x).item())
    coords = x.detach().cpu().numpy().astype(np.float32)
    if not np.all(np.isfinite(coords)):
        raise AtlasError("the embedding diverged (non-finite coordinates); lower repulsive_fraction or try init='spectral'.")
    stats = getattr(mde, "solve_stats", None)
    return Embedding(coords, distortion, int(getattr(stats, "iterations", params.max_iter)), params)
