"""Does weighting a pair by its two ratings change the map? Genre agreement on MovieLens ratings.

    .venv/bin/python bench/bench_weights.py [--seeds 3]

The built-in demo (MovieLens, ratings ≥ 3.5, films liked by 10+ users) is built with each pair
weight — ``none`` (every shared user counts 1), ``product`` (rating × rating) and ``min`` — and
each weighting. For every build it reports how often an item's graph neighbours, and its nearest
points on the UMAP map and in the embedding, share its first genre (``label_agreement``), next to
what random neighbours would give (``label_chance``), as the median over seeds; and how many of
the graph's edges the weighted graph shares with the unweighted one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import atlas  # noqa: E402
from harness import table  # noqa: E402


def graph_agreement(graph: atlas.ItemGraph, labels: np.ndarray) -> float:
    """Share of each item's own graph neighbours that carry its label."""
    valid = graph.neighbors >= 0
    same = labels[np.maximum(graph.neighbors, 0)] == labels[:, None]
    return float((same & valid).sum() / valid.sum())


def edge_set(graph: atlas.ItemGraph) -> set[tuple[int, int]]:
    return set(map(tuple, graph.edges.tolist()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--weightings", default="cosine,count")
    args = parser.parse_args(argv)
    data = atlas.demo_movielens()
    pipe = atlas.Pipeline()
    rows = []
    for weighting in args.weightings.split(","):
        unweighted_edges = None
        for pair_weight in atlas.pairweights.pair_weight_names():
            scores = {"graph": [], "embedding": [], "umap": []}
            chance, shared = None, None
            for seed in range(args.seeds):
                params = atlas.build_params(
                    {"weighting": weighting, "pair_weight": pair_weight, "compare": "umap", "seed": seed}, demo=True
                )
                result = pipe.build(data, params)
                labels = atlas.item_labels(result.profiles, data).astype(str)
                scores["graph"].append(graph_agreement(result.graph, labels))
                scores["embedding"].append(result.metrics["embedding"]["label_agreement"])
                scores["umap"].append(result.metrics["umap"]["label_agreement"])
                chance = result.metrics["umap"]["label_chance"]
                edges = edge_set(result.graph)
                if pair_weight == "none":
                    unweighted_edges = edges
                elif shared is None:
                    shared = len(edges & unweighted_edges) / len(edges)
            rows.append(
                [
                    weighting,
                    pair_weight,
                    f"{statistics.median(scores['graph']):.3f}",
                    f"{statistics.median(scores['embedding']):.3f}",
                    f"{statistics.median(scores['umap']):.3f}",
                    f"{chance:.3f}",
                    "—" if shared is None else f"{shared:.0%}",
                ]
            )
    table(
        f"Genre agreement on the MovieLens demo (median of {args.seeds} seeds; first genre of each film)",
        ["weighting", "pair weight", "graph neighbours", "embedding kNN", "UMAP kNN", "chance", "edges shared with 'none'"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
