"""The command line: ``atlas build`` (interactions → exported layout) and ``atlas html``.

A stable contract for scripts: the flags below keep their names, errors print one line
``error: ...`` and exit with status 2, and nothing is written unless the build succeeds.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .errors import AtlasError

log = logging.getLogger("atlas")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "atlas"


def add_build_arguments(p: argparse.ArgumentParser) -> None:
    """The ``atlas build`` flags (the notebook app reads the same names)."""
    p.add_argument("input", nargs="?", help="interactions: CSV, TSV, .dat, Parquet, JSON Lines or profile lines")
    p.add_argument("--demo", action="store_true", help="use the built-in MovieLens demo data instead of INPUT")
    p.add_argument("--items", help="item metadata file (CSV/TSV/Parquet); its first column is the item id")
    p.add_argument("--items-id-col", help="the item id column of --items (default: its first column)")
    p.add_argument("--name-col", help="metadata column with the item's display name (default: title/name)")
    p.add_argument("--label-col", help="categorical metadata column used to score maps (e.g. genre)")
    p.add_argument("--user-col", help="user column (default: the first column)")
    p.add_argument("--item-col", help="item column (default: the second column)")
    p.add_argument("--weight-col", help="weight column, e.g. a rating (default: a numeric third column)")
    p.add_argument("--min-weight", type=_number, help="drop interactions with a weight below this (e.g. 3.5)")
    p.add_argument("--min-item-users", type=_positive_int, help="keep items with at least N distinct users (default 10)")
    p.add_argument("--min-user-items", type=_positive_int, help="keep users with at least N items (default 5)")
    p.add_argument("--max-user-items", type=_positive_int, help="cap long profiles to N items (seeded sample)")
    p.add_argument("--weighting", choices=("count", "cosine", "jaccard", "pmi"), help="pair similarity (default cosine)")
    p.add_argument("--min-count", type=_number, help="ignore pairs shared by fewer users than this (default 1)")
    p.add_argument("--n-neighbors", type=_positive_int, help="graph neighbours per item (default 15)")
    p.add_argument("--graph-method", choices=("topk", "recipe"), help="topk (fast) or the published PyMDE recipe")
    p.add_argument("--embedding-dim", type=_positive_int, help="PyMDE embedding dimension (default 3)")
    p.add_argument("--repulsive-fraction", type=_number, help="PyMDE repulsive edges per attractive edge (default 1)")
    p.add_argument("--max-iter", type=_positive_int, help="PyMDE iterations (default 300)")
    p.add_argument("--init", choices=("random", "spectral"), help="PyMDE initialisation (default random)")
    p.add_argument("--projection", choices=("umap", "tsne"), default="umap", help="which layout to export (default umap)")
    p.add_argument("--no-compare", action="store_true", help="compute only the exported projection")
    p.add_argument("--umap-n-neighbors", type=_positive_int, help="UMAP n_neighbors (default 50)")
    p.add_argument("--min-dist", type=_number, help="UMAP min_dist (default 0.3)")
    p.add_argument("--spread", type=_number, help="UMAP spread (default 1.0)")
    p.add_argument("--perplexity", type=_number, help="t-SNE perplexity (default 30)")
    p.add_argument("--early-exaggeration", type=_number, help="t-SNE early exaggeration (default 12)")
    p.add_argument("--dof", type=_number, help="t-SNE degrees of freedom (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed for every stage (default 0)")


def build_params_from_args(args: argparse.Namespace):
    """BuildParams from parsed ``atlas build`` flags; unset flags keep the defaults."""
    from .cooccur import CooccurrenceParams
    from .embed import EmbedParams
    from .graph import GraphParams
    from .pipeline import BuildParams
    from .profiles import FilterParams
    from .project import TsneParams, UmapParams

    def given(**pairs):
        return {k: v for k, v in pairs.items() if v is not None}

    seed = args.seed
    defaults = demo_filter() if args.demo else FilterParams()
    filt = FilterParams(
        **{
            **defaults.__dict__,
            **given(
                min_item_users=args.min_item_users,
                min_user_items=args.min_user_items,
                min_weight=args.min_weight,
                max_user_items=args.max_user_items,
            ),
            "seed": seed,
        }
    )
    projections = (args.projection,) if args.no_compare else (args.projection, *[p for p in ("umap", "tsne") if p != args.projection])
    return BuildParams(
        filter=filt,
        cooccurrence=CooccurrenceParams(**given(weighting=args.weighting, min_count=args.min_count)),
        graph=GraphParams(**given(n_neighbors=args.n_neighbors, method=args.graph_method)),
        embed=EmbedParams(
            **given(embedding_dim=args.embedding_dim, repulsive_fraction=args.repulsive_fraction, max_iter=args.max_iter, init=args.init),
            seed=seed,
        ),
        umap=UmapParams(**given(n_neighbors=args.umap_n_neighbors, min_dist=args.min_dist, spread=args.spread), seed=seed),
        tsne=TsneParams(**given(perplexity=args.perplexity, early_exaggeration=args.early_exaggeration, dof=args.dof), seed=seed),
        projections=projections,
    )


def demo_filter():
    """Filters for the MovieLens demo: ratings of 3.5 and up, films liked by 10+ users."""
    from .profiles import FilterParams

    return FilterParams(min_item_users=10, min_user_items=5, min_weight=3.5)


def load_from_args(args: argparse.Namespace):
    """The Dataset named by the flags (the demo, or INPUT with --items)."""
    from .demo import demo_movielens
    from .ingest import IngestParams, load_dataset

    if args.demo:
        if args.input:
            raise AtlasError("give either INPUT or --demo, not both.")
        return demo_movielens()
    if not args.input:
        raise AtlasError("no input: give an interaction file (atlas build FILE --out DIR) or --demo.")
    params = IngestParams(user_col=args.user_col, item_col=args.item_col, weight_col=args.weight_col)
    return load_dataset(
        args.input, params, items_path=args.items, items_id_col=args.items_id_col, name_column=args.name_col, label_column=args.label_col
    )


class _Bars:
    """One tqdm progress line on stderr: the stage running now, and its items where it counts them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr is not None and sys.stderr.isatty()
        self.bar = None

    def __call__(self, stage: str, done: float, total: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=1, file=sys.stderr, dynamic_ncols=True, leave=False, bar_format="{desc:>14} {percentage:3.0f}%|{bar}| {elapsed}")
        if self.bar.desc.strip() != stage:
            self.bar.set_description_str(stage, refresh=False)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class _Interrupts:
    """Ctrl-C stops a build even where Python cannot raise the KeyboardInterrupt.

    An exception raised inside a finaliser (numba's compiler runs many) is only printed, never
    raised, so a Ctrl-C landing there would be lost. Here it is also remembered and raised again
    at the next stage boundary and before the export, and the printout is left out.
    """

    def __init__(self) -> None:
        self.pending = False

    def _handler(self, signum, frame) -> None:
        self.pending = True
        raise KeyboardInterrupt

    def _unraisable(self, info) -> None:
        if not issubclass(info.exc_type, KeyboardInterrupt):  # a swallowed Ctrl-C is kept in ``pending``
            self._previous_hook(info)

    def check(self) -> None:
        if self.pending:
            raise KeyboardInterrupt

    def __enter__(self):
        self._previous_hook = sys.unraisablehook
        self._previous_handler = None
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._handler)
            sys.unraisablehook = self._unraisable
        return self

    def __exit__(self, *exc) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            sys.unraisablehook = self._previous_hook


