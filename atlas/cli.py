"""The command line: ``atlas build`` (interactions → exported layout), ``atlas html``, ``atlas explain``,
``atlas diff`` and ``atlas app``.

A stable contract for scripts: the flags below keep their names, errors print one line
``error: ...`` and exit with status 2, and nothing is written unless the build succeeds.
"""

from __future__ import annotations

import json

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .buildstage import STAGE_THREAD_PREFIX
from .cache import StageCache
from .errors import AtlasError
from .cli_args import add_build_arguments

log = logging.getLogger("atlas")


def default_cache_dir() -> Path:
    from .cache import default_directory

    return default_directory()


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


def _build(args: argparse.Namespace, interrupts: _Interrupts, plan=None) -> int:
    """A build from the command line's words, or from ``plan`` (a checked source and parameters)."""
    from .build import Build
    from .export import build_warnings, check_output_folder
    from .cli_args import params_from_args
    from .sources import source_from_args

    if not args.out:
        raise AtlasError("no output folder: add --out DIR.")
    check_output_folder(args.out)  # before any work: a build that cannot be written is not started
    if plan is None:
        source = source_from_args(args)
        if not args.demo and not args.input and not args.candidates:
            raise AtlasError("no input: give an interaction file (atlas build FILE --out DIR), --candidates FILE or --demo.")
        params = params_from_args(args)
    else:
        source, params = plan
    anchor = source.anchor()  # an unreadable --align-to stops the build before any work
    start = time.perf_counter()
    data = source.load(params.engine, stream=True)
    load_seconds = time.perf_counter() - start
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    bars = _Bars(not args.quiet)

    def progress(stage: str, done: float, total: float) -> None:
        interrupts.check()
        bars(stage, done, total)

    build = Build(data, params, anchor=anchor, cache=StageCache(cache_dir, max_bytes=cache_limit()), progress=progress)
    try:
        result = build.result()
    finally:
        bars.close()
    interrupts.check()
    timings = {"load": load_seconds, **result.timings}
    paths = build.export(args.out, extra_manifest={"timings": timings}, page=args.html)
    for warning in build_warnings(result):  # shown even with --quiet: the map is not what the flags alone would give
        print(f"warning: {warning}", file=sys.stderr)
    html = paths.pop("atlas.html", None)
    if not args.quiet:
        print(summary(result, timings, paths, html, data.all_notes))
    return 0


def cmd_candidates(args: argparse.Namespace) -> int:
    """``atlas candidates INPUT --out cands.parquet``: the co-occurrence stage's result as a file."""
    from .build import Build
    from .cli_args import candidates_plan
    from .stagefile import ItemTable, write_candidates

    source, params = candidates_plan(args)
    start = time.perf_counter()
    data = source.load(params.engine, stream=True)
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    build = Build(data, params, cache=StageCache(cache_dir, max_bytes=cache_limit()))
    profiles, candidates = build.profiles, build.candidates
    items = profiles if isinstance(profiles, ItemTable) else ItemTable.of(profiles)
    record = {
        "params": {"ingest": source.ingest.__dict__, "filter": params.filter.__dict__, "cooccurrence": params.cooccurrence.__dict__, "engine": params.engine.record()},
        "input": {"path": source.input, "fingerprint": data.interactions.fingerprint},
        "timings": {"load": 0.0, **build.timings},
    }
    path = write_candidates(args.out, items, candidates, record)
    if not args.quiet:
        s = items.summary()
        print(f"kept {s['users']:,} users, {s['items']:,} items, {s['interactions']:,} interactions (of {s['input_interactions']:,}); "
              f"{candidates.index.shape[1]} candidates per item ({params.cooccurrence.weighting}, {params.engine.name}) in {time.perf_counter() - start:.1f}s")
        print(f"wrote: {path}")
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
    # measured once, by the export: its manifest holds the torn share
    torn = json.loads(paths["manifest.json"].read_text(encoding="utf-8"))["faithfulness"]
    lines.append(f"faithfulness of the {result.params.exported} map: {torn['text']}")
    regions = result.regions.get(result.params.exported)
    if regions is not None and regions.levels:
        for level in regions.summary()["levels"]:
            lift = "" if level["median_lift"] is None else f", median lift of the top value {level['median_lift']:.1f}"
            lines.append(f"regions, level {level['level']}: {level['regions']} ({level['items_in_regions']:.0%} of the items){lift}")
    if result.alignment:
        from .align import report_lines

        lines += report_lines(result.alignment)
    lines.append("wrote: " + ", ".join(str(p) for p in paths.values()))
    if html is not None:
        lines.append(f"web atlas: {html}")
    return "\n".join(lines)


