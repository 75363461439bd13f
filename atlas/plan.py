"""The plan of a build: what a person asked for → ``BuildParams``, and back to a command.

Every face of atlas turns its input into parameters here, and only here: ``atlas build``'s flags
(:mod:`atlas.cli_args`), the notebook app's command line, address and controls, the sweep
notebook, and a manifest being rebuilt. ``read_options`` reads each option a face gave, with one
rule and one message per option whatever the face; ``build_params`` makes the ``BuildParams``
(``stage_params`` and ``projection_params`` make one stage's, for the app's forms). The other way,
``options_of`` gives the options that rebuild a ``BuildParams`` and ``option_words`` their words,
from which the page's address and ``argv_of``'s command are written, so every export records the
``atlas build`` command that makes the same layout again.

Options are declared on the stages' parameter dataclasses (:mod:`atlas.options`); the
projections' come from the registry (:mod:`atlas.projections`), so a new projection brings its own
flags and sliders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shlex
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import embeddings, projections
from .align import AlignParams
from .cooccur import CooccurrenceParams
from .embed import EmbedParams
from .engines import EngineParams
from .errors import AtlasError, check_seed
from .flagnames import flag_errors, flags_of
from .graph import GraphParams
from .options import Field, Option, fields_of, parse, word
from .profiles import FilterParams
from .regions import RegionParams

if TYPE_CHECKING:
    from .sources import Source

#: The stages' parameters besides the projections', by the ``BuildParams`` field that holds them.
STAGE_CLASSES: dict[str, type] = {
    "filter": FilterParams,
    "cooccurrence": CooccurrenceParams,
    "graph": GraphParams,
    "embed": EmbedParams,
    "regions": RegionParams,
    "align": AlignParams,
}

SEED = Option("--seed", "random seed for every stage (default 0)")
PROJECTION = Option("--projection", "which layout to export (default: the first compared)")
COMPARE = Option("--compare", "layouts to compute, comma separated; the first is the one the others are aligned to")


def demo_filter() -> FilterParams:
    """Filters for the MovieLens demo: ratings of 3.5 and up, films liked by 10+ users."""
    return FilterParams(min_item_users=10, min_user_items=5, min_weight=3.5)


def _default_projections() -> tuple:
    return tuple(projections.get(name).Params() for name in projections.default_names())


@dataclass(frozen=True)
class BuildParams:
    """Every parameter of a build: one frozen dataclass per stage, one per projection.

    ``projections`` holds the parameters of each layout to compute, in order; the others are
    aligned onto the first. ``export`` names the layout an export writes (default: the first).
    """

    filter: FilterParams = FilterParams()
    cooccurrence: CooccurrenceParams = CooccurrenceParams()
    graph: GraphParams = GraphParams()
    embed: Any = field(default_factory=embeddings.default_params)  # the chosen embedding method's parameters
    projections: tuple = field(default_factory=_default_projections)
    export: str | None = None  # None: the first projection
    engine: EngineParams = EngineParams()  # where co-occurrence runs; never changes the result
    regions: RegionParams = RegionParams()
    align: AlignParams = AlignParams()

    def __post_init__(self) -> None:
        embeddings.of(self.embed)  # the parameters of a registered embedding method
        names = [projections.of(p).name for p in self.projections]
        if not names:
            raise AtlasError(f"a build needs at least one projection; choose from {', '.join(projections.names())}.")
        if len(set(names)) != len(names):
            raise AtlasError(f"each projection may be listed once, got {', '.join(names)}.")
        if self.export is not None and self.export not in names:
            raise AtlasError(f"the exported layout {self.export!r} is not computed; compute one of {', '.join(names)} or add it to --compare.")
        object.__setattr__(self, "projections", tuple(self.projections))
        object.__setattr__(self, "export", self.export or names[0])
        if self.cooccurrence.n_candidates < self.graph.n_neighbors:
            object.__setattr__(self, "cooccurrence", dataclasses.replace(self.cooccurrence, n_candidates=self.graph.n_neighbors))

    @property
    def names(self) -> tuple[str, ...]:
        """The computed projections' names, the reference first."""
        return tuple(projections.of(p).name for p in self.projections)

    @property
    def exported(self) -> str:
        return self.export

    def projection(self, name: str):
        """The parameters of the projection called ``name``."""
        for p in self.projections:
            if projections.of(p).name == name:
                return p
        raise AtlasError(f"projection {name!r} is not part of this build; it computes {', '.join(self.names)}.")

    def with_projection(self, params) -> BuildParams:
        """These parameters with one projection's parameters replaced (or added last)."""
        name = projections.of(params).name
        if name in self.names:
            return dataclasses.replace(self, projections=tuple(params if n == name else p for n, p in zip(self.names, self.projections)))
        return dataclasses.replace(self, projections=(*self.projections, params))

    def to_dict(self) -> dict:
        plain = {name: dataclasses.asdict(getattr(self, name)) for name in STAGE_CLASSES}
        plain["embed"] = embeddings.to_dict(self.embed)
        plain["projections"] = [{"method": projections.of(p).name, **dataclasses.asdict(p)} for p in self.projections]
        plain["export"] = self.exported
        plain["engine"] = self.engine.record()
        return plain

    @classmethod
    def from_dict(cls, plain: Mapping[str, Any]) -> BuildParams:
        """The inverse of ``to_dict`` (what a manifest's ``params`` holds)."""
        try:
            # stages added since a manifest was written take their defaults
            stages = {name: STAGE_CLASSES[name](**plain.get(name, {})) for name in STAGE_CLASSES if name != "embed"}
            stages["embed"] = embeddings.from_dict(plain.get("embed", {}))  # a record without a method is PyMDE's
            layouts = tuple(projections.get(p["method"]).Params(**{k: v for k, v in p.items() if k != "method"}) for p in plain["projections"])
            engine = EngineParams(**plain.get("engine", {}))
        except (KeyError, TypeError) as exc:
            raise AtlasError(f"these parameters do not describe a build ({exc}); they must come from BuildParams.to_dict().") from None
        return cls(**stages, projections=layouts, export=plain.get("export"), engine=engine)


