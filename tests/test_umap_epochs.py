"""UMAP's optimiser run epoch by epoch without the interpreter lock gives UMAP's own layout."""

from __future__ import annotations

import numpy as np

from atlas.projections import umap as atlas_umap


def _problem(n: int = 400, seed: int = 3):
    """A fuzzy graph as UMAP builds one (random neighbours, UMAP's own weights) and a start."""
    import umap.umap_ as core

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d, axis=1)[:, :10].astype(np.int32)
    dist = np.sqrt(np.take_along_axis(d, idx, axis=1)).astype(np.float32)
    graph, _, _ = core.fuzzy_simplicial_set(x, 10, np.random.RandomState(0), "euclidean", knn_indices=idx, knn_dists=dist)
    graph = graph.tocoo()
    graph.sum_duplicates()
    epochs = 60
    weights = core.make_epochs_per_sample(graph.data, epochs)
    start = (rng.uniform(0, 10, size=(n, 2))).astype(np.float32)
    a, b = core.find_ab_params(1.0, 0.1)
    state = np.random.RandomState(7).randint(core.INT32_MIN, core.INT32_MAX, 3).astype(np.int64)
    return graph, epochs, weights, start, a, b, state


def test_epochs_without_the_lock_give_umaps_own_layout():
    from umap.layouts import optimize_layout_euclidean

    graph, epochs, weights, start, a, b, state = _problem()
    theirs = start.copy()
    optimize_layout_euclidean(
        theirs, theirs, graph.row, graph.col, epochs, graph.shape[1], weights, a, b, state.copy(),
        gamma=1.0, initial_alpha=0.5, negative_sample_rate=5, parallel=False, tqdm_kwds={"disable": True}, move_other=True,
    )  # fmt: skip
    ours = start.copy()
    seen = []
    atlas_umap.optimize_layout(ours, graph.row, graph.col, epochs, weights, a, b, state.copy(), alpha=0.5, report=lambda step, total, xy: seen.append(step))
    assert atlas_umap._released_epoch() is not None, "this umap-learn's epoch step was not recognised: the layouts would hold the interpreter lock"
    assert not np.array_equal(ours, start)
    assert ours.tobytes() == theirs.tobytes()
    assert seen == list(range(1, epochs + 1))


def test_the_epoch_step_releases_the_interpreter_lock():
    kernel = atlas_umap._released_epoch()
    assert kernel is not None
    assert kernel.targetoptions.get("nogil") is True
