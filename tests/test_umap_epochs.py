"""UMAP's epochs in parallel: the same layout at any thread count, and UMAP's map of the data."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from atlas import metrics
from atlas.projections import umap as atlas_umap
from atlas.projections import umap_epochs


def _problem(n: int = 600, seed: int = 3, groups: int = 6):
    """UMAP's fuzzy graph of ``groups`` separate blobs in 8-D, and a random start."""
    import umap.umap_ as core

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % groups
    centres = rng.normal(scale=6.0, size=(groups, 8))
    x = (centres[labels] + rng.normal(size=(n, 8))).astype(np.float32)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d, axis=1)[:, :10].astype(np.int32)
    dist = np.sqrt(np.take_along_axis(d, idx, axis=1)).astype(np.float32)
    graph = atlas_umap.one_thread_fuzzy_set(core, x, 10, idx, dist).tocoo()
    graph.sum_duplicates()
    epochs = 120
    weights = core.make_epochs_per_sample(graph.data, epochs)
    start = rng.uniform(0, 10, size=(n, 2)).astype(np.float32)
    a, b = core.find_ab_params(1.0, 0.1)
    state = np.random.RandomState(7).randint(core.INT32_MIN, core.INT32_MAX, 3).astype(np.int64)
    return graph, epochs, weights, start, a, b, state, labels


def _ours(threads: int, problem) -> np.ndarray:
    graph, epochs, weights, start, a, b, state, _ = problem
    layout = start.copy()
    # the count held for every epoch (left alone, the epochs would re-count the free cores)
    umap_epochs.optimize(layout, graph.row, graph.col, epochs, weights, a, b, state.copy(), alpha=1.0, report=lambda *_: None, threads=lambda epoch, count: threads)
    return layout


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
def test_the_layout_is_byte_identical_at_one_and_two_threads():
    problem = _problem()
    one, two = _ours(1, problem), _ours(2, problem)
    assert not np.array_equal(one, problem[3])
    assert one.tobytes() == two.tobytes()


def test_the_parallel_epochs_draw_the_groups_umaps_own_optimiser_draws():
    """Each blob stays one island: nearly every item's nearest map neighbours share its blob, as
    with UMAP's own optimiser, and the map keeps as much of the graph's neighbourhoods."""
    from umap.layouts import optimize_layout_euclidean

    problem = _problem()
    graph, epochs, weights, start, a, b, state, labels = problem
    theirs = start.copy()
    optimize_layout_euclidean(
        theirs, theirs, graph.row, graph.col, epochs, graph.shape[1], weights, a, b, state.copy(),
        gamma=1.0, initial_alpha=1.0, negative_sample_rate=5, parallel=False, tqdm_kwds={"disable": True}, move_other=True,
    )  # fmt: skip
    ours = _ours(numba.get_num_threads(), problem)
    ours_agree, chance = metrics.label_agreement(ours, labels, 10)
    theirs_agree, _ = metrics.label_agreement(theirs, labels, 10)
    assert theirs_agree > 0.95 and chance < 0.3
    assert ours_agree >= theirs_agree - 0.02
    # the width of the map is UMAP's: the double pull of the head balances the negative samples as before
    spread = lambda xy: float(np.ptp(xy, axis=0).max())  # noqa: E731
    assert 0.6 < spread(ours) / spread(theirs) < 1.6


def test_the_epochs_report_each_step_and_release_the_interpreter_lock():
    graph, epochs, weights, start, a, b, state, _ = _problem(n=120, groups=3)
    seen = []
    layout = start.copy()
    atlas_umap.optimize_layout(layout, graph.row, graph.col, epochs, weights, a, b, state, alpha=1.0, report=lambda step, total, xy: seen.append((step, total)))
    assert seen == [(e, epochs) for e in range(1, epochs + 1)]
    assert umap_epochs._epoch.targetoptions.get("nogil") is True


def test_edges_must_come_grouped_by_their_head():
    assert umap_epochs.head_starts(np.array([0, 0, 1, 3]), 4).tolist() == [0, 2, 3, 3, 4]
    with pytest.raises(ValueError, match="sorted by their head"):
        umap_epochs.head_starts(np.array([1, 0]), 2)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
def test_the_thread_count_may_change_from_epoch_to_epoch():
    graph, epochs, weights, start, a, b, state, _ = _problem()
    one, mixed = start.copy(), start.copy()
    seen = set()

    def alternate(epoch, count):
        seen.add(numba.get_num_threads())
        return 1 + epoch % 2

    umap_epochs.optimize(one, graph.row, graph.col, epochs, weights, a, b, state.copy(), alpha=1.0, report=lambda *_: None, threads=lambda epoch, count: 1)
    umap_epochs.optimize(mixed, graph.row, graph.col, epochs, weights, a, b, state.copy(), alpha=1.0, report=lambda *_: None, threads=alternate)
    assert one.tobytes() == mixed.tobytes()
    assert seen >= {1, 2}
