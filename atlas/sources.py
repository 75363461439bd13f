"""Where a build's interactions come from, and the route each takes to profiles and candidates.

A ``Dataset``'s interactions are one of four kinds, and each kind owns how the filters and the
co-occurrence are computed for it:

- in memory (``ingest.Interactions``): the profiles kernel, then the co-occurrence kernel;
- on disk, streamed (``scan.InteractionFiles``): the profiles are read in batches;
- read by Spark (``engines.spark_input.SparkInput``): filters and co-occurrence run in Spark, together;
- a candidates file (``stagefile.StageFile``): both are already done.

``route_of(data)`` gives the route; ``Build`` and ``Pipeline`` ask it instead of testing types.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Protocol

from .cache import stage_key
from .errors import AtlasError
from .pairweights import get_pair_weight


class Route(Protocol):
    """How the profiles and the candidates of one kind of interactions are computed."""

    def profiles(self, runner, params):
        """The profiles filtered by ``params.filter`` (or their ``ItemTable`` where the matrix
        stays elsewhere); ``params`` is a ``BuildParams``."""

    def candidates(self, runner, profiles, params):
        """Each item's co-occurrence candidates for ``params`` (a ``BuildParams``), or None."""


class _Local:
    """Interactions this machine reads: in memory, or streamed from files."""

    def __init__(self, data, streamed: bool) -> None:
        self.data, self.streamed = data, streamed

    def profiles(self, runner, params):
        from .profiles import Profiles, build_profiles

        filter = params.filter
        interactions = self.data.interactions
        if self.streamed:
            from .scan import scan_profiles

            key = stage_key("profiles", filter, interactions.fingerprint, code="atlas.scan")
            return runner._run("profiles", key, lambda: scan_profiles(interactions, filter), Profiles)
        key = stage_key("profiles", filter, interactions.fingerprint)
        return runner._run("profiles", key, lambda: build_profiles(self.data, filter), Profiles)

    def candidates(self, runner, profiles, params):
        if params.graph.method != "topk":
            return None
        return runner.cooccurrence(profiles, params.cooccurrence, engine=params.engine)


class _CandidatesFile:
    """A file written by ``atlas candidates``: the filtered items and their candidates."""

    def __init__(self, file) -> None:
        self.file = file

    def profiles(self, runner, params):
        runner.timings["cooccurrence"], runner.cached["cooccurrence"] = 0.0, True
        return self.file.items

    def candidates(self, runner, profiles, params):
        if params.graph.method != "topk":
            raise AtlasError("--graph-method recipe needs the profile matrix, which a candidates file does not hold; use --graph-method topk.")
        return self.file.candidates


class _Spark:
    """Interactions Spark reads: the filters and the co-occurrence run there in one job."""

    def __init__(self, source) -> None:
        self.source = source
        self._pairs: dict[str, tuple] = {}  # one Spark job gives both the items and the candidates

    def profiles(self, runner, params):
        return self.pair(runner, params)[0]

    def pair(self, runner, params):
        """(the item table, the candidates) Spark computes for ``params``."""

        if params.graph.method != "topk":
            raise AtlasError("--graph-method recipe needs the profile matrix on this machine; use --graph-method topk with --engine spark.")
        if params.engine.name != "spark":
            raise AtlasError("this input is read by Spark; add --engine spark.")
        source = self.source
        recorded = {"filter": params.filter, "cooccurrence": params.cooccurrence, "ingest": source.params}
        pair_code = get_pair_weight(params.cooccurrence.pair_weight).fingerprint
        key = stage_key("cooccurrence", recorded, source.fingerprint, pair_code, code="atlas.engines.spark")
        if key not in self._pairs:
            self._pairs[key] = self._run(runner, params, key)
        return self._pairs[key]

    def _run(self, runner, params, key):
        from .engines.spark import spark_stage

        source = self.source

        def compute():
            items, candidates = spark_stage(source, params.filter, params.cooccurrence, params.engine)
            return dataclasses.replace(items, key=key), dataclasses.replace(candidates, key=key)

        if not source.fingerprint:  # not a local file: nothing identifies its content, so nothing is cached
            start = time.perf_counter()
            items, candidates = compute()
            runner.timings["cooccurrence"], runner.cached["cooccurrence"] = time.perf_counter() - start, False
            return items, candidates
        return runner._run("cooccurrence", key, compute, tuple)

    def candidates(self, runner, profiles, params):
        return self.pair(runner, params)[1]


def route_of(data) -> Route:
    """The route of ``data``'s interactions (see the module's docstring)."""
    from .engines.spark_input import SparkInput
    from .scan import InteractionFiles
    from .stagefile import StageFile

    interactions = data.interactions
    if isinstance(interactions, StageFile):
        return _CandidatesFile(interactions)
    if isinstance(interactions, SparkInput):
        return _Spark(interactions)
    if isinstance(interactions, InteractionFiles):
        return _Local(data, streamed=True)
    if hasattr(interactions, "user"):
        return _Local(data, streamed=False)
    raise AtlasError(f"atlas cannot read interactions of type {type(interactions).__name__}; load them with atlas.load_dataset.")
