"""What kind of values a metadata column holds — the one rule every view follows.

The app's "colour by" choices, its Altair scales, the Emblaze comparison and the web atlas all
ask ``column_kind``, so a column is a category or a ramp the same way everywhere:

* ``number``: numbers with at least ``MIN_DISTINCT_NUMBERS`` distinct values (a continuous ramp);
  fewer distinct numbers (a 1–5 rating, a boolean) are categories;
* ``multi``: sets of values — Parquet lists, or text whose values are joined by a separator
  (``Action|Adventure``); coloured by one value at a time or by each item's most distinctive
  value (never by the order in which the values are listed);
* ``category``: text with at most ``MAX_COLOURS`` distinct values, or few relative to the items
  (genre, country, director); beyond ``MAX_COLOURS`` values, the most common ones plus "other";
* ``text``: text that is nearly unique per item (titles, descriptions): shown, not coloured.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

NUMBER, CATEGORY, MULTI, TEXT = "number", "category", "multi", "text"
#: Numbers with fewer distinct values than this are categories.
MIN_DISTINCT_NUMBERS = 13
#: Text with more distinct values than this share of the items is free text, not a category.
CATEGORY_MAX_SHARE = 0.5
#: Categories coloured one by one; the rest share "other".
MAX_COLOURS = 12
#: Separators recognised between the values of a multi-valued text field.
SEPARATORS = ("|", ";")
OTHER = "other"


def _is_list(value) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _holds_lists(values: pd.Series) -> bool:
    """Whether any value of ``values`` is a list (a Parquet list column). A column of pandas'
    string type holds none, and is not read value by value (0.1 s a call at 100,000 items, three
    calls after every change of the app's maps when they are coloured by it)."""
    if isinstance(values.dtype, pd.StringDtype):
        return False
    return bool(values.dropna().map(_is_list).any())


def separator(values: pd.Series) -> str | None:
    """The separator joining several values per item in a text column, or None.

    A separator counts when at least a fifth of the values contain it and splitting does not
    make more distinct values than there were (sets of tags share their parts; sentences don't).
    """
    text = values.dropna().astype(str)
    if text.empty:
        return None
    for sep in SEPARATORS:
        joined = text.str.contains(sep, regex=False)
        if joined.mean() < 0.2:
            continue
        parts = {p.strip() for v in text for p in v.split(sep) if p.strip()}
        if len(parts) <= text.nunique():
            return sep
    return None


def column_kind(values: pd.Series) -> str:
    """``number``, ``category``, ``multi`` or ``text``: how the column is shown (see module doc)."""
    present = values.dropna()
    if present.empty:
        return TEXT
    if pd.api.types.is_bool_dtype(values):
        return CATEGORY
    if pd.api.types.is_numeric_dtype(values):
        return NUMBER if present.nunique() >= MIN_DISTINCT_NUMBERS else CATEGORY
    if _holds_lists(present):
        return MULTI
    if separator(values) is not None:
        return MULTI
    distinct = present.astype(str).nunique()
    return CATEGORY if distinct <= max(MAX_COLOURS, CATEGORY_MAX_SHARE * len(values)) else TEXT


def value_sets(values: pd.Series) -> list[list[str]]:
    """Each item's values as a list of strings (one for a plain value, none for a missing one)."""
    sep = None if _holds_lists(values) else separator(values)
    out = []
    for v in values.tolist():
        if _is_list(v):
            out.append([str(x) for x in v if x is not None and str(x).strip()])
        elif v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            out.append([])
        elif sep is not None:
            out.append([p.strip() for p in str(v).split(sep) if p.strip()])
        else:
            out.append([str(v)])
    return out


def value_counts(values: pd.Series) -> list[tuple[str, int]]:
    """Single values with the number of items holding each, most common first (ties by name)."""
    counts = Counter(v for vs in value_sets(values) for v in dict.fromkeys(vs))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def neighbour_matrix(neighbors, n: int):
    """Item neighbourhoods as a sparse n × n 0/1 matrix, from a sparse matrix or an n × k array of
    neighbour indices (−1 pads); None stays None."""
    from scipy import sparse

    if neighbors is None:
        return None
    if sparse.issparse(neighbors):
        return sparse.csr_matrix(neighbors)
    index = np.asarray(neighbors)
    if index.ndim != 2 or index.shape[0] != n:
        raise ValueError(f"neighbours must be one row per item ({n}), not an array of shape {index.shape}.")
    rows, cols = np.nonzero(index >= 0)
    return sparse.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, index[rows, cols])), shape=(n, n))


