"""A user's path over the app's Altair maps: their items joined in time order (:mod:`atlas.paths`).

``path_frame`` turns a path's map rows into the stops of one view (the view's own ``<key>_x`` and
``<key>_y`` columns, so the layers share the map's scales), and ``path_layers`` draws them: a line
in step order, the first stop ringed and the last boxed (as the web atlas marks them), and the
stops numbered when there are few enough to read. ``linked_maps``/``map_views`` take
``paths={key: frame}`` and lay them over the points of those views; ``path_layer`` is the same
drawing as one Altair layer, for a chart of one's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

#: The path's colour: the orange that outlines the placed user's items (``charts.HIGHLIGHT_STYLES``).
PATH_COLOUR = "#e66101"
#: A path of at most this many stops has every stop numbered; a longer one only its first and last.
NUMBERED = 30


def map_scale():
    """The scale of the maps' axes (``charts.linked_maps``): no zero, no rounding, 8 px of padding."""
    import altair as alt

    return alt.Scale(zero=False, nice=False, padding=8)


def path_frame(xy, rows: Sequence[int], *, key: str, times: Sequence[int] | None = None, names: Sequence[str] | None = None):
    """The stops of a path over the map ``key``: one row per item of ``rows`` (map rows, in path
    order) with ``<key>_x``/``<key>_y`` from ``xy`` (the view's coordinates, n × 2), ``step``
    (1, 2, …), ``name`` (from ``names``, one per map row; else the row) and ``when`` (``times``,
    Unix seconds, as ``atlas.paths.when`` writes them; else "")."""
    import pandas as pd

    from atlas.paths import when as written

    rows = np.asarray(rows, dtype=np.int64)
    xy = np.asarray(xy, dtype=np.float64)
    return pd.DataFrame({
        f"{key}_x": xy[rows, 0] if rows.size else np.array([], dtype=np.float64),
        f"{key}_y": xy[rows, 1] if rows.size else np.array([], dtype=np.float64),
        "step": np.arange(1, rows.size + 1, dtype=np.int64),
        "name": [str(names[r]) for r in rows] if names is not None else [str(r) for r in rows],
        "when": [written(t) for t in times] if times is not None else [""] * int(rows.size),
    })


def path_frames(table, path, keys: Iterable[str]) -> dict:
    """``path_frame`` of a user's path (``atlas.paths.UserPath``) on every view ``keys`` of a map
    table (``widgets.map_table``: its ``<key>_x``/``<key>_y`` and ``name`` columns), for ``map_views(paths=…)``."""
    names = table["name"].astype(str).to_numpy()
    return {
        key: path_frame(table[[f"{key}_x", f"{key}_y"]].to_numpy(), path.rows, key=key, times=path.times, names=names)
        for key in keys
    }


def path_layers(frame, key: str, *, x_scale=None, y_scale=None, colour: str = PATH_COLOUR) -> list:
    """Altair layers that draw the stops of ``path_frame`` over the view ``key``: the line in step
    order, a ring on the first stop and a box on the last, and the steps' numbers (every one up to
    ``NUMBERED`` stops, else the ends). ``x_scale``/``y_scale`` default to the maps' (``map_scale``);
    the layers share the map's scales when laid over it."""
    import altair as alt

    if frame is None or len(frame) == 0:
        return []
    n = int(frame["step"].max())
    tooltip = [alt.Tooltip("step:Q", title="step"), alt.Tooltip("name:N", title="item")]
    if frame["when"].astype(bool).any():
        tooltip.append(alt.Tooltip("when:N", title="first time"))
    base = alt.Chart(frame).encode(
        x=alt.X(f"{key}_x:Q", axis=None, scale=x_scale or map_scale()),
        y=alt.Y(f"{key}_y:Q", axis=None, scale=y_scale or map_scale()),
    )
    line = base.mark_line(color=colour, strokeWidth=1.6, opacity=0.85, strokeCap="round", strokeJoin="round").encode(order=alt.Order("step:Q"))
    start = base.transform_filter("datum.step == 1").mark_point(shape="circle", size=260, filled=False, strokeWidth=2.4, color=colour).encode(tooltip=tooltip)
    layers = [line, start]
    if n > 1:
        layers.append(base.transform_filter(f"datum.step == {n}").mark_point(shape="square", size=240, filled=False, strokeWidth=2.4, color=colour).encode(tooltip=tooltip))
    numbered = base if n <= NUMBERED else base.transform_filter(f"datum.step == 1 || datum.step == {n}")
    style = {"dx": -9, "dy": -9, "fontSize": 11, "fontWeight": "bold", "align": "right", "baseline": "bottom"}
    halo = numbered.mark_text(**style, stroke="white", strokeWidth=3, strokeOpacity=0.9, strokeJoin="round").encode(text="step:Q")
    layers += [halo, numbered.mark_text(**style, color="#7f2704").encode(text="step:Q", tooltip=tooltip)]
    return layers


def path_layer(xy, rows: Sequence[int], *, key: str, times: Sequence[int] | None = None, names: Sequence[str] | None = None, x_scale=None, y_scale=None):
    """A user's path over the map ``key`` as one Altair layer chart (see ``path_frame`` and
    ``path_layers``), to lay over a chart whose x and y are ``<key>_x``/``<key>_y``."""
    import altair as alt

    return alt.layer(*path_layers(path_frame(xy, rows, key=key, times=times, names=names), key, x_scale=x_scale, y_scale=y_scale))
