"""UI glue for the notebooks: an Emblaze comparison that renders in marimo, and Altair charts.

Nothing here computes a map; these functions only turn results of the pipeline (layouts,
item tables, neighbour lists) into widgets and chart specifications.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import traitlets

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Emblaze in marimo
# ---------------------------------------------------------------------------------------------

# Emblaze's front end keeps every synced trait in a Svelte store that it refreshes with the
# Backbone listener signature ``(model, value)``.  marimo (and the current anywidget spec)
# call ``change:`` listeners without arguments, so the stores never receive data and the
# canvas stays blank.  Reading the value from the model works under both conventions.
_BACKBONE_LISTENER = 'model.on("change:" + name2, (model2, val) => curVal.set(val), null);'
_PORTABLE_LISTENER = 'model.on("change:" + name2, () => curVal.set(model.get(name2)), null);'


def portable_emblaze_esm(source: str) -> str:
    """Return Emblaze's front-end module with its trait listeners made argument-free.

    Raises ``RuntimeError`` when the bundle does not contain the listener this fix expects
    (a different Emblaze build), rather than shipping a widget that silently draws nothing.
    """
    if _PORTABLE_LISTENER in source:
        return source
    if source.count(_BACKBONE_LISTENER) != 1:
        raise RuntimeError(
            "This Emblaze build does not contain the trait listener atlas knows how to adapt; "
            "pin emblaze==0.11.* or update atlas.widgets.portable_emblaze_esm."
        )
    return source.replace(_BACKBONE_LISTENER, _PORTABLE_LISTENER)


def _run_inline(fn, args=(), kwargs=None):
    """Emblaze's thread hook, run in the caller's thread.

    Trait updates made from a background thread have no marimo cell to send through, so
    suggestion and alignment work is done where it is requested.
    """
    fn(*args, **(kwargs or {}))


@functools.cache
def _viewer_class():
    import emblaze

    class MarimoViewer(emblaze.Viewer):
        """``emblaze.Viewer`` whose front end works with marimo's widget model."""

        _esm = traitlets.Unicode("").tag(sync=True)

        @traitlets.validate("_esm")
        def _adapt_esm(self, proposal):
            source = proposal["value"]
            if not source or source.startswith("http"):
                return source
            return portable_emblaze_esm(source)

        #: Whether to compute Emblaze's suggested selections (slow on large maps).
        compute_suggestions = traitlets.Bool(False)

        def _update_suggested_selections(self):
            if self.compute_suggestions:
                super()._update_suggested_selections()
            else:
                self.suggestedSelections = []

    return MarimoViewer


def _fill_padding(neighbors: np.ndarray) -> np.ndarray:
    """Replace -1 pads by the row's last real neighbour (or the item itself when it has none);
    Emblaze expects full rows."""
    filled = neighbors.astype(np.int64)
    for i in np.flatnonzero((filled < 0).any(axis=1)):
        real = filled[i][filled[i] >= 0]
        filled[i][filled[i] < 0] = real[-1] if real.size else i
    return filled


def _neighbor_source(neighbors: np.ndarray, n: int):
    """A neighbour-only Emblaze frame holding the item graph's neighbour lists."""
    from emblaze.datasets import NeighborOnlyEmbedding
    from emblaze.neighbors import Neighbors

    neighbors = np.asarray(neighbors)
    if neighbors.ndim != 2 or neighbors.shape[0] != n:
        raise ValueError(f"neighbors must be an array of shape ({n}, k), got {neighbors.shape}.")
    if not np.issubdtype(neighbors.dtype, np.integer):
        raise ValueError(f"neighbors must hold integer row indices, got dtype {neighbors.dtype}.")
    if neighbors.size and (neighbors.min() < -1 or neighbors.max() >= n):
        raise ValueError(f"neighbors must be row indices between 0 and {n - 1} (or -1 for padding).")
    ids = np.arange(n)
    table = Neighbors(_fill_padding(neighbors), ids=ids, metric="graph", n_neighbors=neighbors.shape[1])
    return NeighborOnlyEmbedding(table, metric="graph", n_neighbors=neighbors.shape[1])


