"""Stage 8 — export: the chosen layout, the item graph and a manifest that can rebuild them.

Files written into the output folder:

* ``layout.csv`` and ``layout.parquet`` — one row per item: ``item_id``, ``x``, ``y``,
  ``n_users``, ``region`` (the name of its region at the finest level, empty where it is in
  none), ``faithfulness`` (the share of its 10 first graph neighbours among its 10 nearest on
  this map, :mod:`atlas.explain`) and the metadata columns;
* ``regions.parquet`` — the named regions (:mod:`atlas.regions`): ``region_id``, ``level``
  (0 = coarsest), ``name``, the label's place ``x``/``y``, ``n_items``, ``parent_id`` (the
  region one level up, -1 if none), ``top_value`` and its ``share`` in the region,
  ``share_overall`` on the whole map and ``lift`` (their ratio);
* ``neighbors.parquet`` — each item's graph neighbours: ``item_id``, ``neighbor_id``,
  ``rank`` (0 = strongest), ``weight`` (the similarity score), and why they are neighbours
  (:mod:`atlas.explain`): ``shared_users``, ``users_item``, ``users_neighbor`` and ``lift``;
* ``manifest.json`` — every parameter and seed, library versions, the input fingerprint,
  stage timings, metrics and counts, the regions' names with their lift, and, for a build
  aligned to an earlier export (``--align-to``), which one and how far its items moved.

and, on request, ``atlas.html`` (the web atlas, :mod:`atlas.web`).

The output folder changes as one unit. Every file is first written into a temporary folder
beside it; then our old files (``OWNED_FILES``) move into a backup folder, the new ones move
in, and the backup is deleted. Any failure or interrupt on the way puts everything back, so
the folder holds either the whole new export or exactly what it held before. Files of ours that
the new export does not write (an old page) go with the swap; files atlas did not write are
never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import math
import os
import platform
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AtlasError
from .explain import faithfulness, graph_pairs, neighbor_reasons, torn_summary
from .ingest import Dataset, is_nested
from .result import BuildResult
from .plan import argv_of, command_line
from .sources import source_of
from .profiles import item_frame, item_names
from .regions import Regions, find_regions, no_regions
from .web.html import HTML_NAME as PAGE
from .web.html import write_html

log = logging.getLogger(__name__)

#: What every build runs; each embedding method and projection adds the libraries it declares
#: (``EmbeddingMethod.libraries``, ``Projection.libraries``).
LIBRARIES = ("atlas-maps", "numpy", "scipy", "pandas", "numba", "scikit-learn", "pyarrow", "igraph")
# Every file atlas writes into an export folder, and the only ones an export replaces or removes
# there; anything else in the folder is left alone. A new output file is one more name here.
OWNED_FILES = ("layout.csv", "layout.parquet", "regions.parquet", "neighbors.parquet", "manifest.json", PAGE)
FILES = tuple(name for name in OWNED_FILES if name != PAGE)  # what every export writes; the page is optional


def library_versions() -> dict[str, str | None]:
    from . import embeddings, projections

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in dict.fromkeys((*LIBRARIES, *embeddings.libraries(), *projections.libraries())):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


def _layout(result: BuildResult, projection: str):
    if projection not in result.layouts:
        have = ", ".join(result.layouts)
        raise AtlasError(f"projection {projection!r} was not computed in this build; choose one of: {have}.")
    return result.layouts[projection]


def layout_table(
    result: BuildResult, data: Dataset | None, projection: str, regions: Regions | None = None, faithful: np.ndarray | None = None
) -> pd.DataFrame:
    """The layout as a table: item_id, x, y, n_users, region (with ``regions``), faithfulness
    (``faithful`` when the build measured it already), then the metadata columns."""
    items = item_frame(result.profiles, data)
    xy = _layout(result, projection).xy
    parts = [items[["item_id"]], pd.DataFrame({"x": xy[:, 0].astype(np.float64), "y": xy[:, 1].astype(np.float64)}), items[["n_users"]]]
    if regions is not None and regions.levels:
        parts.append(pd.DataFrame({"region": regions.item_region_names()}))
    parts.append(pd.DataFrame({"faithfulness": faithful if faithful is not None else layout_faithfulness(result, projection)}))
    parts.append(items.drop(columns=["item_id", "n_users"]))
    return pd.concat(parts, axis=1)


def regions_of(result: BuildResult, data: Dataset | None, projection: str) -> Regions:
    """The regions of the exported layout: the build's, or found now for a result made without."""
    if projection in result.regions:
        return result.regions[projection]
    params = result.params.regions
    xy = _layout(result, projection).xy
    if params.levels == 0:
        return no_regions(xy.shape[0])
    skip = ("item_id", "n_users", None if data is None else data.name_column)
    names = item_names(result.profiles, data)
    values = params.values(item_frame(result.profiles, data), names, skip)
    return find_regions(xy, params, values=values, names=names, popularity=result.profiles.item_users, graph=result.graph.adjacency())


