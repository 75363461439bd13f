"""Full-resolution maps for large atlases: every item drawn with WebGL, one view per layout.

Above ``MAX_CHART_POINTS`` items the Altair views draw a sample; ``webgl_maps`` draws them all
instead, with the web atlas's point renderer (``atlas/web/render.js``, ``view.js``) inside an
anywidget of our own. It keeps what the Altair views offer: the same colour rule
(``atlas.columns.legend_categories``: categories by their most common values plus "other", sets
of values by each item's most distinctive value or by whether they hold one value, each legend entry with
its count, in the Altair views' colours; numbers on a continuous ramp, popularity on a log
scale), a tooltip (name, popularity, colour value, top neighbours), highlights outlined in the
colour of their kind (searched item, its neighbours, a user's items, a pasted list), and one selection shared
by every view: a lasso in one view selects the same items in the others, and ``.value`` of the
returned element is the selected rows of the table, as ``mo.ui.altair_chart``'s is.

All views live in one widget, so the selection is one synced trait and one marimo value (one
jupyter-scatter widget per view would give one value per view, and marimo re-runs only the cells
that name the view that changed).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import traitlets

from .charts import HIGHLIGHT_STYLES, category_colours, highlight_kinds
from .tables import COLOUR_TITLES, FAITHFULNESS, FAITHFULNESS_LABEL, PER_MAP_COLOURS, colour_context, is_quantitative, view_colour

log = logging.getLogger(__name__)

#: Stops of the viridis ramp, the Altair views' continuous scheme.
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725")
#: Items without a value for the colour column.
MISSING_COLOUR = "#b0b0b0"
#: The web atlas's scripts the widget reuses, in the order they are concatenated.
RENDERER_SCRIPTS = ("view.js", "render.js")


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def ramp(t: np.ndarray, stops: Sequence[str] = VIRIDIS) -> np.ndarray:
    """RGB bytes ``(n, 3)`` for positions ``t`` in [0, 1] along a ramp of evenly spaced stops."""
    rgb = np.array([_rgb(s) for s in stops], dtype=np.float64)
    x = np.clip(np.nan_to_num(np.asarray(t, dtype=np.float64)), 0.0, 1.0) * (len(stops) - 1)
    k = np.minimum(np.floor(x).astype(np.int64), len(stops) - 2)
    f = (x - k)[:, None]
    return np.rint(rgb[k] * (1 - f) + rgb[k + 1] * f).astype(np.uint8)


@dataclass(frozen=True)
class MapColours:
    """What the maps are coloured by: RGBA bytes per table row, the value behind each colour
    (for tooltips and the selected rows), the legend's title and its entries."""

    rgba: np.ndarray
    values: np.ndarray
    title: str
    legend: dict


def per_map_colours(table, color: str, keys: Sequence[str]) -> MapColours:
    """Colours of a colour held per map (``PER_MAP_COLOURS``: each item's faithfulness on each
    map): ``rgba`` and ``values`` hold one block per layout of ``keys`` (views × n), along one
    ramp over the colour's whole range, so that one legend reads every map."""
    columns = [f"{key}_{color}" for key in keys]
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(f"the map table has no columns {missing}; give map_table the {color} of every layout shown.")
    low, high = PER_MAP_COLOURS[color]
    numbers = np.stack([np.asarray(table[c], dtype=np.float64) for c in columns]) if columns else np.zeros((0, len(table)))
    present = np.isfinite(numbers)
    rgba = np.full((*numbers.shape, 4), 255, dtype=np.uint8)
    rgba[..., :3] = _rgb(MISSING_COLOUR)
    rgba[present, :3] = ramp((numbers[present] - low) / (high - low))
    faithful = color == FAITHFULNESS
    title = FAITHFULNESS_LABEL if faithful else color
    legend = {
        "kind": "ramp", "title": title, "stops": list(VIRIDIS), "note": "",
        "low": f"{low:.0%}" if faithful else _number(low), "high": f"{high:.0%}" if faithful else _number(high),
        "entries": [] if present.all() else [["missing", MISSING_COLOUR]],
    }
    return MapColours(rgba, numbers, title, legend)


