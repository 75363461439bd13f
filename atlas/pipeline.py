"""Single stages behind the stage cache: the steps a ``Build`` (:mod:`atlas.build`) runs.

``Pipeline`` computes one stage at a time through a ``StageCache`` (memory, plus a folder on
disk), each under a key of its inputs, parameters and code, and records how long each took and
whether it came from the cache. The order of the stages is ``Build``'s alone: ``Pipeline.build``
is a ``Build`` read to the end. Stage results carry their cache ``key`` and the ``seconds`` they
took to compute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable

import numpy as np

from . import embeddings, projections
from .align import Anchor, AnchorMatch, align_onto, start_digest
from .buildstage import Progress
from .result import BuildResult
from .cache import StageCache, stage_key
from .cooccur import Candidates, CooccurrenceParams, cooccurrence_candidates
from .cores import fitted_threads
from .embed import Embedding, EmbedParams
from .engines import EngineParams
from .errors import AtlasError
from .graph import GraphParams, ItemGraph, graph_from_candidates, recipe_graph
from .ingest import Dataset
from .explain import FAITHFUL_K, faithfulness
from .metrics import layout_metrics
from .pairweights import get_pair_weight
from .plan import BuildParams
from .profiles import FilterParams, Profiles, item_frame, item_names
from .projections import EmbeddingNeighbors, Layout, align_layout, embedding_neighbors
from .regions import RegionParams, Regions, layout_digest, name_regions, no_regions, place_regions, point_graph

__all__ = ["BuildResult", "Pipeline", "Progress", "aligned"]

log = logging.getLogger(__name__)


def _neighbor_k(k: int) -> int:
    """Round the neighbour count up so that small parameter changes reuse one k-NN result: 96 up
    to 96 (UMAP and PaCMAP at their usual sizes, t-SNE up to perplexity 32), above that a multiple
    of 64. (It was the next multiple of 64 from 65 on, so a t-SNE perplexity from 22 to 32 searched
    again: 20 s at 100,000 items for a change that needs none.)"""
    return 96 if k <= 96 else int(-(-k // 64) * 64)


#: The libraries whose thread pools ``cores.fitted_threads`` sets, by import name.
POOLED = ("torch", "numba")


def _pooled(stage: str) -> tuple[str, ...]:
    """The pooled libraries a projection stage declares (``Projection.libraries``), imported
    before it runs so that their pools are fitted from its first run; other stages' come from
    their rule in ``atlas.cores``."""
    libraries = projections.get(stage).libraries if stage in projections.names() else ()
    return tuple(lib for lib in libraries if lib in POOLED)


class Pipeline:
    """Runs stages through a ``StageCache`` (memory, plus ``cache_dir`` on disk when given)."""

    def __init__(self, cache_dir=None, *, cache: StageCache | None = None, progress: Progress | None = None) -> None:
        self.cache = cache or StageCache(cache_dir)
        self.progress = progress
        self.timings: dict[str, float] = {}
        self.cached: dict[str, bool] = {}
        self.threads: dict[str, int] = {}  # the threads each stage computed with (not set when cached)
        self._refined: dict[str, str] = {}  # a layout's key from PCA -> the key of its latest refinement

    # -- plumbing ---------------------------------------------------------------------------
    def _run(self, stage: str, key: str, compute: Callable[[], object], expected: type, progress: Progress | None = None):
        progress = progress or self.progress
        if progress:
            progress(stage, 0, 1)
        start = time.perf_counter()

        def timed():
            # the stage's threads: the cores idle now, or its fixed count (atlas/cores.py); the
            # pools of the libraries it declares are fitted from its first run
            with fitted_threads(stage, imports=_pooled(stage)) as plan:
                self.threads[stage] = plan.threads
                value = compute()
            return dataclasses.replace(value, key=key, seconds=time.perf_counter() - start) if dataclasses.is_dataclass(value) else value

        value, hit = self.cache.get_or_compute(key, timed, expected)
        self.timings[stage] = time.perf_counter() - start
        self.cached[stage] = hit
        log.info("%s: %s in %.2fs", stage, "cached" if hit else "computed", self.timings[stage])
        if progress:
            progress(stage, 1, 1)
        return value

    # -- stages -----------------------------------------------------------------------------
    def profiles(self, data: Dataset, params: FilterParams = FilterParams()) -> Profiles:
        """The filtered profiles, by the route of ``data``'s interactions (``sources.route_of``:
        in memory, or streamed from files)."""
        from .sources import route_of

        return route_of(data).profiles(self, BuildParams(filter=params))

    def cooccurrence(
        self, profiles: Profiles, params: CooccurrenceParams = CooccurrenceParams(), *, progress: Progress | None = None, engine: EngineParams = EngineParams()
    ) -> Candidates:
        """Each item's candidates; ``engine`` says where they are computed, and is not part of
        the cache key: every engine gives the same answer. The key holds the pair weight's code
        (it may be registered outside this package)."""
        key = stage_key("cooccurrence", params, profiles.key, get_pair_weight(params.pair_weight).fingerprint)
        report = progress or self.progress

        def compute():
            if engine.name == "spark":
                from .engines.spark import spark_cooccurrence

                return spark_cooccurrence(profiles, params, engine)
            ticks = (lambda done, total: report("cooccurrence", done, total)) if report else None
            return cooccurrence_candidates(profiles, params, progress=ticks)

        return self._run("cooccurrence", key, compute, Candidates, progress)

    def graph(self, profiles: Profiles, candidates: Candidates | None, params: GraphParams = GraphParams()) -> ItemGraph:
        if params.method == "recipe":
            key = stage_key("graph", params, profiles.key)
            return self._run("graph", key, lambda: recipe_graph(profiles, params), ItemGraph)
        if candidates is None:
            raise AtlasError("the topk graph needs co-occurrence candidates; run the co-occurrence stage first.")
        key = stage_key("graph", params, candidates.key)
        return self._run("graph", key, lambda: graph_from_candidates(candidates, params), ItemGraph)

    def embed(self, graph: ItemGraph | None, params=EmbedParams(), *, profiles: Profiles | None = None, progress: Progress | None = None) -> Embedding:
        """The embedding by the method of ``params`` (``atlas.embeddings``): PyMDE reads the
        graph, the SVD and ALS the ``profiles``' matrix."""
        method = embeddings.of(params)
        reads = (*method.reads, *(("profiles",) if getattr(params, "init", None) == "svd" else ()))
        upstream = [graph.key if "graph" in reads and graph is not None else "", getattr(profiles, "key", "") if "profiles" in reads else ""]
        key = stage_key("embedding", params, method.name, *upstream, code=type(method).__module__)
        report = progress or self.progress
        ticks = (lambda done, total: report("embedding", done, total)) if report else None
        inputs = embeddings.EmbeddingInputs(profiles, graph)
        return self._run("embedding", key, lambda: embeddings.embed(inputs, params, progress=ticks), Embedding, progress)

    def neighbors(self, embedding: Embedding, k: int) -> EmbeddingNeighbors:
        k = _neighbor_k(k)
        key = stage_key("neighbors", {"k": k}, embedding.key)
        return self._run("neighbors", key, lambda: embedding_neighbors(embedding, k), EmbeddingNeighbors)

    def known_layout(self, embedding: Embedding, params, *, from_pca: bool = False) -> Layout | None:
        """The layout computed before for these parameters on this embedding (from PCA, or its
        latest refinement unless ``from_pca``), or None: no computing, no neighbour search."""
        method = projections.of(params)
        key = stage_key("layout", params, embedding.key, code=type(method).__module__)
        for known in (key,) if from_pca else (key, self._refined.get(key)):
            cached = self.cache.get(known, Layout) if known else None
            if cached is not None:
                return cached
        return None

    def project(
        self,
        embedding: Embedding,
        params,
        *,
        graph: ItemGraph | None = None,
        warm_from: Layout | None = None,
        from_pca: bool = False,
        start: np.ndarray | None = None,
        progress: projections.base.Progress | None = None,
    ) -> Layout:
        """One projection's layout of ``embedding`` (the graph too for methods that read it).

        With ``warm_from`` — this method's layout of the same embedding under other parameters,
        e.g. the one on screen — the new layout refines it instead of starting from PCA. A
        layout computed before for these parameters (from PCA, or refined) is returned at once;
        ``from_pca`` asks for the layout from PCA whatever was refined before. With ``start``
        (n × 2 positions, e.g. ``align.start_positions`` of an earlier map) the method runs its
        full schedule from there, cached under a digest of the positions.
        ``progress(step, total, xy)`` sees the optimisation advance.
        """
        method = projections.of(params)
        code = type(method).__module__
        if start is not None:
            if warm_from is not None:
                raise AtlasError("a layout starts from an earlier map (start=) or refines the one on screen (warm_from=), not both.")
            return self._project_from(embedding, params, start, graph=graph, progress=progress)
        key = stage_key("layout", params, embedding.key, code=code)
        known = self.known_layout(embedding, params, from_pca=from_pca)
        if known is not None:  # skip the neighbour search entirely on a hit
            return self._run(method.name, known.key or key, lambda: known, Layout)
        if from_pca:
            warm_from = None
        n = embedding.coords.shape[0]
        method.check(params, n)
        k = method.k_needed(params)
        neighbors = self.neighbors(embedding, k) if k else None
        usable = (
            warm_from is not None
            and warm_from.method == method.name
            and warm_from.embedding_key == embedding.key
            and warm_from.xy.shape == (n, 2)
        )
        if not usable:
            return self._run(method.name, key, lambda: projections.project(embedding, params, neighbors, graph=graph, progress=progress), Layout)
        refined_key = stage_key("layout", params, embedding.key, "refined", warm_from.key, code=code)

        def refine():
            layout = projections.project(embedding, params, neighbors, graph=graph, init=warm_from.xy, refine=True, progress=progress)
            return dataclasses.replace(layout, warm_from=warm_from.key)

        layout = self._run(method.name, refined_key, refine, Layout)
        self._refined[key] = refined_key
        return layout

    def _project_from(self, embedding: Embedding, params, start: np.ndarray, *, graph=None, progress=None) -> Layout:
        method = projections.of(params)
        digest = start_digest(start)
        key = stage_key("layout", params, embedding.key, "start", digest, code=type(method).__module__)
        cached = self.cache.get(key, Layout)
        if cached is not None:
            return self._run(method.name, key, lambda: cached, Layout)
        method.check(params, embedding.coords.shape[0])
        k = method.k_needed(params)
        neighbors = self.neighbors(embedding, k) if k else None

        def compute():
            layout = projections.project(embedding, params, neighbors, graph=graph, init=start, progress=progress)
            return dataclasses.replace(layout, started_from=digest)

        return self._run(method.name, key, compute, Layout)

    def regions(
        self, layout: Layout, profiles: Profiles, data: Dataset | None, params: RegionParams = RegionParams(), *, graph: ItemGraph | None = None
    ) -> Regions:
        """The named regions of ``graph``'s items (found once per graph: one island has one name
        on every map), with their names placed on ``layout``. Without ``graph``, the regions of
        the layout's own neighbour graph."""
        if params.levels == 0:
            return no_regions(layout.n_items)
        fingerprint = "" if data is None else data.fingerprint
        source = graph.key if graph is not None else layout_digest(layout.xy)
        key = stage_key("regions", params, source, profiles.key, fingerprint)

        def compute():
            skip = ("item_id", "n_users", None if data is None else data.name_column)
            names = item_names(profiles, data)
            adjacency = graph.adjacency() if graph is not None else point_graph(layout.xy)
            values = params.values(item_frame(profiles, data), names, skip)
            return name_regions(adjacency, params, values=values, names=names, popularity=profiles.item_users)

        return place_regions(self._run("regions", key, compute, Regions), layout.xy)

    def metrics(
        self, layout: Layout, graph: ItemGraph, embedding: Embedding | None = None, labels: np.ndarray | None = None, *, near: EmbeddingNeighbors | None = None
    ) -> dict:
        """Metrics of a layout (cached in memory; cheap to recompute). ``near``: the layout's own
        nearest neighbours when a search found them already (those of an embedding measured as a layout)."""
        label_hash = "" if labels is None else hashlib.sha256("\0".join(map(str, labels)).encode()).hexdigest()[:16]
        key = stage_key("metrics", {"labels": label_hash}, layout.key, graph.key, "" if embedding is None else embedding.key, "" if near is None else near.key)
        coords = None if embedding is None else embedding.space()
        known = None if near is None else near.indices[:, 1:]
        value, _ = self.cache.get_or_compute(key, lambda: layout_metrics(graph, layout.xy, coords, labels, near=known), dict)
        return value

    def faithfulness(self, layout: Layout, graph: ItemGraph) -> np.ndarray:
        """Per item, the share of its first ``FAITHFUL_K`` graph neighbours among its nearest
        points on ``layout`` (:func:`atlas.explain.faithfulness`), once per layout and graph: the
        app's maps, their colour and the export of the same layout read one result."""
        if not layout.key or not graph.key:  # a layout of no name (one forming): nothing to share it with
            return faithfulness(graph.neighbors, layout.xy)
        key = stage_key("faithfulness", {"k": FAITHFUL_K}, layout.key, graph.key)
        value, _ = self.cache.get_or_compute(key, lambda: faithfulness(graph.neighbors, layout.xy), np.ndarray)
        return value

    # -- whole build ------------------------------------------------------------------------
    def build(
        self, data: Dataset, params: BuildParams = BuildParams(), *, anchor: Anchor | None = None, progress: Progress | None = None
    ) -> BuildResult:
        """Every stage of ``atlas.Build`` (each from the cache when it can), as one result.

        With ``anchor`` (an earlier export's map, ``align.read_anchor``) every projection starts
        from the old positions and the result is turned onto the old map (see :mod:`atlas.align`).
        """
        from .build import Build

        build = Build(data, params, anchor=anchor, cache=self.cache, progress=progress or self.progress)
        result = build.result()
        self.timings, self.cached, self.threads = dict(result.timings), dict(result.cached), dict(result.threads)
        return result


def aligned(layouts: dict[str, Layout], *, onto: AnchorMatch | None = None) -> dict[str, Layout]:
    """The layouts, each aligned onto the first; the first stays as it is, or, with ``onto``, is
    turned onto an earlier map by the similarity transform that best matches the shared items."""
    if not layouts:
        return {}
    first = next(iter(layouts.values()))
    reference = first
    if onto is not None:
        xy = align_onto(first.xy, onto).astype(np.float32)
        reference = dataclasses.replace(first, xy=xy, key=f"{first.key}:onto:{onto.anchor.digest}")
    return {name: reference if lay is first else align_layout(lay, reference) for name, lay in layouts.items()}
