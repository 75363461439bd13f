"""The item tables behind the maps: sampling, search, neighbour names, highlights, the "colour
by" choices, and the metrics of layouts as a table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from atlas.explain import FAITHFUL_K

log = logging.getLogger(__name__)

#: Above this many points the Altair views draw a sample (Altair stays fluid to ~20k points).
MAX_CHART_POINTS = 20_000
#: Emblaze (WebGL) draws a sample above this many points.
MAX_EMBLAZE_POINTS = 10_000
#: Columns of the map table that are not item metadata.
MAP_COLUMNS = ("row", "item_id", "name", "n_users", "neighbours", "highlight", "highlight_kind", "highlight_rank", "colour_value", "since_export")
#: The colour that differs from map to map: each item's faithfulness on that map
#: (:func:`atlas.explain.faithfulness`), a column ``<key>_faithfulness`` per layout.
FAITHFULNESS = "faithfulness"
FAITHFULNESS_LABEL = "faithfulness (neighbours kept near)"
#: Colours held per map (``<key>_<colour>``), with the range their scale always spans.
PER_MAP_COLOURS = {FAITHFULNESS: (0.0, 1.0)}
#: The colour of the items new since the earlier export the maps are aligned to (``since_labels``).
SINCE = "since_export"
SINCE_LABEL = "new since the export aligned to"
SINCE_VALUES = ("new since that export", "on its map too")
#: Columns the app makes from a build (not item metadata), by the colour they offer.
APP_COLUMNS = (SINCE,)
#: The legend's title of a colour whose column name says too little.
COLOUR_TITLES = {SINCE: "since the export aligned to"}


def safe_column_name(name: object) -> str:
    """A column name Vega can use as a field (no dots, brackets or quotes)."""
    text = "".join(ch if ch.isalnum() or ch in "_ -" else "_" for ch in str(name)).strip()
    return text or "column"


def map_table(
    items,
    layouts: Mapping[str, np.ndarray],
    *,
    name_column: str | None = None,
    neighbors: np.ndarray | None = None,
    n_tooltip_neighbors: int = 5,
    neighbour_text: Sequence[str] | None = None,
    per_map: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    columns: Mapping[str, Sequence] | None = None,
):
    """One row per item with its coordinates in every layout, ready for the Altair views.

    Args:
        items: the item table aligned with the layouts' rows (``atlas.item_frame``): an
            ``item_id`` column, ``n_users`` and any metadata columns.
        layouts: key -> ``(n, 2)`` coordinates; columns ``<key>_x`` and ``<key>_y`` are added.
        name_column: metadata column that names an item; the item id is used without it.
        neighbors: ``(n, k)`` neighbour rows (``-1`` pads); their names fill the tooltip, and
            a column of sets is coloured by each item's most distinctive value among them
            (kept in ``frame.attrs["neighbors"]``, see ``colour_context``).
        neighbour_text: the tooltip's neighbour names, made already by ``neighbour_names``
            (the app makes them once per graph: 0.4 s at 100,000 items, after every layout
            change when made here).
        per_map: a colour of ``PER_MAP_COLOURS`` -> layout key -> one value per item; each
            becomes the column ``<key>_<colour>`` (see ``view_colour``).
        columns: columns the app made from the build, by name (``APP_COLUMNS``: ``since_export``,
            see ``since_labels``), one value per item.
    """
    import pandas as pd

    n = len(items)
    frame = pd.DataFrame({"row": np.arange(n)})
    frame["item_id"] = items["item_id"].astype(str).to_numpy() if "item_id" in items else items.index.astype(str)
    if name_column and name_column in items:
        names = items[name_column].astype(str).to_numpy()
    else:
        names = frame["item_id"].to_numpy()
    frame["name"] = names
    frame["n_users"] = items["n_users"].to_numpy() if "n_users" in items else np.ones(n, dtype=np.int64)
    if neighbour_text is not None:
        if len(neighbour_text) != n:
            raise ValueError(f"neighbour_text must have one entry per item ({n}), got {len(neighbour_text)}.")
        frame["neighbours"] = np.asarray(neighbour_text, dtype=object)
    elif neighbors is not None:
        frame["neighbours"] = neighbour_names(names, neighbors, n_tooltip_neighbors)
    else:
        frame["neighbours"] = ""
    frame["highlight"] = False
    if neighbors is not None:
        frame.attrs["neighbors"] = np.asarray(neighbors)
    for name, values in (columns or {}).items():
        if name not in APP_COLUMNS:
            raise ValueError(f"{name!r} is not a column the app makes; choose one of {sorted(APP_COLUMNS)}.")
        if len(values) != n:
            raise ValueError(f"column {name!r} must have one value per item ({n}), got {len(values)}.")
        frame[name] = np.asarray(values, dtype=object)
    taken = set(frame.columns) | set(PER_MAP_COLOURS) | set(APP_COLUMNS)
    for colour, values in (per_map or {}).items():
        for key in layouts:
            if key in values:
                taken.add(f"{key}_{colour}")
    for column in items.columns:
        if column in ("item_id", "n_users") or column == name_column:
            continue
        safe = safe_column_name(column)
        if safe in taken:
            continue
        taken.add(safe)
        frame[safe] = items[column].to_numpy()
    for key, xy in layouts.items():
        xy = np.asarray(xy)
        if xy.shape != (n, 2):
            raise ValueError(f"layout {key!r} must have shape ({n}, 2), got {xy.shape}.")
        frame[f"{key}_x"] = xy[:, 0].astype(np.float64)
        frame[f"{key}_y"] = xy[:, 1].astype(np.float64)
    for colour, values in (per_map or {}).items():
        if colour not in PER_MAP_COLOURS:
            raise ValueError(f"{colour!r} is not a colour held per map; choose one of {sorted(PER_MAP_COLOURS)}.")
        for key in layouts:
            if key in values:
                column = np.asarray(values[key], dtype=np.float64)
                if column.shape != (n,):
                    raise ValueError(f"{colour} of layout {key!r} must have one value per item ({n}), got shape {column.shape}.")
                frame[f"{key}_{colour}"] = column
    return frame


def view_colour(table, color: str, key: str) -> str:
    """The column that colours the map of layout ``key``: its own ``<key>_<color>`` for a
    colour held per map (``PER_MAP_COLOURS``), else ``color`` itself."""
    own = f"{key}_{color}"
    return own if color in PER_MAP_COLOURS and own in table else color


def can_colour(table, color: str, keys: Sequence[str]) -> bool:
    """Whether every map of the layouts ``keys`` can be coloured by ``color``."""
    return all(view_colour(table, color, key) in table for key in keys) if keys else color in table


def colour_or_popularity(table, color: str, keys: Sequence[str]) -> tuple[str, str]:
    """The column that colours the maps of ``keys``: ``color`` where every map has it, else
    popularity, with a sentence on why (the items new since an earlier export, with none aligned to)."""
    if can_colour(table, color, keys):
        return color, ""
    if color == SINCE:
        return "n_users", (
            "The items new since an earlier export need one to align to: type its folder in “align to a previous export” "
            "(Regions and stable rebuilds). Coloured by popularity meanwhile."
        )
    return "n_users", ""


def since_labels(new: np.ndarray) -> np.ndarray:
    """Each item's value of the ``since_export`` colour: new since the export aligned to, or on its map too."""
    new = np.asarray(new, dtype=bool)
    return np.where(new, SINCE_VALUES[0], SINCE_VALUES[1]).astype(object)