def emblaze_view(
    layouts: Mapping[str, np.ndarray],
    *,
    names: Sequence[str],
    colors: np.ndarray | Sequence | None = None,
    neighbors: np.ndarray | None = None,
    n_layout_neighbors: int = 10,
    suggestions: bool = False,
):
    """An Emblaze viewer comparing 2D layouts of the same items, ready to show in marimo.

    Args:
        layouts: frame label -> ``(n, 2)`` coordinates, rows in the same item order. The
            first layout is the reference the others are aligned to.
        names: one label per item, shown on hover and in the sidebar.
        colors: one value per item; strings colour by category, numbers by a continuous scale
            (Emblaze treats numbers with fewer than 12 distinct values as categories).
        neighbors: optional ``(n, k)`` row indices of each item's neighbours in the item
            graph (``-1`` pads allowed); the sidebar then lists those neighbours and Star
            Trails compare each layout with them. Without it, each layout's own nearest
            points stand in.
        n_layout_neighbors: neighbours computed within each 2D layout (for Star Trails and
            frame colours).
        suggestions: compute Emblaze's "suggested selections" (costly on large maps).
    """
    import emblaze
    from emblaze.utils import Field

    if not layouts:
        raise ValueError("layouts must hold at least one (n, 2) array.")
    frames = {label: np.asarray(xy, dtype=np.float64) for label, xy in layouts.items()}
    n = next(iter(frames.values())).shape[0]
    for label, xy in frames.items():
        if xy.shape != (n, 2):
            raise ValueError(f"layout {label!r} must have shape ({n}, 2), got {xy.shape}.")
        if not np.isfinite(xy).all():
            raise ValueError(f"layout {label!r} holds non-finite coordinates.")
    if len(names) != n:
        raise ValueError(f"names has {len(names)} entries for {n} items.")
    if n < 3:
        raise ValueError(f"Emblaze needs at least 3 items, got {n}.")

    color_values = np.zeros(n) if colors is None else np.asarray(colors)
    if color_values.shape != (n,):
        raise ValueError(f"colors must have one value per item ({n}), got shape {color_values.shape}.")
    if color_values.dtype.kind not in "biuf":
        color_values = np.asarray([str(c) for c in color_values], dtype=object)

    parent = None if neighbors is None else _neighbor_source(neighbors, n)
    k = int(min(n_layout_neighbors, n - 1))
    embeddings = []
    for label, xy in frames.items():
        frame = emblaze.Embedding({Field.POSITION: xy, Field.COLOR: color_values}, label=label, n_neighbors=k, parent=parent)
        frame.compute_neighbors(n_neighbors=k, metric="euclidean")
        embeddings.append(frame)

    viewer_class = _viewer_class()
    return viewer_class(
        embeddings=emblaze.EmbeddingSet(embeddings, align=True),
        thumbnails=emblaze.TextThumbnails([str(s) for s in names]),
        thread_starter=_run_inline,
        compute_suggestions=suggestions,
    )


# ---------------------------------------------------------------------------------------------
# Tables behind the maps
# ---------------------------------------------------------------------------------------------

#: Above this many points the Altair views draw a sample (Altair stays fluid to ~20k points).
MAX_CHART_POINTS = 20_000
#: Emblaze (WebGL) draws a sample above this many points.
MAX_EMBLAZE_POINTS = 10_000
#: Columns of the map table that are not item metadata.
MAP_COLUMNS = ("row", "item_id", "name", "n_users", "neighbours", "highlight")


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
):
    """One row per item with its coordinates in every layout, ready for the Altair views.

    Args:
        items: the item table aligned with the layouts' rows (``atlas.item_frame``): an
            ``item_id`` column, ``n_users`` and any metadata columns.
        layouts: key -> ``(n, 2)`` coordinates; columns ``<key>_x`` and ``<key>_y`` are added.
        name_column: metadata column that names an item; the item id is used without it.
        neighbors: ``(n, k)`` neighbour rows (``-1`` pads); their names fill the tooltip.
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
    if neighbors is not None:
        frame["neighbours"] = neighbour_names(names, neighbors, n_tooltip_neighbors)
    else:
        frame["neighbours"] = ""
    frame["highlight"] = False
    taken = set(frame.columns)
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
    return frame


def neighbour_names(names: Sequence[str], neighbors: np.ndarray, limit: int = 5) -> list[str]:
    """The names of each item's first ``limit`` neighbours, joined for a tooltip."""
    names = np.asarray(names, dtype=object)
    out = []
    for row in np.asarray(neighbors)[:, :limit]:
        out.append(", ".join(str(names[j]) for j in row if j >= 0))
    return out