def _csv_cell(value):
    """A list or record as one readable CSV field: list items joined with "|", records as JSON."""
    if value is None or isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return json.dumps(_json_safe(value), ensure_ascii=False)
    return "|".join("" if v is None else str(v) for v in value)


def _csv_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with list/record columns (kept as such in Parquet) written out as text."""
    nested = [c for c in table.columns if is_nested(table[c])]
    if not nested:
        return table
    table = table.copy()
    for c in nested:
        table[c] = table[c].map(_csv_cell)
    return table


def layout_faithfulness(result: BuildResult, projection: str) -> np.ndarray:
    """Per item, the share of its graph neighbours the layout of ``projection`` keeps near it."""
    return faithfulness(result.graph.neighbors, _layout(result, projection).xy)


def neighbors_table(result: BuildResult) -> pd.DataFrame:
    graph = result.graph
    ids = result.profiles.item_ids.astype(str)
    rows, cols, ranks = graph_pairs(graph.neighbors)
    table = pd.DataFrame(
        {
            "item_id": ids[rows],
            "neighbor_id": ids[cols],
            "rank": ranks.astype(np.int32),
            "weight": graph.neighbor_score[rows, ranks].astype(np.float64),
        }
    )
    reasons = neighbor_reasons(result.profiles, result.candidates, rows, cols, ranks, result.params.cooccurrence.pair_weight)
    return table if reasons is None else table.assign(**reasons.columns())


def rebuild_command(result: BuildResult, data: Dataset | None, projection: str) -> dict:
    """The ``atlas build`` words that make this layout again, or why there are none."""
    params = result.params
    if params.exported != projection:
        params = dataclasses.replace(params, export=projection)
    source = source_of(data)
    if source is not None and result.alignment:
        source = dataclasses.replace(source, align_to=result.alignment["directory"])
    if source is None:
        return {"argv": None, "command": None, "argv_note": "the data was made in Python, not read from a file"}
    try:
        words = argv_of(params, source)
    except AtlasError as exc:
        return {"argv": None, "command": None, "argv_note": str(exc)}
    return {"argv": words, "command": command_line([*words, "--out", "OUT"])}


def thread_record(result: BuildResult) -> dict:
    """The threads each stage computed with (cached stages are absent), what forced them, and the
    stages that always run with a fixed count — none of which changes the exported bytes."""
    from .cores import THREADS_ENV, fixed_stages, forced_threads

    return {"stages": dict(getattr(result, "threads", {}) or {}), "forced": forced_threads(), "forced_by": THREADS_ENV, "fixed": fixed_stages()}


def build_warnings(result) -> list[str]:
    """What a person must know about a finished build (the manifest's ``warnings``)."""
    fallback = int(result.graph.summary()["fallback_items"])
    if not fallback:
        return []
    return [
        f"{fallback:,} of {result.graph.n_items:,} items had too few partners with a positive score among their "
        f"{result.params.graph.n_neighbors} neighbours and were completed with fall-back neighbours (by raw count); "
        "the manifest records them as counts.graph_fallback_items"
    ]


def build_manifest(
    result: BuildResult, data: Dataset | None, projection: str, extra: dict | None = None, regions: Regions | None = None, faithful: np.ndarray | None = None
) -> dict:
    regions = regions if regions is not None else regions_of(result, data, projection)
    faithful = faithful if faithful is not None else layout_faithfulness(result, projection)
    manifest = {
        "atlas_manifest_version": 1,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "projection": projection,
        "projections": list(result.layouts),
        "aligned_to": next(iter(result.layouts)),
        "name_column": None if data is None else data.name_column,
        "label_column": None if data is None else data.label_column,
        "input": {
            "fingerprint": None if data is None else data.fingerprint,
            "interactions_fingerprint": None if data is None else data.interactions.fingerprint,
            "source": None if data is None else data.source,
            "dropped_rows": None if data is None else getattr(data.interactions, "dropped", None),  # None: read later, by the profiles stage
            "notes": [] if data is None else list(data.all_notes),
        },
        "params": result.params.to_dict(),
        **rebuild_command(result, data, projection),
        "counts": {**result.profiles.summary(), **{f"graph_{k}": v for k, v in result.graph.summary().items()}},
        "embedding": {"dim": result.embedding.dim, "distortion": result.embedding.distortion},
        "metrics": result.metrics,
        "regions": regions.summary(),
        "faithfulness": torn_summary(faithful),
        "alignment": result.alignment,
        "timings": result.timings,
        "threads": thread_record(result),
        "versions": library_versions(),
        "files": list(FILES),
        "warnings": build_warnings(result),
    }
    if extra:
        manifest.update(extra)
    return _json_safe(manifest)


def export_layout(
    out_dir: str | os.PathLike,
    result: BuildResult,
    data: Dataset | None = None,
    *,
    projection: str | None = None,
    extra_manifest: dict | None = None,
    page: bool = False,
    title: str | None = None,
    faithful: np.ndarray | None = None,
) -> dict[str, Path]:
    """Write the layout of ``projection`` (default: the build's exported one) and its companions
    (``faithful``: the layout's per-item faithfulness, when the build measured it already).

    With ``page`` the web atlas (``atlas.html``, titled ``title``) is made too, from the same
    staged files. Everything is swapped into ``out_dir`` at once: afterwards the folder holds
    the whole new export, or, after any failure or interrupt, exactly what it held before.
    """
    projection = projection or result.params.exported
    out = Path(out_dir)
    check_output_folder(out)
    regions = regions_of(result, data, projection)
    table = layout_table(result, data, projection, regions, faithful)
    neighbors = neighbors_table(result)
    manifest = build_manifest(result, data, projection, extra_manifest, regions, table["faithfulness"].to_numpy())

    def stage(folder: Path) -> None:
        _csv_table(table).to_csv(folder / "layout.csv", index=False)
        table.to_parquet(folder / "layout.parquet", index=False)
        regions.table.to_parquet(folder / "regions.parquet", index=False)
        neighbors.to_parquet(folder / "neighbors.parquet", index=False)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        if page:
            write_html(folder, title=title)

    names = write_folder(out, stage)
    return {name: out / name for name in names}


def check_output_folder(out_dir: str | os.PathLike) -> None:
    """Refuse an output folder that cannot be written, before any work is done for it.

    The folder may not exist yet: then the nearest folder that exists above it must let us
    create it. An existing folder must be writable and hold no folder where a file of ours goes.
    """
    shown = str(out_dir)
    out = Path(os.path.realpath(out_dir))
    if out.exists() and not out.is_dir():
        raise AtlasError(f"output {shown!r} exists and is not a folder; choose another --out.")
    if out.is_dir():
        if not _writable(out):
            raise AtlasError(f"output folder {shown!r} is read-only for you; make it writable or choose another --out.")
        for name in OWNED_FILES:
            if (out / name).is_dir():
                raise AtlasError(f"output folder {shown!r} holds a folder named {name!r}, where the export writes a file; move it or choose another --out.")
        return
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise AtlasError(f"output {shown!r} cannot be made: {str(ancestor)!r} is a file, not a folder; choose another --out.")
    if not _writable(ancestor):
        raise AtlasError(f"output {shown!r} cannot be made: the folder {str(ancestor)!r} is read-only for you; choose a writable --out.")


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def write_folder(out_dir: str | os.PathLike, stage: Callable[[Path], None]) -> list[str]:
    """Make ``out_dir``'s files of ours exactly those ``stage(folder)`` writes, as one unit.

    ``stage`` writes into an empty temporary folder beside ``out_dir`` (inside it when only it
    is writable, as for ``--out .`` in a home folder); the files it wrote (only names from
    ``OWNED_FILES``) are then swapped in by :func:`_swap`. Returns their names.
    """
    shown = str(out_dir)
    out = Path(os.path.realpath(out_dir))
    created: list[Path] = []
    staging = None
    try:
        for folder in reversed([out, *out.parents]):
            if not folder.exists():
                folder.mkdir()
                created.append(folder)
        scratch = out.parent if _writable(out.parent) else out
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=scratch))
        stage(staging)
        strays = sorted(p.name for p in staging.iterdir() if p.name not in OWNED_FILES)
        if strays:
            raise RuntimeError(f"the export wrote files that are not in OWNED_FILES: {', '.join(strays)}")
        names = [name for name in OWNED_FILES if (staging / name).exists()]
        try:
            _swap(staging, out, names, scratch)
        except FileNotFoundError:  # a file of ours went away between our look and our move
            raise AtlasError(
                f"another build finished writing into {shown!r} while this one was putting its files there; "
                "the folder holds that build's export, whole. Run this one again to replace it, or give it another --out."
            ) from None
        created.clear()
        return names
    except OSError as exc:
        raise AtlasError(f"cannot write the export into {shown!r} ({exc.strerror or exc}); check free space and permissions.") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for folder in reversed(created):  # a failed export leaves no new folder either
            with contextlib.suppress(OSError):
                folder.rmdir()


