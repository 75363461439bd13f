"""Emblaze in marimo: a comparison viewer whose listeners work under marimo's anywidget host."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import traitlets

from .memo import Recent, content_hash

log = logging.getLogger(__name__)

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


def comparison_view(
    layouts: Mapping[str, object], table, neighbors: np.ndarray, *, color: str, max_points: int, graph_key: str = "", memo: Recent | None = None
):
    """The app's Emblaze comparison of ``layouts`` (label -> ``atlas.Layout``), memoised in ``memo``
    (one per browser session).

    Items are sampled to ``max_points`` (the same sample every time), named by ``table['name']``
    and coloured by ``table[color]``. A viewer for the same layouts (by their cache keys), graph,
    names and colours is returned again rather than rebuilt, so that moving a slider back to a
    setting seen before does not rebuild and resend the comparison. Layouts without a cache key
    are never memoised.

    Returns ``(viewer, rows)``: the rows of ``table`` that it shows.
    """
    from atlas.columns import colour_values

    from .tables import is_quantitative, sample_rows

    rows = sample_rows(len(table), max_points)
    keys = tuple((label, getattr(layout, "key", "")) for label, layout in layouts.items())
    shown = table[list(dict.fromkeys(["name", color]))].iloc[rows]
    if color != "n_users" and not is_quantitative(table[color]):
        # the same categories as the maps: strings, so Emblaze never turns a few numbers into a ramp
        shown = shown.assign(**{color: [str(v) for v in colour_values(table[color])[0][rows]]})
    key = None if not graph_key or not all(key for _, key in keys) else (keys, graph_key, content_hash(shown))

    def build():
        return emblaze_view(
            {label: layout.xy[rows] for label, layout in layouts.items()},
            names=shown["name"].to_numpy(),
            colors=shown[color].to_numpy(),
            neighbors=subset_neighbors(neighbors, rows),
        )

    if memo is None:
        return build(), rows
    return memo.get(key, build), rows


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
