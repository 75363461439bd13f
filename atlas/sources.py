"""Where a build's interactions come from, and the route each takes to profiles and candidates.

A ``Source`` names the data of a build as a person gives it (an interactions file and its column
choices, a candidates file, or the built-in demo); ``Source.load`` reads it into a ``Dataset``,
and ``source_of`` finds the ``Source`` a dataset was loaded from again.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .cache import stage_key
from .errors import AtlasError
from .pairweights import get_pair_weight

if TYPE_CHECKING:
    from .engines import EngineParams


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


@dataclass(frozen=True)
class Source:
    """The data of a build: an interactions file and its column choices, or the built-in demo."""

    input: str | None = None
    demo: bool = False
    items: str | None = None
    items_id_col: str | None = None
    name_col: str | None = None
    label_col: str | None = None
    user_col: str | None = None
    item_col: str | None = None
    weight_col: str | None = None
    time_col: str | None = None  # when each interaction happened (default: a column that is obviously a time)
    candidates: str | None = None  # a file written by 'atlas candidates', instead of INPUT
    align_to: str | None = None  # an earlier export whose map the build keeps (atlas.align)
    drop_missing_weights: bool = False  # rows with ids but no weight: left out and reported, not refused
    align_anyway: bool = False  # align to an earlier map that shares under half of either build's items

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "demo" and isinstance(value, str):
                object.__setattr__(self, f.name, value.strip() or None)
        if self.demo and self.input:
            raise AtlasError("give either INPUT or --demo, not both.")
        if self.candidates and (self.input or self.demo):
            raise AtlasError("give either INPUT (or --demo) or --candidates, not both: a candidates file already holds the filtered items.")

    @property
    def is_demo(self) -> bool:
        return self.demo or not (self.input or self.candidates)

    @property
    def ingest(self):
        from .ingest import IngestParams

        return IngestParams(
            user_col=self.user_col, item_col=self.item_col, weight_col=self.weight_col, drop_missing_weights=self.drop_missing_weights, time_col=self.time_col
        )

    def load(self, engine: EngineParams | None = None, *, stream: bool = False):
        """The ``Dataset``: the demo; a candidates file's items; or the input with its metadata.

        The interactions stay where they are when Spark reads them (``engine``), and, with
        ``stream``, when the input is a folder or a large file (the profiles stage streams them,
        :mod:`atlas.scan`; the command line streams, the app reads into memory)."""
        from .demo import demo_movielens
        from .ingest import SPARK_ROUTE, STREAMED_ROUTE, Dataset, guess_name_column, load_dataset, load_items, time_col_refused

        if self.time_col and (self.candidates or self.is_demo):
            held = "a candidates file holds no interactions" if self.candidates else "the demo reads its own times"
            raise AtlasError(f"--time-col names a column of INPUT, and {held}; leave out --time-col.")
        if self.candidates:
            from .stagefile import read_candidates

            file = read_candidates(self.candidates)
            items = None if self.items is None else load_items(self.items, item_col=self.items_id_col)
            if items is not None and not np.isin(file.items.item_ids, items.index.to_numpy()).any():
                raise AtlasError(f"no item id of {self.candidates!r} occurs in {self.items!r}; check that its first column (or --items-id-col) holds the same ids.")
            data = Dataset(file, items, self.name_col or guess_name_column(items), self.label_col, {"candidates": self.candidates, **file.record.get("input", {})})
        elif self.is_demo:
            return demo_movielens()
        elif engine is not None and engine.name == "spark":
            from .engines.spark_input import spark_input
            from .scan import lazy_dataset

            if self.time_col:
                raise time_col_refused(SPARK_ROUTE)

            data = lazy_dataset(spark_input(self.input, self.ingest), items_path=self.items, items_id_col=self.items_id_col, name_column=self.name_col, label_column=self.label_col)
        else:
            from .scan import scan_dataset, should_stream

            load = scan_dataset if stream and should_stream(self.input) else load_dataset
            if self.time_col and load is scan_dataset:
                raise time_col_refused(STREAMED_ROUTE)
            data = load(self.input, self.ingest, items_path=self.items, items_id_col=self.items_id_col, name_column=self.name_col, label_column=self.label_col)
        return dataclasses.replace(data, source={**data.source, "plan": dataclasses.asdict(self)})

    def anchor(self):
        """The earlier map of ``align_to`` (``align.Anchor``), or None."""
        from .align import read_anchor

        return None if self.align_to is None else read_anchor(self.align_to, anyway=self.align_anyway)

    def argv(self) -> list[str]:
        words = ["--demo"] if self.is_demo else ([self.input] if self.input else [])
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("input", "demo") or value is None or value is False or (self.is_demo and f.name not in ("align_to", "align_anyway")):
                continue  # the demo reads no files of its own
            if value is True:
                words.append(f"--{f.name.replace('_', '-')}")
                continue
            words += [f"--{f.name.replace('_', '-')}", value]
        return words


def source_of(data) -> Source | None:
    """The ``Source`` a dataset was loaded from, or None for data made in Python."""
    plan = (data.source or {}).get("plan") if data is not None else None
    if plan is not None:
        return Source(**plan)
    if data is not None and (data.source or {}).get("demo") == "movielens":
        return Source(demo=True)
    return None


def source_from_args(args) -> Source:
    """The ``Source`` of parsed ``atlas build`` arguments."""
    return Source(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Source)})
