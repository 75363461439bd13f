"""The command line's wiring of the build options: argparse flags for ``atlas build`` and
``atlas candidates``, and their parsed arguments as a ``Source`` and ``BuildParams``.

The flags come from the options the parameter classes declare (:mod:`atlas.options`), each typed
by the same ``parse`` every face uses; the values go through the one gateway,
``plan.build_params``.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from . import projections
from .cooccur import CooccurrenceParams
from .errors import AtlasError, check_seed
from .flagnames import flag_errors
from .graph import GraphParams
from .options import Field, fields_of, parse
from .plan import COMPARE, PROJECTION, SEED, SEED_FIELD, STAGE_CLASSES, BuildParams, all_fields, build_params, engine_fields, engine_params, stage_params
from .sources import Source, source_from_args

SOURCE_HELP = {
    "input": "interactions: CSV, TSV, .dat, Parquet, JSON Lines or profile lines",
    "demo": "use the built-in MovieLens demo data instead of INPUT",
    "items": "item metadata file (CSV/TSV/Parquet); its first column is the item id",
    "items_id_col": "the item id column of --items (default: its first column)",
    "name_col": "metadata column with the item's display name (default: title/name)",
    "label_col": "categorical metadata column used to score maps (e.g. genre)",
    "user_col": "user column (default: the first column)",
    "item_col": "item column (default: the second column)",
    "weight_col": "weight column, e.g. a rating (default: a numeric third column)",
    "time_col": "when each interaction happened: ISO dates/times or Unix seconds/milliseconds, to draw a user's items "
    "in time order (default: a column that is obviously a timestamp, e.g. 'timestamp' or 'played_at'; read into memory only)",
    "candidates": "continue from a candidates file written by 'atlas candidates' (instead of INPUT)",
    "drop_missing_weights": "leave out (and report) rows that have ids but no weight, instead of refusing the file",
    "align_anyway": "with --align-to: align even when the earlier map shares under half of either build's items",
    "align_to": "an earlier export folder: keep its map's geography (shared items start where they were; the result is turned onto it)",
}


def _argument_type(f: Field):
    def convert(text: str):
        try:
            return parse(f, text)
        except AtlasError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = f.kind.__name__
    return convert


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Every ``atlas build`` option: the data source, every stage's and projection's options."""
    parser.add_argument("input", nargs="?", help=SOURCE_HELP["input"])
    parser.add_argument("--demo", action="store_true", help=SOURCE_HELP["demo"])
    for name in ("items", "items_id_col", "name_col", "label_col", "user_col", "item_col", "weight_col", "time_col", "candidates", "align_to"):
        parser.add_argument(f"--{name.replace('_', '-')}", help=SOURCE_HELP[name])
    parser.add_argument("--drop-missing-weights", action="store_true", help=SOURCE_HELP["drop_missing_weights"])
    parser.add_argument("--align-anyway", action="store_true", help=SOURCE_HELP["align_anyway"])
    for f in all_fields().values():
        parser.add_argument(
            f.option.flag, dest=f.dest, type=_argument_type(f), metavar=_metavar(f), help=f.option.help, default=argparse.SUPPRESS
        )
    add_engine_arguments(parser)
    names = ",".join(projections.names())
    parser.add_argument(PROJECTION.flag, choices=projections.names(), help=PROJECTION.help)
    parser.add_argument(COMPARE.flag, metavar="NAMES", help=f"{COMPARE.help} (from {names}; default: the exported one, then {','.join(projections.default_names())})")
    parser.add_argument("--no-compare", action="store_true", help="compute only the exported projection")
    parser.add_argument(SEED.flag, type=_argument_type(SEED_FIELD), default=0, help=SEED.help)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and the ``--spark-*`` options (repeatable ones collect a list)."""
    for f in engine_fields().values():
        single = dataclasses.replace(f, option=dataclasses.replace(f.option, many=False))
        extra = {"action": "append"} if f.option.many else {}
        parser.add_argument(
            f.option.flag, dest=f.dest, type=_argument_type(single), metavar=_metavar(f), help=f.option.help, default=argparse.SUPPRESS, **extra
        )


def _metavar(f: Field) -> str:
    if f.option.choices:
        return "{" + ",".join(f.option.choices) + "}"
    return {int: "N", float: "X", str: "TEXT", bool: "BOOL"}[f.kind]


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The stages' and the engine's options given on the command line, by option name (a flag
    left out is absent: its default is ``argparse.SUPPRESS``)."""
    return {dest: getattr(args, dest) for dest in (*all_fields(), *engine_fields()) if hasattr(args, dest)}