def per_map_column(column: str) -> bool:
    """Whether ``column`` of a map table is a per-map colour (``<key>_faithfulness``)."""
    return any(column.endswith(f"_{colour}") for colour in PER_MAP_COLOURS)


def colour_context(table, color: str) -> dict:
    """What ``columns.legend_categories`` needs beyond the column: the items' graph neighbours
    (``map_table`` keeps them), and what items without a value are called — "outside any region"
    for the ``region`` column of an export."""
    from atlas.columns import NO_VALUE
    from atlas.regions import OUTSIDE, REGION_COLUMN

    neighbors = table.attrs.get("neighbors")
    if neighbors is not None and np.asarray(neighbors).shape[0] != len(table):
        neighbors = None  # a table cut down after it was made: its rows no longer match
    return {"neighbors": neighbors, "absent": OUTSIDE if color == REGION_COLUMN else NO_VALUE}


def neighbour_names(names: Sequence[str], neighbors: np.ndarray, limit: int = 5) -> list[str]:
    """The names of each item's first ``limit`` neighbours, joined for a tooltip."""
    text = np.array([str(name) for name in names], dtype=object)
    rows = np.asarray(neighbors)[:, :limit]
    if rows.size == 0:
        return [""] * rows.shape[0]
    # every row's names at once (a row with padding is joined again below, without it): a name
    # at a time took half a second at 100,000 items, after every slider move of the app
    out = [", ".join(row) for row in text[np.maximum(rows, 0)].tolist()]
    for i in np.flatnonzero((rows < 0).any(axis=1)):
        out[i] = ", ".join(text[j] for j in rows[i] if j >= 0)
    return out


def metadata_columns(table) -> list[str]:
    """The item-metadata columns of a map table (everything the app did not add)."""
    return [c for c in table.columns if c not in MAP_COLUMNS and not c.endswith(("_x", "_y")) and not per_map_column(c)]


def is_quantitative(values) -> bool:
    """Whether a column is drawn on a continuous scale (``atlas.columns``' rule: many distinct numbers)."""
    from atlas.columns import NUMBER, column_kind

    return column_kind(values) == NUMBER


