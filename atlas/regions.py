"""Stage 8 — regions: the named areas of a finished map, at a few levels of detail.

Regions are found on the 2D layout itself with HDBSCAN (scikit-learn), once per level: the
finest level's regions hold at least ``min_region_size`` items, and each coarser level asks
for ``GROWTH`` times more, so level 0 holds a few continents and the last level many smaller
regions. HDBSCAN's leaf clusters are used (its finest stable clusters at that size), and items
in no dense area belong to no region at that level. Each region of a finer level records the
coarser region holding most of its items as its parent.

Each region is named by :mod:`atlas.naming` — the metadata values most over-represented in it,
or its best-known items — and placed at the member nearest its members' median, where its
label goes.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import AtlasError, check_range
from .naming import ItemValues, name_group, unique_names
from .options import option

log = logging.getLogger(__name__)

#: Each coarser level asks for this many times more items per region.
GROWTH = 4
#: HDBSCAN's ``min_samples`` (at most the region size): how dense an area must be to count.
MIN_SAMPLES = 5
#: The default smallest region: this share of the items ...
DEFAULT_SHARE = 0.01
#: ... but never fewer items than this.
DEFAULT_MIN_SIZE = 10
MAX_LEVELS = 3
#: Above this many items regions are found on a sample of them (see ``cluster_level``).
CLUSTER_SAMPLE = 10_000

TABLE_COLUMNS = ("region_id", "level", "name", "x", "y", "n_items", "parent_id", "top_value", "share", "share_overall", "lift")


@dataclass(frozen=True)
class RegionParams:
    """How many levels of regions to find and how small the smallest may be."""

    levels: int = option(2, "--region-levels", "levels of named regions on the map, coarsest first (0: none; default 2)", steps=(0, 1, 2, 3))
    min_region_size: int | None = option(
        None, "--min-region-size", f"items in the smallest region (default: {DEFAULT_SHARE * 100:g} per cent of the items, at least {DEFAULT_MIN_SIZE})"
    )
    name_columns: str | None = option(
        None, "--region-columns", "metadata columns that name regions, comma separated (default: every category, set or number column)"
    )

    def __post_init__(self) -> None:
        check_range("--region-levels", self.levels, 0, MAX_LEVELS)
        if self.min_region_size is not None:
            check_range("--min-region-size", self.min_region_size, 2)
        if self.name_columns is not None:
            columns = ",".join(c.strip() for c in str(self.name_columns).split(",") if c.strip())
            object.__setattr__(self, "name_columns", columns or None)

    def naming(self, metadata: pd.DataFrame, skip: tuple = ()) -> pd.DataFrame:
        """The metadata columns that name regions: ``name_columns``, else all but ``skip``."""
        if self.name_columns is None:
            return metadata.drop(columns=[c for c in skip if c in metadata.columns])
        wanted = self.name_columns.split(",")
        missing = [c for c in wanted if c not in metadata.columns]
        if missing:
            have = ", ".join(str(c) for c in metadata.columns if c not in skip) or "none"
            raise AtlasError(f"--region-columns names {', '.join(map(repr, missing))}, not a metadata column; choose from: {have}.")
        return metadata[wanted]

    def sizes(self, n_items: int) -> list[int]:
        """The smallest region of each level, coarsest first."""
        base = self.min_region_size or max(DEFAULT_MIN_SIZE, int(round(DEFAULT_SHARE * n_items)))
        return [base * GROWTH ** (self.levels - 1 - level) for level in range(self.levels)]


@dataclass(frozen=True, eq=False)
class Regions:
    """The regions of one layout: ``labels[i, level]`` is item i's region id at that level (-1:
    none), and ``table`` lists the regions (see ``TABLE_COLUMNS``), coarsest level first."""

    labels: np.ndarray  # int32, n_items × levels
    table: pd.DataFrame
    named_by: str = "metadata"  # or "popular items"
    key: str = ""
    seconds: float = 0.0

    @property
    def levels(self) -> int:
        return int(self.labels.shape[1])

    def item_region_names(self, level: int = -1) -> np.ndarray:
        """Each item's region name at ``level`` (default: the finest), None where it has none."""
        if self.levels == 0:
            return np.full(self.labels.shape[0], None, dtype=object)
        names = dict(zip(self.table["region_id"], self.table["name"]))
        return np.array([names.get(int(r)) for r in self.labels[:, level]], dtype=object)

    def summary(self) -> dict:
        """What the manifest reports: counts per level and how well the names fit (lift)."""
        per_level = []
        for level in range(self.levels):
            rows = self.table[self.table["level"] == level]
            lift = rows["lift"].dropna().to_numpy(dtype=float)
            per_level.append(
                {
                    "level": level,
                    "regions": int(len(rows)),
                    "items_in_regions": float(np.mean(self.labels[:, level] >= 0)) if self.labels.shape[0] else 0.0,
                    "median_lift": float(np.median(lift)) if lift.size else None,
                    "min_lift": float(lift.min()) if lift.size else None,
                    "median_share": float(rows["share"].dropna().median()) if lift.size else None,
                }
            )
        regions = [
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items() if k not in ("x", "y")}
            for row in self.table.to_dict("records")
        ]
        return {"named_by": self.named_by, "levels": per_level, "regions": regions}


