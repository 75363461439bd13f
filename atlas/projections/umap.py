"""UMAP: the global "continent with fronds" (large ``n_neighbors``, 100–200, shows it best)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import AtlasError, check_range, check_seed
from ..options import grid, option
from .base import Projection, ProjectionInputs, Throttle, pca_init, register


@dataclass(frozen=True)
class UmapParams:
    """UMAP's main knobs (defaults 15 / 0.0 from bench/bench_quality.py: on the 64-D SVD they
    beat 50 / 0.3 by 10-15% in label agreement on MovieLens); ``n_epochs`` None lets UMAP choose (500 below 10,000 items, else 200);
    ``warm_epochs`` is the refinement after a parameter change, from the layout on screen."""

    n_neighbors: int = option(15, "--umap-n-neighbors", "UMAP n_neighbors (default 15)", steps=(5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300))
    min_dist: float = option(0.0, "--min-dist", "UMAP min_dist (default 0.0)", steps=grid(0.0, 1.0, 0.05))
    spread: float = option(1.0, "--spread", "UMAP spread (default 1.0)", steps=grid(0.5, 3.0, 0.1))
    n_epochs: int | None = option(None, "--umap-epochs", "UMAP optimisation epochs (default: UMAP's choice)")
    warm_epochs: int | None = option(
        None, "--umap-warm-epochs", "UMAP epochs when refining the layout on screen after a change (default 100 below 10,000 items, else 60)"
    )
    landmarks: int | None = option(None, "--umap-landmarks", "UMAP: lay out N landmark items first and place the rest from their neighbours (0: every item at once; default: from 150,000 items, a fifth of them, at least 50,000)")
    seed: int = 0

    def __post_init__(self) -> None:
        check_range("UMAP n_neighbors", self.n_neighbors, 2, 1000)
        check_range("UMAP min_dist", self.min_dist, 0.0, 10.0)
        check_range("UMAP spread", self.spread, 0.01, 100.0)
        if self.n_epochs is not None:
            check_range("UMAP n_epochs", self.n_epochs, 1, 100_000)
        if self.warm_epochs is not None:
            check_range("UMAP warm_epochs", self.warm_epochs, 1, 100_000)
        if self.min_dist > self.spread:
            raise AtlasError(f"UMAP min_dist ({self.min_dist}) must not exceed spread ({self.spread}); lower min_dist or raise spread.")
        if self.landmarks is not None:
            check_range("UMAP landmarks", self.landmarks, 0)
        check_seed(self.seed)

    def epochs(self, n_items: int) -> int:
        """The epochs of a run from PCA: ``n_epochs``, or UMAP's own choice for the size."""
        return self.n_epochs or (500 if n_items <= 10_000 else 200)

    def refine_epochs(self, n_items: int) -> int:
        """The epochs of a refinement: ``warm_epochs``, or fewer on large maps, as UMAP's own rule
        runs fewer (on gowalla's 25k items: 8.0 s at 100 epochs, 4.7 s at 60, kNN recall 2% and
        trustworthiness 0.2% below a fresh run's)."""
        return self.warm_epochs or (100 if n_items <= 10_000 else 60)


#: Learning rate of a refinement: a quarter of a fresh run's, so a finished layout is adjusted, not torn up.
WARM_ALPHA = 0.25
#: From an earlier map's positions (a stable rebuild) the full schedule runs at a twentieth of a
#: fresh run's learning rate, from the map scaled to this width, a little wider than UMAP's own
#: layouts (so it settles inwards instead of expanding, which reshuffles it). On the MovieLens demo
#: rebuilt without 10% of its users (bench/bench_align.py), shared items moved 3.9-4.3% of the
#: map's diameter this way, 4.3-4.6% at a tenth of the rate, 4.7-5.9% from a 40 or 50 wide start,
#: and 4.2-4.4% at the full rate from UMAP's usual 10 wide start, at the same kNN recall and
#: trustworthiness; on planted communities the communities stayed put (their centres moved at
#: most 7% of the diameter instead of up to 24% at the full rate).
START_ALPHA = 0.05
START_WIDTH = 30.0


def optimize_layout(layout, head, tail, epochs, epochs_per_sample, a, b, rng_state, *, alpha, report) -> None:
    """UMAP's layout optimisation of ``layout`` in place, every epoch in numba's threads and the
    same at any count of them (``umap_epochs``); ``report(epoch, epochs, xy)`` after each epoch."""
    from . import umap_epochs

    umap_epochs.optimize(layout, head, tail, epochs, epochs_per_sample, a, b, rng_state, alpha=alpha, report=report)


def _with_disk_cache(kernel):
    """umap-learn's numba ``kernel`` compiled with the same options and numba's disk cache: umap
    compiles its fuzzy-graph kernels afresh in every process (8.1 s of the first UMAP layout's
    8.7 s fuzzy graph at 100,000 items here, the first map of every app session and build)."""
    import numba

    options = {name: value for name, value in kernel.targetoptions.items() if name != "nopython"}
    return numba.njit(cache=True, locals=dict(kernel.locals), **options)(kernel.py_func)


