"""Layouts of large catalogues from landmarks: a sample is laid out, the rest placed from neighbours.

A projection's full schedule (UMAP's 200 epochs, t-SNE's 750 iterations, PaCMAP's 450) costs
time in proportion to the items. Above ``LANDMARKS_FROM`` items a projection instead

1. lays out a seeded sample of landmarks with its full schedule (the sample's own exact
   neighbours, from the sample's embedding coordinates);
2. places every other item at the distance-weighted mean of its ``PLACE_NEIGHBORS`` nearest
   landmarks in embedding space (a k-d tree on the landmarks for a few dimensions; for many, the
   partition search of :mod:`atlas.projections.knn`: in 48-D a k-d tree visits most of its
   points, 6 ms a query against 200,000 landmarks, which made the placement of 1M items cost
   80 minutes per projection against 18 s);
3. runs its short refinement schedule on all items from there (the one a parameter change on
   screen runs; t-SNE's is longer here, ``tsne.PLACED_ITERATIONS``), which untangles the placed
   items among their real neighbours.

Each projection's ``landmarks`` parameter chooses: ``None`` follows ``landmark_count``'s rule,
``0`` always lays out every item, a number lays out that many landmarks (when fewer than the
items). The projection says how its layout's scale grows with its items (``Projection.rescale``).
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy.spatial import cKDTree

from ..cores import fitted_thread_count
from .base import Progress, ProjectionInputs, embedding_neighbors
from .knn import KD_TREE_DIMS, neighbors_among

log = logging.getLogger(__name__)

LANDMARKS_FROM = 150_000
"""From this many items up, a projection lays out landmarks first (unless its parameters say
otherwise). Measured in ``bench/bench_items.py``: below it a full layout costs too little for a
landmark run to save time."""

LANDMARK_SHARE = 0.2
MIN_LANDMARKS = 50_000
PLACE_NEIGHBORS = 8


def landmark_count(setting: int | None, n_items: int) -> int:
    """How many landmarks to lay out first for ``n_items`` items; 0: lay them all out at once.

    ``setting`` is the projection's ``landmarks`` parameter: None follows the rule (from
    ``LANDMARKS_FROM`` items, a ``LANDMARK_SHARE`` of them, at least ``MIN_LANDMARKS``), 0 turns
    landmarks off, a number is the count itself (off when it is not below ``n_items``).
    """
    if setting is None:
        if n_items < LANDMARKS_FROM:
            return 0
        setting = max(MIN_LANDMARKS, int(LANDMARK_SHARE * n_items))
    return int(setting) if 0 < setting < n_items else 0


def choose_landmarks(n_items: int, count: int, seed: int) -> np.ndarray:
    """A seeded uniform sample of ``count`` item indices, sorted."""
    return np.sort(np.random.default_rng([seed, n_items, count]).choice(n_items, count, replace=False))


def place_from_landmarks(coords: np.ndarray, landmarks: np.ndarray, landmark_xy: np.ndarray, *, k: int = PLACE_NEIGHBORS) -> np.ndarray:
    """2D positions of every item: landmarks keep theirs, every other item goes to the mean of its
    ``k`` nearest landmarks' positions (nearest in ``coords``), weighted by inverse distance."""
    n = coords.shape[0]
    xy = np.empty((n, 2), dtype=np.float64)
    xy[landmarks] = landmark_xy
    others = np.setdiff1d(np.arange(n), landmarks, assume_unique=True)
    if others.size == 0:
        return xy.astype(np.float32)
    k = min(k, landmarks.shape[0])
    if coords.shape[1] <= KD_TREE_DIMS:
        tree = cKDTree(coords[landmarks].astype(np.float64))
        dist, idx = tree.query(coords[others].astype(np.float64), k=k, workers=fitted_thread_count())
        if k == 1:
            dist, idx = dist[:, None], idx[:, None]
    else:
        idx, dist = neighbors_among(coords[landmarks], coords[others], k)
        dist = dist.astype(np.float64)
    weight = 1.0 / np.maximum(dist, 1e-9 * max(float(dist.max()), 1e-30))
    weight /= weight.sum(axis=1, keepdims=True)
    xy[others] = np.einsum("ij,ijk->ik", weight, np.asarray(landmark_xy, dtype=np.float64)[idx])
    return xy.astype(np.float32)


class _Phase:
    """One phase of a landmark layout seen through the caller's ``progress``: its steps mapped
    onto the whole (``offset`` … ``offset + span`` of ``total``); ``show_xy`` passes layouts on
    (the landmarks' own layout holds fewer rows than the map, so it is not shown)."""

    def __init__(self, progress: Progress, offset: int, span: int, total: int, show_xy: bool) -> None:
        self.progress, self.offset, self.span, self.total, self.show_xy = progress, offset, span, total, show_xy
        poll = getattr(progress, "poll", None)
        if poll is not None:
            self.poll = poll

    def __call__(self, step: int, total: int, xy=None) -> None:
        done = self.offset + int(round(self.span * step / max(total, 1)))
        self.progress(min(done, self.total), self.total, xy if self.show_xy else None)


def fit_with_landmarks(method, inputs: ProjectionInputs, params, count: int, *, progress: Progress | None = None) -> np.ndarray:
    """``method``'s layout of ``inputs`` from ``count`` landmarks (see the module's text)."""
    coords = inputs.embedding.coords
    n = coords.shape[0]
    chosen = choose_landmarks(n, count, int(params.seed))
    sub = dataclasses.replace(inputs.embedding, coords=coords[chosen], key=f"{inputs.embedding.key}:landmarks:{count}")
    k = method.k_needed(params)
    sub_neighbors = embedding_neighbors(sub, min(k, count - 1)) if k else None
    sub_params, _ = method.capped(params, count)
    start = None if inputs.init is None else np.asarray(inputs.init)[chosen]
    sub_inputs = ProjectionInputs(sub, sub_neighbors, None, start, False)
    first, second = (3, 1) if progress is not None else (0, 0)  # the landmark run takes the larger share of the time
    log.info("%s: laying out %d landmarks of %d items, then refining all", method.title, count, n)
    landmark_xy = method.fit(sub_inputs, sub_params, progress=_Phase(progress, 0, first * 100, (first + second) * 100, False) if progress else None)
    placed = place_from_landmarks(coords, chosen, method.rescale(np.asarray(landmark_xy, dtype=np.float64), count, n))
    whole = ProjectionInputs(inputs.embedding, inputs.neighbors, inputs.graph, placed, True, placed=True)
    return method.fit(whole, params, progress=_Phase(progress, first * 100, second * 100, (first + second) * 100, True) if progress else None)
