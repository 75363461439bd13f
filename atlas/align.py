"""Stable rebuilds: a new map that keeps the geography of an earlier export (``--align-to DIR``).

1. ``read_anchor`` reads the earlier export's layout (item ids and positions);
2. ``match`` finds each current item's old position (shared items) or none (new items);
3. ``start_positions`` is the start layout every projection runs from: shared items at their old
   positions, each new item at the mean position of its graph neighbours that have one (repeated,
   so that new items next to new items are placed too), and any item still without a place
   where the embedding's principal components, fitted onto the old map, put it;
4. ``align_onto`` turns the finished layout onto the old map: the similarity transform
   (rotation, reflection, scale, shift) that best matches the shared items (Procrustes);
5. ``alignment_report`` measures how far the shared items moved, for the manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AtlasError, check_range
from .options import option
from .projections.base import fit_similarity

#: Passes that place new items from neighbours placed in the pass before.
PLACING_PASSES = 8
#: Items listed as having moved most.
MOST_MOVED = 10
#: A rebuild must share at least this many items with the map it is aligned to.
MIN_SHARED = 3


@dataclass(frozen=True)
class AlignParams:
    """How a rebuild aligned to an earlier map reports its items' moves."""

    moved_share: float = option(
        0.05, "--moved-share", "with --align-to: report the items that moved more than this share of the map's width (default 0.05)"
    )

    def __post_init__(self) -> None:
        check_range("--moved-share", self.moved_share, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Anchor:
    """The positions of an earlier export's items."""

    directory: str
    item_ids: np.ndarray  # str
    xy: np.ndarray  # float64, n × 2
    manifest: dict
    anyway: bool = False  # align even when the two builds share under half of their items

    @property
    def digest(self) -> str:
        h = hashlib.sha256("\0".join(self.item_ids.tolist()).encode())
        h.update(np.ascontiguousarray(self.xy, dtype=np.float64).tobytes())
        return h.hexdigest()[:20]


def read_anchor(directory: str | Path, *, anyway: bool = False) -> Anchor:
    """The layout of the export in ``directory`` (``layout.parquet``, else ``layout.csv``, its
    ids read as written: an item called ``NA`` or ``null`` is that item, not a missing one).
    With ``anyway``, ``match`` aligns to it even when the builds share under half their items."""
    folder = Path(directory).expanduser()
    fix = "give --align-to a folder written by 'atlas build --out DIR'"
    if not folder.is_dir():
        raise AtlasError(f"--align-to {str(directory)!r} is not a folder; {fix}.")
    parquet, csv = folder / "layout.parquet", folder / "layout.csv"
    path = parquet if parquet.is_file() else csv
    if not path.is_file():
        raise AtlasError(f"--align-to {str(directory)!r} holds no layout.parquet or layout.csv; {fix}.")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path, columns=None)
        else:
            frame = pd.read_csv(path, dtype={"item_id": str}, keep_default_na=False, na_values={"x": [""], "y": [""]})
    except Exception as exc:  # pyarrow and pandas raise many types for a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AtlasError(f"cannot read {path} ({reason}); {fix}.") from None
    missing = [c for c in ("item_id", "x", "y") if c not in frame.columns]
    if missing:
        raise AtlasError(f"{path} lacks the column(s) {', '.join(missing)}; {fix}.")
    if frame["item_id"].isna().any():  # read as text, a missing id would become the item "None" or "nan"
        raise AtlasError(f"{path} has an item with no item_id (row {int(frame['item_id'].isna().to_numpy().argmax()) + 1}); {fix}.")
    ids = frame["item_id"].astype(str).to_numpy()
    xy = frame[["x", "y"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if len(ids) == 0 or not np.all(np.isfinite(xy)):
        raise AtlasError(f"{path} has no items or positions that are not numbers; {fix}.")
    if len(set(ids)) != len(ids):
        raise AtlasError(f"{path} lists an item_id more than once; {fix}.")
    manifest = {}
    if (folder / "manifest.json").is_file():
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            manifest = {}
    return Anchor(str(folder.resolve()), ids, xy, manifest if isinstance(manifest, dict) else {}, anyway)


@dataclass(frozen=True, eq=False)
class AnchorMatch:
    """The current items against an anchor: ``rows[i]`` is item i's row in the anchor (-1: new)."""

    anchor: Anchor
    rows: np.ndarray

    @property
    def shared(self) -> np.ndarray:
        return self.rows >= 0

    @property
    def old_xy(self) -> np.ndarray:
        """The old positions of the shared items, in the current items' order."""
        return self.anchor.xy[self.rows[self.shared]]


#: The share of either build's items that must be on both maps for an alignment without --align-anyway.
MIN_OVERLAP = 0.5


def match(anchor: Anchor, item_ids: np.ndarray) -> AnchorMatch:
    """Which current items (``item_ids``) were on the anchor's map, and where."""
    position = pd.Index(anchor.item_ids)
    rows = position.get_indexer(np.asarray(item_ids).astype(str)).astype(np.int64)
    shared = int((rows >= 0).sum())
    if shared < MIN_SHARED:
        raise AtlasError(
            f"the map in {anchor.directory!r} shares {shared} item(s) with this build, too few to align to (at least {MIN_SHARED}); "
            "check that both builds use the same item ids, or leave --align-to out."
        )
    old, new = len(anchor.item_ids), len(rows)
    if not anchor.anyway and (shared < MIN_OVERLAP * old or shared < MIN_OVERLAP * new):
        raise AtlasError(
            f"the map in {anchor.directory!r} shares {shared:,} items with this build: {shared / old:.0%} of its {old:,} and "
            f"{shared / new:.0%} of this build's {new:,}, under half of one side, so it would steer a mostly different map; "
            "add --align-anyway to align to it all the same, or leave --align-to out."
        )
    return AnchorMatch(anchor, rows)


def start_positions(found: AnchorMatch, neighbors: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """The start layout (n × 2) for a rebuild: old positions for shared items, new items among
    their graph ``neighbors`` (n × k indices, -1 = none), the rest from the embedding's ``coords``."""
    n = neighbors.shape[0]
    start = np.zeros((n, 2), dtype=np.float64)
    placed = found.shared.copy()
    start[placed] = found.old_xy
    valid = neighbors >= 0
    safe = np.where(valid, neighbors, 0)
    for _ in range(PLACING_PASSES):
        if placed.all():
            break
        usable = valid & placed[safe]
        counts = usable.sum(axis=1)
        todo = (~placed) & (counts > 0)
        if not todo.any():
            break
        sums = (start[safe] * usable[:, :, None]).sum(axis=1)
        start[todo] = sums[todo] / counts[todo, None]
        placed = placed | todo
    if not placed.all():  # no placed neighbour anywhere near: where the embedding puts them
        x = coords.astype(np.float64) - coords.mean(axis=0)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        pcs = x @ vt[:2].T if vt.shape[0] >= 2 else np.c_[x[:, :1], np.zeros(n)]
        onto = fit_similarity(pcs[found.shared], found.old_xy)
        start[~placed] = onto(pcs[~placed])
    return start


def start_digest(start: np.ndarray) -> str:
    """A short digest of a start layout, for the cache key of a layout made from it."""
    return hashlib.sha256(np.ascontiguousarray(start, dtype=np.float64).tobytes()).hexdigest()[:20]


def align_onto(xy: np.ndarray, found: AnchorMatch) -> np.ndarray:
    """``xy`` turned onto the old map by the similarity transform fitted on the shared items."""
    onto = fit_similarity(np.asarray(xy, dtype=np.float64)[found.shared], found.old_xy)
    return onto(xy)


def map_width(xy: np.ndarray) -> float:
    """The larger side of the map's bounding box."""
    return float(np.max(xy.max(axis=0) - xy.min(axis=0))) if len(xy) else 0.0


def map_diameter(xy: np.ndarray) -> float:
    """The largest distance between two points of the map (over its convex hull)."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = xy[ConvexHull(xy).vertices]
    except (QhullError, ValueError):  # fewer than three points, or all on a line
        hull = xy
    diff = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((diff**2).sum(axis=2)).max()) if len(hull) else 0.0


def displacements(xy: np.ndarray, found: AnchorMatch) -> np.ndarray:
    """How far each shared item lies from its old position (map units of the old map)."""
    return np.linalg.norm(np.asarray(xy, dtype=np.float64)[found.shared] - found.old_xy, axis=1)


def alignment_report(xy: np.ndarray, found: AnchorMatch, names: np.ndarray, ids: np.ndarray, params: AlignParams) -> dict:
    """How the rebuilt map ``xy`` (already aligned) moved against the old one, for the manifest."""
    old = found.anchor.xy
    diameter, width = map_diameter(old), map_width(old)
    moved = displacements(xy, found)
    shared = np.flatnonzero(found.shared)
    order = np.argsort(-moved, kind="stable")[:MOST_MOVED]
    manifest = found.anchor.manifest
    return {
        "directory": found.anchor.directory,
        "created": manifest.get("created"),
        "projection": manifest.get("projection"),
        "input_fingerprint": (manifest.get("input") or {}).get("fingerprint") if isinstance(manifest.get("input"), dict) else None,
        "items": int(len(xy)),
        "shared_items": int(found.shared.sum()),
        "new_items": int((~found.shared).sum()),
        "dropped_items": int(len(old) - found.shared.sum()),
        "diameter": diameter,
        "width": width,
        "median_displacement": float(np.median(moved) / diameter) if diameter > 0 else 0.0,
        "p90_displacement": float(np.quantile(moved, 0.9) / diameter) if diameter > 0 else 0.0,
        "moved_share": params.moved_share,
        "moved_items": int((moved > params.moved_share * width).sum()),
        "most_moved": [
            {"item_id": str(ids[shared[i]]), "name": str(names[shared[i]]), "moved": float(moved[i] / width) if width > 0 else 0.0}
            for i in order
        ],
    }


def report_lines(report: dict) -> list[str]:
    """The alignment report in a few lines, for the command line."""
    lines = [
        f"aligned to {report['directory']}: {report['shared_items']:,} shared items, {report['new_items']:,} new, "
        f"{report['dropped_items']:,} gone; median move {report['median_displacement']:.1%} of the map's diameter",
        f"{report['moved_items']:,} items moved more than {report['moved_share']:.0%} of the map's width",
    ]
    if report["most_moved"]:
        lines.append("moved most: " + ", ".join(f"{m['name']} ({m['moved']:.0%})" for m in report["most_moved"][:5]))
    return lines
