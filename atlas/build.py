"""One build: the stages of a map as lazily computed, cached properties.

``Build(data, params)`` computes nothing until asked. ``build.embedding`` runs what the embedding
needs (profiles → candidates → graph → embedding), each stage once, through the stage cache;
``build.layouts``, ``build.regions``, ``build.metrics`` and ``build.alignment`` go further. The
command line calls ``build.result()`` / ``build.export(dir)``; the app reads the properties cell
by cell; the sweep reads the layouts of builds that differ in one projection.

``build.with_params(...)`` is the same build with other parameters: it shares every stage whose
*signature* — the parameters it reads (``inputs``) and the signatures of the stages it follows
(``after``) — is unchanged, so a projection change reuses the embedding at once.

The stages are declared once, below, with ``@stage``; their order is what they follow. How a
stage is read once and signed is :mod:`atlas.buildstage`; what a whole build produced is a
``BuildResult`` (:mod:`atlas.result`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping

import numpy as np

from . import embeddings, projections
from .align import Anchor, AnchorMatch, alignment_report, match, start_positions
from .buildstage import Progress, StageValue, Stages, stage
from .cache import StageCache
from .cooccur import Candidates
from .embed import Embedding
from .errors import AtlasError
from .graph import ItemGraph
from .plan import BuildParams
from .profiles import Profiles, item_labels, item_names
from .projections import Layout
from .regions import Regions
from .result import BuildResult
from .sources import route_of


def _embedding_reads(params) -> tuple[str, ...]:
    """The stages the embedding of ``params`` reads: the graph and/or the profiles."""
    method = embeddings.of(params)
    return ("profiles", *(("graph",) if "graph" in method.reads else ()))


def _neighbor_k(params: BuildParams) -> int:
    return max((projections.of(p).k_needed(p) for p in params.projections), default=0)


class Build(Stages):
    """The stages of one map, computed on first use (see the module's docstring).

    ``source`` is a ``Dataset`` or a ``sources.Source`` (loaded on first use). ``anchor`` (an
    earlier export's map, ``align.read_anchor``) makes every projection start from the old
    positions and turns the result onto the old map. ``cache`` (or ``cache_dir``) is the stage
    cache shared with other builds; ``progress(stage, done, total)`` sees the stages run.
    """

    def __init__(
        self,
        source,
        params: BuildParams = BuildParams(),
        *,
        anchor: Anchor | None = None,
        cache: StageCache | None = None,
        cache_dir=None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__(params)
        self.source = source
        self.anchor = anchor
        self.cache = cache or StageCache(cache_dir)
        self.progress = progress
        self._route = None
        self._refined: dict[str, str] = {}  # shared by the builds of one lineage: the latest refinement of each layout
        self._origin = hashlib.sha256(repr(id(source)).encode() + repr(time.time_ns()).encode()).hexdigest()[:16]

    @property
    def route(self):
        """How this build's interactions become profiles and candidates (``sources.route_of``)."""
        if self._route is None:
            self._route = route_of(self.data)
        return self._route

    def layout(self, name: str) -> Layout:
        """The layout of the projection called ``name`` (from PCA, or from the anchor's
        positions), before any alignment."""
        self.params.projection(name)  # a projection this build does not compute is an error
        return self.get(f"layout:{name}")

    def _identity(self, name: str) -> tuple:
        # the data is whatever this build (and the builds made from it) was given: nothing else shares it
        return (self._origin,) if name == "data" else ()

    def _compute(self, name: str) -> StageValue:
        spec, arg = self._spec(name)
        if name == "layouts":
            self._lay_out_side_by_side()
        for up in spec.upstream(self.params):  # upstream first, so that this stage's time is its own
            self.get(up)
        runner = self._runner()
        if spec.timed and self.progress:
            self.progress(name, 0, 1)
        start = time.perf_counter()
        value = spec.compute(self, runner, arg) if arg is not None else spec.compute(self, runner)
        done = StageValue.of(self.signature(name), value, runner)
        if spec.timed:
            done.timings[name] = time.perf_counter() - start
            if self.progress:
                self.progress(name, 1, 1)
        return done

    def _lay_out_side_by_side(self) -> None:
        """Every projection's layout, side by side on the idle cores (``compute_side_by_side``):
        once the neighbours are found the layouts are independent, and UMAP's optimiser runs one
        thread whatever the machine has, so t-SNE or PaCMAP use the other core meanwhile
        (bench/README.md, "100k, layouts side by side")."""
        from .cores import side_by_side_cores

        wanted = [f"layout:{name}" for name in self.params.names]
        if sum(not self.has(one) for one in wanted) < 2:
            return
        self.get("neighbors")  # first, on every idle core
        self.compute_side_by_side(wanted, side_by_side_cores())

    # -- the stages ----------------------------------------------------------------------------
    @stage("data")
    def data(self, runner):
        """The ``Dataset`` (a ``sources.Source`` is loaded here)."""
        from .ingest import Dataset

        if isinstance(self.source, Dataset):
            return self.source
        start = time.perf_counter()
        data = self.source.load(self.params.engine)
        runner.timings["load"], runner.cached["load"] = time.perf_counter() - start, False
        return data

    @stage("profiles", after=("data",), inputs=("filter",))
    def profiles(self, runner) -> Profiles:
        """The filtered profiles (or, where the profile matrix stays elsewhere, their ``ItemTable``)."""
        return self.route.profiles(runner, self.params)

    @stage("candidates", after=("data", "profiles"), inputs=("cooccurrence", lambda b: b.params.graph.method))
    def candidates(self, runner) -> Candidates | None:
        """Each item's co-occurrence candidates (None for the recipe graph)."""
        return self.route.candidates(runner, self.profiles, self.params)

    @stage("graph", after=("profiles", "candidates"), inputs=("graph",))
    def graph(self, runner) -> ItemGraph:
        return runner.graph(self.profiles, self.candidates, self.params.graph)

    @stage("embedding", after=lambda params: _embedding_reads(params.embed), inputs=("embed",))
    def embedding(self, runner) -> Embedding:
        """The item vectors by the method of ``params.embed`` (``atlas.embeddings``): PyMDE reads
        the graph, the SVD and ALS the profiles' matrix, so a graph change keeps their embedding."""
        graph = self.graph if "graph" in _embedding_reads(self.params.embed) else None
        return runner.embed(graph, self.params.embed, profiles=self.profiles)

    @stage("match", after=("profiles",), inputs=(lambda b: None if b.anchor is None else (b.anchor.digest, b.anchor.anyway),))
    def match(self, runner) -> AnchorMatch | None:
        """The items shared with the anchor's map, or None without an anchor."""
        return None if self.anchor is None else match(self.anchor, self.profiles.item_ids)

    @stage("start", after=("match", "graph", "embedding"))
    def start(self, runner) -> np.ndarray | None:
        """Where every projection starts: the anchor's positions (and guesses for new items), or None: PCA."""
        found = self.match
        return None if found is None else start_positions(found, self.graph.neighbors, self.embedding.coords)

    @stage("neighbors", after=("embedding",), inputs=(lambda b: _neighbor_k(b.params),))
    def neighbors(self, runner):
        """The embedding's nearest neighbours, as many as the projections read (None: none read)."""
        k = _neighbor_k(self.params)
        return runner.neighbors(self.embedding, k) if k else None

    @stage("layout", after=("embedding", "graph", "start"), per_projection=True)
    def _layout(self, runner, name: str) -> Layout:
        # the neighbour search first, as a stage of its own; it is no input of the layout (which
        # finds its own k nearest in the stage cache), so another projection's k keeps this layout
        self.get("neighbors")
        # from PCA (or the anchor's positions), never from a refinement seen before: what a rebuild makes
        return runner.project(self.embedding, self.params.projection(name), graph=self.graph, from_pca=self.start is None, start=self.start)

    @stage("layouts", after=lambda params: ("match", *(f"layout:{n}" for n in params.names)), inputs=(lambda b: b.params.names,))
    def layouts(self, runner) -> dict[str, Layout]:
        """Every projection's layout, aligned onto the first (and it onto the anchor's map)."""
        from .pipeline import aligned

        return aligned({name: self.layout(name) for name in self.params.names}, onto=self.match)

    @stage("alignment", after=("layouts", "match", "data", "profiles"), inputs=("align",))
    def alignment(self, runner) -> dict | None:
        """How far the shared items moved from the anchor's map (``align.alignment_report``), or None."""
        return None if self.match is None else self.alignment_of(next(iter(self.layouts.values())).xy)

    @stage("regions", after=("layouts", "graph", "data", "profiles"), inputs=("regions",), timed=True)
    def regions(self, runner) -> dict[str, Regions]:
        """The named regions of the item graph (found once), placed on every layout."""
        return self.regions_of(self.layouts, runner=runner)

    @stage("metrics", after=("layouts", "graph", "embedding", "neighbors", "data", "profiles"), timed=True)
    def metrics(self, runner) -> dict[str, dict]:
        """The metrics of every layout, and of the embedding itself (under ``"embedding"``)."""
        values = self.metrics_of(self.layouts, runner=runner)
        whole = Layout(self.embedding.space(), self.embedding.method, self.params.embed, key=self.embedding.key)
        values["embedding"] = runner.metrics(whole, self.graph, None, item_labels(self.profiles, self.data), near=self.neighbors)
        return values

    # -- views of layouts other than the build's (the app's maps, refined on screen) -------------
    def metrics_of(self, layouts: Mapping[str, Layout], *, runner=None) -> dict[str, dict]:
        """The metrics of ``layouts`` (layouts of this build's embedding, e.g. the maps on screen)."""
        runner = runner or self._runner()
        labels = item_labels(self.profiles, self.data)
        return {name: runner.metrics(layout, self.graph, self.embedding, labels) for name, layout in layouts.items()}

    def faithfulness_of(self, layouts: Mapping[str, Layout], *, runner=None) -> dict[str, np.ndarray]:
        """Per layout, each item's share of its graph neighbours kept near it on that map
        (:func:`atlas.explain.faithfulness`), computed once per layout through the stage cache."""
        runner = runner or self._runner()
        return {name: runner.faithfulness(layout, self.graph) for name, layout in layouts.items()}

    def regions_of(self, layouts: Mapping[str, Layout], *, runner=None) -> dict[str, Regions]:
        """The named regions of this build's graph under its region parameters, placed on ``layouts``."""
        runner = runner or self._runner()
        return {name: runner.regions(layout, self.profiles, self.data, self.params.regions, graph=self.graph) for name, layout in layouts.items()}

    def alignment_of(self, xy: np.ndarray) -> dict | None:
        """The alignment report of a map (``xy``, already turned onto the anchor), or None without an anchor."""
        found = self.match
        if found is None:
            return None
        return alignment_report(xy, found, item_names(self.profiles, self.data), self.profiles.item_ids.astype(str), self.params.align)

    # -- live refinement (the app) ---------------------------------------------------------------
    def _runner(self):
        from .pipeline import Pipeline

        runner = Pipeline(cache=self.cache, progress=self.progress)
        runner._refined = self._refined
        return runner

    def known_layout(self, name: str, *, from_pca: bool = False) -> Layout | None:
        """The layout of projection ``name`` computed before (from PCA, or its latest refinement
        unless ``from_pca``; from the anchor's positions when the build has one), or None:
        nothing is computed."""
        if self.has(f"layout:{name}") and (from_pca or self.start is not None):
            return self.layout(name)
        if self.start is not None:
            return None
        return self._runner().known_layout(self.embedding, self.params.projection(name), from_pca=from_pca)

    def project(self, name: str, *, warm_from: Layout | None = None, progress=None) -> Layout:
        """Projection ``name``'s layout, refining ``warm_from`` (its layout under other parameters,
        the map on screen) where given and the build has no anchor; else the build's own layout
        (from PCA or the anchor's positions). ``progress(step, total, xy)`` sees it advance."""
        params = self.params.projection(name)
        fresh = warm_from is None or self.start is not None
        if fresh and self.has(f"layout:{name}"):
            return self.layout(name)
        runner = self._runner()
        if not fresh:
            return runner.project(self.embedding, params, graph=self.graph, warm_from=warm_from, progress=progress)
        layout = runner.project(self.embedding, params, graph=self.graph, from_pca=self.start is None, start=self.start, progress=progress)
        with self._lock:  # the build's own layout: kept, as reading build.layout(name) would keep it
            self._done.setdefault(f"layout:{name}", StageValue.of(self.signature(f"layout:{name}"), layout, runner))
        return layout

    def reading(self, progress: Progress | None) -> Build:
        """This build, reporting the stages it computes from now on to ``progress`` (a spinner)."""
        self.progress = progress
        return self

    # -- new parameters, results ------------------------------------------------------------------
    _KEEP = object()

    def with_params(self, params: BuildParams | None = None, /, *, anchor=_KEEP, **changes) -> Build:
        """This build with other parameters (a whole ``BuildParams``, or fields of it by name) or
        another ``anchor``: a new build that shares every computed stage whose signature is
        unchanged. A projection list without the exported layout exports its first."""
        if params is None:
            if "projections" in changes and "export" not in changes:
                names = [projections.of(p).name for p in changes["projections"]]
                changes["export"] = self.params.export if self.params.export in names else None
            params = dataclasses.replace(self.params, **changes)
        elif changes:
            raise AtlasError("give with_params either a BuildParams or fields by name, not both.")
        # progress belongs to whoever reads the new build (``reading``): a spinner of this one may be gone
        other = Build(self.source, params, anchor=self.anchor if anchor is Build._KEEP else anchor, cache=self.cache)
        other._origin, other._refined, other._route = self._origin, self._refined, self._route
        for name, done in list(self._done.items()):
            try:
                same = other.signature(name) == done.signature
            except AtlasError:  # a projection the new parameters do not compute
                same = False
            if same:
                other._done[name] = done
        return other

    def result(self) -> BuildResult:
        """Every stage, as one ``BuildResult`` (what ``atlas build`` exports)."""
        profiles, candidates, graph, embedding = self.profiles, self.candidates, self.graph, self.embedding
        layouts = self.layouts
        alignment, regions, metrics = self.alignment, self.regions, self.metrics
        timings = {k: v for k, v in self.timings.items() if k != "load"}
        cached = {k: v for k, v in self.cached.items() if k != "load"}
        return BuildResult(self.params, profiles, candidates, graph, embedding, layouts, metrics, timings, cached, regions, alignment, self.threads)

    def export(self, out_dir, *, projection: str | None = None, extra_manifest: dict | None = None, page: bool = False, title: str | None = None):
        """Write the export ``atlas build`` writes (``export.export_layout``) into ``out_dir``;
        ``projection`` names the layout (default: the build's exported one)."""
        from .export import export_layout

        result = self.result()
        if projection is not None and projection != self.params.export:
            result = dataclasses.replace(result, params=dataclasses.replace(self.params, export=projection))
        shown = projection or result.params.exported
        faithful = self.faithfulness_of({shown: result.layouts[shown]})[shown] if shown in result.layouts else None
        return export_layout(out_dir, result, self.data, projection=projection, extra_manifest=extra_manifest, page=page, title=title, faithful=faithful)


def stage_order(params: BuildParams = BuildParams()) -> tuple[str, ...]:
    """The stages of a build with ``params``, each after every stage it follows."""
    order: list[str] = []
    probe = Build(None, params)

    def visit(name: str) -> None:
        if name in order:
            return
        for up in probe.upstream(name):
            visit(up)
        order.append(name)

    for name, spec in Build.STAGES.items():
        for one in ([f"{name}:{n}" for n in params.names] if spec.per_projection else [name]):
            visit(one)
    return tuple(order)
