"""Altair charts for the app: linked UMAP/t-SNE maps, histograms, small multiples."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from atlas.columns import colour_values

from .memo import Recent, content_hash
from .tables import MAX_CHART_POINTS, is_quantitative, metadata_columns, sample_rows

log = logging.getLogger(__name__)

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
    color_title: str | None = None,
    width: int = 460,
    height: int = 420,
    tooltip_columns: int = 6,
    regions: Mapping[str, object] | None = None,
):
    """Side-by-side scatterplots of the same items with one linked brush.

    Brushing in any view keeps colour on the brushed items in every view and greys the rest;
    rows with ``highlight`` set are drawn on top, outlined, while the others fade.

    Args:
        table: a map table (see ``map_table``), possibly a sampled subset of rows.
        views: view title -> layout key (the ``<key>_x``/``<key>_y`` columns).
        color: column to colour by (categorical or numeric), or None.
        color_title: the legend's title (default: ``color``).
        regions: layout key -> region names to write over that view (a table with ``name``,
            ``x``, ``y``; see ``region_labels``); views without one get none.
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
        colour = alt.Color(f"{color}:{kind}", scale=scale, legend=alt.Legend(title=color_title or color))
        colour = alt.condition(brush, colour, alt.value("#d0d0d0"))
    else:
        colour = alt.condition(brush, alt.value("#4c78a8"), alt.value("#d0d0d0"))
    any_highlight = bool(table["highlight"].any())
    opacity = alt.condition("datum.highlight", alt.value(1.0), alt.value(0.15 if any_highlight else 0.75))
    stroke = alt.condition("datum.highlight", alt.value("black"), alt.value(None))
    meta = [c for c in metadata_columns(table) if c != color][:tooltip_columns]
    tooltip = ["name:N", "n_users:Q"]
    if color and color != "n_users":
        tooltip.append(alt.Tooltip(f"{color}", title=color_title or color))
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
        names = None if regions is None else regions.get(key)
        if names is not None and len(names):
            names = uncluttered(names, table[f"{key}_x"].to_numpy(), table[f"{key}_y"].to_numpy(), width, height)
            chart = alt.layer(chart, *region_layers(names, key), title=title)
        charts.append(chart)
    with _quiet_altair():
        # a view with region names is a layer, whose points Altair names "<key>_map_<position>"
        return alt.hconcat(*charts, data=table).add_params(brush).configure_view(strokeWidth=0)


def region_labels(regions, level: int):
    """The names of one level of ``atlas.regions.Regions`` as a table for ``linked_maps``."""
    table = regions.table
    return table.loc[table["level"] == level, ["name", "x", "y", "n_items"]].reset_index(drop=True)


#: Region names on the app's maps: font size, and the width of a character as a share of it.
REGION_FONT = 13
CHAR_WIDTH = 0.62


def uncluttered(names, xs: np.ndarray, ys: np.ndarray, width: int, height: int, *, padding: int = 8):
    """The region names (``name``, ``x``, ``y``, ``n_items``) that fit on a view of ``width`` ×
    ``height`` pixels showing the points ``xs``/``ys``: biggest regions first, each kept when its
    box lies inside the view and clear of those kept before (Vega-Lite does not avoid overlaps)."""
    if len(names) == 0 or len(xs) == 0:
        return names
    spans = [(float(np.min(v)), float(np.max(v))) for v in (xs, ys)]

    def pixels(value, span, size):
        low, high = span
        return padding + (value - low) / (high - low if high > low else 1.0) * (size - 2 * padding)

    kept, boxes = [], []
    for row in names.sort_values("n_items", ascending=False, kind="stable").itertuples():
        cx, cy = pixels(row.x, spans[0], width), pixels(row.y, spans[1], height)
        half_w, half_h = CHAR_WIDTH * REGION_FONT * len(str(row.name)) / 2 + 3, REGION_FONT / 2 + 2
        box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
        if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            boxes.append(box)
            kept.append(row.Index)
    return names.loc[kept]


def region_layers(names, key: str) -> list:
    """Text layers that write region names (``name`` at ``x``/``y``) on the view of ``key``: a
    white halo under dark text, so names stay readable over the points."""
    import altair as alt

    frame = names.rename(columns={"x": f"{key}_x", "y": f"{key}_y"})
    base = alt.Chart(frame).encode(x=f"{key}_x:Q", y=f"{key}_y:Q", text="name:N")
    style = {"fontSize": REGION_FONT, "fontWeight": "bold", "align": "center", "baseline": "middle"}
    halo = base.mark_text(**style, stroke="white", strokeWidth=4, strokeOpacity=0.85, strokeJoin="round")
    return [halo, base.mark_text(**style, color="#1d2330")]


def map_views(
    table,
    views: Mapping[str, str],
    *,
    color: str,
    highlight_rows: Sequence[int] = (),
    max_points: int = MAX_CHART_POINTS,
    memo: Recent | None = None,
    regions: Mapping[str, object] | None = None,
):
    """The app's linked maps: ``linked_maps`` of a sample of ``table`` (highlighted rows always
    drawn, ``regions`` named over the views), memoised in ``memo`` on what is drawn.

    Building an Altair chart validates every encoding against the Vega-Lite schema, which costs
    more than everything else in a slider move that is served from the stage cache; a chart of
    the same rows, coordinates, metadata, highlights and colour is therefore returned again. The
    app keeps one ``memo`` per browser session, so sessions never share a chart.

    Returns ``(chart, rows)``: the rows of ``table`` that are drawn.
    """
    rows = sample_rows(len(table), max_points, keep=highlight_rows)
    view = table.iloc[rows].copy()
    view["highlight"] = view["row"].isin(list(highlight_rows))
    field, title = color, color
    if color != "n_users" and not is_quantitative(table[color]):
        # categories beyond the palette share "other"; sets of values show their first common value
        labels, legend = colour_values(table[color])
        view["colour_value"] = labels[rows]
        field = "colour_value"
        title = color + (" (first value)" if legend["kind"] == "multi" else "") + (" — top values" if legend["other"] else "")
    width = view_width(len(views))
    build = lambda: linked_maps(view, views, color=field, color_title=title, width=width, height=int(width * 0.9), regions=regions)  # noqa: E731
    if memo is None:
        return build(), rows
    named = tuple(sorted((key, content_hash(frame)) for key, frame in (regions or {}).items()))
    return memo.get(("map", content_hash(view, tuple(views.items()), color), named), build), rows


def view_width(n_views: int, available: int = 1150) -> int:
    """The width of each of ``n_views`` maps side by side in the app's main column."""
    return int(max(260, min(460, available // max(n_views, 1) - 24)))


def histogram(
    values, *, title: str, x_title: str, log_x: bool = False, bins: int = 40, width: int = 300, height: int = 160, memo: Recent | None = None
):
    """A histogram of counts (profile lengths, item popularity), optionally on log-spaced bins.

    Memoised in ``memo`` like ``map_views``: the same values and options give the same chart object.
    """
    values = np.asarray(values, dtype=np.float64)
    build = lambda: _histogram(values, title, x_title, log_x, bins, width, height)  # noqa: E731
    if memo is None:
        return build()
    return memo.get(("histogram", content_hash(values, title, x_title, log_x, bins, width, height)), build)


def _histogram(values: np.ndarray, title: str, x_title: str, log_x: bool, bins: int, width: int, height: int):
    import altair as alt
    import pandas as pd

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