def metadata_columns(table) -> list[str]:
    """The item-metadata columns of a map table (everything the app did not add)."""
    return [c for c in table.columns if c not in MAP_COLUMNS and not c.endswith(("_x", "_y"))]


def colour_columns(table, *, max_categories: int = 40) -> list[str]:
    """Columns worth colouring a map by: numbers, or categories with few distinct values."""
    usable = ["n_users"]
    for column in metadata_columns(table):
        values = table[column]
        if values.dtype.kind in "biuf" or values.nunique(dropna=True) <= max_categories:
            usable.append(column)
    return usable


def is_quantitative(values, *, min_distinct: int = 13) -> bool:
    """Numbers with many distinct values get a continuous scale; anything else is categorical."""
    return values.dtype.kind in "iuf" and values.nunique(dropna=True) >= min_distinct


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
    """Rows named in pasted text: one item id or exact name per line or comma."""
    tokens = {t.strip().lower() for line in text.splitlines() for t in line.split(",")}
    tokens.discard("")
    if not tokens:
        return np.array([], dtype=np.int64)
    ids = table["item_id"].astype(str).str.lower()
    names = table["name"].astype(str).str.lower()
    return table["row"].to_numpy()[(ids.isin(tokens) | names.isin(tokens)).to_numpy()]


def rows_for_user(interactions, item_ids: Sequence[str], user_id: str) -> np.ndarray:
    """Map rows (positions in ``item_ids``) of the items one user interacted with."""
    import pandas as pd

    matches = np.flatnonzero(np.asarray(interactions.user_ids) == str(user_id))
    if matches.size == 0:
        return np.array([], dtype=np.int64)
    touched = np.asarray(interactions.item_ids)[interactions.item[interactions.user == matches[0]]]
    position = pd.Index(np.asarray(item_ids, dtype=str))
    rows = position.get_indexer(np.asarray(touched, dtype=str))
    return np.sort(rows[rows >= 0])


