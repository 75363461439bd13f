"""Emblaze in marimo: a comparison viewer with a front end fixed for marimo (see ``emblaze_js``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import traitlets

from .emblaze_js import BACKBONE_LISTENER, PORTABLE_LISTENER, patch_bundle
from .memo import Recent, content_hash

log = logging.getLogger(__name__)

_BACKBONE_LISTENER = BACKBONE_LISTENER
_PORTABLE_LISTENER = PORTABLE_LISTENER


def portable_emblaze_esm(source: str) -> str:
    """Return Emblaze's front-end module fixed for the app (see ``emblaze_js``): trait listeners
    that work under marimo, drawing only while something changes and while it is in view, a
    compact legend whose labels do not overlap and which leaves the map's buttons and the
    sidebar's toolbars free, and an optional log colour scale.

    Raises ``RuntimeError`` when the bundle lacks a piece a fix expects (a different Emblaze
    build), rather than shipping a widget that silently draws nothing or never stops drawing.
    """
    return _patched(source)


@functools.lru_cache(maxsize=2)
def _patched(source: str) -> str:
    return patch_bundle(source)


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


@dataclass(frozen=True)
class EmblazeParts:
    """What an Emblaze viewer is made of, computed once: the aligned frames with their
    neighbours, the item names and the sidebar's frame colours (the costly part). Each call of
    ``viewer`` makes a new viewer from them; a viewer itself is never handed out twice, since
    its browser side may be gone (a reloaded page, a replaced output)."""

    embeddings: object  # emblaze.EmbeddingSet
    thumbnails: object  # emblaze.TextThumbnails
    frame_colors: list
    continuous: bool
    colour_log: bool = False
    colours: tuple[tuple[str, str], ...] = ()  # (category, colour) in legend order: the maps' colours

    def viewer(self, *, suggestions: bool = False):
        viewer = _viewer_class()(
            embeddings=self.embeddings,
            thumbnails=self.thumbnails,
            thread_starter=_run_inline,
            compute_suggestions=suggestions,
            _defaultFrameColors=self.frame_colors,
        )
        if self.continuous:  # the maps' ramp (Emblaze picks its scheme while it is built)
            viewer.colorScheme = "viridis"
        extra = {}
        if self.colour_log:  # read by the patched bundle: a log colour scale, labelled in the data's units
            extra["atlasColourLog"] = True
        if self.colours:  # read by the patched bundle: the categories' colours and order
            extra["atlasColours"] = [list(pair) for pair in self.colours]
        if extra:
            viewer.data = {**viewer.data, **extra}
        return viewer


def emblaze_parts(
    layouts: Mapping[str, np.ndarray],
    *,
    names: Sequence[str],
    colors: np.ndarray | Sequence | None = None,
    neighbors: np.ndarray | None = None,
    n_layout_neighbors: int = 10,
    colour_log: bool = False,
    colours: Sequence[tuple[str, str]] = (),
) -> EmblazeParts:
    """The parts of an Emblaze comparison (see ``emblaze_view`` for the arguments); with
    ``colour_log`` numeric colours are taken as log10 of the values the legend shows, and
    ``colours`` gives categories their colours and legend order."""
    import emblaze
    from emblaze.frame_colors import compute_colors
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
    embedding_set = emblaze.EmbeddingSet(embeddings, align=True)
    frame_colors = compute_colors(embedding_set, None) if len(embeddings) > 1 else []
    continuous = embedding_set[0].guess_data_type(Field.COLOR) != "categorical"
    thumbnails = emblaze.TextThumbnails([str(s) for s in names])
    return EmblazeParts(embedding_set, thumbnails, frame_colors, continuous, colour_log, tuple((str(c), str(v)) for c, v in colours))


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
    parts = emblaze_parts(layouts, names=names, colors=colors, neighbors=neighbors, n_layout_neighbors=n_layout_neighbors)
    return parts.viewer(suggestions=suggestions)


def comparison_view(
    layouts: Mapping[str, object],
    table,
    neighbors: np.ndarray,
    *,
    color: str,
    has: str | None = None,
    max_points: int,
    graph_key: str = "",
    memo: Recent | None = None,
):
    """The app's Emblaze comparison of ``layouts`` (label -> ``atlas.Layout``).

    Items are sampled to ``max_points`` (the same sample every time), named by ``table['name']``
    and coloured as the maps colour them: popularity on a log scale, other numbers on a linear
    one, anything else by ``columns.legend_categories`` (``has``: one value of a set). Emblaze
    draws y downwards, so y is flipped to show the maps the right way up.

    Every call returns a new viewer: a viewer shown before may have lost its browser side (a
    page reload, a replaced output) and would then show "Model not found". What it is made of
    (the aligned frames, their neighbours, the frame colours) is kept in ``memo`` (one per
    browser session) for the same layouts (by their cache keys), graph, names and colours, so
    that a setting seen before is quick again. Layouts without a cache key are never memoised.

    Returns ``(viewer, rows)``: the rows of ``table`` that it shows.
    """
    from atlas.columns import legend_categories

    from .charts import category_colours
    from .tables import colour_context, is_quantitative, sample_rows

    rows = sample_rows(len(table), max_points)
    keys = tuple((label, getattr(layout, "key", "")) for label, layout in layouts.items())
    shown = table[list(dict.fromkeys(["name", color]))].iloc[rows]
    log, palette = color == "n_users", ()
    if log:
        colours = np.log10(np.maximum(shown[color].to_numpy(dtype=np.float64), 1.0))
    elif is_quantitative(table[color]):
        colours = shown[color].to_numpy(dtype=np.float64)
    else:  # the maps' categories, legend labels and colours; strings, so Emblaze never makes a ramp of them
        labels, order, _ = legend_categories(table[color], has=has, **{**colour_context(table, color), "neighbors": neighbors})
        colours = np.asarray([str(v) for v in labels[rows]], dtype=object)
        palette = tuple(zip(order, category_colours(order, has=has)))
    key = None if not graph_key or not all(key for _, key in keys) else (keys, graph_key, content_hash(shown["name"], colours))

    def build():
        return emblaze_parts(
            {label: layout.xy[rows] * np.array([1.0, -1.0]) for label, layout in layouts.items()},
            names=shown["name"].to_numpy(),
            colors=colours,
            neighbors=subset_neighbors(neighbors, rows),
            colour_log=log,
            colours=palette,
        )

    parts = build() if memo is None else memo.get(key, build)
    return parts.viewer(), rows


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
