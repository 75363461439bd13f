"""Names for groups of items: a metadata value that is both common and over-represented in the
group, a range of a number, or the group's best-known items.

Every metadata column that :mod:`atlas.columns` can colour by is a source of names. A category
gives one *value* per item, a multi-valued field (``Action|Comedy``) several; a value may name a
group only when it passes both tests of :class:`NameRule`:

* its **share** of the group's items is at least ``min_share`` (it is common there), and
* its **lift**, that share against its share over the whole map, is at least ``min_lift`` (it
  sets the group apart).

A value with a high lift that few of the group's items carry (6% film-noir in a region of 175
films) therefore never names it. Numbers and dates name a group by the *middle half* of its
values ("1994–95"): that range holds half the group's items by construction, and its lift is
that half against the share of all items falling in the same range. A year is derived from item
names that carry one ("Heat (1995)"), as film and album titles often do.

Among the values that pass, the one contributing most to the Kullback–Leibler divergence
between the group and the map (``share · log(lift)``) names it, and a second value that passes
joins it when its score is close. A group nothing names is called after its most popular items
("around Fargo, Heat").
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .columns import CATEGORY, MULTI, NUMBER, column_kind, value_sets
from .errors import check_range

#: A value names a group only when at least this many of its items carry it.
MIN_CARRIERS = 3
#: A second value joins the name when its score reaches this share of the first one's.
SECOND_SCORE = 0.5
#: Items named in a name made of popular items.
POPULAR_ITEMS = 2
#: ... as long as their names together are no longer than this (labels must fit on the map).
POPULAR_NAME_LENGTH = 30
SEPARATOR = " · "
#: The derived column of years read from item names.
YEAR = "year"
#: A year in an item's name: "(1995)", "(1994–1996)" or "[2003]", the last one in the name.
YEAR_IN_NAME = re.compile(r"[(\[]((?:1[89]|20)\d\d)(?:\s*[–-]\s*\d{2,4})?[)\]]")
#: Names carry years when at least this share of them hold one.
YEAR_SHARE = 0.5


@dataclass(frozen=True)
class NameRule:
    """When a value may name a group: share in the group ≥ ``min_share`` and lift ≥ ``min_lift``
    (both chosen by ``bench/bench_regions.py``; see bench/README.md)."""

    min_share: float = 0.25
    min_lift: float = 1.5

    def __post_init__(self) -> None:
        check_range("min_share", self.min_share, 0.0, 1.0)
        check_range("min_lift", self.min_lift, 1.0)

    def passes(self, share, lift):
        """Whether each (share, lift) may name a group (a value on a threshold passes)."""
        return (np.asarray(share) >= self.min_share - 1e-9) & (np.asarray(lift) >= self.min_lift - 1e-9)


@dataclass(frozen=True, eq=False)
class ItemValues:
    """Which item carries which metadata value (a sparse 0/1 matrix, items × values), and the
    numeric columns (numbers, dates as years, years read from names) that name by range."""

    matrix: sparse.csr_matrix
    labels: tuple[str, ...]  # how each value is shown ("Drama", "genre Drama" for numbers as categories)
    columns: tuple[str, ...]  # the metadata column each value comes from
    numbers: tuple[tuple[str, np.ndarray, bool], ...] = ()  # (column, values with NaN, is a year)

    @property
    def n_values(self) -> int:
        return len(self.labels)

    @property
    def overall(self) -> np.ndarray:
        """The share of all items carrying each value."""
        n = self.matrix.shape[0]
        return np.asarray(self.matrix.sum(axis=0)).ravel() / max(n, 1)

    @property
    def empty(self) -> bool:
        return self.n_values == 0 and not self.numbers


def title_years(names) -> np.ndarray | None:
    """The year each name carries ("Heat (1995)" → 1995; NaN where none), or None when fewer
    than ``YEAR_SHARE`` of the names carry one."""
    if names is None or len(names) == 0:
        return None
    years = np.full(len(names), np.nan)
    for i, name in enumerate(names):
        found = YEAR_IN_NAME.findall(str(name))
        if found:
            years[i] = float(found[-1])
    return years if np.isfinite(years).mean() >= YEAR_SHARE else None


def _as_numbers(series: pd.Series) -> tuple[np.ndarray, bool]:
    """A numeric or date column as floats (dates as fractional years), and whether it is a year."""
    if pd.api.types.is_datetime64_any_dtype(series):
        dates = pd.to_datetime(series)
        return (dates.dt.year + (dates.dt.dayofyear - 1) / 366.0).to_numpy(dtype=float, na_value=np.nan), True
    x = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = x[np.isfinite(x)]
    yearish = "year" in str(series.name).lower() and present.size > 0 and bool(np.all((present >= 1000) & (present < 3000)))
    return x, yearish


def item_values(metadata: pd.DataFrame | None, *, skip: tuple = (), names=None) -> ItemValues:
    """The values every item carries, from every colourable column of ``metadata`` (one row per
    item, in map order); text columns (titles, descriptions) and ``skip`` are left out. With
    ``names`` that carry years ("Heat (1995)"), a ``year`` is derived from them unless the
    metadata already has that column."""
    n = 0 if metadata is None else len(metadata)
    rows: list[int] = []
    cols: list[int] = []
    labels: list[str] = []
    columns: list[str] = []
    numbers: list[tuple[str, np.ndarray, bool]] = []
    index: dict[tuple[str, str], int] = {}
    for column in [] if metadata is None else metadata.columns:
        if column in skip:
            continue
        series = metadata[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            numbers.append((str(column), *_as_numbers(series)))
            continue
        kind = column_kind(series)
        if kind == NUMBER:
            numbers.append((str(column), *_as_numbers(series)))
            continue
        if kind not in (CATEGORY, MULTI):
            continue
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            sets = [[f"{column} {v}" for v in s] for s in value_sets(series)]
        else:
            sets = value_sets(series)
        for item, held in enumerate(sets):
            for value in dict.fromkeys(held):
                key = (str(column), value)
                if key not in index:
                    index[key] = len(labels)
                    labels.append(value)
                    columns.append(str(column))
                rows.append(item)
                cols.append(index[key])
    has_year = metadata is not None and any(str(c).lower() == YEAR for c in metadata.columns)
    years = None if has_year or names is None else title_years(names)
    if years is not None and len(years) == n:
        numbers.append((YEAR, years, True))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, len(labels)))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return ItemValues(matrix, tuple(labels), tuple(columns), tuple(numbers))


def range_label(column: str, lo: float, hi: float, year: bool) -> str:
    """"1994–95", "2003" for years; "rating 3.2–3.8" for other numbers."""
    if year:
        a, b = int(np.floor(lo)), int(np.floor(hi))
        if a == b:
            return f"{a}"
        return f"{a}–{b % 100:02d}" if a // 100 == b // 100 else f"{a}–{b}"
    integer = float(lo).is_integer() and float(hi).is_integer()
    text = (f"{int(lo)}" if lo == hi else f"{int(lo)}–{int(hi)}") if integer else (f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}")
    return f"{column} {text}"


@dataclass(frozen=True)
class Candidate:
    """A value (or a range) that may name a group, with its measure."""

    label: str
    column: str
    share: float  # of the group's items that carry it
    overall: float  # the same share over the whole map
    part: int  # the value's index in ``ItemValues.matrix``, -1 for a range

    @property
    def lift(self) -> float:
        return self.share / self.overall if self.overall > 0 else float("inf")

    @property
    def score(self) -> float:
        return self.share * float(np.log(self.lift))


def _middle_half(values: ItemValues, members: np.ndarray) -> list[Candidate]:
    """Each numeric column's middle half among ``members`` as a range candidate."""
    found = []
    n = values.matrix.shape[0]
    for column, x, year in values.numbers:
        inside = x[members]
        inside = inside[np.isfinite(inside)]
        if inside.size < max(MIN_CARRIERS, members.size // 2):
            continue  # most of the group has no value here
        lo = float(np.quantile(inside, 0.25, method="lower"))
        hi = float(np.quantile(inside, 0.75, method="higher"))
        if year:  # whole years, as they are read
            lo, hi = float(np.floor(lo)), float(np.floor(hi)) + (1.0 - 1e-9)
        share = float(np.count_nonzero((inside >= lo) & (inside <= hi))) / members.size
        overall = float(np.count_nonzero((x >= lo) & (x <= hi))) / max(n, 1)
        found.append(Candidate(range_label(column, lo, hi, year), column, share, overall, -1))
    return found


def candidates(values: ItemValues, members: np.ndarray, rule: NameRule = NameRule(), exclude=()) -> list[Candidate]:
    """The values and ranges that may name ``members`` under ``rule``, best (highest score)
    first, leaving out the values and ranges named in ``exclude`` (e.g. those naming the region
    around)."""
    if values.empty or members.size == 0:
        return []
    found = []
    if values.n_values:
        counts = np.asarray(values.matrix[members].sum(axis=0)).ravel()
        share = counts / members.size
        overall = values.overall
        lift = np.divide(share, overall, out=np.zeros_like(share), where=overall > 0)
        keep = (counts >= min(MIN_CARRIERS, members.size)) & rule.passes(share, lift)
        found += [Candidate(values.labels[v], values.columns[v], float(share[v]), float(overall[v]), int(v)) for v in np.flatnonzero(keep)]
    found += [c for c in _middle_half(values, members) if rule.passes(c.share, c.lift)]
    found = [c for c in found if c.label not in exclude]
    return sorted(found, key=lambda c: (-c.score, c.label))


@dataclass(frozen=True)
class GroupName:
    """A group's name and the measure of its top value (None when no value names it)."""

    name: str
    top_value: str | None = None
    top_column: str | None = None
    share: float | None = None  # share of the group's items that carry the top value
    share_overall: float | None = None  # the same share over the whole map
    lift: float | None = None  # share / share_overall
    parts: tuple[str, ...] = ()  # the values and ranges the name is made of


def _short(name: object, limit: int = 28) -> str:
    text = str(name)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def popular_items(members: np.ndarray, popularity: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` most popular of ``members`` (ties by index)."""
    return members[np.lexsort((members, -popularity[members]))][:count]


def popular_name(members: np.ndarray, names: np.ndarray, popularity: np.ndarray) -> str:
    """"around A, B": the group's most popular items (only A where both make a long name)."""
    best = [_short(names[i]) for i in popular_items(members, popularity, POPULAR_ITEMS)]
    while len(best) > 1 and len(", ".join(best)) > POPULAR_NAME_LENGTH:
        best.pop()
    return "around " + ", ".join(best)


def name_group(
    values: ItemValues, members: np.ndarray, names: np.ndarray, popularity: np.ndarray, *, exclude=(), rule: NameRule = NameRule()
) -> GroupName:
    """The group's name: its one or two best values that pass ``rule`` (leaving out ``exclude``,
    e.g. the values naming the region around it), else its most popular items."""
    ranked = candidates(values, members, rule, exclude)
    if not ranked:
        return GroupName(popular_name(members, names, popularity))
    top = ranked[0]
    chosen = [top]
    for other in ranked[1:]:
        if other.label == top.label or other.column == top.column and other.part < 0:
            continue  # the same word from another column (genre and genres)
        if other.score >= SECOND_SCORE * top.score:
            chosen.append(other)
        break
    name = SEPARATOR.join(c.label for c in chosen)
    parts = tuple(c.label for c in chosen)
    return GroupName(name, top.label, top.column, top.share, top.overall, top.lift, parts)


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