# ---------------------------------------------------------------------------------------------
# Altair charts
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_altair():
    """Silence Altair's notice that the shared brush was added to several views (intended)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
        yield


def linked_maps(
    table,
    views: Mapping[str, str],
    *,
    color: str | None = "n_users",
    width: int = 460,
    height: int = 420,
    tooltip_columns: int = 6,
):
    """Side-by-side scatterplots of the same items with one linked brush.

    Brushing in any view keeps colour on the brushed items in every view and greys the rest;
    rows with ``highlight`` set are drawn on top, outlined, while the others fade.

    Args:
        table: a map table (see ``map_table``), possibly a sampled subset of rows.
        views: view title -> layout key (the ``<key>_x``/``<key>_y`` columns).
        color: column to colour by (categorical or numeric), or None.
    """
    import altair as alt

    brush = alt.selection_interval(name="brush", encodings=["x", "y"], resolve="global")
    if color:
        if color == "n_users":  # popularity is heavy-tailed: a log scale shows its spread
            scale, kind = alt.Scale(scheme="viridis", type="log"), "Q"
        elif is_quantitative(table[color]):
            scale, kind = alt.Scale(scheme="viridis"), "Q"
        else:
            scale, kind = alt.Scale(scheme="tableau20"), "N"
        colour = alt.Color(f"{color}:{kind}", scale=scale, legend=alt.Legend(title=color))
        colour = alt.condition(brush, colour, alt.value("#d0d0d0"))
    else:
        colour = alt.condition(brush, alt.value("#4c78a8"), alt.value("#d0d0d0"))
    any_highlight = bool(table["highlight"].any())
    opacity = alt.condition("datum.highlight", alt.value(1.0), alt.value(0.15 if any_highlight else 0.75))
    stroke = alt.condition("datum.highlight", alt.value("black"), alt.value(None))
    meta = [c for c in metadata_columns(table) if c != color][:tooltip_columns]
    tooltip = ["name:N", "n_users:Q"]
    if color and color != "n_users":
        tooltip.append(alt.Tooltip(f"{color}", title=color))
    tooltip += [alt.Tooltip(c) for c in meta]
    tooltip.append(alt.Tooltip("neighbours:N", title="top neighbours"))
    charts = []
    for title, key in views.items():
        chart = (
            alt.Chart(title=title, name=f"{key}_map")
            .mark_circle(strokeWidth=1.2)
            .encode(
                x=alt.X(f"{key}_x:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
                y=alt.Y(f"{key}_y:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
                color=colour,
                size=alt.Size("n_users:Q", scale=alt.Scale(type="sqrt", range=[6, 160]), legend=None),
                opacity=opacity,
                stroke=stroke,
                order=alt.Order("highlight:Q", sort="ascending"),
                tooltip=tooltip,
            )
            .properties(width=width, height=height)
        )
        charts.append(chart)
    with _quiet_altair():
        return alt.hconcat(*charts, data=table).add_params(brush).configure_view(strokeWidth=0)


def histogram(values, *, title: str, x_title: str, log_x: bool = False, bins: int = 40, width: int = 300, height: int = 160):
    """A histogram of counts (profile lengths, item popularity), optionally on log-spaced bins."""
    import altair as alt
    import pandas as pd

    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        values = np.zeros(1)
    low, high = float(values.min()), float(values.max())
    if log_x and low > 0 and high > low:
        edges = np.unique(np.geomspace(low, high * 1.0001, bins + 1))
    else:
        edges = np.linspace(low, high + 1e-9 if high == low else high, bins + 1)
    counts, edges = np.histogram(values, bins=edges)
    frame = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "count": counts})
    scale = alt.Scale(type="log") if log_x and low > 0 else alt.Scale()
    return (
        alt.Chart(frame, title=title)
        .mark_rect(color="#4c78a8")
        .encode(
            x=alt.X("start:Q", title=x_title, scale=scale),
            x2="end:Q",
            y=alt.Y("count:Q", title="count"),
            tooltip=[alt.Tooltip("start:Q", format=".3~g"), alt.Tooltip("end:Q", format=".3~g"), "count:Q"],
        )
        .properties(width=width, height=height)
    )


def small_multiple(table, key: str, *, title: str, color: str | None = None, size: int = 220):
    """One small, non-interactive scatterplot of a layout (for sweeps)."""
    import altair as alt

    encoding = {
        "x": alt.X(f"{key}_x:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
        "y": alt.Y(f"{key}_y:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
    }
    if color:
        kind = "Q" if is_quantitative(table[color]) else "N"
        encoding["color"] = alt.Color(f"{color}:{kind}", legend=None)
    return alt.Chart(table, title=title).mark_circle(size=8, opacity=0.7).encode(**encoding).properties(width=size, height=size)


def selectable_chart(chart):
    """``mo.ui.altair_chart`` for ``chart``, with the chart's own brush as its only selection
    and without the export menu."""
    import altair as alt
    import marimo as mo

    options = alt.renderers.options
    saved = options.get("embed_options")
    options["embed_options"] = {**(saved or {}), "actions": False}
    try:
        with _quiet_altair():
            return mo.ui.altair_chart(chart, chart_selection=False, legend_selection=False)
    finally:
        if saved is None:
            options.pop("embed_options", None)
        else:
            options["embed_options"] = saved


# ---------------------------------------------------------------------------------------------
# App plumbing: command-line presets, data loading, stage runs
# ---------------------------------------------------------------------------------------------

_TEXT_OPTIONS = (
    "input", "items", "items_id_col", "name_col", "label_col", "user_col", "item_col", "weight_col",
    "weighting", "graph_method", "init", "projection", "out", "cache_dir",
)
_INT_OPTIONS = ("min_item_users", "min_user_items", "max_user_items", "n_neighbors", "embedding_dim", "max_iter", "umap_n_neighbors", "seed")
_FLOAT_OPTIONS = ("min_weight", "min_count", "repulsive_fraction", "min_dist", "spread", "perplexity", "early_exaggeration", "dof")


def app_defaults() -> dict:
    """Every option of the app with its default, taken from the core's parameter classes."""
    import atlas

    filters, cooc, graph = atlas.FilterParams(), atlas.CooccurrenceParams(), atlas.GraphParams()
    embed, umap, tsne = atlas.EmbedParams(), atlas.UmapParams(), atlas.TsneParams()
    return {
        "input": None, "demo": False, "items": None, "items_id_col": None, "name_col": None, "label_col": None,
        "user_col": None, "item_col": None, "weight_col": None,
        "min_item_users": filters.min_item_users, "min_user_items": filters.min_user_items,
        "min_weight": filters.min_weight, "max_user_items": filters.max_user_items,
        "weighting": cooc.weighting, "min_count": cooc.min_count,
        "n_neighbors": graph.n_neighbors, "graph_method": graph.method,
        "embedding_dim": embed.embedding_dim, "repulsive_fraction": embed.repulsive_fraction,
        "max_iter": embed.max_iter, "init": embed.init,
        "umap_n_neighbors": umap.n_neighbors, "min_dist": umap.min_dist, "spread": umap.spread,
        "perplexity": tsne.perplexity, "early_exaggeration": tsne.early_exaggeration, "dof": tsne.dof,
        "projection": "umap", "seed": 0, "out": None, "cache_dir": None,
    }  # fmt: skip


