"""Stage 8 — export: the chosen layout, the item graph and a manifest that can rebuild them.

Files written into the output folder:

* ``layout.csv`` and ``layout.parquet`` — one row per item: ``item_id``, ``x``, ``y``,
  ``n_users`` and the metadata columns;
* ``neighbors.parquet`` — each item's graph neighbours: ``item_id``, ``neighbor_id``,
  ``rank`` (0 = strongest), ``weight`` (the similarity score);
* ``manifest.json`` — every parameter and seed, library versions, the input fingerprint,
  stage timings, metrics and counts.

All files are first written into a temporary folder beside the output and moved in only when
every one of them is complete, so a failure leaves no half-written file behind.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AtlasError
from .ingest import Dataset
from .pipeline import BuildResult
from .plan import argv_of, command_line, source_of
from .profiles import item_frame

LIBRARIES = ("atlas-maps", "numpy", "scipy", "pandas", "numba", "pymde", "torch", "umap-learn", "openTSNE", "scikit-learn", "pyarrow")
FILES = ("layout.csv", "layout.parquet", "neighbors.parquet", "manifest.json")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
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


def layout_table(result: BuildResult, data: Dataset | None, projection: str) -> pd.DataFrame:
    """The layout as a table: item_id, x, y, n_users, then the metadata columns."""
    if projection not in result.layouts:
        have = ", ".join(result.layouts)
        raise AtlasError(f"projection {projection!r} was not computed in this build; choose one of: {have}.")
    items = item_frame(result.profiles, data)
    xy = result.layouts[projection].xy
    table = pd.concat(
        [items[["item_id"]], pd.DataFrame({"x": xy[:, 0].astype(np.float64), "y": xy[:, 1].astype(np.float64)}), items.drop(columns=["item_id"])],
        axis=1,
    )
    return table


def neighbors_table(result: BuildResult) -> pd.DataFrame:
    graph = result.graph
    ids = result.profiles.item_ids.astype(str)
    n, k = graph.neighbors.shape
    rows = np.repeat(np.arange(n), k)
    cols = graph.neighbors.ravel()
    valid = cols >= 0
    return pd.DataFrame(
        {
            "item_id": ids[rows[valid]],
            "neighbor_id": ids[cols[valid]],
            "rank": np.tile(np.arange(k), n)[valid].astype(np.int32),
            "weight": graph.neighbor_score.ravel()[valid].astype(np.float64),
        }
    )


def rebuild_command(result: BuildResult, data: Dataset | None, projection: str) -> dict:
    """The ``atlas build`` words that make this layout again, or why there are none."""
    params = result.params
    if params.exported != projection:
        params = dataclasses.replace(params, export=projection)
    source = source_of(data)
    if source is None:
        return {"argv": None, "command": None, "argv_note": "the data was made in Python, not read from a file"}
    try:
        words = argv_of(params, source)
    except AtlasError as exc:
        return {"argv": None, "command": None, "argv_note": str(exc)}
    return {"argv": words, "command": command_line([*words, "--out", "OUT"])}


def build_manifest(result: BuildResult, data: Dataset | None, projection: str, extra: dict | None = None) -> dict:
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
        },
        "params": result.params.to_dict(),
        **rebuild_command(result, data, projection),
        "counts": {**result.profiles.summary(), **{f"graph_{k}": v for k, v in result.graph.summary().items()}},
        "embedding": {"dim": result.embedding.dim, "distortion": result.embedding.distortion},
        "metrics": result.metrics,
        "timings": result.timings,
        "versions": library_versions(),
        "files": list(FILES),
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
) -> dict[str, Path]:
    """Write the layout of ``projection`` (default: the build's exported one) and its companions."""
    projection = projection or result.params.exported
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AtlasError(f"output {str(out)!r} exists and is not a folder; choose another --out.")
    table = layout_table(result, data, projection)
    neighbors = neighbors_table(result)
    manifest = build_manifest(result, data, projection, extra_manifest)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    except OSError as exc:
        raise AtlasError(f"cannot create the output folder {str(out)!r} ({exc.strerror}); choose a writable --out.") from None
    try:
        table.to_csv(staging / "layout.csv", index=False)
        table.to_parquet(staging / "layout.parquet", index=False)
        neighbors.to_parquet(staging / "neighbors.parquet", index=False)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name in FILES:
            os.replace(staging / name, out / name)
            paths[name] = out / name
        return paths
    except OSError as exc:
        raise AtlasError(f"cannot write the export into {str(out)!r} ({exc.strerror or exc}); check free space and permissions.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
