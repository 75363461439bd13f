import numpy as np
import pytest

from atlas.graph import ItemGraph
from atlas.metrics import knn_recall, label_agreement, trustworthiness


def line_graph(n):
    i = np.arange(n)
    neighbors = np.stack([i - 1, i + 1], axis=1).astype(np.int32)
    neighbors[0] = [1, 2]
    neighbors[-1] = [n - 2, n - 3]
    edges = np.unique(np.sort(np.stack([np.repeat(np.arange(n), 2), neighbors.ravel()], axis=1), axis=1), axis=0)
    return ItemGraph(n, edges, np.ones(len(edges), np.float32), neighbors, np.ones_like(neighbors, np.float32), "topk", 0)


def test_knn_recall_is_high_for_a_faithful_layout_and_low_for_a_shuffled_one():
    n = 200
    g = line_graph(n)
    faithful = np.stack([np.arange(n), np.zeros(n)], axis=1).astype(float)
    shuffled = faithful[np.random.default_rng(0).permutation(n)]
    assert knn_recall(g, faithful, k=4) > 0.95
    assert knn_recall(g, shuffled, k=4) < 0.1


def test_label_agreement_against_chance():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    labels = np.repeat(["a", "b", "c"], 50)
    xy = centres[np.repeat([0, 1, 2], 50)] + rng.normal(size=(150, 2))
    agreement, chance = label_agreement(xy, labels)
    assert agreement > 0.95 and chance == pytest.approx(1 / 3)
    mixed, _ = label_agreement(xy, rng.permutation(labels))
    assert mixed < 0.5


def test_label_agreement_skips_missing_labels():
    xy = np.arange(20, dtype=float).reshape(10, 2)
    labels = np.array(["a"] * 5 + [None] * 5, dtype=object)
    agreement, chance = label_agreement(xy, labels, k=2)
    assert agreement == 1.0 and chance == 1.0


def test_trustworthiness_separates_good_from_bad():
    rng = np.random.default_rng(1)
    high = rng.normal(size=(300, 3))
    assert trustworthiness(high, high[:, :2]) > 0.8
    assert trustworthiness(high, rng.normal(size=(300, 2))) < 0.65


def test_label_agreement_leaves_out_missing_labels_of_every_kind():
    from atlas.metrics import label_agreement

    rng = np.random.default_rng(0)
    xy = np.r_[rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))]
    labels = np.array(["a"] * 30 + ["b"] * 30, dtype=object)
    agreement, chance = label_agreement(xy, labels, k=5)
    mixed = labels.copy()
    mixed[[0, 31]], mixed[[1, 32]] = None, float("nan")  # missing: left out, not a label of their own
    assert agreement == 1.0 and chance == 0.5
    assert label_agreement(xy, mixed, k=5) == (1.0, 0.5)


def test_an_embeddings_metrics_from_its_known_neighbours_equal_a_new_search(built):
    """The embedding's own metrics read the neighbours its projections searched for, instead of
    searching all items again: on data small enough for exact neighbours, the same figures."""
    import atlas
    from atlas.metrics import layout_metrics
    from atlas.projections import embedding_neighbors

    embedding = atlas.Embedding(np.random.default_rng(0).normal(size=(built.profiles.n_items, 24)).astype(np.float32), float("nan"), 0, metric="cosine")
    labels = np.array([f"c{i % 4}" for i in range(built.profiles.n_items)], dtype=object)
    found = embedding_neighbors(embedding, 30)
    searched = layout_metrics(built.graph, embedding.space(), None, labels)
    known = layout_metrics(built.graph, embedding.space(), None, labels, near=found.indices[:, 1:])
    assert known == pytest.approx(searched, abs=1e-3)
    too_few = layout_metrics(built.graph, embedding.space(), None, labels, near=found.indices[:, 1:4])
    assert too_few == searched  # fewer neighbours than measured with: searched again
    with_gaps = labels.copy()
    with_gaps[::7] = None
    assert layout_metrics(built.graph, embedding.space(), None, with_gaps, near=found.indices[:, 1:]) == pytest.approx(layout_metrics(built.graph, embedding.space(), None, with_gaps), abs=1e-3)
