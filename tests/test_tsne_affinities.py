"""t-SNE's affinities worked from atlas's neighbours, and its steps without the KL divergence."""

from __future__ import annotations

import numpy as np
from openTSNE import TSNE
from openTSNE.affinity import PrecomputedAffinities, joint_probabilities_nn
from scipy.spatial import cKDTree

from atlas.projections.tsne_affinities import BH_BELOW, GradientOnly, _conditional, joint_affinities


def _neighbours(n=1500, k=30, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(6, 5))
    x = centres[rng.integers(0, 6, n)] + rng.normal(size=(n, 5))
    distances, indices = cKDTree(x).query(x, k=k + 1)
    return indices[:, 1:], distances[:, 1:]


def _sorted(P):
    P = P.copy()
    P.sort_indices()
    return P


def test_affinities_are_opentsnes_pairs_and_values():
    indices, distances = _neighbours()
    P = _sorted(joint_affinities(indices, distances, 10.0))
    Q = _sorted(joint_probabilities_nn(indices, distances, [10.0]).tocsr())
    assert np.array_equal(P.indptr, Q.indptr) and np.array_equal(P.indices, Q.indices)
    # openTSNE stops its search at 1e-8 of the entropy: the values agree to that
    np.testing.assert_allclose(P.data, Q.data, rtol=1e-6)
    assert abs(P.sum() - 1.0) < 1e-12
    assert abs(P - P.T).max() == 0.0  # exactly symmetric


def test_each_items_entropy_is_the_perplexitys():
    _, distances = _neighbours(k=60)
    for perplexity in (3.0, 10.0, 20.0):
        p = _conditional(distances.astype(np.float64), perplexity, 1e-10, 100)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
        entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
        assert np.abs(entropy - np.log(perplexity)).max() < 1e-9


def test_equal_distances_and_a_far_neighbour_still_fit():
    # every neighbour at the same distance (any bandwidth gives k equal weights: the entropy is
    # log k) and one row whose last neighbour is very far: no NaN, weights still sum to 1
    distances = np.ones((3, 12))
    distances[1, -1] = 1e6
    distances[2] = np.linspace(0.0, 3.0, 12)
    p = _conditional(distances, 5.0, 1e-10, 100)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p[0], 1 / 12)


def test_an_item_among_its_own_neighbours_is_summed_as_scipy_sums_it():
    # equal items may list the item itself among its neighbours (ties sorted by index)
    indices, distances = _neighbours(n=300, k=10)
    indices = indices.copy()
    indices[5, 3] = 5
    P = _sorted(joint_affinities(indices, distances, 3.0))
    conditional = _conditional(distances.astype(np.float64), 3.0, 1e-10, 100)
    import scipy.sparse as sp

    n, k = indices.shape
    raw = sp.csr_matrix((conditional.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    expected = _sorted(((raw + raw.T) / 2).tocsr())
    expected = expected / expected.sum()
    assert np.array_equal(P.indices, expected.indices)
    np.testing.assert_allclose(P.data, expected.data, rtol=1e-13)


def test_the_steps_without_the_error_give_the_same_layout_and_skip_the_extra_gradient():
    indices, distances = _neighbours(n=800, k=30)
    P = joint_affinities(indices, distances, 10.0)
    start = np.random.default_rng(1).normal(size=(800, 2))

    def run(method):
        embedding = TSNE(n_jobs=1, random_state=0).prepare_initial(affinities=PrecomputedAffinities(P, normalize=False), initialization=start.copy())
        embedding.optimize(n_iter=15, exaggeration=1, momentum=0.8, inplace=True, negative_gradient_method=method, callbacks=[lambda *a: False], callbacks_every_iters=5)
        return np.asarray(embedding)

    # openTSNE's own choice for 800 items is Barnes–Hut; FFT is what it takes from BH_BELOW items
    for method, n_items in (("bh", 800), ("fft", BH_BELOW)):
        counted = GradientOnly(15, n_items)
        calls = []

        def spy(*args, counted=counted, calls=calls, **kwargs):
            calls.append(kwargs.get("should_eval_error"))
            return counted(*args, **kwargs)

        assert np.array_equal(run(method), run(spy)), method
        assert len(calls) == 16 and counted.left == 0  # the 16th call, for the error alone, computed nothing
        assert not np.array_equal(run("bh"), run("fft"))  # the two methods differ: the comparison above can fail