def cmd_build(args: argparse.Namespace) -> int:
    with _Interrupts() as interrupts:
        return _build(args, interrupts)


def _build(args: argparse.Namespace, interrupts: _Interrupts) -> int:
    from .export import check_output_folder, export_layout
    from .pipeline import Pipeline

    if not args.out:
        raise AtlasError("no output folder: add --out DIR.")
    check_output_folder(args.out)  # before any work: a build that cannot be written is not started
    params = build_params_from_args(args)
    start = time.perf_counter()
    data = load_from_args(args)
    load_seconds = time.perf_counter() - start
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    pipe = Pipeline(cache_dir)
    bars = _Bars(not args.quiet)

    def progress(stage: str, done: float, total: float) -> None:
        interrupts.check()
        bars(stage, done, total)

    try:
        result = pipe.build(data, params, progress=progress)
    finally:
        bars.close()
    interrupts.check()
    timings = {"load": load_seconds, **result.timings}
    paths = export_layout(args.out, result, data, projection=args.projection, extra_manifest={"timings": timings}, page=args.html)
    html = paths.pop("atlas.html", None)
    if not args.quiet:
        print(summary(result, timings, paths, html, data.all_notes))
    return 0


def summary(result, timings: dict, paths: dict, html: Path | None, notes: tuple[str, ...] = ()) -> str:
    s = result.profiles.summary()
    g = result.graph.summary()
    lines = [
        *(f"input: {note}" for note in notes),
        f"kept {s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions "
        f"(of {s['input_interactions']:,})",
        f"graph: {g['edges']:,} edges, {g['components']} component(s), {g['isolated_items']} isolated items, "
        f"{g['fallback_items']} items completed with fall-back neighbours",
        f"embedding: {result.embedding.dim}D, distortion {result.embedding.distortion:.4f}",
        "timings: " + ", ".join(f"{k} {v:.2f}s" + (" (cached)" if result.cached.get(k) else "") for k, v in timings.items()),
    ]
    for name, m in result.metrics.items():
        parts = [f"kNN recall {m['knn_recall']:.3f}"]
        if "trustworthiness" in m:
            parts.append(f"trustworthiness {m['trustworthiness']:.3f}")
        if "label_agreement" in m:
            parts.append(f"label agreement {m['label_agreement']:.3f} (chance {m['label_chance']:.3f})")
        lines.append(f"{name:>9}: " + ", ".join(parts))
    lines.append("wrote: " + ", ".join(str(p) for p in paths.values()))
    if html is not None:
        lines.append(f"web atlas: {html}")
    return "\n".join(lines)


def cmd_html(args: argparse.Namespace) -> int:
    from .web import write_html

    path = write_html(args.dir, output=args.output, title=args.title)
    print(f"wrote {path}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas", description="Turn user profiles into interactive maps of items.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="interactions → filtered profiles → graph → embedding → 2D layout → export")
    add_build_arguments(build)
    build.add_argument("--out", help="output folder for layout.csv, layout.parquet, neighbors.parquet, manifest.json")
    build.add_argument("--html", action="store_true", help="also write the web atlas (atlas.html) into --out")
    build.add_argument("--cache-dir", help=f"stage cache folder (default {default_cache_dir()})")
    build.add_argument("--no-cache", action="store_true", help="do not read or write the on-disk stage cache")
    build.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    build.set_defaults(func=cmd_build)
    html = sub.add_parser("html", help="write DIR/atlas.html, a self-contained web atlas of an exported layout")
    html.add_argument("dir", help="a folder written by 'atlas build --out DIR'")
    html.add_argument("--output", help="where to write the page (default DIR/atlas.html)")
    html.add_argument("--title", help="page title")
    html.set_defaults(func=cmd_html)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except AtlasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; raise --min-item-users or set --max-user-items to shrink the problem.", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal fault: still one line unless --debug
        if args.debug:
            raise
        print(f"error: internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); rerun with --debug for details.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