_cached_kernels: dict[str, object] = {}


def _kernel(core, name: str):
    if name not in _cached_kernels:
        _cached_kernels[name] = _with_disk_cache(getattr(core, name))
    return _cached_kernels[name]


def one_thread_fuzzy_set(core, x, k, knn_indices, knn_dists):
    """UMAP's fuzzy graph (``fuzzy_simplicial_set`` with its defaults, from the neighbours given),
    its numba kernels in one thread: their sum of the neighbour distances is split by thread, so
    its last digits would follow the count. numba's count is this thread's.

    Each item's distances become memberships (umap's own kernels, compiled once per machine:
    ``_with_disk_cache``), and the graph is their fuzzy union, A + Aᵀ − A∘Aᵀ."""
    import numba
    import scipy.sparse

    n = x.shape[0]
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        dists = np.ascontiguousarray(knn_dists, dtype=np.float32)
        sigmas, rhos = _kernel(core, "smooth_knn_dist")(dists, float(k), local_connectivity=1.0)
        rows, cols, vals, _ = _kernel(core, "compute_membership_strengths")(knn_indices, dists, sigmas, rhos, None)
    finally:
        numba.set_num_threads(before)
    members = scipy.sparse.coo_matrix((vals, (rows, cols)), shape=(n, n))
    members.eliminate_zeros()
    mirrored = members.transpose()
    union = members + mirrored - members.multiply(mirrored)
    union.eliminate_zeros()
    return union


#: Graphs kept for the next layout of the same embedding: the last one, up to this many edges
#: (about 60 MB; 100,000 items at UMAP's default 15 neighbours hold 2.3 million).
GRAPH_KEPT_EDGES = 5_000_000
_kept_graph: dict[str, object] = {}
_kept_lock = threading.Lock()


def fuzzy_graph(knn_indices: np.ndarray, knn_dists: np.ndarray, make):
    """UMAP's fuzzy graph of these neighbours as a COO matrix (``make()`` builds it), a copy of the
    one built last when the neighbours are the same: a new ``min_dist`` or ``spread`` in the app
    refines the map on the same graph (0.3 s saved at 100,000 items before the first epoch). Kept
    by a digest of the neighbours themselves, the graph's only input."""
    digest = hashlib.sha1()
    for part in (knn_indices, knn_dists):
        digest.update(repr((part.dtype.str, part.shape)).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    key = digest.hexdigest()
    with _kept_lock:
        kept = _kept_graph.get(key)
    if kept is None:
        kept = make().tocoo()
        kept.sum_duplicates()
        if kept.nnz <= GRAPH_KEPT_EDGES:
            with _kept_lock:
                _kept_graph.clear()
                _kept_graph[key] = kept
    return kept.copy()


@register
class Umap(Projection):
    name = "umap"
    title = "UMAP"
    libraries = ("umap-learn", "pynndescent", "numba")
    sweep = {"n_neighbors": ((5, 15, 30, 50, 100, 200), (15, 50)), "min_dist": ((0.0, 0.1, 0.3, 0.5, 0.8), (0.1, 0.5))}
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
        """UMAP's own steps (fuzzy graph from the shared neighbours, then its layout optimiser),
        called one by one so that the layout can be shown while it is optimised."""
        import umap.umap_ as core
        from sklearn.utils import check_random_state

        x = inputs.embedding.space()
        n, k = x.shape[0], params.n_neighbors
        rng = check_random_state(params.seed)
        knn_indices = inputs.neighbors.indices[:, :k].astype(np.int32)
        knn_dists = inputs.neighbors.distances[:, :k].astype(np.float32)
        graph = fuzzy_graph(knn_indices, knn_dists, lambda: one_thread_fuzzy_set(core, x, k, knn_indices, knn_dists))
        epochs = params.refine_epochs(n) if inputs.refine else params.epochs(n)
        graph.data[graph.data < graph.data.max() / float(max(epochs, 10))] = 0.0
        graph.eliminate_zeros()
        a, b = core.find_ab_params(params.spread, params.min_dist)
        start = inputs.init if inputs.init is not None else pca_init(x, scale=10.0)
        from_map = inputs.init is not None and not inputs.refine
        if from_map:  # keep the map's shape: one scale for both axes
            width = max(float(np.max(start.max(axis=0) - start.min(axis=0))), 1e-12)
            layout = (START_WIDTH * (start - start.mean(axis=0)) / width).astype(np.float32, order="C")
        else:
            extent = np.maximum(start.max(axis=0) - start.min(axis=0), 1e-12)
            layout = (10.0 * (start - start.min(axis=0)) / extent).astype(np.float32, order="C")
        alpha = START_ALPHA if from_map else WARM_ALPHA if inputs.refine else 1.0
        epochs_per_sample = core.make_epochs_per_sample(graph.data, epochs)
        rng_state = rng.randint(core.INT32_MIN, core.INT32_MAX, 3).astype(np.int64)
        report = Throttle(progress)
        optimize_layout(layout, graph.row, graph.col, epochs, epochs_per_sample, a, b, rng_state, alpha=alpha, report=report)
        return layout
