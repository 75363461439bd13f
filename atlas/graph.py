"""Stage 4 — the sparse item graph: each item's top ``n_neighbors``, symmetrised.

Two methods:

* ``topk`` (default): straight from the co-occurrence candidates. Every item keeps its own
  best ``n_neighbors`` partners, so rare items are never left out by popular ones; an item
  whose accepted partners are too few is completed with fall-back partners (by raw count).
* ``recipe``: the published hand-made recipe — the full co-occurrence matrix via a sparse
  product, distances 1/log(1 + count), and PyMDE's shortest-path k-nearest neighbours on a
  ``pymde.Graph``. Much slower; offered so the two can be compared.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .cooccur import Candidates
from .errors import AtlasError, check_choice, check_range
from .options import option
from .profiles import Profiles

log = logging.getLogger(__name__)

GRAPH_METHODS = ("topk", "recipe")


@dataclass(frozen=True)
class GraphParams:
    """How many neighbours each item keeps, and how edges are weighted.

    ``weighted=False`` gives every edge weight 1 ("smaller and unweighted seems better");
    with ``weighted=True`` an edge weighs its similarity relative to the item's best.
    """

    n_neighbors: int = option(15, "--n-neighbors", "graph neighbours per item (default 15)", steps=(2, 3, 5, 8, 10, 15, 20, 30, 40, 60, 100), label="graph n_neighbors")
    method: str = option("topk", "--graph-method", "topk (fast) or the published PyMDE recipe", choices=GRAPH_METHODS, label="graph method")
    weighted: bool = False

    def __post_init__(self) -> None:
        check_range("n_neighbors", self.n_neighbors, 1, 4096)
        check_choice("graph method", self.method, GRAPH_METHODS)


@dataclass(frozen=True, eq=False)
class ItemGraph:
    """The undirected item graph plus each item's own ranked neighbour list.

    ``edges`` are unique pairs with ``edges[:, 0] < edges[:, 1]``; ``neighbors[i]`` are item
    i's own top partners, best first (−1 pads), ``neighbor_score`` their scores.
    """

    n_items: int
    edges: np.ndarray  # int64, E × 2
    weights: np.ndarray  # float32, E
    neighbors: np.ndarray  # int32, n × k
    neighbor_score: np.ndarray  # float32, n × k
    method: str
    n_fallback_items: int  # items completed with fall-back partners
    key: str = ""
    seconds: float = 0.0

    @property
    def n_edges(self) -> int:
        return int(self.edges.shape[0])

    def adjacency(self) -> sp.csr_matrix:
        e = self.edges
        w = np.ones(e.shape[0], dtype=np.float32)
        a = sp.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(self.n_items, self.n_items))
        return (a + a.T).tocsr()

    def degrees(self) -> np.ndarray:
        return np.bincount(self.edges.ravel(), minlength=self.n_items)

    def components(self) -> np.ndarray:
        """Sizes of the connected components, largest first."""
        _, labels = connected_components(self.adjacency(), directed=False)
        return np.sort(np.bincount(labels))[::-1]

    def summary(self) -> dict:
        sizes = self.components()
        degrees = self.degrees()
        return {
            "items": self.n_items,
            "edges": self.n_edges,
            "components": int(sizes.shape[0]),
            "largest_component": int(sizes[0]) if sizes.size else 0,
            "isolated_items": int((degrees == 0).sum()),
            "fallback_items": self.n_fallback_items,
            "median_degree": float(np.median(degrees)),
            "max_degree": int(degrees.max()) if degrees.size else 0,
        }


def _symmetrise(n_items: int, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray):
    lo = np.minimum(rows, cols).astype(np.int64)
    hi = np.maximum(rows, cols).astype(np.int64)
    keep = lo != hi
    lo, hi, weights = lo[keep], hi[keep], weights[keep]
    key = lo * n_items + hi
    order = np.argsort(key, kind="stable")
    key, weights = key[order], weights[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    merged = np.maximum.reduceat(weights, starts) if weights.size else weights
    edges = np.stack([key[starts] // n_items, key[starts] % n_items], axis=1)
    return edges, merged.astype(np.float32)


def graph_from_candidates(candidates: Candidates, params: GraphParams = GraphParams()) -> ItemGraph:
    """The ``topk`` method: keep each item's best ``n_neighbors`` candidates and symmetrise."""
    n_items, m = candidates.index.shape
    k = params.n_neighbors
    if k >= n_items:
        raise AtlasError(f"--n-neighbors {k} needs more than {k} items, but only {n_items} are left; lower --n-neighbors.")
    if k > m:
        raise AtlasError(
            f"--n-neighbors {k} is more than the {m} candidates kept per item; raise --n-candidates "
            f"to at least {k} or lower --n-neighbors."
        )
    index = candidates.index[:, :k]
    score = candidates.score[:, :k]
    valid = index >= 0
    accepted = score > 0
    fallback_items = int((valid & ~accepted).any(axis=1).sum())
    if params.weighted:
        best = np.where(accepted, score, 0).max(axis=1, keepdims=True)
        best[best <= 0] = 1.0
        w = np.where(accepted, score / best, 0.1).astype(np.float32)
    else:
        w = np.ones_like(score, dtype=np.float32)
    rows = np.repeat(np.arange(n_items), k).reshape(n_items, k)
    edges, weights = _symmetrise(n_items, rows[valid], index[valid], w[valid])
    return ItemGraph(n_items, edges, weights, index.astype(np.int32), score.astype(np.float32), "topk", fallback_items)