def map_colours(table, color: str, *, has: str | None = None) -> MapColours:
    """Colours for every row of a map table, by the rule the Altair views follow.

    ``n_users`` (popularity) runs along viridis on a log scale, other numbers (``atlas.columns``'
    NUMBER kind) on a linear one; anything else is a category from
    ``columns.legend_categories`` — the most common values and "other", sets of values by each
    item's most distinctive value, or by whether they hold ``has`` — labelled with its count and coloured
    as ``charts.category_colours`` colours the Altair views' legend; ``title`` and the legend's
    ``note`` say what the colours stand for.
    """
    from atlas.columns import legend_categories

    if color not in table:
        raise ValueError(f"colour column {color!r} is not in the map table; choose one of {sorted(map(str, table.columns))}.")
    n = len(table)
    rgba = np.full((n, 4), 255, dtype=np.uint8)
    rgba[:, :3] = _rgb(MISSING_COLOUR)
    if color == "n_users" or is_quantitative(table[color]):
        numbers = np.asarray(table[color], dtype=np.float64)
        log_scale = color == "n_users"
        scaled = np.where(numbers > 0, np.log(np.where(numbers > 0, numbers, 1.0)), np.nan) if log_scale else numbers
        present = np.isfinite(scaled)
        legend = {"kind": "ramp", "stops": list(VIRIDIS), "low": "", "high": "", "entries": [], "note": ""}
        if present.any():
            low, high = float(scaled[present].min()), float(scaled[present].max())
            t = (scaled[present] - low) / (high - low) if high > low else np.full(int(present.sum()), 0.5)
            rgba[present, :3] = ramp(t)
            shown = numbers[present]
            legend["low"], legend["high"] = _number(shown.min()), _number(shown.max())
        if not present.all():
            legend["entries"] = [["missing", MISSING_COLOUR]]
        title = f"{color} (log scale)" if log_scale else color
        return MapColours(rgba, numbers, title, {**legend, "title": title})
    labels, order, note = legend_categories(table[color], has=has, name=color, **colour_context(table, color))
    colours = category_colours(order, has=has)
    position = {label: k for k, label in enumerate(order)}
    codes = np.fromiter((position[label] for label in labels.tolist()), dtype=np.int64, count=n)
    if order:
        rgba[:, :3] = np.array([_rgb(c) for c in colours], dtype=np.uint8)[codes]
    title = f"{color}: has “{has}”" if has else COLOUR_TITLES.get(color, color) + (" (most distinctive value)" if "sets of values" in note else "")
    entries = [[label, colour] for label, colour in zip(order, colours)]
    return MapColours(rgba, labels, title, {"kind": "category", "title": title, "entries": entries, "note": note})


def _number(value: float) -> str:
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.4g}"


def popularity_sizes(n_users) -> np.ndarray:
    """log(1 + users) mapped to [0, 1], as the web atlas sizes its points."""
    p = np.log1p(np.asarray(n_users, dtype=np.float64))
    span = p.max() - p.min() if p.size else 0.0
    return ((p - p.min()) / span if span > 0 else np.full(p.shape, 0.5)).astype(np.float32)