def app_settings(cli_args: Mapping[str, object], *, problems: list[str] | None = None) -> dict:
    """Typed presets from ``marimo run notebooks/atlas.py -- --input FILE ...``.

    Options carry the names of ``atlas build`` (``--min-item-users``, ``--umap-n-neighbors``,
    ``--perplexity`` ...), plus ``--input`` for the interactions file; ``--demo`` or no input
    opens the MovieLens demo with the command line's demo filters. Options the app does not
    know are ignored. A value of the wrong type raises ``AtlasError`` naming it; when a
    ``problems`` list is given, the message goes there instead and the default is kept.
    """
    from atlas.errors import AtlasError

    defaults = app_defaults()
    settings = dict(defaults)
    given = set()
    for raw_key, value in cli_args.items():
        key = str(raw_key).replace("-", "_")
        if key not in settings:
            continue
        try:
            settings[key] = _option_value(str(raw_key), key, value[-1] if isinstance(value, list) else value)
            _check_choices(settings)
        except AtlasError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            settings[key] = defaults[key]
            continue
        given.add(key)
    if settings["demo"]:
        settings["input"] = None
    if settings["input"] is None:
        demo = _demo_filter()
        for key in ("min_item_users", "min_user_items", "min_weight"):
            if key not in given and demo is not None:
                settings[key] = getattr(demo, key)
    return settings


def _option_value(flag: str, key: str, value: object):
    from atlas.errors import AtlasError

    if key == "demo":
        return value in ("", True, "true", "True", 1)
    if key in _TEXT_OPTIONS:
        return None if value in ("", None) else str(value)
    if key in _INT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise AtlasError(f"--{flag} must be a whole number, got {value!r}.")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AtlasError(f"--{flag} must be a number, got {value!r}.")
    return float(value)


