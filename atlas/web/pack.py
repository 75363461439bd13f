"""Read an exported layout directory and pack it into the compact payload the web page loads.

The payload is one byte string: a little header (4-byte length + UTF-8 JSON describing every
array) followed by the binary arrays themselves, each aligned to 8 bytes (the forms are in
:mod:`atlas.web.encode`). Items are stored in popularity order (index 0 is the item with the
most users). Item ids and names travel as UTF-8 text columns, not JSON lists, so that the page
decodes only the names it shows; neighbour lists are coded by place on the map; each item
carries the zoom level from which it may be labelled.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from atlas.columns import MAX_COLOURS, MULTI, NUMBER, TEXT, column_kind, distinctive_choice, value_counts, value_sets
from atlas.regions import OUTSIDE, REGION_COLUMN
from atlas.errors import AtlasError
from atlas.web.encode import Blob, index_dtype, label_levels, pack_neighbors, pack_texts

# The names other modules (the diff page, tests) know these by.
_Blob, _index_dtype = Blob, index_dtype

logger = logging.getLogger(__name__)

LAYOUT_COLUMNS = ("item_id", "x", "y", "n_users")
NEIGHBOR_COLUMNS = ("item_id", "neighbor_id", "rank")
REBUILD = "run 'atlas build ... --out {dir}' first"

# Integers this small survive a trip through float32 exactly.
FLOAT32_EXACT = 2**24

# The first view: the box holding the middle 98% of x and of y ("the bulk"), grown on each side
# by 30% of its size. Items beyond it (far outlier islands) stay reachable by panning,
# zooming out, or the "show everything" key; they no longer shrink the whole map to a corner.
HOME_QUANTILE = 0.01
HOME_MARGIN = 0.3


@dataclass(frozen=True)
class Export:
    """The parts of an ``atlas build`` output directory the web page needs."""

    directory: Path
    layout: pd.DataFrame
    neighbors: pd.DataFrame
    manifest: dict
    regions: pd.DataFrame | None = None  # regions.parquet (exports before regions lack it)


def _rebuild(directory: Path) -> str:
    return REBUILD.format(dir=directory)


def _read_manifest(directory: Path) -> dict:
    path = directory / "manifest.json"
    if not path.is_file():
        raise AtlasError(f"{path} is missing; {_rebuild(directory)}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise AtlasError(f"{path} is not readable JSON ({exc}); {_rebuild(directory)} again.") from None
    if not isinstance(manifest, dict):
        raise AtlasError(f"{path} must hold a JSON object, not {type(manifest).__name__}; {_rebuild(directory)}.")
    return manifest


def _read_table(directory: Path, stem: str) -> tuple[pd.DataFrame, Path]:
    """Read ``stem.parquet`` (or ``stem.csv`` when only that exists)."""
    parquet, csv = directory / f"{stem}.parquet", directory / f"{stem}.csv"
    path = parquet if parquet.is_file() or not csv.is_file() else csv
    if not path.is_file():
        raise AtlasError(f"{parquet} is missing; {_rebuild(directory)}.")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            # read as written: only an empty field is missing (an item called NA is an item)
            frame = pd.read_csv(path, dtype={"item_id": str, "neighbor_id": str}, keep_default_na=False, na_values=[""])
    except Exception as exc:  # pyarrow and pandas raise many types for a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AtlasError(f"Could not read {path} ({reason}); {_rebuild(directory)} again.") from None
    return frame, path


def _require_columns(frame: pd.DataFrame, path: Path, needed: tuple[str, ...], directory: Path) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise AtlasError(
            f"{path} lacks the column(s) {names} (it needs {', '.join(needed)}); {_rebuild(directory)} again."
        )


def _check_layout(layout: pd.DataFrame, path: Path, directory: Path) -> pd.DataFrame:
    _require_columns(layout, path, LAYOUT_COLUMNS, directory)
    if len(layout) == 0:
        raise AtlasError(f"{path} has no items; {_rebuild(directory)} with data that keeps some items.")
    if layout["item_id"].isna().any():
        raise AtlasError(f"{path} has items without an item_id; {_rebuild(directory)} again.")
    layout = layout.assign(item_id=layout["item_id"].astype(str))
    duplicated = layout["item_id"].duplicated()
    if duplicated.any():
        first = layout["item_id"][duplicated].iloc[0]
        raise AtlasError(f"{path} lists item_id {first!r} more than once; {_rebuild(directory)} again.")
    for column in ("x", "y", "n_users"):
        values = pd.to_numeric(layout[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            where = layout["item_id"][bad].iloc[0]
            raise AtlasError(
                f"{path} has {int(bad.sum())} missing or non-numeric value(s) in column {column!r} "
                f"(first at item {where!r}); {_rebuild(directory)} again."
            )
        layout[column] = values.astype(float)
    if (layout["n_users"] < 0).any():
        raise AtlasError(f"{path} has negative n_users counts; {_rebuild(directory)} again.")
    return layout


def read_export(out_dir: str | Path) -> Export:
    """Read and check the layout, neighbours and manifest an ``atlas build --out DIR`` wrote."""
    directory = Path(out_dir)
    if not directory.is_dir():
        raise AtlasError(f"No export directory at {directory}; {_rebuild(directory)}.")
    manifest = _read_manifest(directory)
    layout, layout_path = _read_table(directory, "layout")
    layout = _check_layout(layout, layout_path, directory)
    neighbors, neighbors_path = _read_table(directory, "neighbors")
    _require_columns(neighbors, neighbors_path, NEIGHBOR_COLUMNS, directory)
    name_column = manifest.get("name_column")
    if name_column is not None and name_column not in layout.columns:
        raise AtlasError(
            f"{directory / 'manifest.json'} names name_column {name_column!r}, which is not a column of "
            f"{layout_path.name}; set it to one of {', '.join(map(repr, layout.columns))} or null."
        )
    return Export(directory, layout.reset_index(drop=True), neighbors, manifest, _read_regions(directory))


REGION_COLUMNS = ("region_id", "level", "name", "x", "y", "n_items")


def _read_regions(directory: Path) -> pd.DataFrame | None:
    """The named regions, when the export has them: rows with a name and a finite place."""
    path = directory / "regions.parquet"
    if not path.is_file():
        return None
    try:
        regions = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AtlasError(f"Could not read {path} ({reason}); {_rebuild(directory)} again.") from None
    _require_columns(regions, path, REGION_COLUMNS, directory)
    regions = regions.dropna(subset=["name", "x", "y", "level"])
    places = regions[["x", "y"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    return regions[np.isfinite(places).all(axis=1)].reset_index(drop=True)


def _pack_regions(regions: pd.DataFrame | None) -> list[dict]:
    """Region labels for the page, coarsest level first and the biggest first within a level."""
    if regions is None or regions.empty:
        return []
    ordered = regions.sort_values(["level", "n_items", "region_id"], ascending=[True, False, True], kind="stable")
    return [
        {"id": int(r.region_id), "level": int(r.level), "name": str(r.name), "x": float(r.x), "y": float(r.y), "count": int(r.n_items)}
        for r in ordered.itertuples()
    ]


def _as_text(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _pack_field(name: str, column: pd.Series, blob: Blob, neighbors: sparse.csr_matrix | None = None) -> dict | None:
    """Describe one metadata column: a number, a category, a set of values (all three
    colourable) or free text, by the rule of :mod:`atlas.columns` that the app follows too.

    A category's table lists its values from the most to the least common (ties by name), the
    order in which ``columns.colour_values`` gives them colours. A set of values is packed in
    compressed-row form: item i holds ``table[codes[k] - 1]`` for ``offsets[i] <= k <
    offsets[i + 1]``, in the item's own order, so the page can colour by one value; ``pick``
    holds each item's most distinctive value among the ``MAX_COLOURS`` most common (its code, 0
    for none: ``columns.distinctive_choice`` in the item's ``neighbors``), the app's default
    colour. A category packed from the ``region`` column calls items without a value "outside
    any region" (``absent``).
    """
    n = len(column)
    kind = column_kind(column)
    if name == "faithfulness" and pd.api.types.is_float_dtype(column):
        kind = NUMBER  # a share of 0..1 in tenths: a ramp, although it takes few values
    if pd.api.types.is_bool_dtype(column):
        column = column.map(lambda v: None if pd.isna(v) else ("true" if v else "false"))
    if kind == NUMBER:
        values = column.to_numpy(dtype=float, na_value=np.nan)
        present = values[np.isfinite(values)]
        if present.size == 0:
            return None
        integer = bool(np.all(present == np.round(present)))
        exact32 = integer and float(np.abs(present).max()) < FLOAT32_EXACT
        dtype = np.float32 if exact32 or not integer and np.all(np.abs(present) < 3e38) else np.float64
        return {"name": name, "kind": "number", "integer": integer, "values": blob.add(values.astype(dtype))}
    if kind == MULTI:
        counts = value_counts(column)
        if not counts:
            return None
        lookup = {value: code for code, (value, _) in enumerate(counts, start=1)}
        sets = [list(dict.fromkeys(values)) for values in value_sets(column)]
        offsets = np.zeros(n + 1, dtype=np.uint32)
        offsets[1:] = np.cumsum([len(values) for values in sets])
        codes = np.fromiter((lookup[v] for values in sets for v in values), dtype=np.int64, count=int(offsets[-1]))
        chosen = distinctive_choice(sets, [value for value, _ in counts[:MAX_COLOURS]], neighbors)
        pick = np.fromiter((0 if v is None else lookup[v] for v in chosen), dtype=np.int64, count=n)
        return {
            "pick": blob.add(pick.astype(index_dtype(len(counts)))),
            "name": name,
            "kind": "multi",
            "table": [value for value, _ in counts],
            "offsets": blob.add(offsets),
            "codes": blob.add(codes.astype(index_dtype(len(counts)))),
        }
    texts = [_as_text(v) for v in column.tolist()]
    if all(t is None for t in texts):
        return None
    if kind == TEXT:  # a missing value is packed as "" (the page shows neither)
        return {"name": name, "kind": "text", "values": pack_texts([t or "" for t in texts], blob)}
    present = pd.Series([t for t in texts if t is not None], dtype=object).value_counts()
    distinct = sorted(present.index, key=lambda value: (-present[value], value))
    lookup = {value: code for code, value in enumerate(distinct, start=1)}
    codes = np.fromiter((lookup.get(t, 0) if t is not None else 0 for t in texts), dtype=np.int64, count=n)
    return {
        "name": name,
        "kind": "category",
        **({"absent": OUTSIDE} if name == REGION_COLUMN else {}),
        "table": [str(v) for v in distinct],
        "codes": blob.add(codes.astype(index_dtype(len(distinct)))),
    }


def _positions(values: pd.Series, ids: pa.Array) -> np.ndarray:
    """Where each of ``values`` (as text) is in ``ids``, or -1 (Arrow's hash lookup: a tenth of
    the time pandas takes for millions of rows)."""
    found = pc.index_in(pa.array(values.astype(str), type=pa.large_string()), value_set=ids)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _neighbor_edges(neighbors: pd.DataFrame, ids: list[str]) -> dict[str, np.ndarray]:
    """The neighbour rows as positions in ``ids``: ``s`` (item), ``t`` (neighbour), ``r`` (rank),
    and ``shared`` and ``lift`` where the export has them; a repeated pair keeps its first row;
    sorted by item, then rank (stable). Plain arrays: a frame of ten million rows costs seconds."""
    known_ids = pa.array(ids, type=pa.large_string())
    source = _positions(neighbors["item_id"], known_ids)
    target = _positions(neighbors["neighbor_id"], known_ids)
    known = (source >= 0) & (target >= 0) & (source != target)
    if not known.all():
        logger.warning("ignoring %d neighbour rows whose items are not in the layout", int((~known).sum()))
    rank = pd.to_numeric(neighbors["rank"], errors="coerce").to_numpy(dtype=float, na_value=np.inf)
    columns = {"s": source[known], "t": target[known], "r": rank[known]}
    if all(c in neighbors.columns for c in ("shared_users", "lift")):  # why each pair are neighbours (atlas.explain)
        columns["shared"] = pd.to_numeric(neighbors["shared_users"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[known]
        columns["lift"] = pd.to_numeric(neighbors["lift"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[known]
    pairs = columns["s"] * max(len(ids), 1) + columns["t"]
    first = np.flatnonzero(~pd.Series(pairs).duplicated(keep="first").to_numpy())  # a hash table, not a sort
    source, rank = columns["s"][first], columns["r"][first]
    if np.all((rank >= 0) & (rank < 2**20) & (rank == np.floor(rank))):  # whole ranks: one key
        order = first[np.argsort(source * 2**20 + rank.astype(np.int64), kind="stable")]
    else:
        order = first[np.lexsort((rank, source))]  # lexsort is stable
    return {name: values[order] for name, values in columns.items()}


def _neighbor_matrix(edges: dict[str, np.ndarray], n: int) -> sparse.csr_matrix:
    """Each item's neighbours as a sparse n × n 0/1 matrix."""
    return sparse.csr_matrix((np.ones(len(edges["s"]), dtype=np.float32), (edges["s"], edges["t"])), shape=(n, n))