# -- the options ---------------------------------------------------------------------------------


def stage_fields() -> dict[str, list[Field]]:
    """The offered fields of the stages before the projections, by stage (the embedding's: the
    method's choice, then every method's options)."""
    return {stage: embeddings.embedding_fields() if stage == "embed" else fields_of(cls) for stage, cls in STAGE_CLASSES.items()}


def projection_fields() -> dict[str, list[Field]]:
    """The offered fields of every registered projection, by projection name."""
    return {name: fields_of(p.Params) for name, p in projections.projections().items()}


def engine_fields() -> dict[str, Field]:
    """The options of the co-occurrence engine (``--engine``, ``--spark-*``): offered by the
    command line, recorded in manifests, not controls of the app (which runs on this machine)."""
    return {f.dest: f for f in fields_of(EngineParams)}


def all_fields() -> dict[str, Field]:
    """Every offered field by its option name; two fields may not share a flag."""
    found: dict[str, Field] = {}
    for group in (*stage_fields().values(), *projection_fields().values()):
        for f in group:
            if f.dest in found or f.dest in ("seed", "projection", "compare"):
                raise RuntimeError(f"the option {f.option.flag} is declared twice")
            found[f.dest] = f
    return found


# -- the gateway: option values from any face → BuildParams ------------------------------------

#: The options of a build besides its fields': one seed for every stage, the exported layout, and
#: the layouts computed.
BUILD_KEYS = ("seed", "projection", "compare")

SEED_FIELD = Field(BuildParams, "seed", SEED, int, False, 0)


@dataclass(frozen=True)
class Problem:
    """A value a face gave that was left out: its key, the value, and why (no message: atlas has
    no such option, or this face does not take it)."""

    key: str
    value: Any
    message: str | None = None

    @property
    def unknown(self) -> bool:
        return self.message is None


@dataclass(frozen=True)
class Options:
    """What ``read_options`` read: the build options by option name, each a value of its field
    (``values``, what ``build_params`` takes), the face's own keys (``own``), and what was left
    out, in the order given."""

    values: dict[str, Any]
    own: dict[str, Any]
    problems: tuple[Problem, ...]


