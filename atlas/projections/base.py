"""What every projection shares: the registry, the shared neighbours, the PCA start, alignment.

A projection is one class in one module of this package (``umap.py``, ``tsne.py`` ...),
decorated with ``@register``: it names its parameter dataclass, says how many embedding
neighbours it needs, checks its parameters against the number of items and fits a 2D layout.
Everything that lists projections — the command line's flags, the app's sliders and views, the
export and its manifest — asks the registry instead of naming them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..embed import Embedding
from ..errors import AtlasError
from ..graph import ItemGraph

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EmbeddingNeighbors:
    """The k nearest neighbours in embedding space (exact up to ``knn.EXACT_ITEMS`` items); column 0
    is the item itself."""

    indices: np.ndarray  # int64, n × (k+1)
    distances: np.ndarray  # float32
    key: str = ""
    seconds: float = 0.0

    @property
    def k(self) -> int:
        return self.indices.shape[1] - 1


@dataclass(frozen=True, eq=False)
class Layout:
    """2D coordinates of every item, with the method and parameters that made them.

    ``embedding_key`` names the embedding it was projected from; ``warm_from`` the key of the
    layout it started from when it was a warm start, ``started_from`` the digest of the start
    positions it ran from (an earlier map's; both empty for a start from PCA).
    """

    xy: np.ndarray  # float32, n × 2
    method: str
    params: object
    key: str = ""
    seconds: float = 0.0
    embedding_key: str = ""
    warm_from: str = ""
    started_from: str = ""

    @property
    def n_items(self) -> int:
        return self.xy.shape[0]


@dataclass(frozen=True, eq=False)
class ProjectionInputs:
    """What a projection may start from: the embedding, its shared neighbours, the item graph,
    and optionally a start layout (``init``, one row per item). With ``refine`` the start is
    already a finished layout of nearly the same problem (the one on screen before a parameter
    changed): the method runs its short refinement schedule instead of its full one. ``placed``
    says the start is items placed among landmarks (``landmarks``), rougher than a finished map:
    a method may refine such a start longer."""

    embedding: Embedding
    neighbors: EmbeddingNeighbors | None = None
    graph: ItemGraph | None = None
    init: np.ndarray | None = None
    refine: bool = False
    placed: bool = False

    @property
    def n_items(self) -> int:
        return int(self.embedding.coords.shape[0])


Progress = Callable[[int, int, np.ndarray | None], None]
"""``progress(step, total_steps, xy)``: called as an optimisation advances, with the current
layout where the method can give one cheaply (else None)."""


class Projection:
    """One method from the embedding to 2D. Subclasses set the class attributes and ``fit``."""

    name: ClassVar[str]  # registry key and command-line value, e.g. "umap"
    title: ClassVar[str]  # how people read it, e.g. "UMAP"
    Params: ClassVar[type]  # a frozen dataclass with a ``seed`` field; offered fields use ``options.option``
    order: ClassVar[int] = 100  # place in lists (views, flags)
    compare_by_default: ClassVar[bool] = True  # computed in a build unless the user narrows the list
    needs_graph: ClassVar[bool] = False
    #: The distributions it runs (their versions go into every manifest; torch's and numba's
    #: thread pools are fitted to the idle cores while it runs).
    libraries: ClassVar[tuple[str, ...]] = ()
    #: The sweep notebook's grid: parameter -> (values offered, values chosen at first).
    sweep: ClassVar[dict[str, tuple[tuple, tuple]]] = {}

    def k_needed(self, params) -> int:
        """Embedding neighbours (besides the item itself) the method reads; 0: none."""
        return 0

    def limits(self, params, n_items: int) -> tuple[dict[str, Any], str] | None:
        """Parameter values too large for ``n_items``: (the values that fit, why), or None."""
        return None

    def fit(self, inputs: ProjectionInputs, params, *, progress: Progress | None = None) -> np.ndarray:
        """The 2D layout; start from ``inputs.init`` when given, else from the embedding's PCA."""
        raise NotImplementedError

    def rescale(self, xy: np.ndarray, n_from: int, n_to: int) -> np.ndarray:
        """A layout of ``n_from`` items at the scale this method gives ``n_to`` items (the
        landmarks' layout, before the others are placed among them): the same by default."""
        return xy

    # -- shared behaviour ---------------------------------------------------------------------
    def check(self, params, n_items: int) -> None:
        """Refuse parameters that cannot work for ``n_items`` items, saying what would."""
        if n_items < 5:
            raise AtlasError(f"a 2D projection needs at least 5 items, but only {n_items} are left; lower the filters.")
        problem = self.limits(params, n_items)
        if problem is not None:
            raise AtlasError(problem[1])

    def capped(self, params, n_items: int):
        """``params`` lowered to what ``n_items`` allows: ``(params, note or None)``."""
        problem = self.limits(params, n_items)
        if problem is None:
            return params, None
        fitted, _ = problem
        note = ", ".join(f"{self.title} {k} lowered to {v:g}" for k, v in fitted.items()) + f" (only {n_items} items)."
        return dataclasses.replace(params, **fitted), note


_REGISTRY: dict[str, Projection] = {}


def register(cls: type[Projection]) -> type[Projection]:
    """Class decorator: make a projection available under ``cls.name``."""
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise RuntimeError(f"two projections are called {cls.name!r}")
    _REGISTRY[cls.name] = cls()
    cls.Params.method = cls.name
    return cls


def projections() -> dict[str, Projection]:
    """Every registered projection by name, in display order."""
    return dict(sorted(_REGISTRY.items(), key=lambda item: (item[1].order, item[0])))


def names() -> tuple[str, ...]:
    return tuple(projections())


def default_names() -> tuple[str, ...]:
    """The projections a build computes when the user does not choose."""
    return tuple(name for name, p in projections().items() if p.compare_by_default)


def get(name: str) -> Projection:
    """The projection called ``name``; a one-line error lists the others."""
    if name not in _REGISTRY:
        raise AtlasError(f"Unsupported projection {name!r}; the supported projections are {', '.join(map(repr, names()))}.")
    return _REGISTRY[name]


def of(params) -> Projection:
    """The projection whose parameters ``params`` are."""
    return get(getattr(type(params), "method", type(params).__name__))


def libraries() -> tuple[str, ...]:
    """The distributions every registered projection runs, each once, in registry order."""
    return tuple(dict.fromkeys(lib for p in projections().values() for lib in p.libraries))


def sweep_grid(names, chosen=None, *, seed: int = 0) -> dict[str, object]:
    """The parameters of a sweep over the projections ``names``, by label ("UMAP n_neighbors=15
    min_dist=0.1"): every combination of each one's ``sweep`` values, ``chosen[f"{name}__{param}"]``
    (words or numbers) where given, else the values its grid chooses at first."""
    import itertools

    grid = {}
    for name in names:
        method = get(name)
        axes = []
        for param, (_offered, first) in method.sweep.items():
            picked = (chosen or {}).get(f"{name}__{param}", first)
            kind = type(first[0])
            axes.append([(param, kind(float(v))) for v in sorted(picked, key=float)])
        for combo in itertools.product(*axes):
            label = f"{method.title} " + " ".join(f"{k}={v:g}" for k, v in combo)
            grid[label] = method.Params(**dict(combo), seed=seed)
    return grid


def embedding_neighbors(embedding: Embedding, k: int) -> EmbeddingNeighbors:
    """The ``k`` nearest neighbours of every item in the embedding's own metric (self first).

    Distances are Euclidean, or 1 − cosine similarity for a cosine embedding. A few dimensions:
    an exact k-d tree; many: an exact tiled search up to ``knn.EXACT_ITEMS`` items, an approximate
    partition search above (:mod:`atlas.projections.knn`).
    """
    from .knn import search_neighbors

    return EmbeddingNeighbors(*search_neighbors(embedding.space(), k, embedding.metric))


def project(
    embedding: Embedding,
    params,
    neighbors: EmbeddingNeighbors | None = None,
    *,
    graph: ItemGraph | None = None,
    init: np.ndarray | None = None,
    refine: bool = False,
    progress: Progress | None = None,
) -> Layout:
    """Project the embedding to 2D with the method of ``params``, reusing ``neighbors`` when given.

    ``init`` (n × 2) is a start layout instead of the embedding's PCA; with ``refine`` it is a
    finished layout and the method only refines it (a warm start after a parameter change).
    """
    method = of(params)
    n = embedding.coords.shape[0]
    method.check(params, n)
    k = method.k_needed(params)
    if k and (neighbors is None or neighbors.k < min(k, n - 1)):
        neighbors = embedding_neighbors(embedding, k)
    if method.needs_graph and graph is None:
        raise AtlasError(f"the {method.title} layout is made from the item graph; pass graph=.")
    if init is not None:
        init = np.asarray(init, dtype=np.float32)
        if init.shape != (n, 2) or not np.all(np.isfinite(init)):
            raise AtlasError(f"a start layout must hold finite 2D positions for all {n} items, got shape {init.shape}.")
    inputs = ProjectionInputs(embedding, neighbors, graph, init, refine and init is not None)
    from .landmarks import fit_with_landmarks, landmark_count

    count = 0 if inputs.refine else landmark_count(getattr(params, "landmarks", 0), n)
    if count:
        xy = np.asarray(fit_with_landmarks(method, inputs, params, count, progress=progress), dtype=np.float32)
    else:
        xy = np.asarray(method.fit(inputs, params, progress=progress), dtype=np.float32)
    if not np.all(np.isfinite(xy)):
        raise AtlasError(f"the {method.title} layout has non-finite coordinates; change its parameters.")
    return Layout(xy - xy.mean(axis=0), method.name, params, embedding_key=embedding.key)


@contextlib.contextmanager
def quiet_logger(name: str):
    """Silence a library's logger below errors (warnings atlas has already acted on)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Throttle:
    """Calls ``progress`` at most every ``seconds`` (and always on the last step). A ``poll()``
    method of ``progress``, if it has one, is called on every step: the place to stop an
    optimisation early by raising."""

    def __init__(self, progress: Progress | None, seconds: float = 1.0) -> None:
        self.progress = progress
        self.poll = getattr(progress, "poll", None)
        self.seconds = seconds
        self.last = -np.inf

    def __call__(self, step: int, total: int, xy=None) -> None:
        import time

        if self.progress is None:
            return
        if self.poll is not None:
            self.poll()
        now = time.perf_counter()
        if step >= total or now - self.last >= self.seconds:
            self.last = now
            value = xy() if callable(xy) else xy
            self.progress(step, total, None if value is None else np.array(value, dtype=np.float32))


def pca_init(x: np.ndarray, *, scale: float) -> np.ndarray:
    """The embedding's first two principal components, scaled to ±``scale``.

    Every projection starts from it, so they inherit the same global arrangement from the
    PyMDE embedding and their aligned layouts can be compared item by item.
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


def align_layout(layout: Layout, reference: Layout) -> Layout:
    """Rotate, reflect, scale and shift ``layout`` to best match ``reference`` point by point."""
    a = layout.xy.astype(np.float64)
    b = reference.xy.astype(np.float64)
    if a.shape != b.shape:
        raise AtlasError(f"layouts of {a.shape[0]} and {b.shape[0]} items cannot be aligned; they must hold the same items.")
    xy = procrustes(a, b)
    return dataclasses.replace(layout, xy=xy.astype(np.float32), key=layout.key + ":aligned")


def procrustes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The similarity transform of ``a`` (rotation/reflection, uniform scale, shift) closest to ``b``."""
    return fit_similarity(a, b)(a)


def fit_similarity(a: np.ndarray, b: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The similarity transform taking the points ``a`` closest to ``b`` (least squares), as a
    function that applies it to any points (e.g. all items, fitted on the shared ones)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(a0.T @ b0)
    r = u @ vt
    norm = (a0**2).sum()
    scale = s.sum() / norm if norm > 0 else 1.0
    return lambda points: (np.asarray(points, dtype=np.float64) - ma) @ r * scale + mb
