"""Names for groups of items: the metadata values that set a group apart, or its best-known items.

Every metadata column that :mod:`atlas.columns` can colour by becomes a set of *values* an item
carries: a category's value, each value of a multi-valued field (``Action|Comedy`` is two),
or, for numbers, the quintile the item falls in ("year 1993–1997"). A group is named by the
values over-represented in it against the whole map, scored by their contribution to the
Kullback–Leibler divergence between the group and the map::

    score(v) = p_group(v) · log(p_group(v) / p_map(v))      (only where p_group > p_map)

which prefers values that are both common in the group and rare elsewhere, so neither a value
every item carries nor one that a single item happens to carry names a region. The *lift*
``p_group / p_map`` of the chosen value is what :func:`name_group` reports as its measure.
Without metadata a group is named after its most popular items ("around Fargo, Heat").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .columns import CATEGORY, MULTI, NUMBER, column_kind, value_sets

#: Numbers are cut into this many bins of (about) equal size.
NUMBER_BINS = 5
#: A value names a group only when at least this many of its items carry it.
MIN_CARRIERS = 3
#: A second value joins the name when its score reaches this share of the first one's ...
SECOND_SCORE = 0.5
#: ... and its lift at least this.
SECOND_LIFT = 1.5
#: Items named in a name made of popular items.
POPULAR_ITEMS = 2
SEPARATOR = " · "


@dataclass(frozen=True, eq=False)
class ItemValues:
    """Which item carries which metadata value: a sparse 0/1 matrix (items × values)."""

    matrix: sparse.csr_matrix
    labels: tuple[str, ...]  # how each value is shown ("Drama", "year 1993–1997")
    columns: tuple[str, ...]  # the metadata column each value comes from
    binned: tuple[bool, ...] = ()  # whether each value is a range of a numeric column

    @property
    def n_values(self) -> int:
        return len(self.labels)

    @property
    def overall(self) -> np.ndarray:
        """The share of all items carrying each value."""
        n = self.matrix.shape[0]
        return np.asarray(self.matrix.sum(axis=0)).ravel() / max(n, 1)


def _number_bins(name: str, values: pd.Series) -> list[list[str]]:
    """Each item's quintile of a numeric column as a one-value set ("year 1993–1997")."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = x[np.isfinite(x)]
    if present.size == 0:
        return [[] for _ in x]
    integer = bool(np.all(present == np.round(present)))
    edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMBER_BINS + 1)))
    if integer:
        edges = np.unique(np.round(edges))
    bins = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))
    labels = []
    for b in range(max(len(edges) - 1, 1)):
        lo, hi = edges[b], edges[min(b + 1, len(edges) - 1)]
        last = b == len(edges) - 2
        if integer:
            top = int(hi) if last else int(hi) - 1
            text = f"{int(lo)}" if top <= lo else f"{int(lo)}–{top}"
        else:
            text = f"{lo:.3g}–{hi:.3g}"
        labels.append(f"{name} {text}")
    return [[labels[b]] if np.isfinite(v) else [] for v, b in zip(x, bins)]


def item_values(metadata: pd.DataFrame | None, *, skip: tuple = ()) -> ItemValues:
    """The values every item carries, from every colourable column of ``metadata`` (one row per
    item, in map order); text columns (titles, descriptions) and ``skip`` are left out."""
    n = 0 if metadata is None else len(metadata)
    rows: list[int] = []
    cols: list[int] = []
    labels: list[str] = []
    columns: list[str] = []
    binned: list[bool] = []
    index: dict[tuple[str, str], int] = {}
    for column in [] if metadata is None else metadata.columns:
        if column in skip:
            continue
        kind = column_kind(metadata[column])
        if kind == NUMBER:
            sets = _number_bins(str(column), metadata[column])
        elif kind in (CATEGORY, MULTI):
            series = metadata[column]
            if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
                sets = [[f"{column} {v}" for v in s] for s in value_sets(series)]
            else:
                sets = value_sets(series)
        else:
            continue
        for item, values in enumerate(sets):
            for value in dict.fromkeys(values):
                key = (str(column), value)
                if key not in index:
                    index[key] = len(labels)
                    labels.append(value)
                    columns.append(str(column))
                    binned.append(kind == NUMBER)
                rows.append(item)
                cols.append(index[key])
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, len(labels)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return ItemValues(matrix, tuple(labels), tuple(columns), tuple(binned))


