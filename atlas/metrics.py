"""Stage 7 — metrics: does a layout keep the item neighbourhoods it was built from?

* ``knn_recall``: the share of each item's graph neighbours that are among its k nearest
  points in the layout (k = the graph's n_neighbors), averaged over items.
* ``trustworthiness``: scikit-learn's trustworthiness of the layout against the embedding, on
  a seeded sample (it is quadratic in the sample size).
* ``label_agreement``: the share of an item's k nearest layout points that carry its label,
  next to ``label_chance`` — what random neighbours would give (Σ share²).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .cores import fitted_thread_count
from .graph import ItemGraph


#: Neighbours counted by the label agreement.
LABEL_K = 10


def _nearest(xy: np.ndarray, k: int) -> np.ndarray:
    """Indices of each point's k nearest other points."""
    k = min(k, xy.shape[0] - 1)
    if xy.shape[1] > 10:  # many dimensions (an embedding's vectors): an exact tiled search beats a k-d tree
        from .projections.knn import exact_neighbors

        return exact_neighbors(xy, k, "euclidean")[0][:, 1:]
    _, idx = cKDTree(xy.astype(np.float64)).query(xy, k=k + 1, workers=fitted_thread_count())
    is_self = idx == np.arange(xy.shape[0])[:, None]
    # drop the point itself wherever it sits (duplicates may come first); else the farthest
    is_self[~is_self.any(axis=1), -1] = True
    return idx[~is_self].reshape(xy.shape[0], k)


def knn_recall(graph: ItemGraph, xy: np.ndarray, k: int | None = None, *, near: np.ndarray | None = None) -> float:
    """Mean share of each item's own graph neighbours among its k nearest points in ``xy``
    (``near``: those nearest points when they are known already, nearest first)."""
    neighbors = graph.neighbors
    k = k or neighbors.shape[1]
    near = _nearest(xy, k) if near is None else near[:, :k]
    valid = neighbors >= 0
    hits = np.zeros(neighbors.shape, dtype=bool)
    for col in range(near.shape[1]):
        hits |= neighbors == near[:, col : col + 1]
    total = valid.sum()
    return float((hits & valid).sum() / total) if total else 0.0


def trustworthiness(high: np.ndarray, low: np.ndarray, *, n_neighbors: int = 10, sample: int = 2000, seed: int = 0) -> float:
    """Trustworthiness of ``low`` w.r.t. ``high`` on a seeded sample of at most ``sample`` items."""
    from sklearn.manifold import trustworthiness as sk_trust

    n = high.shape[0]
    idx = np.arange(n)
    if n > sample:
        idx = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False))
    k = min(n_neighbors, idx.shape[0] // 2 - 1)
    if k < 1:
        return float("nan")
    return float(sk_trust(high[idx], low[idx], n_neighbors=k))


def label_agreement(xy: np.ndarray, labels: np.ndarray, k: int = 10, *, near: np.ndarray | None = None) -> tuple[float, float]:
    """(share of k nearest points with the same label, the share random neighbours would give).

    Items without a label (None/NaN) are left out on both sides (``near``, the nearest points
    when known already, is used only when every item has a label).
    """
    labels = np.asarray(labels, dtype=object)
    known = ~pd.isna(labels)  # vectorised: a Python loop over a million labels took seconds
    if known.sum() < 3:
        return float("nan"), float("nan")
    near = near[:, :k] if near is not None and known.all() else _nearest(xy[known], k)
    codes = np.unique(labels[known].astype(str), return_inverse=True)[1]
    agreement = float((codes[near] == codes[:, None]).mean())
    shares = np.bincount(codes) / codes.shape[0]
    return agreement, float((shares**2).sum())


def layout_metrics(
    graph: ItemGraph, xy: np.ndarray, embedding: np.ndarray | None = None, labels: np.ndarray | None = None, *, near: np.ndarray | None = None
) -> dict:
    """All metrics of one layout (or of the embedding itself, passing it as ``xy``). ``near``:
    each item's nearest other points in ``xy``, nearest first, when a search found them already
    (the embedding's neighbours: a second exact search of 100k items in 48-D takes minutes)."""
    if near is not None and near.shape[1] < max(graph.neighbors.shape[1], LABEL_K):
        near = None  # too few to measure with
    result = {"knn_recall": knn_recall(graph, xy, near=near)}
    if embedding is not None:
        result["trustworthiness"] = trustworthiness(embedding, xy)
    if labels is not None:
        agreement, chance = label_agreement(xy, labels, LABEL_K, near=near)
        result["label_agreement"] = agreement
        result["label_chance"] = chance
    return result