def _check_choices(settings: dict) -> None:
    import atlas
    from atlas.embed import INITS
    from atlas.errors import check_choice
    from atlas.graph import GRAPH_METHODS

    check_choice("--weighting", settings["weighting"], tuple(atlas.WEIGHTINGS))
    check_choice("--graph-method", settings["graph_method"], GRAPH_METHODS)
    check_choice("--init", settings["init"], INITS)
    check_choice("--projection", settings["projection"], ("umap", "tsne", "pymde"))


def _demo_filter():
    """The command line's filters for the demo (liked films only), when it offers them."""
    try:
        from atlas.cli import demo_filter
    except ImportError:
        return None
    return demo_filter()


def slider_steps(steps: Sequence[float], value: float) -> list[float]:
    """A slider's stops with ``value`` among them (a preset off the grid stays selectable)."""
    return sorted({*steps, value})


def float_grid(start: float, stop: float, step: float) -> list[float]:
    """Evenly spaced slider stops, rounded so that they print cleanly."""
    count = int(round((stop - start) / step))
    return [round(start + i * step, 6) for i in range(count + 1)]


def optional_number(text: str, name: str, *, integer: bool = False) -> float | int | None:
    """Parse a text box that may be left empty; ``AtlasError`` names the box when it is not a number."""
    from atlas.errors import AtlasError

    text = (text or "").strip()
    if not text or text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise AtlasError(f"{name} must be a number or empty, got {text!r}.") from None
    if integer:
        if value != int(value):
            raise AtlasError(f"{name} must be a whole number or empty, got {text!r}.")
        return int(value)
    return value


def save_upload(name: str, contents: bytes, directory) -> Path:
    """Write an uploaded file into ``directory`` under its own (sanitised) name."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(name).name) or "upload"
    target = Path(directory) / safe
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(contents)
    return target


def resolve_upload(path: str, uploads: Sequence, directory) -> str | None:
    """The file to read: an upload (saved into ``directory``) wins over a typed path."""
    if uploads:
        first = uploads[0]
        return str(save_upload(first.name, first.contents, directory))
    return path.strip() or None


def colour_options(items, *, name_column: str | None = None, max_categories: int = 40) -> dict[str, str]:
    """Choices for "colour by": label -> map-table column. Popularity, then every metadata
    column that is numeric or has at most ``max_categories`` values."""
    options = {"popularity (users)": "n_users"}
    if items is None:
        return options
    for column in items.columns:
        if column == name_column or column in ("item_id", "n_users"):
            continue
        values = items[column]
        if values.dtype.kind in "biuf" or values.nunique(dropna=True) <= max_categories:
            options[str(column)] = safe_column_name(column)
    return options


def load_data(
    *,
    path: str | None,
    items_path: str | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    weight_col: str | None = None,
    items_id_col: str | None = None,
    name_col: str | None = None,
    label_col: str | None = None,
):
    """The demo when ``path`` is empty, else the user's file (and optional metadata file)."""
    import atlas

    if not path:
        return atlas.demo_movielens()
    params = atlas.IngestParams(user_col=user_col or None, item_col=item_col or None, weight_col=weight_col or None)
    return atlas.load_dataset(
        path,
        params,
        items_path=items_path or None,
        items_id_col=items_id_col or None,
        name_column=name_col or None,
        label_column=label_col or None,
    )


def default_colour(options: Mapping[str, str], items, label_column: str | None) -> str:
    """The "colour by" choice to start with: the label column, else the first categorical
    metadata column, else popularity."""
    if label_column in options:
        return label_column
    for label in options:
        if label != "popularity (users)" and items is not None and items[label].dtype.kind not in "biuf":
            return label
    return "popularity (users)"