def cmd_rebuild(args: argparse.Namespace) -> int:
    """The build an earlier export's manifest records, into ``--out``: its parameters checked by
    their classes (:mod:`atlas.manifest`); paths only from this command line, or the recorded
    input files, named as they are read. The recorded command is shown, never run."""
    import dataclasses

    from .manifest import rebuild_source, recorded_build
    from .cli_args import continuing_from

    recorded = recorded_build(args.dir)
    source, notes = rebuild_source(recorded, input=args.input, items=args.items, candidates=args.candidates, align_to=args.align_to)
    params = recorded.params
    if source.candidates:  # the file's own filters and co-occurrence: the manifest's must agree with them
        from .plan import all_fields

        params = continuing_from(source.candidates, params, set(all_fields()))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if recorded.command and not args.quiet:
        print(f"rebuilding: {recorded.command} (as recorded; shown, not run)", file=sys.stderr)
    rebuilt = argparse.Namespace(out=args.out, html=args.html, quiet=args.quiet, no_cache=args.no_cache, cache_dir=args.cache_dir)
    with _Interrupts() as interrupts:
        return _build(rebuilt, interrupts, plan=(dataclasses.replace(source), params))


def cache_limit() -> int:
    """The disk cache's size bound: ``ATLAS_CACHE_MAX_GB`` (default 4); also checks the memory
    layer's ``ATLAS_CACHE_MEMORY_GB``, so that a bad value stops with its own error."""
    from .cache import memory_limit, size_limit

    memory_limit()
    return size_limit()


def cmd_cache(args: argparse.Namespace) -> int:
    cache = StageCache(args.cache_dir or default_cache_dir(), max_bytes=cache_limit())
    if args.action == "clear":
        deleted = cache.clear(args.stage)
        print(f"deleted {deleted} cache entr{'y' if deleted == 1 else 'ies'} from {cache.directory}")
        return 0
    info = cache.info()
    print(f"stage cache: {info['directory']}")
    print(f"{info['entries']} entries, {info['bytes'] / 1e6:.1f} MB of at most {info['max_bytes'] / 1e9:.1f} GB (ATLAS_CACHE_MAX_GB)")
    for stage, slot in sorted(info["stages"].items()):
        print(f"  {stage:>13}: {slot['entries']:4d} entries, {slot['bytes'] / 1e6:8.1f} MB")
    if info["other_files"]:
        print(f"{info['other_files']} other file(s) in the folder are not atlas entries; atlas never reads or deletes them")
    return 0


