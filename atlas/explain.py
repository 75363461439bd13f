"""Why two items are neighbours, and where the map keeps or tears an item's neighbourhood.

* :func:`neighbor_reasons` counts, for each exported neighbour pair, the people behind it:
  ``shared_users`` (users who have both items after the filters), ``users_item``,
  ``users_neighbor`` and ``lift`` — observed co-occurrence over what independence predicts,
  ``shared · n_users / (users_item · users_neighbor)``. Only the exported pairs are counted
  (a sorted-list intersection per pair), so the cost is about k passes over the interactions.
* :func:`faithfulness` is, per item, the share of its first ``FAITHFUL_K`` graph neighbours that
  are among its ``FAITHFUL_K`` nearest points on the map; :func:`torn_summary` says in one line
  how much of the map is torn.
* :func:`find_item` and :func:`explain_item` serve ``atlas explain EXPORT ITEM``.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from .errors import AtlasError
from .pairweights import get_pair_weight, pair_weight_names

log = logging.getLogger(__name__)

#: Graph neighbours compared with map neighbours, per item.
FAITHFUL_K = 10
#: An item keeping fewer than this many of its FAITHFUL_K neighbours counts as torn.
TORN_BELOW = 2
REASON_COLUMNS = ("shared_users", "users_item", "users_neighbor", "lift")


@numba.njit(cache=True)
def _intersections(indptr, indices, rows, cols):  # pragma: no cover - compiled
    """|users(rows[p]) ∩ users(cols[p])| for each pair p; ``indices`` sorted within each item."""
    out = np.zeros(rows.shape[0], dtype=np.int64)
    for p in range(rows.shape[0]):
        a, b = rows[p], cols[p]
        i, i_end = indptr[a], indptr[a + 1]
        j, j_end = indptr[b], indptr[b + 1]
        count = 0
        while i < i_end and j < j_end:
            u, v = indices[i], indices[j]
            if u == v:
                count += 1
                i += 1
                j += 1
            elif u < v:
                i += 1
            else:
                j += 1
        out[p] = count
    return out


@dataclass(frozen=True, eq=False)
class Reasons:
    """The people behind each neighbour pair ``(rows[p], cols[p])`` (item indices)."""

    shared_users: np.ndarray  # int64
    users_item: np.ndarray  # int64
    users_neighbor: np.ndarray  # int64
    lift: np.ndarray  # float64
    n_users: int

    def columns(self) -> dict[str, np.ndarray]:
        return dict(zip(REASON_COLUMNS, (self.shared_users, self.users_item, self.users_neighbor, self.lift)))


def pair_reasons(matrix, rows: np.ndarray, cols: np.ndarray) -> Reasons:
    """Shared users and lift of the item pairs (rows, cols) in the users × items ``matrix``.

    Every stored entry counts as the user having the item (a weight of 0 too: the filters kept it).
    """
    indptr, indices = _users_by_item(matrix)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    shared = _intersections(indptr, indices, rows, cols)
    item_users = np.diff(indptr)
    return _with_lift(shared, item_users[rows], item_users[cols], int(matrix.shape[0]))


#: The users of each item of the profile matrices seen last (by id, while the matrix lives): a
#: search in the app asks for one item's reasons, and converting tens of millions of interactions
#: to columns took about a second each time.
_BY_ITEM: dict[int, tuple] = {}


def _users_by_item(matrix) -> tuple[np.ndarray, np.ndarray]:
    """``matrix``'s column pointers and sorted row indices (its users by item), computed once per
    matrix object."""
    import weakref

    key = id(matrix)
    found = _BY_ITEM.get(key)
    if found is not None and found[0]() is matrix:
        return found[1], found[2]
    csc = matrix.tocsc()
    csc.sort_indices()
    columns = csc.indptr.astype(np.int64), csc.indices.astype(np.int32)
    try:
        ref = weakref.ref(matrix, lambda _gone, key=key: _BY_ITEM.pop(key, None))
    except TypeError:  # not weakly referable: not kept
        return columns
    _BY_ITEM[key] = (ref, *columns)
    return columns


def _with_lift(shared, users_item, users_neighbor, n_users: int) -> Reasons:
    expected = users_item.astype(np.float64) * users_neighbor / max(n_users, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(expected > 0, shared / expected, 0.0)
    return Reasons(shared.astype(np.int64), users_item.astype(np.int64), users_neighbor.astype(np.int64), lift, n_users)


def graph_pairs(neighbors: np.ndarray, items=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``(rows, cols, ranks)`` of a graph's neighbour lists (``neighbors``: n × k, -1 pads
    left out): item ``rows[p]``'s neighbour of rank ``ranks[p]`` is ``cols[p]``, item by item in
    the graph's order; of the item rows ``items`` only, when given."""
    neighbors = np.asarray(neighbors)
    items = np.arange(neighbors.shape[0]) if items is None else np.asarray(items, dtype=np.int64).reshape(-1)
    k = neighbors.shape[1]
    rows = np.repeat(items, k)
    cols = neighbors[items].ravel()
    ranks = np.tile(np.arange(k), items.shape[0])
    valid = cols >= 0
    return rows[valid], cols[valid], ranks[valid]