def capped_projection(params, n_items: int):
    """Lower UMAP ``n_neighbors`` / t-SNE perplexity to what ``n_items`` allows.

    Returns ``(params, note)`` where ``note`` says what was lowered (or is None).
    """
    import dataclasses

    if params.method == "umap" and params.n_neighbors >= n_items:
        capped = max(2, n_items - 1)
        return dataclasses.replace(params, n_neighbors=capped), f"UMAP n_neighbors lowered to {capped} (only {n_items} items)."
    if params.method == "tsne" and 3 * params.perplexity >= n_items:
        capped = max(1.0, float((n_items - 1) // 3))
        return dataclasses.replace(params, perplexity=capped), f"t-SNE perplexity lowered to {capped:g} (only {n_items} items)."
    return params, None



@dataclass(frozen=True)
class StageRun:
    """One run of a pipeline stage in the app: its result or the message that stopped it."""

    stage: str
    value: object | None
    error: str | None
    seconds: float  # wall time of this run; a cache hit takes almost none
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def computed_seconds(self) -> float | None:
        """Time the result took when it was first computed (from the stage result)."""
        return getattr(self.value, "seconds", None)


def run_stage(
    stage: str,
    compute: Callable[[Callable[[str, float, float], None]], object],
    *,
    needs: Sequence[object] = (),
    title: str | None = None,
    note: str | None = None,
    spinner: bool = True,
) -> StageRun:
    """Run ``compute(report)`` under a spinner; a problem becomes a message, not an exception.

    ``report(stage, done, total)`` (the pipeline's progress signature) updates the spinner.
    When any value in ``needs`` is None (an earlier stage failed) nothing runs. An
    ``AtlasError`` (bad input, impossible parameters) gives its own one-line message; any other
    exception is logged with its traceback and reported by type and message, so one failing
    stage never takes the rest of the app down.
    """
    import marimo as mo

    from atlas.errors import AtlasError

    if any(value is None for value in needs):
        return skipped(stage)
    start = time.perf_counter()
    label = title or f"Computing {stage}…"
    try:
        if spinner:
            with mo.status.spinner(title=label) as status:

                def report(name, done, total):
                    progress = f"{name}: {done:,.0f} of {total:,.0f}" if total > 1 and done < total else f"{name} done"
                    status.update(title=label, subtitle=progress if done else name)

                value = compute(report)
        else:
            value = compute(lambda *args: None)
    except AtlasError as exc:
        return StageRun(stage, None, str(exc), time.perf_counter() - start, note)
    except Exception as exc:  # noqa: BLE001 - shown in the app, logged with its traceback
        log.exception("stage %s failed", stage)
        return StageRun(stage, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start, note)
    return StageRun(stage, value, None, time.perf_counter() - start, note)


def skipped(stage: str) -> StageRun:
    """A stage that did not run because an earlier one failed."""
    return StageRun(stage, None, None, 0.0)


def stage_messages(runs: Sequence[StageRun]):
    """Callouts for failed stages and notes (empty when all is well)."""
    import marimo as mo

    out = []
    for run in runs:
        if run.error:
            out.append(mo.callout(mo.md(f"**{run.stage}** — {run.error}"), kind="danger"))
        if run.note:
            out.append(mo.callout(mo.md(f"**{run.stage}** — {run.note}"), kind="warn"))
    return out


def timing_table(runs: Sequence[StageRun]):
    """A small table: stage, status (computed, cached or failed), time of this run and time
    when first computed. Stages that did not run are left out."""
    import pandas as pd

    rows = []
    for run in runs:
        if run.error:
            status = "failed"
        elif run.value is None:
            continue
        elif run.computed_seconds is not None and run.seconds < 0.5 * run.computed_seconds:
            status = "cached"
        else:
            status = "computed"
        rows.append(
            {
                "stage": run.stage,
                "status": status,
                "this run (s)": round(run.seconds, 3),
                "first computed (s)": None if run.computed_seconds is None else round(run.computed_seconds, 3),
            }
        )
    return pd.DataFrame(rows)


def metrics_table(metrics: Mapping[str, Mapping[str, float]]):
    """Layout name -> metrics dict, as a rounded table with one row per layout."""
    import pandas as pd

    frame = pd.DataFrame.from_dict({name: dict(values) for name, values in metrics.items()}, orient="index")
    frame.index.name = "layout"
    return frame.round(3).reset_index()


def aligned_layouts(*, umap=None, tsne=None, pymde=None) -> dict:
    """The layouts that exist, keyed ``umap``/``tsne``/``pymde``, each aligned onto the first.

    ``pymde`` is a 2D ``atlas.Embedding`` (PyMDE's own 2D map); it becomes a ``Layout``.
    """
    import atlas

    if pymde is not None:
        pymde = atlas.Layout(pymde.coords, "pymde", None, key=pymde.key, seconds=pymde.seconds)
    layouts = {key: layout for key, layout in (("umap", umap), ("tsne", tsne), ("pymde", pymde)) if layout is not None}
    if not layouts:
        return {}
    reference = next(iter(layouts.values()))
    return {key: layout if layout is reference else atlas.align_layout(layout, reference) for key, layout in layouts.items()}


def subset_neighbors(neighbors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Neighbour lists restricted to ``rows`` and renumbered to positions in ``rows``.

    Neighbours outside the subset are dropped; lists are left-aligned and padded with -1.
    """
    neighbors = np.asarray(neighbors)
    rows = np.asarray(rows)
    position = np.full(neighbors.shape[0] + 1, -1, dtype=np.int64)  # index -1 maps to -1
    position[rows] = np.arange(rows.shape[0])
    mapped = position[np.where(neighbors[rows] >= 0, neighbors[rows], -1)]
    order = np.argsort(mapped < 0, axis=1, kind="stable")
    return np.take_along_axis(mapped, order, axis=1)


def export_with_page(out_dir, result, data, *, projection: str) -> dict[str, Path]:
    """Write the export with the core's exporter, and the HTML atlas when it is available."""
    import atlas

    paths = dict(atlas.export_layout(out_dir, result, data, projection=projection))
    try:
        from atlas.web import write_html
    except ImportError:  # the web page is optional
        return paths
    paths["atlas.html"] = write_html(out_dir)
    return paths


def build_params(settings: Mapping[str, object]):
    """``atlas.BuildParams`` from the app's settings (see ``app_settings``)."""
    import atlas

    return atlas.BuildParams(
        filter=atlas.FilterParams(
            min_item_users=settings["min_item_users"],
            min_user_items=settings["min_user_items"],
            min_weight=settings["min_weight"],
            max_user_items=settings["max_user_items"],
            seed=settings["seed"],
        ),
        cooccurrence=atlas.CooccurrenceParams(weighting=settings["weighting"], min_count=settings["min_count"]),
        graph=atlas.GraphParams(n_neighbors=settings["n_neighbors"], method=settings["graph_method"]),
        embed=atlas.EmbedParams(
            embedding_dim=settings["embedding_dim"],
            repulsive_fraction=settings["repulsive_fraction"],
            max_iter=settings["max_iter"],
            init=settings["init"],
            seed=settings["seed"],
        ),
        umap=atlas.UmapParams(
            n_neighbors=settings["umap_n_neighbors"], min_dist=settings["min_dist"], spread=settings["spread"], seed=settings["seed"]
        ),
        tsne=atlas.TsneParams(
            perplexity=settings["perplexity"], early_exaggeration=settings["early_exaggeration"], dof=settings["dof"], seed=settings["seed"]
        ),
    )


def embed_stages(pipe, data, params, progress=None):
    """Run the stages up to the embedding through ``pipe``'s cache.

    Returns ``(profiles, candidates, graph, embedding)``; ``candidates`` is None for the
    recipe graph, which does not use them.
    """
    profiles = pipe.profiles(data, params.filter)
    candidates = None
    if params.graph.method == "topk":
        candidates = pipe.cooccurrence(profiles, params.cooccurrence, progress=progress)
    graph = pipe.graph(profiles, candidates, params.graph)
    return profiles, candidates, graph, pipe.embed(graph, params.embed)


def data_from_settings(settings: Mapping[str, object]):
    """The dataset the settings name (the demo when they name no input)."""
    return load_data(
        path=settings["input"],
        items_path=settings["items"],
        **{key: settings[key] for key in ("user_col", "item_col", "weight_col", "items_id_col", "name_col", "label_col")},
    )