def cmd_html(args: argparse.Namespace) -> int:
    from .web import write_html

    path = write_html(args.dir, output=args.output, title=args.title)
    print(f"wrote {path}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """``atlas explain EXPORT ITEM``: an item's neighbours and the people behind each."""
    import json

    from .explain import explain_item, explain_lines
    from .web.pack import read_export

    if args.top < 1:
        raise AtlasError(f"--top must be at least 1, got {args.top}.")
    explained = explain_item(read_export(args.dir), args.item, top=args.top)
    print(json.dumps(explained, indent=2, ensure_ascii=False) if args.json else "\n".join(explain_lines(explained)))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """``atlas diff OLD NEW --out DIR``: what changed between two exports."""
    from .diff import diff_lines, write_diff

    report = write_diff(args.old, args.new, args.out, title=args.title)
    if not args.quiet:
        print("\n".join(diff_lines(report)))
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atlas", description="Turn user profiles into interactive maps of items.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="interactions → filtered profiles → graph → embedding → 2D layout → export")
    add_build_arguments(build)
    build.set_defaults(func=cmd_build)
    build.add_argument("--out", help="output folder for layout.csv, layout.parquet, neighbors.parquet, manifest.json")
    build.add_argument("--html", action="store_true", help="also write the web atlas (atlas.html) into --out")
    build.add_argument("--cache-dir", help=f"stage cache folder (default {default_cache_dir()})")
    build.add_argument("--no-cache", action="store_true", help="do not read or write the on-disk stage cache")
    build.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    candidates = sub.add_parser("candidates", help="interactions → filtered profiles → each item's co-occurrence candidates, written to a file (--engine spark: on a cluster)")
    from .cli_args import add_candidates_arguments

    add_candidates_arguments(candidates)
    candidates.add_argument("--out", required=True, help="the candidates file to write (Parquet), e.g. cands.parquet")
    candidates.add_argument("--cache-dir", help=f"stage cache folder (default {default_cache_dir()})")
    candidates.add_argument("--no-cache", action="store_true", help="do not read or write the on-disk stage cache")
    candidates.add_argument("--quiet", action="store_true", help="no summary")
    candidates.set_defaults(func=cmd_candidates)
    rebuild = sub.add_parser("rebuild", help="build again what an earlier export's manifest records, into --out")
    rebuild.add_argument("dir", help="a folder written by 'atlas build --out DIR' (or exported from the app)")
    rebuild.add_argument("input", nargs="?", help="the interactions to build from (default: the input the manifest records, named as it is read)")
    rebuild.add_argument("--items", help="item metadata file (default: the one the manifest records)")
    rebuild.add_argument("--candidates", help="candidates file (default: the one the manifest records, for a build from one)")
    rebuild.add_argument("--align-to", help="an earlier export to align to (default: the one the manifest records, for an aligned build)")
    rebuild.add_argument("--out", required=True, help="output folder of the new build")
    rebuild.add_argument("--html", action="store_true", help="also write the web atlas")
    rebuild.add_argument("--cache-dir", help=f"stage cache folder (default {default_cache_dir()})")
    rebuild.add_argument("--no-cache", action="store_true", help="do not read or write the on-disk stage cache")
    rebuild.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    rebuild.set_defaults(func=cmd_rebuild)
    cache = sub.add_parser("cache", help="show or clear the stage cache (least recently used entries go first past its size bound)")
    cache.add_argument("action", choices=("info", "clear"), help="info: entries and size per stage; clear: delete entries")
    from .cache import stages

    cache.add_argument("--stage", choices=stages(), help="with clear: only this stage's entries")
    cache.add_argument("--cache-dir", help=f"stage cache folder (default {default_cache_dir()})")
    cache.set_defaults(func=cmd_cache)
    html = sub.add_parser("html", help="write DIR/atlas.html, a self-contained web atlas of an exported layout")
    html.add_argument("dir", help="a folder written by 'atlas build --out DIR'")
    html.add_argument("--output", help="where to write the page (default DIR/atlas.html)")
    html.add_argument("--title", help="page title")
    html.set_defaults(func=cmd_html)
    explain = sub.add_parser("explain", help="why an item's neighbours are its neighbours: the people who have both")
    explain.add_argument("dir", help="a folder written by 'atlas build --out DIR'")
    explain.add_argument("item", help="the item's id, or its name (any case)")
    explain.add_argument("--top", type=int, default=10, help="how many neighbours to list (default 10)")
    explain.add_argument("--json", action="store_true", help="print JSON instead of lines")
    explain.set_defaults(func=cmd_explain)
    diff = sub.add_parser("diff", help="what changed between two exports: new, gone and moved items, region changes (diff.parquet, diff.json, diff.html)")
    diff.add_argument("old", help="the earlier export folder")
    diff.add_argument("new", help="the later export folder (aligned to OLD here when it was not built with --align-to OLD)")
    diff.add_argument("--out", required=True, help="folder for diff.parquet, diff.json and diff.html")
    diff.add_argument("--title", help="title of diff.html")
    diff.add_argument("--quiet", action="store_true", help="no summary")
    diff.set_defaults(func=cmd_diff)
    # `atlas app`: serve the notebook app; it refuses to share this computer's files by accident.
    from .app.server import add_app_arguments, cmd_app

    app = sub.add_parser("app", help="serve the notebook app (add --data-root DIR or --uploads-only to share it)")
    add_app_arguments(app)
    app.set_defaults(func=cmd_app)
    return parser


def _leave_if_stages_run(code: int) -> None:
    """Exit at once, with ``code``, when stages computed side by side still run in their threads.

    A Ctrl-C does not wait for the layouts (each may run for minutes), but their threads are then
    inside numba's or openTSNE's compiled code, and the interpreter's shutdown tears down the thread
    pools under them: the process could abort ("terminate called without an active exception")
    instead of exiting with ``code``. Nothing is left to write by then; the output is flushed."""
    if any(t.is_alive() and t.name.startswith(STAGE_THREAD_PREFIX) for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except AtlasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written.", file=sys.stderr)
        _leave_if_stages_run(130)
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