def _swap(staging: Path, out: Path, names: list[str], scratch: Path) -> None:
    """Move our old files out of ``out`` into a backup, the staged ``names`` in; undo on any failure.

    SIGINT is held meanwhile: a Ctrl-C during the swap undoes it whole and then stops the
    program, rather than stopping it between two renames.
    """
    backup = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=scratch))
    moved: list[str] = []
    placed: list[str] = []
    settled = False  # committed, or undone: either way the backup is not needed
    try:
        with _interrupts_held() as held:
            try:
                for name in OWNED_FILES:
                    if (out / name).is_file() or (out / name).is_symlink():
                        os.replace(out / name, backup / name)
                        moved.append(name)
                for name in names:
                    os.replace(staging / name, out / name)
                    placed.append(name)
                if held:
                    held.clear()
                    raise KeyboardInterrupt
            except BaseException:
                settled = _undo(staging, out, backup, moved, placed)
                raise
            settled = True
    finally:
        if settled:
            shutil.rmtree(backup, ignore_errors=True)
        else:
            log.error("the export into %s failed and could not be undone; the previous files are in %s", out, backup)


def _undo(staging: Path, out: Path, backup: Path, moved: list[str], placed: list[str]) -> bool:
    """Put ``out`` back as it was; False when some file could not be moved back."""
    ok = True
    for name in reversed(placed):
        try:
            os.replace(out / name, staging / name)
        except OSError:
            try:
                os.unlink(out / name)
            except OSError:
                ok = ok and name in moved  # then the old file, moved back below, replaces it
    for name in reversed(moved):
        try:
            os.replace(backup / name, out / name)
        except OSError:
            ok = False
    return ok


@contextlib.contextmanager
def _interrupts_held():
    """Collect SIGINTs instead of raising them; any left uncollected are raised again at the end.

    Only the main thread can change signal handlers; elsewhere (a notebook's worker thread) this
    holds nothing, and the swap relies on undoing itself on the KeyboardInterrupt alone.
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)


def read_layout(out_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read an export back: (layout table, neighbours table, manifest)."""
    out = Path(out_dir)
    missing = [name for name in ("layout.parquet", "neighbors.parquet", "manifest.json") if not (out / name).exists()]
    if missing:
        raise AtlasError(f"{str(out)!r} is not an atlas export (missing {', '.join(missing)}); run 'atlas build INPUT --out {out}' first.")
    return (
        pd.read_parquet(out / "layout.parquet"),
        pd.read_parquet(out / "neighbors.parquet"),
        json.loads((out / "manifest.json").read_text(encoding="utf-8")),
    )