def layout_digest(xy: np.ndarray) -> str:
    """A short digest of coordinates, for cache keys of what is computed from them."""
    return hashlib.sha256(np.ascontiguousarray(xy, dtype=np.float32).tobytes()).hexdigest()[:20]


def cluster_level(xy: np.ndarray, min_size: int) -> np.ndarray:
    """HDBSCAN's leaf clusters of ``xy`` with at least ``min_size`` items (-1: in none).

    scikit-learn's HDBSCAN grows quadratically with the points (20,000 took 12 s here, 100,000
    over two minutes), so above ``CLUSTER_SAMPLE`` items a fixed random sample is clustered, with
    the region size scaled to it, and every item takes the region of its nearest sampled item.
    """
    from scipy.spatial import cKDTree
    from sklearn.cluster import HDBSCAN

    n = xy.shape[0]
    if n <= min_size:
        return np.full(n, -1, dtype=np.int32)
    sample = np.arange(n)
    if n > CLUSTER_SAMPLE:
        sample = np.sort(np.random.default_rng(0).choice(n, CLUSTER_SAMPLE, replace=False))
        min_size = max(MIN_SAMPLES, int(round(min_size * CLUSTER_SAMPLE / n)))
    model = HDBSCAN(min_cluster_size=int(min_size), min_samples=int(min(MIN_SAMPLES, min_size)), cluster_selection_method="leaf", copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = model.fit(xy[sample].astype(np.float64)).labels_.astype(np.int32)
    if sample.size == n:
        return labels
    _, nearest = cKDTree(xy[sample]).query(xy, k=1)
    return labels[nearest]


def _label_point(xy: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Where a region's name goes: the member nearest the members' median (inside the region
    even when its shape is not convex)."""
    median = np.median(xy[members], axis=0)
    best = members[np.argmin(((xy[members] - median) ** 2).sum(axis=1))]
    return xy[best]


def _parent(labels: np.ndarray, members: np.ndarray, level: int) -> int:
    """The region one level up that holds most of ``members`` (-1: none, or the top level)."""
    if level == 0:
        return -1
    above = labels[members, level - 1]
    above = above[above >= 0]
    return int(np.bincount(above).argmax()) if above.size else -1


def find_regions(
    xy: np.ndarray,
    params: RegionParams,
    *,
    values: ItemValues,
    names: np.ndarray,
    popularity: np.ndarray,
) -> Regions:
    """The regions of the layout ``xy`` at every level of ``params``, named from ``values``
    (the metadata each item carries) or, without metadata, from ``names`` and ``popularity``."""
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0]
    popularity = np.asarray(popularity, dtype=np.float64)
    labels = np.full((n, params.levels), -1, dtype=np.int32)
    rows = []
    by_id: dict[int, tuple] = {}  # region id -> (its GroupName, its members)
    next_id = 0
    for level, size in enumerate(params.sizes(n)):
        found = cluster_level(xy, size)
        groups = [np.flatnonzero(found == c) for c in range(int(found.max()) + 1)] if n else []
        # biggest first, so region ids read in order of size within a level
        groups.sort(key=lambda g: (-g.size, int(g[0])))
        parents = [_parent(labels, members, level) for members in groups]
        named = []
        for members, parent in zip(groups, parents):
            if parent >= 0 and by_id[parent][1].size == members.size and np.array_equal(by_id[parent][1], members):
                named.append(by_id[parent][0])  # the same items as the region around it: the same name
            else:  # what sets it apart, besides what already names the region around it
                exclude = by_id[parent][0].parts if parent >= 0 else ()
                named.append(name_group(values, members, names, popularity, exclude=exclude))
        named = unique_names(named, groups, names, popularity)
        for members, parent, gname in zip(groups, parents, named):
            labels[members, level] = next_id
            by_id[next_id] = (gname, members)
            x, y = _label_point(xy, members)
            rows.append(
                {
                    "region_id": next_id, "level": level, "name": gname.name, "x": float(x), "y": float(y),
                    "n_items": int(members.size), "parent_id": parent, "top_value": gname.top_value,
                    "share": gname.share, "share_overall": gname.share_overall, "lift": gname.lift,
                }
            )  # fmt: skip
            next_id += 1
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    kinds = {"region_id": "int64", "level": "int64", "n_items": "int64", "parent_id": "int64"}
    table = table.astype({**kinds, "share": "float64", "share_overall": "float64", "lift": "float64"})
    log.info("regions: %s per level", [int((table["level"] == lv).sum()) for lv in range(params.levels)])
    return Regions(labels, table, "metadata" if values.n_values else "popular items")


def no_regions(n_items: int) -> Regions:
    """What a map without regions holds (``--region-levels 0``)."""
    return Regions(np.empty((n_items, 0), dtype=np.int32), pd.DataFrame(columns=list(TABLE_COLUMNS)))