def params_from_args(args) -> BuildParams:
    """``BuildParams`` from parsed ``atlas build`` arguments (unset flags keep their defaults)."""
    values = {**given_options(args), "seed": args.seed}
    if args.projection:
        values["projection"] = args.projection
    if args.no_compare:
        values["compare"] = args.projection or projections.default_names()[0]
    elif args.compare:
        values["compare"] = args.compare
    demo = source_from_args(args).is_demo
    params = build_params(values, demo=demo)
    if values.get("embedding") in (None, "") and (getattr(args, "candidates", None) or params.engine.name == "spark"):
        # the matrix methods read the profiles, which a candidates file or a Spark input leaves on the
        # cluster: such a build embeds its item graph unless told otherwise
        params = build_params({**values, "embedding": "pymde"}, demo=demo)
    if getattr(args, "candidates", None):
        params = continuing_from(args.candidates, params, set(values))
    return params


def continuing_from(path: str, params: BuildParams, given: set[str]) -> BuildParams:
    """``params`` for a build that continues from the candidates file at ``path``: its filters and
    co-occurrence parameters are the file's (an option given that disagrees is an error), and the
    graph may use at most as many neighbours as the file holds candidates."""
    from .stagefile import check_against, read_record

    record = read_record(path)
    if params.engine.name != "numba" or given & set(engine_fields()):
        raise AtlasError("--candidates continues from a finished co-occurrence stage; leave out --engine and the --spark-* options.")
    filter, cooccurrence = check_against(record, params.filter, params.cooccurrence, given)
    if params.graph.n_neighbors > cooccurrence.n_candidates:
        raise AtlasError(
            f"the candidates file holds {cooccurrence.n_candidates} candidates per item, fewer than --n-neighbors {params.graph.n_neighbors}; "
            f"lower --n-neighbors or write it again with 'atlas candidates --n-candidates {params.graph.n_neighbors}'."
        )
    return dataclasses.replace(params, filter=filter, cooccurrence=cooccurrence)


def add_candidates_arguments(parser: argparse.ArgumentParser) -> None:
    """``atlas candidates``' options: the input and its columns, the filters, the co-occurrence
    options, ``--n-candidates`` and the engine."""
    parser.add_argument("input", help="interactions: a file or folder (Parquet, CSV …); with --engine spark any path or table Spark reads")
    for name in ("user_col", "item_col", "weight_col"):
        parser.add_argument(f"--{name.replace('_', '-')}", help=SOURCE_HELP[name])
    parser.add_argument("--drop-missing-weights", action="store_true", help=SOURCE_HELP["drop_missing_weights"])
    for stage in ("filter", "cooccurrence"):
        for f in fields_of(STAGE_CLASSES[stage]):
            parser.add_argument(f.option.flag, dest=f.dest, type=_argument_type(f), metavar=_metavar(f), help=f.option.help, default=argparse.SUPPRESS)
    parser.add_argument("--n-candidates", type=int, default=CooccurrenceParams().n_candidates, help="candidates kept per item: the largest --n-neighbors a build from the file can use (default 64)")
    add_engine_arguments(parser)
    parser.add_argument(SEED.flag, type=_argument_type(SEED_FIELD), default=0, help=SEED.help)


def candidates_plan(args) -> tuple[Source, BuildParams]:
    """(the source, the parameters) of ``atlas candidates`` from its parsed arguments."""
    source = Source(input=args.input, user_col=args.user_col, item_col=args.item_col, weight_col=args.weight_col, drop_missing_weights=args.drop_missing_weights)
    values = given_options(args)
    seed = check_seed(args.seed)
    filter = stage_params("filter", values, seed=seed)
    with flag_errors({"n_candidates": "--n-candidates"}):
        cooccurrence = dataclasses.replace(stage_params("cooccurrence", values), n_candidates=args.n_candidates)
    return source, BuildParams(filter=filter, cooccurrence=cooccurrence, graph=GraphParams(n_neighbors=min(GraphParams().n_neighbors, args.n_candidates)), engine=engine_params(values))
