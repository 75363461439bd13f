"""Altair charts for the app: linked UMAP/t-SNE maps, histograms, small multiples."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from .memo import Recent, content_hash
from .tables import COLOUR_TITLES, FAITHFULNESS, FAITHFULNESS_LABEL, MAX_CHART_POINTS, PER_MAP_COLOURS, colour_context, is_quantitative, metadata_columns, sample_rows, view_colour

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_altair():
    """Silence Altair's notice that the shared brush was added to several views (intended)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
        yield


#: How each kind of highlighted item is outlined, in drawing order (later on top): the kind's
#: legend label, its outline colour and width. The searched item stands out from its neighbours.
HIGHLIGHT_STYLES = {
    "pasted": ("pasted list", "#7b3294", 2.0),
    "user": ("the user's items", "#e66101", 2.0),
    "neighbour": ("its graph neighbours", "#222222", 1.4),
    "searched": ("searched item", "#d7191c", 4.0),
}
#: Colours of "other", of items without a value, and of the items without the value asked for.
OTHER_COLOUR, NO_VALUE_COLOUR, NOT_HAS_COLOUR = "#b9b3ad", "#e6e6e6", "#c9c9c9"


def highlight_kinds(n: int, highlights: Mapping[str, Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's highlight label (None when not highlighted) and drawing rank (0: not highlighted),
    from rows by kind (keys of ``HIGHLIGHT_STYLES``); a row in several kinds takes the later one."""
    labels = np.full(n, None, dtype=object)
    rank = np.zeros(n, dtype=np.int64)
    for position, (kind, (label, _, _)) in enumerate(HIGHLIGHT_STYLES.items(), start=1):
        rows = np.asarray(list(highlights.get(kind, ())), dtype=np.int64)
        rows = rows[(rows >= 0) & (rows < n)]
        labels[rows], rank[rows] = label, position
    return labels, rank


def category_colours(order: Sequence[str], *, has: str | None = None) -> list[str]:
    """Colours for legend labels in ``order`` (see ``columns.legend_categories``): a palette for
    values, greys for "other", for "no value" and for the items without the value asked for."""
    from atlas.columns import NO_VALUE, OTHER

    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#79706e", "#17becf", "#bcbd22", "#aec7e8", "#ffbb78"]
    colours, k = [], 0
    for label in order:
        value = label.rsplit(" (", 1)[0]
        if value == OTHER:
            colours.append(OTHER_COLOUR)
        elif value == NO_VALUE:
            colours.append(NO_VALUE_COLOUR)
        elif has is not None and value != has:
            colours.append(NOT_HAS_COLOUR)
        else:
            colours.append(palette[k % len(palette)])
            k += 1
    return colours


def colour_note(table, column: str, note: str, items=None, *, name_column: str | None = None, shown: int = 8) -> str:
    """What the maps' colours stand for, in a sentence or two: ``note`` (from ``map_views``), the
    most common single values of a column of sets with how many items hold each, and the
    metadata columns that cannot colour a map (free text)."""
    from atlas.columns import MULTI, column_kind, not_colourable, value_counts

    parts = [note] if note else []
    if column in table and column != "n_users" and column_kind(table[column]) == MULTI:
        counts = value_counts(table[column])
        listed = ", ".join(f"{value} {count:,}" for value, count in counts[:shown])
        parts.append(f"Items holding each value: {listed}" + (f", … ({len(counts) - shown} more)." if len(counts) > shown else "."))
    if items is not None:
        left = not_colourable(items, skip=(name_column, "item_id", "n_users"))
        if left:
            parts.append(f"Not offered for colour (a different value for nearly every item): {', '.join(left)}.")
    return " ".join(parts)


def torn_note(faithful: Mapping[str, np.ndarray]) -> str:
    """How much each map tears the neighbourhoods it was made from, in ``explain.torn_summary``'s
    words: map title -> each item's faithfulness on that map. "" without maps."""
    from atlas.explain import torn_summary

    parts = [f"{title}: {torn_summary(share)['text']}" for title, share in faithful.items()]
    return f"Torn neighbourhoods — {'; '.join(parts)}." if parts else ""


def changes_note(report: dict | None, title: str) -> str:
    """Markdown on what changed since the earlier export the maps are aligned to (a report of
    ``diff.changes_since`` for the map called ``title``), in ``atlas diff``'s words; "" without one."""
    from atlas.diff import change_line, movers_line

    from .lookup import md_text

    if not report:
        return ""
    folder = md_text(str(report["directory"]).rstrip("/").rsplit("/", 1)[-1] or report["directory"])
    line = f"**Since {folder}** ({title}): {change_line(report)}"
    if report["biggest_movers"]:
        line += f"; {movers_line(report['biggest_movers'], name=md_text)}"
    return line + "."


def linked_maps(
    table,
    views: Mapping[str, str],
    *,
    color: str | None = "n_users",
    color_title: str | None = None,
    color_scale: tuple[Sequence[str], Sequence[str]] | None = None,
    tooltip_column: str | None = None,
    width: int = 460,
    height: int = 420,
    tooltip_columns: int = 6,
    regions: Mapping[str, object] | None = None,
    columns: int | None = None,
    paths: Mapping[str, object] | None = None,
):
    """Side-by-side scatterplots of the same items with one linked brush (in rows of
    ``columns`` views when given, else all in one row).

    Brushing in any view keeps colour on the brushed items in every view and greys the rest;
    rows with ``highlight`` set are drawn on top, outlined by their ``highlight_kind`` (see
    ``HIGHLIGHT_STYLES``; a plain black outline without it), while the others fade.

    Args:
        table: a map table (see ``map_table``), possibly a sampled subset of rows.
        views: view title -> layout key (the ``<key>_x``/``<key>_y`` columns).
        color: column to colour by (categorical or numeric), or None.
        color_title: the legend's title (default: ``color``).
        color_scale: ``(domain, range)`` of a categorical colour, in legend order.
        tooltip_column: the column the colour stands for, shown in the tooltip (default ``color``).
        regions: layout key -> region names to write over that view (a table with ``name``,
            ``x``, ``y``; see ``region_labels``); views without one get none.
        paths: layout key -> the stops of a path to draw over that view, under the region names
            (``widgets.paths.path_frame``: a user's items in time order); views without one get none.
    """
    import altair as alt

    brush = alt.selection_interval(name="brush", encodings=["x", "y"], resolve="global")

    def colour_of(field: str):
        """The colour encoding of a view coloured by ``field`` (its own column for a colour held per map)."""
        if not color:
            return alt.condition(brush, alt.value("#4c78a8"), alt.value("#d0d0d0"))
        if color == "n_users":  # popularity is heavy-tailed: a log scale shows its spread
            scale, kind = alt.Scale(scheme="viridis", type="log"), "Q"
        elif color in PER_MAP_COLOURS:  # one scale over every map, whatever each map's own values span
            scale, kind = alt.Scale(scheme="viridis", domain=list(PER_MAP_COLOURS[color])), "Q"
        elif color_scale is not None:
            scale, kind = alt.Scale(domain=list(color_scale[0]), range=list(color_scale[1])), "N"
        elif is_quantitative(table[color]):
            scale, kind = alt.Scale(scheme="viridis"), "Q"
        else:
            scale, kind = alt.Scale(scheme="tableau20"), "N"
        # under the maps: counted labels are long, and the maps already fill the column's width
        shares = {"format": ".0%"} if color == FAITHFULNESS else {}
        legend = alt.Legend(title=color_title or color, symbolLimit=40, labelLimit=220, titleLimit=420, orient="bottom", direction="horizontal", columns=4, **shares)
        colour = alt.Color(f"{field}:{kind}", scale=scale, legend=legend, sort=list(color_scale[0]) if color_scale else "ascending")
        return alt.condition(brush, colour, alt.value("#d0d0d0"))
    any_highlight = bool(table["highlight"].any())
    opacity = alt.condition("datum.highlight", alt.value(1.0), alt.value(0.15 if any_highlight else 0.75))
    encoding = {}
    if "highlight_kind" in table and any_highlight:
        present = [style for style in HIGHLIGHT_STYLES.values() if (table["highlight_kind"] == style[0]).any()]
        domain = [label for label, _, _ in present]
        encoding["stroke"] = alt.condition(
            "datum.highlight",
            alt.Stroke("highlight_kind:N", scale=alt.Scale(domain=domain, range=[c for _, c, _ in present]), sort=domain, legend=alt.Legend(title="outlined", orient="bottom", direction="horizontal")),
            alt.value(None),
        )
        encoding["strokeWidth"] = alt.StrokeWidth("highlight_kind:N", scale=alt.Scale(domain=domain, range=[w for _, _, w in present]), legend=None)
    else:
        encoding["stroke"] = alt.condition("datum.highlight", alt.value("black"), alt.value(None))
    shown_column = tooltip_column or color
    meta = [c for c in metadata_columns(table) if c not in (color, shown_column)][:tooltip_columns]

    def tooltip_of(key: str) -> list:
        tooltip = ["name:N", "n_users:Q"]
        if color and color != "n_users":
            shown = view_colour(table, shown_column, key)
            tooltip.append(alt.Tooltip(f"{shown}:Q", title=shown_column, format=".0%") if color == FAITHFULNESS else alt.Tooltip(shown, title=shown_column))
        tooltip += [alt.Tooltip(c) for c in meta]
        tooltip.append(alt.Tooltip("neighbours:N", title="top neighbours"))
        return tooltip

    order_field = "highlight_rank:Q" if "highlight_rank" in table else "highlight:Q"
    charts = []
    for title, key in views.items():
        chart = (
            alt.Chart(title=title, name=f"{key}_map")
            .mark_circle(strokeWidth=1.2)
            .encode(
                x=alt.X(f"{key}_x:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
                y=alt.Y(f"{key}_y:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
                color=colour_of(view_colour(table, color, key) if color else color),
                size=alt.Size("n_users:Q", scale=alt.Scale(type="sqrt", range=[6, 160]), legend=None),
                opacity=opacity,
                order=alt.Order(order_field, sort="ascending"),
                tooltip=tooltip_of(key),
                **encoding,
            )
            .properties(width=width, height=height)
        )
        over = []
        stops = None if paths is None else paths.get(key)
        if stops is not None and len(stops):
            from .paths import path_layers

            over += path_layers(stops, key)
        names = None if regions is None else regions.get(key)
        if names is not None and len(names):
            names = uncluttered(names, table[f"{key}_x"].to_numpy(), table[f"{key}_y"].to_numpy(), width, height)
            over += region_layers(names, key)
        if over:
            chart = alt.layer(chart, *over, title=title)
        charts.append(chart)
    with _quiet_altair():
        # a view with region names is a layer, whose points Altair names "<key>_map_<position>"
        # rows of ``columns`` views as a vconcat of hconcats: marimo drops the region names' own
        # data from a wrapped ``alt.concat``, and draws a nested concat whole
        if columns and len(charts) > columns:
            laid = alt.vconcat(*(alt.hconcat(*charts[i : i + columns]) for i in range(0, len(charts), columns)), data=table)
        else:
            laid = alt.hconcat(*charts, data=table)
        return laid.add_params(brush).configure_view(strokeWidth=0)


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
    has: str | None = None,
    highlights: Mapping[str, Sequence[int]] | None = None,
    max_points: int = MAX_CHART_POINTS,
    memo: Recent | None = None,
    regions: Mapping[str, object] | None = None,
    paths: Mapping[str, object] | None = None,
):
    """The app's linked maps: ``linked_maps`` of a sample of ``table`` (highlighted rows always
    drawn, ``regions`` named over the views, ``paths`` drawn over them: layout key ->
    ``widgets.paths.path_frame``), memoised in ``memo`` on what is drawn.

    A column that is not a number is coloured by ``columns.legend_categories`` (its most common
    values with their counts, the rest as "other"; a set by each item's most distinctive value
    among its graph neighbours, or by whether it holds ``has``). ``highlights`` maps a kind of ``HIGHLIGHT_STYLES`` to its rows.

    Building an Altair chart validates every encoding against the Vega-Lite schema, which costs
    more than everything else in a slider move that is served from the stage cache; a chart of
    the same rows, coordinates, metadata, highlights and colour is therefore returned again. The
    app keeps one ``memo`` per browser session, so sessions never share a chart.

    Returns ``(chart, rows, note)``: the rows of ``table`` that are drawn, and what the colours
    stand for when that needs saying ("" otherwise).
    """
    from atlas.columns import legend_categories

    highlights = {kind: rows for kind, rows in (highlights or {}).items() if len(rows)}
    every = sorted({int(r) for rows in highlights.values() for r in rows})
    rows = sample_rows(len(table), max_points, keep=every)
    view = table.iloc[rows].copy()
    kinds, rank = highlight_kinds(len(table), highlights)
    view["highlight"] = rank[rows] > 0
    view["highlight_kind"] = kinds[rows]
    view["highlight_rank"] = rank[rows]
    field, title, scale, note = color, color, None, ""
    if color in PER_MAP_COLOURS:  # each map by its own column (``view_colour``)
        title = FAITHFULNESS_LABEL if color == FAITHFULNESS else color
    elif color != "n_users" and not is_quantitative(table[color]):
        labels, order, note = legend_categories(table[color], has=has, name=color, **colour_context(table, color))
        view["colour_value"] = labels[rows]
        field, scale = "colour_value", (order, category_colours(order, has=has))
        title = f"{color}: has “{has}”" if has else COLOUR_TITLES.get(color, color) + (" (most distinctive value)" if "sets of values" in note else "")
    columns, width = map_grid(len(views))
    build = lambda: linked_maps(  # noqa: E731
        view, views, color=field, color_title=title, color_scale=scale, tooltip_column=color, width=width, height=int(width * 0.9), regions=regions, columns=columns,
        paths=paths,
    )
    if memo is None:
        return build(), rows, note
    named = tuple(sorted((key, content_hash(frame)) for key, frame in (regions or {}).items()))
    drawn = tuple(sorted((key, content_hash(frame)) for key, frame in (paths or {}).items()))
    return memo.get(("map", content_hash(view, tuple(views.items()), color, has), named, *((drawn,) if drawn else ())), build), rows, note


#: The app's sidebar, where every build setting lives.
SIDEBAR_WIDTH = "300px"
#: The width of the app's main column beside its sidebar on a 1,500-pixel-wide window (976 px:
#: marimo pads the page by 96 px a side, and a cell's output by 16), less the room Vega keeps
#: around the views; the maps fill it.
MAP_AREA = 940
#: The space Vega keeps between two views of one chart, in pixels.
MAP_SPACING = 20


def map_grid(n_views: int, available: int = MAP_AREA) -> tuple[int, int]:
    """``(columns, width)`` of ``n_views`` maps in the app's main column: one map as wide as
    ``available`` allows (up to 640 px), more two to a row (a third or fourth below), each at least
    450 px wide: big enough to read a neighbourhood, and never cut off at the column's edge."""
    columns = 1 if n_views <= 1 else 2
    width = (available - (columns - 1) * MAP_SPACING) // columns
    return columns, int(max(450, min(640, width)))


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


def small_multiple(table, key: str, *, title: str, color: str | None = None, size: int = 220, kind_of=None):
    """One small, non-interactive scatterplot of a layout (for sweeps); with ``table`` None it
    draws the data of the chart it is placed in (``small_multiples``), whose table is ``kind_of``."""
    import altair as alt

    encoding = {
        "x": alt.X(f"{key}_x:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
        "y": alt.Y(f"{key}_y:Q", axis=None, scale=alt.Scale(zero=False, nice=False, padding=8)),
    }
    if color:
        kind = "Q" if is_quantitative((table if table is not None else kind_of)[color]) else "N"
        # popularity is skewed: on a linear ramp nearly every item takes the palest colour
        scale = alt.Scale(type="log") if color == "n_users" else alt.Undefined
        encoding["color"] = alt.Color(f"{color}:{kind}", legend=None, scale=scale)
    return (alt.Chart(title=title) if table is None else alt.Chart(table, title=title)).mark_circle(size=8, opacity=0.7).encode(**encoding).properties(width=size, height=size)


def _drawn_precision(values: np.ndarray, steps: float = 10_000.0) -> np.ndarray:
    """``values`` rounded to about a ten-thousandth of their range: far below a pixel of a small
    map, and a third of the text that full float64 digits take on the way to the page."""
    finite = values[np.isfinite(values)]
    span = float(finite.max() - finite.min()) if finite.size else 0.0
    if span <= 0:
        return values
    return np.round(values, max(0, int(np.ceil(-np.log10(span / steps)))))


#: Items drawn in each small multiple of a sweep: enough to see a map's shape, light to send.
SWEEP_POINTS = 3000


def small_multiples(items, layouts, *, name_column: str | None = None, color: str | None = None, columns: int = 3, size: int = 220, max_points: int | None = None):
    """Small scatterplots of several layouts of the same items (title -> n × 2 positions) that
    share one data source: the item table is sent to the page once, sampled to ``max_points``
    (default ``SWEEP_POINTS``), however many layouts there are."""
    import altair as alt

    from .tables import map_table, sample_rows

    keys = {title: f"l{i}" for i, title in enumerate(layouts)}
    table = map_table(items, {keys[title]: xy for title, xy in layouts.items()}, name_column=name_column)
    table = table.iloc[sample_rows(len(table), max_points or SWEEP_POINTS)]
    wanted = [f"{key}_{axis}" for key in keys.values() for axis in "xy"] + ([color] if color else [])
    table = table[list(dict.fromkeys(wanted))].reset_index(drop=True)
    for column in wanted[: 2 * len(keys)]:
        table[column] = _drawn_precision(table[column].to_numpy(dtype=np.float64))
    charts = [small_multiple(None, keys[title], title=title, color=color, size=size, kind_of=table) for title in layouts]
    with _quiet_altair():
        return alt.concat(*charts, columns=columns, data=table)


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
