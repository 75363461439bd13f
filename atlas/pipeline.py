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
from dataclasses import dataclass, field

import numpy as np

from . import projections
from .cache import StageCache, stage_key
from .cooccur import Candidates, CooccurrenceParams, cooccurrence_candidates
from .embed import Embedding, EmbedParams, embed_graph
from .engines import EngineParams
from .errors import AtlasError
from .graph import GraphParams, ItemGraph, graph_from_candidates, recipe_graph
from .ingest import Dataset
from .metrics import layout_metrics
from .plan import BuildParams
from .profiles import FilterParams, Profiles, build_profiles, item_labels
from .projections import EmbeddingNeighbors, Layout, align_layout, embedding_neighbors

log = logging.getLogger(__name__)

Progress = Callable[[str, float, float], None]
"""``progress(stage, done, total)``: called when a stage starts (done=0), as it advances, and
when it ends (done=total)."""

STAGES = ("profiles", "cooccurrence", "graph", "embedding", "neighbors", *projections.names(), "metrics")
"""The stages in the order every build runs them (``Pipeline.build``; the app runs the same
methods one cell each)."""


@dataclass(frozen=True, eq=False)
class BuildResult:
    """Everything a build produced; ``layouts`` are aligned to the first projection."""

    params: BuildParams
    profiles: Profiles
    candidates: Candidates | None
    graph: ItemGraph
    embedding: Embedding
    layouts: dict[str, Layout]
    metrics: dict[str, dict]
    timings: dict[str, float]
    cached: dict[str, bool] = field(default_factory=dict)


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

    # -- plumbing ---------------------------------------------------------------------------
    def _run(self, stage: str, key: str, compute: Callable[[], object], progress: Progress | None = None):
        progress = progress or self.progress
        if progress:
            progress(stage, 0, 1)
        start = time.perf_counter()

        def timed():
            value = compute()
            return dataclasses.replace(value, key=key, seconds=time.perf_counter() - start) if dataclasses.is_dataclass(value) else value

        value, hit = self.cache.get_or_compute(key, timed)
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
            return self._run("profiles", key, lambda: scan_profiles(data.interactions, params))
        key = stage_key("profiles", params, data.interactions.fingerprint)
        return self._run("profiles", key, lambda: build_profiles(data, params))

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

        return self._run("cooccurrence", key, compute, progress)

    def graph(self, profiles: Profiles, candidates: Candidates | None, params: GraphParams = GraphParams()) -> ItemGraph:
        if params.method == "recipe":
            key = stage_key("graph", params, profiles.key)
            return self._run("graph", key, lambda: recipe_graph(profiles, params))
        if candidates is None:
            raise AtlasError("the topk graph needs co-occurrence candidates; run the co-occurrence stage first.")
        key = stage_key("graph", params, candidates.key)
        return self._run("graph", key, lambda: graph_from_candidates(candidates, params))

    def embed(self, graph: ItemGraph, params: EmbedParams = EmbedParams()) -> Embedding:
        key = stage_key("embedding", params, graph.key)
        return self._run("embedding", key, lambda: embed_graph(graph, params))

    def neighbors(self, embedding: Embedding, k: int) -> EmbeddingNeighbors:
        k = _neighbor_k(k)
        key = stage_key("neighbors", {"k": k}, embedding.key)
        return self._run("neighbors", key, lambda: embedding_neighbors(embedding, k))

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
        return self._run("cooccurrence", key, compute, progress)

    def item_graph(
        self, profiles: Profiles, cooccurrence: CooccurrenceParams, graph: GraphParams, *, progress: Progress | None = None
    ) -> tuple[Candidates | None, ItemGraph]:
        """The item graph by ``graph.method``: from co-occurrence candidates (topk) or the recipe."""
        candidates = self.cooccurrence(profiles, cooccurrence, progress=progress) if graph.method == "topk" else None
        return candidates, self.graph(profiles, candidates, graph)

    def project(self, embedding: Embedding, params, *, graph: ItemGraph | None = None) -> Layout:
        """One projection's layout of ``embedding`` (the graph too for methods that read it)."""
        method = projections.of(params)
        key = stage_key("layout", params, embedding.key, code=type(method).__module__)
        cached = self.cache.get(key)
        if cached is not None:  # skip the neighbour search entirely on a hit
            return self._run(method.name, key, lambda: cached)
        method.check(params, embedding.coords.shape[0])
        k = method.k_needed(params)
        neighbors = self.neighbors(embedding, k) if k else None
        return self._run(method.name, key, lambda: projections.project(embedding, params, neighbors, graph=graph))

    def layouts(self, embedding: Embedding, graph: ItemGraph, params: Sequence) -> dict[str, Layout]:
        """The layout of every projection in ``params``, each aligned onto the first."""
        layouts = {projections.of(p).name: self.project(embedding, p, graph=graph) for p in params}
        return aligned(layouts)

    def metrics(self, layout: Layout, graph: ItemGraph, embedding: Embedding | None = None, labels: np.ndarray | None = None) -> dict:
        """Metrics of a layout (cached in memory; cheap to recompute)."""
        label_hash = "" if labels is None else hashlib.sha256("\0".join(map(str, labels)).encode()).hexdigest()[:16]
        key = stage_key("metrics", {"labels": label_hash}, layout.key, graph.key, "" if embedding is None else embedding.key)
        coords = None if embedding is None else embedding.coords
        value, _ = self.cache.get_or_compute(key, lambda: layout_metrics(graph, layout.xy, coords, labels))
        return value

    # -- whole build ------------------------------------------------------------------------
    def build(self, data: Dataset, params: BuildParams = BuildParams(), *, progress: Progress | None = None) -> BuildResult:
        """Run every stage (each from the cache when it can) and return the result."""
        saved = self.progress
        self.progress = progress or saved
        self.timings, self.cached = {}, {}
        try:
            profiles, candidates = self.item_candidates(data, params)
            graph = self.graph(profiles, candidates, params.graph)
            embedding = self.embed(graph, params.embed)
            layouts = self.layouts(embedding, graph, params.projections)
            labels = item_labels(profiles, data)
            if self.progress:
                self.progress("metrics", 0, 1)
            start = time.perf_counter()
            metrics = {name: self.metrics(lay, graph, embedding, labels) for name, lay in layouts.items()}
            metrics["embedding"] = self.metrics(Layout(embedding.coords, "pymde", params.embed, key=embedding.key), graph, None, labels)
            self.timings["metrics"] = time.perf_counter() - start
            if self.progress:
                self.progress("metrics", 1, 1)
        finally:
            self.progress = saved
        return BuildResult(params, profiles, candidates, graph, embedding, layouts, metrics, dict(self.timings), dict(self.cached))


def aligned(layouts: dict[str, Layout]) -> dict[str, Layout]:
    """The layouts, each aligned onto the first (which stays as it is)."""
    if not layouts:
        return {}
    reference = next(iter(layouts.values()))
    return {name: lay if lay is reference else align_layout(lay, reference) for name, lay in layouts.items()}