def sample_rows(n: int, max_points: int = MAX_CHART_POINTS, *, keep: Sequence[int] = (), seed: int = 0) -> np.ndarray:
    """Sorted row numbers to draw: all rows, or a seeded sample of ``max_points`` that always
    contains the ``keep`` rows (search hits, a user's items)."""
    if n <= max_points:
        return np.arange(n)
    keep = np.unique(np.asarray(keep, dtype=np.int64))[:max_points]
    rest = np.setdiff1d(np.arange(n), keep)
    rng = np.random.default_rng(seed)
    extra = rng.choice(rest, size=max_points - keep.shape[0], replace=False)
    return np.sort(np.concatenate([keep, extra]))


def find_items(table, query: str, *, limit: int = 10) -> np.ndarray:
    """Rows whose name or id matches ``query`` (exact matches first, then most popular)."""
    query = query.strip().lower()
    if not query:
        return np.array([], dtype=np.int64)
    names = table["name"].astype(str).str.lower()
    ids = table["item_id"].astype(str).str.lower()
    exact = (names == query) | (ids == query)
    partial = names.str.contains(query, regex=False)
    score = exact.astype(int) * 2 + partial.astype(int)
    hits = table.assign(_score=score)[score > 0]
    hits = hits.sort_values(["_score", "n_users"], ascending=[False, False])
    return hits["row"].to_numpy()[:limit]


def with_neighbours(rows: Sequence[int], neighbors: np.ndarray | None, k: int = 10) -> np.ndarray:
    """``rows`` plus each one's first ``k`` graph neighbours."""
    rows = np.asarray(rows, dtype=np.int64)
    if neighbors is None or rows.size == 0:
        return rows
    near = np.asarray(neighbors)[rows, :k].ravel()
    return np.unique(np.concatenate([rows, near[near >= 0]]))


def rows_from_text(table, text: str) -> np.ndarray:
    """Rows named in pasted text, sorted (see ``lookup.match_list``: one id or name per line)."""
    from .lookup import match_list

    return np.sort(match_list(table, text).rows)


def colour_options(items, *, name_column: str | None = None, faithfulness: bool = False, since: bool = False) -> dict[str, str]:
    """Choices for "colour by": label -> map-table column. Popularity, each map's faithfulness
    (with ``faithfulness``: a colour held per map, ``PER_MAP_COLOURS``), the items new since the
    export the maps are aligned to (with ``since``: where the app can align to one), then every
    metadata column that ``atlas.columns`` finds colourable (numbers, categories, sets of values)."""
    from atlas.columns import colourable

    options = {"popularity (users)": "n_users"}
    if faithfulness:
        options[FAITHFULNESS_LABEL] = FAITHFULNESS
    if since:
        options[SINCE_LABEL] = SINCE
    if items is None:
        return options
    for column in colourable(items, skip=(name_column, "item_id", "n_users")):
        if safe_column_name(column) in PER_MAP_COLOURS or safe_column_name(column) in APP_COLUMNS:  # an earlier export's own, of its map: not this one's
            continue
        options[column] = safe_column_name(column)
    return options


def default_colour(options: Mapping[str, str], items, label_column: str | None) -> str:
    """The "colour by" choice to start with: the label column, else the first metadata column
    that is not a number, else popularity."""
    from atlas.columns import NUMBER, column_kind

    if label_column in options:
        return label_column
    for label in options:
        if label != "popularity (users)" and items is not None and label in items and column_kind(items[label]) != NUMBER:
            return label
    return "popularity (users)"


def metrics_table(metrics: Mapping[str, Mapping[str, float]]):
    """Layout name -> metrics dict, as a rounded table with one row per layout."""
    import pandas as pd

    frame = pd.DataFrame.from_dict({name: dict(values) for name, values in metrics.items()}, orient="index")
    frame.index.name = "layout"
    return frame.round(3).reset_index()


def static_table(frame, *, class_name: str = "atlas-table"):
    """A small read-only table (a few rows: metrics, stage times) as plain HTML.

    ``mo.ui.table`` is an interactive widget that fetches its rows from the kernel after it is
    drawn; for tables without selection or paging a plain table draws at once and costs the page
    nothing while it loads. Cells are escaped; numbers are right-aligned; NaN shows as blank.
    """
    import html

    import marimo as mo
    import pandas as pd

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "<td></td>"
        text = html.escape(f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return f'<td style="text-align:right">{text}</td>' if numeric else f"<td>{text}</td>"

    head = "".join(f'<th style="text-align:left">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = "".join("<tr>" + "".join(cell(v.item() if hasattr(v, "item") else v) for v in row) + "</tr>" for row in frame.itertuples(index=False))
    style = "border-collapse:collapse;font-size:0.875rem"
    return mo.Html(
        f'<table class="{class_name}" style="{style}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        '<style>.atlas-table th,.atlas-table td{padding:0.25rem 0.75rem;border-bottom:1px solid #e5e7eb}</style>'
    )
