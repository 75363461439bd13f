"""The pipeline: every stage behind the stage cache, for the command line and the notebooks.

``Pipeline`` runs one stage at a time (what a reactive notebook needs: a slider change reruns
only the stages downstream of it) or a whole build (``Pipeline.build``). Stage results carry
their cache ``key`` and the ``seconds`` they took to compute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar
from dataclasses import dataclass, field

import numpy as np

from . import embeddings, projections
from .align import Anchor, AnchorMatch, align_onto, alignment_report, match, start_digest, start_positions
from .cache import StageCache, stage_key
from .cooccur import Candidates, CooccurrenceParams, cooccurrence_candidates
from .cores import fitted_threads
from .embed import Embedding, EmbedParams
from .engines import EngineParams
from .errors import AtlasError
from .graph import GraphParams, ItemGraph, graph_from_candidates, recipe_graph
from .ingest import Dataset
from .metrics import layout_metrics
from .plan import BuildParams
from .profiles import FilterParams, Profiles, build_profiles, item_frame, item_labels, item_names
from .projections import EmbeddingNeighbors, Layout, align_layout, embedding_neighbors
from .regions import RegionParams, Regions, layout_digest, name_regions, no_regions, place_regions, point_graph

log = logging.getLogger(__name__)

T = TypeVar("T")

Progress = Callable[[str, float, float], None]
"""``progress(stage, done, total)``: called when a stage starts (done=0), as it advances, and
when it ends (done=total)."""

STAGES = ("profiles", "cooccurrence", "graph", "embedding", "neighbors", *projections.names(), "regions", "metrics")
"""The stages in the order every build runs them (``Pipeline.build``; the app runs the same
methods one cell each)."""


@dataclass(frozen=True, eq=False)
class BuildResult:
    """Everything a build produced; ``layouts`` are aligned to the first projection (and that one
    to the earlier map of ``alignment``, when the build was aligned to one); ``regions`` holds
    the named regions of each layout."""

    params: BuildParams
    profiles: Profiles
    candidates: Candidates | None
    graph: ItemGraph
    embedding: Embedding
    layouts: dict[str, Layout]
    metrics: dict[str, dict]
    timings: dict[str, float]
    cached: dict[str, bool] = field(default_factory=dict)
    regions: dict[str, Regions] = field(default_factory=dict)
    alignment: dict | None = None  # the report of ``align.alignment_report``
    threads: dict[str, int] = field(default_factory=dict)  # per stage computed (not cached): its threads


def _neighbor_k(k: int) -> int:
    """Round the neighbour count up so that small parameter changes reuse one k-NN result."""
    return int(max(96, -(-k // 64) * 64))


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
            # the stage's threads: the cores idle now, or its fixed count (atlas/cores.py)
            with fitted_threads(stage) as plan:
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
        """The filtered profiles; interactions left on disk (``atlas.scan``) are streamed."""
        from .scan import InteractionFiles, scan_profiles

        if not hasattr(data.interactions, "user") and not isinstance(data.interactions, InteractionFiles):
            raise AtlasError("these interactions are not on this machine (a candidates file, or an input Spark reads); run them through Pipeline.build.")
        if isinstance(data.interactions, InteractionFiles):
            key = stage_key("profiles", params, data.interactions.fingerprint, code="atlas.scan")
            return self._run("profiles", key, lambda: scan_profiles(data.interactions, params), Profiles)
        key = stage_key("profiles", params, data.interactions.fingerprint)
        return self._run("profiles", key, lambda: build_profiles(data, params), Profiles)

    def cooccurrence(
        self, profiles: Profiles, params: CooccurrenceParams = CooccurrenceParams(), *, progress: Progress | None = None, engine: EngineParams = EngineParams()
    ) -> Candidates:
        """Each item's candidates; ``engine`` says where they are computed, and is not part of
        the cache key: every engine gives the same answer."""
        key = stage_key("cooccurrence", params, profiles.key)
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

    def item_candidates(self, data: Dataset, params: BuildParams, *, progress: Progress | None = None):
        """(the profiles — or, where the profile matrix stays elsewhere, their ``ItemTable`` —
        and the co-occurrence candidates) of a build, from where they come: a candidates file
        (``atlas build --candidates``), Spark reading the input (``--engine spark``), or this machine."""
        from .engines.spark_input import SparkInput
        from .stagefile import StageFile

        source = data.interactions
        if isinstance(source, StageFile):
            self.timings["cooccurrence"], self.cached["cooccurrence"] = 0.0, True
            return source.items, source.candidates
        if isinstance(source, SparkInput):
            return self._spark_stage(source, params, progress)
        profiles = self.profiles(data, params.filter)
        if params.graph.method != "topk":
            return profiles, None
        return profiles, self.cooccurrence(profiles, params.cooccurrence, progress=progress, engine=params.engine)

    def _spark_stage(self, source, params: BuildParams, progress: Progress | None):
        from .engines.spark import spark_stage

        if params.graph.method != "topk":
            raise AtlasError("--graph-method recipe needs the profile matrix on this machine; use --graph-method topk with --engine spark.")
        if params.engine.name != "spark":
            raise AtlasError("this input is read by Spark; add --engine spark.")
        recorded = {"filter": params.filter, "cooccurrence": params.cooccurrence, "ingest": source.params}
        key = stage_key("cooccurrence", recorded, source.fingerprint, code="atlas.engines.spark")

        def compute():
            items, candidates = spark_stage(source, params.filter, params.cooccurrence, params.engine)
            return dataclasses.replace(items, key=key), dataclasses.replace(candidates, key=key)

        if not source.fingerprint:  # not a local file: nothing identifies its content, so nothing is cached
            start = time.perf_counter()
            items, candidates = compute()
            self.timings["cooccurrence"], self.cached["cooccurrence"] = time.perf_counter() - start, False
            return items, candidates
        return self._run("cooccurrence", key, compute, tuple, progress)

    def item_graph(
        self, profiles: Profiles, cooccurrence: CooccurrenceParams, graph: GraphParams, *, progress: Progress | None = None
    ) -> tuple[Candidates | None, ItemGraph]:
        """The item graph by ``graph.method``: from co-occurrence candidates (topk) or the recipe."""
        candidates = self.cooccurrence(profiles, cooccurrence, progress=progress) if graph.method == "topk" else None
        return candidates, self.graph(profiles, candidates, graph)

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

    def layouts(
        self, embedding: Embedding, graph: ItemGraph, params: Sequence, *, start: np.ndarray | None = None, onto: AnchorMatch | None = None
    ) -> dict[str, Layout]:
        """The layout of every projection in ``params``, each aligned onto the first — and the
        first onto an earlier map (``onto``), each run from ``start`` when given."""
        layouts = {projections.of(p).name: self.project(embedding, p, graph=graph, start=start) for p in params}
        return aligned(layouts, onto=onto)

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

    def metrics(self, layout: Layout, graph: ItemGraph, embedding: Embedding | None = None, labels: np.ndarray | None = None) -> dict:
        """Metrics of a layout (cached in memory; cheap to recompute)."""
        label_hash = "" if labels is None else hashlib.sha256("\0".join(map(str, labels)).encode()).hexdigest()[:16]
        key = stage_key("metrics", {"labels": label_hash}, layout.key, graph.key, "" if embedding is None else embedding.key)
        coords = None if embedding is None else embedding.space()
        value, _ = self.cache.get_or_compute(key, lambda: layout_metrics(graph, layout.xy, coords, labels), dict)
        return value

    # -- whole build ------------------------------------------------------------------------
    def build(
        self, data: Dataset, params: BuildParams = BuildParams(), *, anchor: Anchor | None = None, progress: Progress | None = None
    ) -> BuildResult:
        """Run every stage (each from the cache when it can) and return the result.

        With ``anchor`` (an earlier export's map, ``align.read_anchor``) every projection starts
        from the old positions and the result is turned onto the old map (see :mod:`atlas.align`).
        """
        saved = self.progress
        self.progress = progress or saved
        self.timings, self.cached, self.threads = {}, {}, {}
        try:
            profiles, candidates = self.item_candidates(data, params)
            graph = self.graph(profiles, candidates, params.graph)
            embedding = self.embed(graph, params.embed, profiles=profiles)
            found = match(anchor, profiles.item_ids) if anchor is not None else None
            start = start_positions(found, graph.neighbors, embedding.coords) if found is not None else None
            layouts = self.layouts(embedding, graph, params.projections, start=start, onto=found)
            alignment = None
            if found is not None:
                names = item_names(profiles, data)
                alignment = alignment_report(next(iter(layouts.values())).xy, found, names, profiles.item_ids.astype(str), params.align)
            regions = self._timed("regions", lambda: {name: self.regions(lay, profiles, data, params.regions, graph=graph) for name, lay in layouts.items()})
            labels = item_labels(profiles, data)

            def metrics():
                values = {name: self.metrics(lay, graph, embedding, labels) for name, lay in layouts.items()}
                values["embedding"] = self.metrics(Layout(embedding.space(), embedding.method, params.embed, key=embedding.key), graph, None, labels)
                return values

            metrics = self._timed("metrics", metrics)
        finally:
            self.progress = saved
        return BuildResult(
            params, profiles, candidates, graph, embedding, layouts, metrics, dict(self.timings), dict(self.cached), regions, alignment,
            dict(self.threads),
        )

    def _timed(self, stage: str, compute: Callable[[], T]) -> T:
        """``compute()`` reported and timed as one stage (several cached steps inside)."""
        if self.progress:
            self.progress(stage, 0, 1)
        start = time.perf_counter()
        value = compute()
        self.timings[stage] = time.perf_counter() - start
        if self.progress:
            self.progress(stage, 1, 1)
        return value


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
