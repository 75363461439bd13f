"""Stage 8 — regions: the named areas of a catalogue, found once and drawn on every map.

Regions are communities of the item graph (the Leiden algorithm, python-igraph), found once per
build and not per 2D layout, so an island has the same members and the same name on the UMAP,
t-SNE and PaCMAP maps. Level 0 splits the whole graph; each finer level splits every community of
the level above again, so regions nest in their continents. A community smaller than its level's
size (``min_region_size`` at the finest level, ``GROWTH`` times more per coarser level) is no
region: its items are *outside any region* at that level. Each region of a finer level records
the coarser region holding most of its items as its parent.

Each region is named by :mod:`atlas.naming` — a value common and over-represented in it, the
middle half of a number, or its best-known items. Where its name goes is decided per map
(:func:`place_regions`): at the region's densest point on that map, moved to its next densest
points where it would cover a name already placed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import AtlasError, check_range
from .naming import YEAR, ItemValues, NameRule, item_values, name_group, unique_names
from .options import option

log = logging.getLogger(__name__)

#: Each coarser level asks for this many times more items per region.
GROWTH = 4
#: The default smallest region: this share of the items ...
DEFAULT_SHARE = 0.01
#: ... but never fewer items than this.
DEFAULT_MIN_SIZE = 10
MAX_LEVELS = 3
#: Leiden's modularity resolution for the whole graph (continents) and within a region (finer
#: levels); chosen by ``bench/bench_regions.py``.
RESOLUTION = 1.0
SPLIT_RESOLUTION = 1.0
#: Neighbours per point of the graph ``find_regions`` builds from coordinates alone.
POINT_NEIGHBORS = 12
#: The seed of Leiden's random order (the regions of a graph never depend on anything else).
SEED = 0
#: Places tried per name before it is left at its densest point.
PLACES_TRIED = 40
#: The size of a name on the map, as shares of the map's extent (per character, and its height).
CHAR_WIDTH, LINE_HEIGHT = 1 / 90, 1 / 35
#: What items in no region are called in legends.
OUTSIDE = "outside any region"
#: The export's column of each item's region name (empty outside every region).
REGION_COLUMN = "region"

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
        wanted = [c for c in self.name_columns.split(",") if c in metadata.columns or c != YEAR]  # a year may come from names
        missing = [c for c in wanted if c not in metadata.columns]
        if missing:
            have = ", ".join(str(c) for c in metadata.columns if c not in skip) or "none"
            raise AtlasError(f"--region-columns names {', '.join(map(repr, missing))}, not a metadata column; choose from: {have}.")
        return metadata[wanted]

    def values(self, metadata: pd.DataFrame, names: np.ndarray | None, skip: tuple = ()) -> ItemValues:
        """What names regions: the values of the chosen metadata columns, and a year read from
        ``names`` ("Heat (1995)") where they carry one and the choice allows it."""
        derive = self.name_columns is None or YEAR in self.name_columns.split(",")
        return item_values(self.naming(metadata, skip), names=names if derive else None)

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
    named_by: str = "metadata"  # or "popular items"; ``x``/``y`` are NaN until placed on a map
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


def point_graph(points: np.ndarray, k: int = POINT_NEIGHBORS) -> sparse.csr_matrix:
    """The symmetric k-nearest-neighbour graph of ``points`` (for regions of bare coordinates)."""
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    n = points.shape[0]
    k = min(k, n - 1)
    if k < 1:
        return sparse.csr_matrix((n, n), dtype=np.float32)
    _, nearest = cKDTree(points).query(points, k=k + 1)
    rows = np.repeat(np.arange(n), k)
    a = sparse.coo_matrix((np.ones(n * k, dtype=np.float32), (rows, nearest[:, 1:].ravel())), shape=(n, n)).tocsr()
    a = a.maximum(a.T).tocsr()
    return a


def communities(adjacency: sparse.csr_matrix, resolution: float = RESOLUTION, seed: int = SEED) -> np.ndarray:
    """Leiden communities (modularity at ``resolution``) of an undirected graph, numbered from 0;
    the same graph and seed always give the same communities."""
    import igraph

    n = adjacency.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    upper = sparse.triu(adjacency, k=1).tocoo()
    # igraph reads its edges from Python pairs: zipped from two lists they take a third of the
    # time of a 2-column array's rows as lists (2.5 s of the 8 s the regions took at 100k items)
    graph = igraph.Graph(n=n, edges=list(zip(upper.row.tolist(), upper.col.tolist())))
    igraph.set_random_number_generator(random.Random(seed))
    try:
        found = graph.community_leiden(objective_function="modularity", resolution=resolution, n_iterations=-1)
    finally:
        igraph.set_random_number_generator(random)
    return np.asarray(found.membership, dtype=np.int64)


def merge_small(adjacency: sparse.csr_matrix, membership: np.ndarray, size: int) -> np.ndarray:
    """``membership`` with every community smaller than ``size`` merged, smallest first, into the
    community it shares most edges with; a small community with no edge out stays as it is.
    Communities are renumbered from 0 in order of their first item."""
    _, membership = np.unique(membership, return_inverse=True)
    k = int(membership.max()) + 1 if membership.size else 0
    if k <= 1:
        return membership.astype(np.int64)
    p = sparse.csr_matrix((np.ones(membership.size), (np.arange(membership.size), membership)), shape=(membership.size, k))
    between = (p.T @ adjacency @ p).toarray()
    np.fill_diagonal(between, 0.0)
    counts = np.bincount(membership, minlength=k).astype(np.int64)
    owner = np.arange(k)
    alive = counts > 0
    while True:
        small = np.flatnonzero(alive & (counts < size) & (between.sum(axis=1) > 0))
        if small.size == 0:
            break
        c = int(small[np.lexsort((small, counts[small]))[0]])
        target = int(np.argmax(np.where(alive, between[c], -1.0)))
        between[target] += between[c]
        between[:, target] += between[:, c]
        between[target, target] = 0.0
        between[c, :] = 0.0
        between[:, c] = 0.0
        counts[target] += counts[c]
        counts[c], alive[c] = 0, False
        owner[owner == c] = target
    _, merged = np.unique(owner[membership], return_inverse=True)
    return merged.astype(np.int64)


def nested_communities(adjacency: sparse.csr_matrix, sizes: list[int], seed: int = SEED) -> tuple[np.ndarray, list[int]]:
    """One nested partition per entry of ``sizes`` (n × levels): level 0 of the whole graph,
    each next level of every community of the one before, split on its own subgraph; at each
    level communities smaller than its size join their best-connected neighbour (``merge_small``).
    Also the sizes used: the coarsest is lowered where it would leave a single region."""
    n = adjacency.shape[0]
    levels = len(sizes)
    out = np.zeros((n, levels), dtype=np.int64)
    if levels == 0 or n == 0:
        return out, list(sizes)
    out[:, 0], first = _continents(adjacency, communities(adjacency, RESOLUTION, seed), sizes)
    sizes = [first, *sizes[1:]]
    for level in range(1, levels):
        above = out[:, level - 1]
        next_id = 0
        for c in np.unique(above):
            members = np.flatnonzero(above == c)
            inner = np.zeros(members.size, np.int64)
            if members.size >= 2 * sizes[level]:  # room for two regions at least
                sub = adjacency[members][:, members]
                inner = merge_small(sub, communities(sub, SPLIT_RESOLUTION, seed), sizes[level])
            out[members, level] = inner + next_id
            next_id += int(inner.max()) + 1
    return out, sizes


def _continents(adjacency: sparse.csr_matrix, membership: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, int]:
    """The coarsest level and its smallest size: Leiden's communities merged up to the first of
    ``sizes`` that leaves two regions at least. On a small catalogue the coarsest size can swallow
    every community, and one region holding the whole map names nothing."""
    for size in sizes:
        merged = merge_small(adjacency, membership, size)
        if merged.max() >= 1:
            break
    return merged, size


def _parent(labels: np.ndarray, members: np.ndarray, level: int) -> int:
    """The region one level up that holds most of ``members`` (-1: none, or the top level)."""
    if level == 0:
        return -1
    above = labels[members, level - 1]
    above = above[above >= 0]
    return int(np.bincount(above).argmax()) if above.size else -1


def name_regions(
    adjacency: sparse.csr_matrix,
    params: RegionParams,
    *,
    values: ItemValues,
    names: np.ndarray,
    popularity: np.ndarray,
    rule: NameRule = NameRule(),
) -> Regions:
    """The named regions of the item graph ``adjacency`` at every level of ``params`` (no label
    places yet: see :func:`place_regions`), named from ``values`` or ``names``/``popularity``."""
    n = adjacency.shape[0]
    popularity = np.asarray(popularity, dtype=np.float64)
    raw, sizes = nested_communities(adjacency, params.sizes(n))
    labels = np.full((n, params.levels), -1, dtype=np.int32)
    rows = []
    by_id: dict[int, tuple] = {}  # region id -> (its GroupName, its members)
    next_id = 0
    for level, size in enumerate(sizes):
        groups = [np.flatnonzero(raw[:, level] == c) for c in np.unique(raw[:, level])]
        groups = [g for g in groups if g.size >= size]
        groups.sort(key=lambda g: (-g.size, int(g[0])))  # region ids read in order of size within a level
        parents = [_parent(labels, members, level) for members in groups]
        named = []
        for members, parent in zip(groups, parents):
            if parent >= 0 and np.array_equal(by_id[parent][1], members):
                named.append(by_id[parent][0])  # the same items as the region around it: the same name
            else:  # what sets it apart, besides the value that names the region around it first
                exclude = by_id[parent][0].parts[:1] if parent >= 0 else ()
                named.append(name_group(values, members, names, popularity, exclude=exclude, rule=rule))
        named = unique_names(named, groups, names, popularity)
        for members, parent, gname in zip(groups, parents, named):
            labels[members, level] = next_id
            by_id[next_id] = (gname, members)
            rows.append(
                {
                    "region_id": next_id, "level": level, "name": gname.name, "x": np.nan, "y": np.nan,
                    "n_items": int(members.size), "parent_id": parent, "top_value": gname.top_value,
                    "share": gname.share, "share_overall": gname.share_overall, "lift": gname.lift,
                }
            )  # fmt: skip
            next_id += 1
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    kinds = {"region_id": "int64", "level": "int64", "n_items": "int64", "parent_id": "int64"}
    table = table.astype({**kinds, "x": "float64", "y": "float64", "share": "float64", "share_overall": "float64", "lift": "float64"})
    log.info("regions: %s per level", [int((table["level"] == lv).sum()) for lv in range(params.levels)])
    return Regions(labels, table, "metadata" if not values.empty else "popular items")


def _densest(xy: np.ndarray, members: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` of ``members``, densest first on the map ``xy`` (smallest distance to
    their k-th nearest fellow member), spread out so that they are not all in one spot."""
    from scipy.spatial import cKDTree

    points = xy[members]
    k = int(min(8, members.size - 1))
    if k < 1:
        return members[:1]
    distance, _ = cKDTree(points).query(points, k=k + 1)
    order = np.lexsort((members, distance[:, -1]))
    step = max(1, order.size // (count * 2))  # the densest point, then others across the region
    return members[np.concatenate([order[:1], order[1::step]])[:count]]


def place_regions(regions: Regions, xy: np.ndarray) -> Regions:
    """The same regions with their names placed on the map ``xy``: at each region's densest
    point, or at the next densest point where the name would cover another name of its level
    (bigger regions placed first)."""
    xy = np.asarray(xy, dtype=np.float64)
    table = regions.table.copy()
    if table.empty:
        return dataclasses.replace(regions, table=table)
    finite = xy[np.isfinite(xy).all(axis=1)]
    low, high = np.percentile(finite, [1, 99], axis=0) if finite.size else (np.zeros(2), np.ones(2))
    span = float(max(high[0] - low[0], high[1] - low[1], 1e-9))
    char, line = CHAR_WIDTH * span, LINE_HEIGHT * span
    placed: dict[int, list] = {}  # level -> boxes (x0, y0, x1, y1)
    for row in table.sort_values(["level", "n_items", "region_id"], ascending=[True, False, True]).itertuples():
        members = np.flatnonzero(regions.labels[:, row.level] == row.region_id)
        members = members[np.isfinite(xy[members]).all(axis=1)]
        if members.size == 0:
            continue
        half_w, half_h = len(str(row.name)) * char / 2, line / 2
        boxes = placed.setdefault(int(row.level), [])
        tried = _densest(xy, members, PLACES_TRIED)
        spot = tried[0]
        for i in tried:
            x, y = xy[i]
            if not any(x - half_w < b[2] and b[0] < x + half_w and y - half_h < b[3] and b[1] < y + half_h for b in boxes):
                spot = i
                break
        x, y = xy[spot]
        boxes.append((x - half_w, y - half_h, x + half_w, y + half_h))
        table.loc[row.Index, ["x", "y"]] = [float(x), float(y)]
    return dataclasses.replace(regions, table=table)


def find_regions(
    xy: np.ndarray,
    params: RegionParams,
    *,
    values: ItemValues,
    names: np.ndarray,
    popularity: np.ndarray,
    graph: sparse.spmatrix | None = None,
    rule: NameRule = NameRule(),
) -> Regions:
    """The named regions of the items of ``graph`` (their adjacency; by default the neighbour
    graph of ``xy`` itself), with their names placed on the map ``xy``."""
    adjacency = point_graph(xy) if graph is None else sparse.csr_matrix(graph)
    found = name_regions(adjacency, params, values=values, names=names, popularity=popularity, rule=rule)
    return place_regions(found, xy)


def no_regions(n_items: int) -> Regions:
    """What a map without regions holds (``--region-levels 0``)."""
    return Regions(np.empty((n_items, 0), dtype=np.int32), pd.DataFrame(columns=list(TABLE_COLUMNS)))