def neighbor_reasons(profiles, candidates, rows: np.ndarray, cols: np.ndarray, ranks: np.ndarray, pair_weight: str = "none") -> Reasons | None:
    """The reasons of the exported pairs (item ``rows[p]``'s neighbour of rank ``ranks[p]`` is
    ``cols[p]``): counted from the profile matrix where this machine holds it; else (a Spark or
    candidates-file build) read from the candidates' counts when those count users
    (``pair_weight`` none, or another that is not ``weighted``) and list the same partners; else None."""
    matrix = getattr(profiles, "matrix", None)
    if matrix is not None:
        return pair_reasons(matrix, rows, cols)
    counts_users = pair_weight in pair_weight_names() and not get_pair_weight(pair_weight).weighted
    if candidates is None or not counts_users or np.any(ranks >= candidates.index.shape[1]):
        log.info("no profile matrix here and no user counts in the candidates: neighbours get no shared-user counts")
        return None
    if not np.array_equal(candidates.index[rows, ranks], cols):
        return None
    users = np.asarray(profiles.item_users, dtype=np.int64)
    shared = np.rint(candidates.count[rows, ranks]).astype(np.int64)
    return _with_lift(shared, users[rows], users[cols], int(profiles.n_users))


# -- faithfulness -----------------------------------------------------------------------------


def faithfulness(neighbors: np.ndarray, xy: np.ndarray, k: int = FAITHFUL_K) -> np.ndarray:
    """Per item: the share of its first ``k`` graph ``neighbors`` (n × m, -1 pads) among its ``k``
    nearest points of ``xy``; NaN for an item without graph neighbours."""
    from .metrics import _nearest

    n = xy.shape[0]
    own = neighbors[:, : min(k, neighbors.shape[1])]
    if n < 2:
        return np.full(n, np.nan)
    near = _nearest(np.asarray(xy, dtype=np.float64), k)
    valid = own >= 0
    hits = np.zeros(own.shape, dtype=bool)
    for col in range(near.shape[1]):
        hits |= own == near[:, col : col + 1]
    counts = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (hits & valid).sum(axis=1) / counts, np.nan)


def torn_summary(share: np.ndarray, k: int = FAITHFUL_K) -> dict:
    """How much of the map is torn, for the manifest: the median share kept, and the share of
    items keeping fewer than ``TORN_BELOW`` of their ``k`` neighbours, in words too."""
    share = np.asarray(share, dtype=np.float64)
    known = share[np.isfinite(share)]
    if known.size == 0:
        return {"k": k, "median": None, "torn_below": TORN_BELOW, "torn_share": None, "text": "no item has graph neighbours"}
    kept = np.rint(known * k)
    torn = float(np.mean(kept < TORN_BELOW))
    return {
        "k": k,
        "median": float(np.median(known)),
        "mean": float(np.mean(known)),
        "torn_below": TORN_BELOW,
        "torn_share": torn,
        "text": f"{torn:.0%} of items keep fewer than {TORN_BELOW} of their {k} neighbours",
    }


# -- atlas explain --------------------------------------------------------------------------


def item_names(layout: pd.DataFrame, name_column: str | None) -> pd.Series:
    ids = layout["item_id"].astype(str)
    if not name_column or name_column not in layout.columns:
        return ids
    names = layout[name_column].astype(object)
    return names.where(names.notna(), ids).astype(str)