def distinctive_choice(sets: list[list[str]], keep: Sequence[str], neighbors=None) -> list[str | None]:
    """Each item's value among its own ``keep`` values (``keep`` most common first) that is most
    distinctive of it: the highest lift in its graph neighbourhood — the share of its neighbours
    holding the value against that share over all items. Ties, and items without neighbours, take
    the most common of their values. Never the order in which an item lists its values."""
    from scipy import sparse

    n, position = len(sets), {v: k for k, v in enumerate(keep)}
    rows = [i for i, s in enumerate(sets) for v in dict.fromkeys(s) if v in position]
    cols = [position[v] for s in sets for v in dict.fromkeys(s) if v in position]
    held = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, len(keep)))
    lift = np.zeros((n, len(keep)))
    adjacency = neighbour_matrix(neighbors, n)
    if adjacency is not None and n:
        overall = np.asarray(held.sum(axis=0)).ravel() / n
        around = np.asarray((adjacency @ held).todense(), dtype=np.float64)
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        lift = around / np.maximum(degree, 1)[:, None] / np.where(overall > 0, overall, 1.0)[None, :]
    mine = np.asarray(held.todense()) > 0
    score = np.where(mine, lift, -1.0)
    best = np.argmax(score, axis=1)  # the first of equal scores: the most common
    return [keep[b] if mine[i].any() else None for i, b in enumerate(best)] if keep else [None] * n


def colour_values(values: pd.Series, *, has: str | None = None, max_colours: int = MAX_COLOURS, neighbors=None) -> tuple[np.ndarray, dict]:
    """One colour category per item, and a legend.

    Numbers pass through. Categories keep their ``max_colours`` most common values and call the
    rest "other". Multi-valued fields colour each item by its most distinctive value among the
    most common ones (``distinctive_choice``, in the item's ``neighbors``: a sparse matrix or an
    n × k index array; without them, its most common value) — or, with ``has``, by whether it
    holds that value. The legend says what was done: ``{"kind", "values": [(value, items)],
    "other": items in "other"}``; a set's legend counts every item holding each value.
    """
    kind = column_kind(values)
    if kind == NUMBER:
        return values.to_numpy(), {"kind": kind, "values": [], "other": 0}
    if kind != MULTI and has is None:  # one value per item: done column-wise (fast on 50k items)
        text = values.astype(object).where(values.notna(), None).map(lambda v: None if v is None else str(v))
        counts = text.value_counts(dropna=True)
        counts = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        top = [v for v, _ in counts[:max_colours]]
        labels = np.where(text.isin(top).to_numpy(), text.to_numpy(dtype=object), np.where(text.isna().to_numpy(), None, OTHER))
        shown = Counter(labels.tolist())
        return labels.astype(object), {"kind": kind, "values": [(v, shown[v]) for v in top], "other": shown.get(OTHER, 0)}
    sets = value_sets(values) if kind == MULTI else [[] if pd.isna(v) else [str(v)] for v in values.tolist()]
    counts = value_counts(values) if kind == MULTI else sorted(Counter(s[0] for s in sets if s).items(), key=lambda kv: (-kv[1], kv[0]))
    if has is not None:
        labels = np.array([has if has in s else f"not {has}" for s in sets], dtype=object)
        held = int(sum(has in s for s in sets))
        return labels, {"kind": kind, "values": [(has, held), (f"not {has}", len(sets) - held)], "other": 0, "has": has}
    top = [v for v, _ in counts[:max_colours]]
    chosen = distinctive_choice(sets, top, neighbors)
    labels = np.array([c if c is not None else (OTHER if s else None) for c, s in zip(chosen, sets)], dtype=object)
    shown = Counter(labels.tolist())
    return labels, {"kind": kind, "values": counts[:max_colours], "other": shown.get(OTHER, 0)}