def _last(raw: Any) -> Any:
    """A repeated flag or query key (a list of values) counts with its last value."""
    return raw[-1] if isinstance(raw, list) and raw else raw


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def read_option(key: str, raw: Any) -> Any:
    """One build option's value as ``build_params`` takes it, from what a face gave: a typed word,
    a number, a list of repeated values (the last counts, except for a repeatable option and for
    ``compare``, whose names add up). ``projection`` and ``compare`` come back as registered
    names (``compare`` comma-separated; blank: the default list), a non-finite number only where
    its parameter class accepts one. ``AtlasError`` names the flag of a value that cannot be used."""
    if key == "seed":
        return check_seed(parse(SEED_FIELD, _last(raw)))
    if key == "projection":
        return None if _blank(_last(raw)) else projections.get(str(_last(raw))).name
    if key == "compare":
        parts = [part.strip() for one in (raw if isinstance(raw, (list, tuple)) else [raw]) if not _blank(one) for part in str(one).split(",")]
        if not parts:
            return ""
        if not any(parts):
            raise AtlasError(f"--compare needs at least one projection; choose from {', '.join(projections.names())}.")
        return ",".join(projections.get(name).name for name in parts if name)
    f = {**all_fields(), **engine_fields()}[key]
    if f.option.many:
        return parse(f, raw)
    value = parse(f, _last(raw))
    if isinstance(value, float) and not math.isfinite(value):  # named here, not where the stage's parameters are made
        with flag_errors(flags_of(f.owner)), contextlib.suppress(TypeError):
            dataclasses.replace(f.owner(), **{f.name: value})
    return value


def read_options(given: Mapping[str, Any], *, accept: Collection[str] | None = None, own: Mapping[str, Callable[[Any], Any]] = {}) -> Options:
    """The options a face gave, each read by ``read_option``, keyed by option name: ``atlas build``'s
    parsed arguments, ``mo.cli_args()`` of a notebook, the page's address, the app's controls.

    ``accept`` names the build options this face takes (default: every option of ``atlas
    build``); ``own`` reads the face's other keys (the app's ``--input``, the address's view), each
    from its last value. Nothing is raised: a value that cannot be used, and a key that is neither,
    become ``problems``, and the option keeps its default.
    """
    known = {*all_fields(), *engine_fields(), *BUILD_KEYS}
    accept = known if accept is None else known & set(accept)
    values: dict[str, Any] = {}
    read_own: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, raw in given.items():
        try:
            if key in own:
                read_own[key] = own[key](_last(raw))
            elif key in accept:
                values[key] = read_option(key, raw)
            else:
                problems.append(Problem(key, _last(raw)))
        except AtlasError as exc:
            problems.append(Problem(key, _last(raw), str(exc)))
    return Options(values, read_own, tuple(problems))


def build_params(given: Mapping[str, Any], *, demo: bool = False) -> BuildParams:
    """``BuildParams`` from option values keyed by option name (``min_item_users``, ``min_dist``, ...):
    the one way from what a person asked for, on any face, to a build.

    Values may be typed words (``"0.3"``), numbers or None; a missing option keeps its default
    (the demo's filters with ``demo``). ``projection`` names the exported layout and ``compare``
    the layouts to compute (a list or a comma-separated string, the reference first; by default
    the exported layout and every projection compared by default). Any value that cannot be used
    raises one ``AtlasError`` naming its flag.
    """
    read = read_options(given)
    unknown = sorted(p.key for p in read.problems if p.unknown)
    if unknown:
        raise AtlasError(f"unknown option(s) {', '.join(unknown)}; see 'atlas build --help'.")
    if read.problems:
        raise AtlasError(read.problems[0].message)
    values = read.values
    seed = values.get("seed", 0)
    stages = {stage: stage_params(stage, values, seed=seed, demo=demo) for stage in STAGE_CLASSES}
    exported = values.get("projection")
    if values.get("compare"):
        names = tuple(values["compare"].split(","))
        if exported is not None and exported not in names:
            names = (*names, exported)
    else:
        first = exported or projections.default_names()[0]
        names = (first, *[n for n in projections.default_names() if n != first])
    layouts = tuple(projection_params(name, values, seed=seed) for name in names)
    for name, fields in projection_fields().items():  # options of a projection not computed are still checked
        if name not in names and any(f.dest in values for f in fields):
            projection_params(name, values, seed=seed)
    return BuildParams(**stages, projections=layouts, export=exported, engine=engine_params(values))


def engine_params(values: Mapping[str, Any]) -> EngineParams:
    """``EngineParams`` from option values (``engine``, ``spark_master``, ``spark_conf`` …)."""
    return EngineParams(**_given(list(engine_fields().values()), values))