def find_item(layout: pd.DataFrame, name_column: str | None, query: str) -> int:
    """The row of ``query`` in ``layout``: an item id, else a name in any case; an AtlasError
    naming the closest names when nothing matches, or the ids when a name is ambiguous."""
    ids = layout["item_id"].astype(str)
    exact = np.flatnonzero(ids.to_numpy() == query)
    if exact.size:
        return int(exact[0])
    names = item_names(layout, name_column)
    folded = names.str.casefold().str.strip()
    hits = np.flatnonzero(folded.to_numpy() == query.casefold().strip())
    if hits.size == 1:
        return int(hits[0])
    if hits.size > 1:
        listed = ", ".join(ids.iloc[hits[:5]])
        raise AtlasError(f"{hits.size} items are named {query!r} (ids {listed}); give the item's id instead.")
    hint = closest_names(layout, names, query)
    hint = f"closest names: {'; '.join(hint)}" if hint else "no name is close; check the spelling or give an item id"
    raise AtlasError(f"no item has the id or name {query!r}; {hint}.")


def closest_names(layout: pd.DataFrame, names: pd.Series, query: str, count: int = 5) -> list[str]:
    """Names that hold ``query`` (any case; the most popular items first), then names spelt like it."""
    wanted = query.casefold().strip()
    folded = names.str.casefold()
    holding = folded.str.contains(wanted, regex=False).to_numpy() if wanted else np.zeros(len(names), bool)
    popular = np.argsort(-layout["n_users"].to_numpy(dtype=float), kind="stable")
    found = [names.iloc[i] for i in popular if holding[i]][:count]
    lookup = dict(zip(folded, names))
    for close in difflib.get_close_matches(wanted, list(lookup), n=count, cutoff=0.5):
        if len(found) < count and lookup[close] not in found:
            found.append(lookup[close])
    return found


def explain_item(export, query: str, top: int = 10) -> dict:
    """The item ``query`` of a read export (:func:`atlas.web.pack.read_export`) and its first
    ``top`` neighbours with their reasons, as the graph ranks them."""
    layout, neighbors = export.layout, export.neighbors
    name_column = export.manifest.get("name_column")
    row = find_item(layout, name_column, query)
    names = item_names(layout, name_column)
    item_id = str(layout["item_id"].iloc[row])
    by_id = dict(zip(layout["item_id"].astype(str), names))
    own = neighbors[neighbors["item_id"].astype(str) == item_id].sort_values("rank", kind="stable").head(top)
    has_reasons = all(c in neighbors.columns for c in REASON_COLUMNS)
    rows = []
    for r in own.itertuples(index=False):
        entry = {"rank": int(r.rank), "neighbor_id": str(r.neighbor_id), "name": by_id.get(str(r.neighbor_id), str(r.neighbor_id))}
        if "weight" in own.columns:
            entry["weight"] = float(r.weight)
        if has_reasons:
            entry.update(shared_users=int(r.shared_users), users_item=int(r.users_item), users_neighbor=int(r.users_neighbor), lift=float(r.lift))
            entry["reason"] = reason_text(entry["shared_users"], entry["users_item"], entry["lift"])
        rows.append(entry)
    item = {"item_id": item_id, "name": str(names.iloc[row]), "n_users": int(layout["n_users"].iloc[row])}
    if "faithfulness" in layout.columns and pd.notna(layout["faithfulness"].iloc[row]):
        item["faithfulness"] = float(layout["faithfulness"].iloc[row])
    return {"item": item, "neighbors": rows, "reasons": has_reasons}


def reason_text(shared: int, users_item: int, lift: float) -> str:
    """"shared by 41 of 120 · 6.2× chance": the words the web atlas uses too."""
    return f"shared by {shared:,} of {users_item:,} · {lift:.1f}× chance"


def explain_lines(explained: dict) -> list[str]:
    item = explained["item"]
    head = f"{item['name']} (id {item['item_id']}, {item['n_users']:,} users)"
    if "faithfulness" in item:
        head += f"; on the map, {round(item['faithfulness'] * FAITHFUL_K)} of its first {FAITHFUL_K} neighbours are among its {FAITHFUL_K} nearest"
    lines = [head]
    if not explained["neighbors"]:
        lines.append("  no neighbours in this export")
    for n in explained["neighbors"]:
        why = f"  {n['reason']}" if "reason" in n else ""
        lines.append(f"{n['rank'] + 1:>4}. {n['name']}{why}")
    if not explained["reasons"]:
        lines.append("(this export has no shared-user counts; build it again with this version of atlas to see them)")
    return lines