def recipe_graph(profiles: Profiles, params: GraphParams = GraphParams()) -> ItemGraph:
    """The published recipe: XᵀX counts → 1/log(1+count) distances → PyMDE's graph k-NN."""
    import pymde
    import torch

    k = params.n_neighbors
    if k >= profiles.n_items:
        raise AtlasError(f"n_neighbors={k} needs more than {k} items, but only {profiles.n_items} are left; lower n_neighbors.")
    counts = cooccurrence_matrix(profiles)
    distances = counts.copy()
    distances.data = (1.0 / np.log1p(distances.data)).astype(np.float32)
    graph = pymde.Graph(distances)
    max_distance = (3 * torch.quantile(graph.distances, 0.75)).item()
    knn = pymde.preprocess.k_nearest_neighbors(graph, k=k, max_distance=max_distance, verbose=False)
    edges = knn.edges.cpu().numpy().astype(np.int64)
    weights = knn.weights.cpu().numpy().astype(np.float32)
    if not params.weighted:
        weights = np.ones_like(weights)
    edges, weights = _symmetrise(profiles.n_items, edges[:, 0], edges[:, 1], weights)
    neighbors, score = _ranked_neighbors(counts, edges, profiles.n_items, k)
    return ItemGraph(profiles.n_items, edges, weights, neighbors, score, "recipe", 0)


def cooccurrence_matrix(profiles: Profiles) -> sp.csr_matrix:
    """The full item × item co-occurrence counts (diagonal removed) — the recipe's way."""
    x = profiles.matrix.astype(np.float32)
    x.data[:] = 1.0  # counts of shared users, whatever the interactions' weights
    counts = (x.T @ x).tocsr()
    counts.setdiag(0)
    counts.eliminate_zeros()
    return counts


def _ranked_neighbors(counts: sp.csr_matrix, edges: np.ndarray, n_items: int, k: int):
    """Per item, its graph neighbours ordered by co-occurrence count (for lists and metrics)."""
    a = sp.coo_matrix((np.ones(edges.shape[0]), (edges[:, 0], edges[:, 1])), shape=(n_items, n_items))
    adj = ((a + a.T) > 0).astype(np.float32).tocsr()
    # keep every graph edge, even one whose count is absent, by adding a tiny floor
    weighted = (adj.multiply(counts) + adj * 1e-9).tocsr()
    weighted.sort_indices()
    rows = np.repeat(np.arange(n_items), np.diff(weighted.indptr))
    order = np.lexsort((-weighted.data, rows))
    rows_sorted = rows[order]
    starts = weighted.indptr[:-1]
    rank = np.arange(order.shape[0]) - starts[rows_sorted]
    keep = rank < k
    neighbors = np.full((n_items, k), -1, dtype=np.int32)
    score = np.full((n_items, k), -np.inf, dtype=np.float32)
    neighbors[rows_sorted[keep], rank[keep]] = weighted.indices[order][keep]
    score[rows_sorted[keep], rank[keep]] = weighted.data[order][keep]
    return neighbors, score