def _given(fields: list[Field], values: Mapping[str, Any]) -> dict:
    return {f.name: parse(f, values[f.dest]) for f in fields if f.dest in values}


def stage_params(stage: str, values: Mapping[str, Any], *, seed: int = 0, demo: bool = False):
    """One stage's parameters (``filter``, ``cooccurrence``, ``graph``, ``embed``, ``regions`` or
    ``align``) from option values; the co-occurrence keeps at least as many candidates as the graph's ``n_neighbors``."""
    if stage == "embed":
        return embeddings.embedding_params(values, seed=check_seed(seed))
    cls = STAGE_CLASSES[stage]
    base = demo_filter() if stage == "filter" and demo else cls()
    changes = _given(fields_of(cls), values)
    if any(f.name == "seed" for f in dataclasses.fields(cls)):
        changes["seed"] = check_seed(seed)
    flags = flags_of(cls)
    if stage == "cooccurrence":
        graph = _given(fields_of(GraphParams), values)
        changes["n_candidates"] = max(base.n_candidates, graph.get("n_neighbors", GraphParams().n_neighbors))
        flags["n_candidates"] = "--n-neighbors"  # the candidates kept follow the graph's neighbours
    with flag_errors(flags):
        return dataclasses.replace(base, **changes)


def projection_params(name: str, values: Mapping[str, Any], *, seed: int = 0):
    """The parameters of the projection called ``name`` from option values."""
    method = projections.get(name)
    with flag_errors(flags_of(method.Params)):
        return method.Params(**_given(fields_of(method.Params), values), seed=check_seed(seed))


def options_of(params: BuildParams, *, demo: bool = False) -> dict[str, Any]:
    """The option values that rebuild ``params`` with ``build_params``: only those that differ
    from the defaults, plus the projections. Raises ``AtlasError`` when the stages use different
    seeds (one ``--seed`` sets them all)."""
    seeds = {getattr(getattr(params, stage), "seed") for stage in STAGE_CLASSES if hasattr(getattr(params, stage), "seed")}
    seeds |= {p.seed for p in params.projections}
    if len(seeds) > 1:
        raise AtlasError(f"the stages use different seeds ({', '.join(map(str, sorted(seeds)))}); one --seed sets them all.")
    values: dict[str, Any] = {}
    defaults = {"filter": demo_filter() if demo else FilterParams()}
    values.update(embeddings.changed_options(params.embed))
    for stage, fields in stage_fields().items():
        if stage == "embed":
            continue
        current, base = getattr(params, stage), defaults.get(stage) or STAGE_CLASSES[stage]()
        for f in fields:
            if getattr(current, f.name) != getattr(base, f.name):
                values[f.dest] = getattr(current, f.name)
    by_name = projection_fields()
    for p in params.projections:
        name = projections.of(p).name
        base = type(p)()
        for f in by_name[name]:
            if getattr(p, f.name) != getattr(base, f.name):
                values[f.dest] = getattr(p, f.name)
    public, base_engine = params.engine.public(), EngineParams()
    for f in engine_fields().values():
        if getattr(public, f.name) != getattr(base_engine, f.name):
            values[f.dest] = getattr(public, f.name)
    seed = seeds.pop()
    if seed:
        values["seed"] = seed
    values["projection"] = params.exported
    values["compare"] = ",".join(params.names)
    return values


def option_words(params: BuildParams, *, demo: bool = False) -> dict[str, tuple[str, ...]]:
    """``options_of`` as words a person types, by option name: one word per value (several for a
    repeatable option), ``none`` for an option set to None. ``read_options`` reads them back."""
    return {dest: tuple("none" if one is None else word(one) for one in (value if isinstance(value, tuple) else (value,))) for dest, value in options_of(params, demo=demo).items()}


def argv_of(params: BuildParams, source: Source) -> list[str]:
    """The ``atlas build`` words (without ``--out``) that rebuild ``params`` on ``source``."""
    words = source.argv()
    for dest, values in option_words(params, demo=source.is_demo).items():
        for one in values:
            words += [f"--{dest.replace('_', '-')}", one]
    return words


def command_line(words: Sequence[str]) -> str:
    """``atlas build …`` as one line to copy into a shell."""
    return shlex.join(["atlas", "build", *words])