@dataclass(frozen=True)
class GroupName:
    """A group's name and the measure of its top value (None without metadata)."""

    name: str
    top_value: str | None = None
    top_column: str | None = None
    share: float | None = None  # share of the group's items that carry the top value
    share_overall: float | None = None  # the same share over the whole map
    lift: float | None = None  # share / share_overall
    parts: tuple[int, ...] = ()  # the values the name is made of


def distinctive_values(values: ItemValues, members: np.ndarray, exclude=()) -> list[tuple[int, float, float, float]]:
    """``(value, share in group, share overall, score)`` of the values over-represented among
    ``members`` (item indices), best first, leaving out the values in ``exclude``."""
    if values.n_values == 0 or members.size == 0:
        return []
    counts = np.asarray(values.matrix[members].sum(axis=0)).ravel()
    share = counts / members.size
    overall = values.overall
    keep = (counts >= min(MIN_CARRIERS, members.size)) & (share > overall)
    keep[list(exclude)] = False
    found = []
    for v in np.flatnonzero(keep):
        found.append((int(v), float(share[v]), float(overall[v]), float(share[v] * np.log(share[v] / overall[v]))))
    return sorted(found, key=lambda t: (-t[3], values.labels[t[0]]))


def _short(name: object, limit: int = 28) -> str:
    text = str(name)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def popular_items(members: np.ndarray, popularity: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` most popular of ``members`` (ties by index)."""
    return members[np.lexsort((members, -popularity[members]))][:count]


def popular_name(members: np.ndarray, names: np.ndarray, popularity: np.ndarray) -> str:
    """"around A, B": the group's most popular items."""
    return "around " + ", ".join(_short(names[i]) for i in popular_items(members, popularity, POPULAR_ITEMS))


def name_group(values: ItemValues, members: np.ndarray, names: np.ndarray, popularity: np.ndarray, *, exclude=()) -> GroupName:
    """The group's name: its one or two most distinctive values against the whole map (leaving
    out ``exclude``, e.g. the values that already name the region around it), else its most
    popular items."""
    ranked = distinctive_values(values, members, exclude)
    if not ranked:
        return GroupName(popular_name(members, names, popularity))
    top, share, overall, score = ranked[0]
    parts = [top]
    for v, v_share, v_overall, v_score in ranked[1:]:
        same_word = values.labels[v] == values.labels[top]  # the same word from another column (genre and genres)
        same_range = values.binned and values.binned[v] and values.columns[v] == values.columns[top]  # two ranges of one number
        if same_word or same_range:
            continue
        if v_score >= SECOND_SCORE * score and v_share / v_overall >= SECOND_LIFT:
            parts.append(v)
        break
    name = SEPARATOR.join(values.labels[v] for v in parts)
    return GroupName(name, values.labels[top], values.columns[top], share, overall, share / overall, tuple(parts))


def unique_names(named: list[GroupName], groups: list[np.ndarray], names: np.ndarray, popularity: np.ndarray) -> list[GroupName]:
    """The same names, with the most popular item added where two groups would share one."""
    seen: dict[str, int] = {}
    for g in named:
        seen[g.name] = seen.get(g.name, 0) + 1
    out = []
    for g, members in zip(named, groups):
        if seen[g.name] > 1 and g.top_value is not None:
            best = popular_items(members, popularity, 1)[0]
            g = dataclasses.replace(g, name=f"{g.name} ({_short(names[best])})")
        out.append(g)
    return out