def _asset(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def widget_module() -> str:
    """The widget's ES module: the web atlas's camera and renderer, then the widget itself."""
    parts = [f"// ---- atlas/web/{name}\n{_asset('atlas.web', name)}" for name in RENDERER_SCRIPTS]
    parts.append(f"// ---- atlas/widgets/scatter.js\n{_asset('atlas.widgets', 'scatter.js')}")
    return "\n".join(parts) + "\nexport default { render };\n"


@functools.cache
def _widget_class():
    import anywidget

    class LinkedMapsWidget(anywidget.AnyWidget):
        """Every item of a map table in one WebGL view per layout, with a shared lasso selection.

        Arrays travel in drawing order (most popular first, drawn last): ``coords`` float32
        ``(views, n, 2)``, ``sizes`` float32, ``rows`` int32 (each point's table row) and
        ``colors`` RGBA bytes (``(views, n)`` for a colour held per map, one block a view).
        ``highlight`` and ``selection`` hold table rows.
        """

        _esm = widget_module()
        _css = _asset("atlas.widgets", "scatter.css")
        titles = traitlets.List(traitlets.Unicode()).tag(sync=True)
        count = traitlets.Int(0).tag(sync=True)
        coords = traitlets.Bytes(b"").tag(sync=True)
        sizes = traitlets.Bytes(b"").tag(sync=True)
        rows = traitlets.Bytes(b"").tag(sync=True)
        colors = traitlets.Bytes(b"").tag(sync=True)
        legend = traitlets.Dict().tag(sync=True)
        highlight = traitlets.List(traitlets.Int()).tag(sync=True)
        #: the outline colour of each row of ``highlight`` (its kind's, see ``HIGHLIGHT_STYLES``)
        highlight_colors = traitlets.List(traitlets.Unicode()).tag(sync=True)
        #: the kinds outlined now, for the legend: [label, colour] in drawing order
        outlines = traitlets.List(traitlets.List(traitlets.Unicode())).tag(sync=True)
        selection = traitlets.List(traitlets.Int()).tag(sync=True)
        #: table rows joined in this order over every view (a user's items in time order)
        path = traitlets.List(traitlets.Int()).tag(sync=True)
        panel_width = traitlets.Int(460).tag(sync=True)
        panel_height = traitlets.Int(420).tag(sync=True)

        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.frame = None
            #: what the colours stand for, when that needs saying ("" otherwise)
            self.colour_note = ""
            #: (tooltip label, frame column) of each colour value shown (none for popularity; one
            #: per map for a colour held per map)
            self.colour_columns: list[tuple[str, str]] = []
            self.on_msg(self._answer)

        def selected_frame(self):
            """The selected rows of the drawn table (empty, with every column, when none are)."""
            rows = [r for r in self.selection if 0 <= r < len(self.frame)]
            return self.frame.iloc[sorted(set(rows))]

        def tooltip(self, row: int) -> list[list[str]]:
            """The tooltip's lines for a table row: name, popularity, colour value, top neighbours."""
            item = self.frame.iloc[int(row)]
            lines = [["name", str(item["name"])], ["popularity", f"{int(item['n_users']):,} users"]]
            for title, column in self.colour_columns:
                value = item[column]
                missing = value is None or value == "" or (isinstance(value, float) and np.isnan(value))
                shown = f"{value:.0%}" if column.endswith(f"_{FAITHFULNESS}") and not missing else str(value)
                lines.append([title, "missing" if missing else shown])
            if str(item.get("neighbours", "")):
                lines.append(["top neighbours", str(item["neighbours"])])
            return lines

        def _answer(self, _widget, content, _buffers) -> None:
            if not isinstance(content, dict) or content.get("type") != "tooltip" or self.frame is None:
                return
            row = content.get("row")
            if isinstance(row, int) and 0 <= row < len(self.frame):
                self.send({"type": "tooltip", "row": row, "lines": self.tooltip(row)})

    return LinkedMapsWidget


def outlined(n: int, highlights: Mapping[str, Sequence[int]] | None) -> tuple[list[int], list[str], list[list[str]]]:
    """Highlighted rows in drawing order (the later kinds of ``HIGHLIGHT_STYLES`` on top), each
    row's outline colour, and the kinds present as legend entries ``[label, colour]``."""
    kinds, rank = highlight_kinds(n, highlights or {})
    rows = np.flatnonzero(rank > 0)
    rows = rows[np.argsort(rank[rows], kind="stable")]
    colour = {label: c for label, c, _ in HIGHLIGHT_STYLES.values()}
    present = [[label, c] for label, c, _ in HIGHLIGHT_STYLES.values() if label in set(kinds[rows].tolist())]
    return [int(r) for r in rows], [colour[kinds[r]] for r in rows], present


def maps_widget(
    table,
    views: Mapping[str, str],
    *,
    color: str = "n_users",
    has: str | None = None,
    highlights: Mapping[str, Sequence[int]] | None = None,
    highlight_rows: Sequence[int] = (),
    path: Sequence[int] = (),
    width: int = 460,
    height: int = 420,
):
    """The anywidget behind ``webgl_maps``: every row of ``table`` in each view.

    A new widget every time: marimo closes the widgets a cell made when the cell runs again, so
    a widget kept from an earlier run (as the Altair charts are kept) would no longer reach the
    page. Its traits can still be changed while its cell's output stands (the page follows).
    """
    if len(table) == 0:
        raise ValueError("the map table has no rows to draw.")
    if not views:
        raise ValueError("views must name at least one layout (title -> layout key).")
    xy_columns = [f"{key}_{axis}" for key in views.values() for axis in ("x", "y")]
    missing = [c for c in xy_columns if c not in table]
    if missing:
        raise ValueError(f"the map table has no columns {missing}; views must name layouts of map_table.")
    per_map = color in PER_MAP_COLOURS
    colours = per_map_colours(table, color, list(views.values())) if per_map else map_colours(table, color, has=has)

    order = np.argsort(-np.asarray(table["n_users"], dtype=np.float64), kind="stable")
    coords = np.stack([table[[f"{key}_x", f"{key}_y"]].to_numpy(np.float64)[order] for key in views.values()])
    kinds = dict(highlights or {})
    if len(highlight_rows):  # rows outlined without a kind: as the user's items
        kinds["user"] = [*kinds.get("user", ()), *highlight_rows]
    highlight, ring_colours, present = outlined(len(table), kinds)
    frame = table.copy()
    frame["highlight"] = np.isin(np.arange(len(table)), highlight)
    colour_columns = [] if color == "n_users" else [(colours.title, color)]
    if per_map:  # each map's own value, named after its map
        colour_columns = [(f"{color} on {title}", view_colour(table, color, key)) for title, key in views.items()]
    elif colours.legend["kind"] == "category":  # as map_views: the tooltip shows the item's own value, a
        frame["colour_value"] = colours.values  # selection also the legend entry it is coloured by
        colour_columns = [(color, color)]
    widget = _widget_class()(
        titles=[str(t) for t in views],
        count=len(table),
        coords=coords.astype("<f4").tobytes(),
        sizes=popularity_sizes(table["n_users"])[order].astype("<f4").tobytes(),
        rows=order.astype("<i4").tobytes(),
        colors=np.ascontiguousarray(colours.rgba[:, order] if per_map else colours.rgba[order]).tobytes(),
        legend=colours.legend,
        highlight=highlight,
        highlight_colors=ring_colours,
        outlines=present,
        path=[int(r) for r in path],
        panel_width=int(width),
        panel_height=int(height),
    )
    widget.frame = frame
    widget.colour_columns = colour_columns
    widget.colour_note = colours.legend.get("note", "")
    return widget


@functools.cache
def _element_class():
    import marimo as mo

    class SelectableMaps(mo.ui.anywidget):
        """The maps in marimo; ``value`` is the selected rows of the table, like
        ``mo.ui.altair_chart``'s brushed rows (all columns, no rows when nothing is selected)."""

        @property
        def value(self):
            return self.widget.selected_frame()

    return SelectableMaps


def webgl_maps(
    table,
    views: Mapping[str, str],
    *,
    color: str = "n_users",
    has: str | None = None,
    highlights: Mapping[str, Sequence[int]] | None = None,
    highlight_rows: Sequence[int] = (),
    path: Sequence[int] = (),
    width: int = 460,
    height: int = 420,
):
    """Linked full-resolution maps of every row of ``table`` for marimo (see the module doc).

    Args:
        table: a map table (``map_table``): ``name``, ``n_users``, ``neighbours`` and the
            ``<key>_x``/``<key>_y`` columns of each layout.
        views: view title -> layout key, one WebGL view each, side by side.
        color: column to colour by (as the Altair views: popularity, numbers, categories, or
            a colour held per map such as ``faithfulness``, each view by its own column).
        has: for a column of sets, colour by whether each item holds this value.
        highlights: rows by kind of ``HIGHLIGHT_STYLES``, drawn on top and outlined in the
            kind's colour while the others fade.
        highlight_rows: rows outlined without a kind (drawn as a user's items).
        path: rows joined in this order on every view (``atlas.paths.UserPath.rows``: a user's
            items in time order), the first ringed and the last boxed, as the Altair views draw it.

    Returns a marimo element: show it, and read ``.value`` for the selected rows as a DataFrame
    (``.widget.colour_note`` says what the colours stand for, as ``map_views``' note).
    """
    widget = maps_widget(table, views, color=color, has=has, highlights=highlights, highlight_rows=highlight_rows, path=path, width=width, height=height)
    return _element_class()(widget)