def _pack_neighbors(edges: dict[str, np.ndarray], n: int, xy: np.ndarray, bounds: list[float], blob: Blob) -> dict:
    """Neighbour lists, each item's in rank order (see :func:`atlas.web.encode.pack_neighbors`),
    and why each pair are neighbours where the export says."""
    packed = pack_neighbors(edges["s"], edges["t"], n, xy, bounds, blob)
    if "shared" in edges:  # NaN where a count is missing: the page then shows no reason for that pair
        packed["shared"] = blob.add(edges["shared"].astype(np.float32))
        packed["lift"] = blob.add(edges["lift"].astype(np.float32))
    return packed


def _default_color(fields: list[dict], label_column: object) -> str | None:
    """The manifest's label column (the category maps are judged by) when it can colour the map."""
    for field in fields:
        if field["name"] == label_column and field["kind"] in ("category", "multi", "number"):
            return field["name"]
    return None


def default_title(export: Export) -> str:
    title = export.manifest.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    return f"Atlas of {len(export.layout):,} items"


def home_bounds(x: np.ndarray, y: np.ndarray, quantile: float = HOME_QUANTILE,
                margin: float = HOME_MARGIN) -> list[float]:
    """[x0, y0, x1, y1] of the first view: the quantile box of x and y grown by `margin` of its
    size on each side, never beyond the points' own extent."""
    box = []
    for values in (x, y):
        lo, hi = np.quantile(values, [quantile, 1.0 - quantile])
        grow = margin * (hi - lo)
        box.append((max(float(values.min()), lo - grow), min(float(values.max()), hi + grow)))
    (x0, x1), (y0, y1) = box
    return [float(x0), float(y0), float(x1), float(y1)]