#: The legend label of items without any value.
NO_VALUE = "no value"


def legend_categories(
    values: pd.Series, *, has: str | None = None, max_colours: int = MAX_COLOURS, name: str = "", neighbors=None, absent: str = NO_VALUE
) -> tuple[np.ndarray, list[str], str]:
    """``colour_values`` of a column that is not a number, as legend labels with their counts.

    Returns ``(labels, order, note)``: each item's label (``"Drama (1,234)"``: the value and how
    many items have that colour), the labels in legend order (most common first, then "other",
    then items without a value), and a sentence saying what the colours stand for when that is
    not plain (a set coloured by its most distinctive value or by one value, the top values of a
    category with more of them than colours), else "".
    """
    kind = column_kind(values)
    if kind == NUMBER:
        raise ValueError(f"{name or 'this column'} holds numbers; colour it on a continuous scale instead.")
    raw, legend = colour_values(values, has=has, max_colours=max_colours, neighbors=neighbors)
    raw = np.array([absent if v is None else v for v in raw.tolist()], dtype=object)
    counts = Counter(raw.tolist())
    holding = dict(legend["values"]) if kind == MULTI and has is None else {}  # a set's legend counts every item holding the value
    order = [v for v, _ in legend["values"] if counts.get(v) or holding.get(v)]
    order += [v for v in (OTHER, absent) if counts.get(v) and v not in dict(legend["values"])]
    text = {v: f"{v} ({holding.get(v, counts.get(v, 0)):,})" for v in order}
    labels = np.array([text[v] for v in raw.tolist()], dtype=object)
    column = f"**{name}**" if name else "this column"
    distinct = len(value_counts(values)) if kind == MULTI else int(values.dropna().astype(str).nunique())
    if has is not None:
        note = f"{column} holds sets of values: items with “{has}” against the rest."
    elif kind == MULTI:
        shown = len(legend["values"])
        among = f" among the {shown} most common of {distinct}" if shown < distinct else ""
        note = f"{column} holds sets of values: each item takes the colour of its most distinctive value{among} (the one most over-represented among its neighbours); a count is of every item holding the value"
        note += f"; {legend['other']:,} items hold none of them (“{OTHER}”)." if legend["other"] else "."
    elif legend["other"]:
        shown = len(legend["values"])
        note = f"{column} has {distinct:,} values: the {shown} most common have a colour, the other {distinct - shown:,} ({legend['other']:,} items) share “{OTHER}”."
    else:
        note = ""
    return labels, [text[v] for v in order], note


def set_choices(values: pd.Series) -> dict[str, str]:
    """For a column of sets: "most distinctive value" and "has X" choices (label -> the value, "" for the
    first), single values from the most to the least common; nothing for other columns."""
    if column_kind(values) != MULTI:
        return {}
    return {"each item's most distinctive value": "", **{f"has “{v}”": v for v, _ in value_counts(values)}}


def not_colourable(frame: pd.DataFrame, skip: Sequence[str] = ()) -> list[str]:
    """The columns of ``frame`` that are free text (a different value for nearly every item)."""
    return [str(c) for c in frame.columns if c not in skip and column_kind(frame[c]) == TEXT]


def colourable(frame: pd.DataFrame, skip: Sequence[str] = ()) -> dict[str, str]:
    """The columns of ``frame`` worth colouring by, with their kind (everything but free text)."""
    kinds = {}
    for column in frame.columns:
        if column in skip:
            continue
        kind = column_kind(frame[column])
        if kind != TEXT:
            kinds[str(column)] = kind
    return kinds