def pack_payload(export: Export, *, title: str, max_labels: int | None = None) -> bytes:
    """The page's data as one byte string (header length, JSON header, aligned binary arrays)."""
    order = np.lexsort((export.layout["item_id"].to_numpy(), -export.layout["n_users"].to_numpy()))
    layout = export.layout.iloc[order].reset_index(drop=True)
    n = len(layout)
    ids = layout["item_id"].tolist()
    name_column = export.manifest.get("name_column")
    if name_column in (None, "item_id"):
        names, name_field = None, "item_id"
    else:
        names = [_as_text(v) or item for v, item in zip(layout[name_column].tolist(), ids)]
        name_field = str(name_column)

    blob = Blob()
    xy = np.empty((n, 2), dtype=np.float32)
    xy[:, 0], xy[:, 1] = layout["x"], layout["y"]
    users = layout["n_users"].to_numpy()
    users_dtype = np.uint32 if users.max() < 2**32 and np.all(users == np.round(users)) else np.float64
    skip = set(LAYOUT_COLUMNS) | {name_column}
    edges = _neighbor_edges(export.neighbors, ids)
    around = _neighbor_matrix(edges, n)
    fields = []
    for column in layout.columns:
        if column in skip:
            continue
        field = _pack_field(str(column), layout[column], blob, around)
        if field is not None:
            fields.append(field)
    bounds = [float(layout["x"].min()), float(layout["y"].min()), float(layout["x"].max()), float(layout["y"].max())]
    home = home_bounds(layout["x"].to_numpy(), layout["y"].to_numpy())
    header = {
        "version": 2,
        "title": title,
        "count": n,
        "projection": export.manifest.get("projection"),
        "nameField": name_field,
        "ids": pack_texts(ids, blob),
        "names": None if names is None else pack_texts(names, blob),
        "xy": blob.add(xy),
        "users": blob.add(users.astype(users_dtype)),
        "bounds": bounds,
        "home": home,
        "fields": fields,
        "colorField": _default_color(fields, export.manifest.get("label_column")),
        "neighbors": _pack_neighbors(edges, n, xy, bounds, blob),
        "regions": _pack_regions(export.regions),
        # zoom level from which each item may carry a label (atlas.web.encode.label_levels)
        "labelLevels": blob.add(label_levels(xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64), home, max_labels)),
        "maxColours": MAX_COLOURS,  # values with a colour of their own, as in the app (atlas.columns)
    }
    head = json.dumps(header, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    head += b" " * (-(len(head) + 4) % 8)
    return struct.pack("<I", len(head)) + head + b"".join(blob.parts)
