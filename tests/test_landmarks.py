import dataclasses

import numpy as np
import pytest

import atlas
from atlas.metrics import knn_recall, label_agreement
from atlas.profiles import item_labels
from atlas.projections import PacmapParams, TsneParams, UmapParams
from atlas.projections.landmarks import LANDMARKS_FROM, MIN_LANDMARKS, choose_landmarks, landmark_count, place_from_landmarks


@pytest.fixture(scope="module")
def stages():
    """1,200 items in 8 planted communities, up to the embedding."""
    data = atlas.synthetic_profiles(3000, 1200, n_communities=8, mean_profile_length=20, in_community=0.85, seed=5)
    params = atlas.BuildParams(
        filter=atlas.FilterParams(min_item_users=3, min_user_items=2), graph=atlas.GraphParams(n_neighbors=10), embed=atlas.EmbedParams(max_iter=200)
    )
    build = atlas.Build(data, params)
    return atlas.Pipeline(cache=build.cache), build.graph, build.embedding, item_labels(build.profiles, data)


def test_the_rule_lays_out_landmarks_only_for_large_catalogues():
    assert landmark_count(None, LANDMARKS_FROM - 1) == 0
    assert landmark_count(None, LANDMARKS_FROM) == max(MIN_LANDMARKS, LANDMARKS_FROM // 5)
    assert landmark_count(None, 2_000_000) == 400_000
    assert landmark_count(0, 2_000_000) == 0  # forced off
    assert landmark_count(300, 1000) == 300  # forced on, however small
    assert landmark_count(1000, 1000) == 0  # as many landmarks as items: a full layout


def test_placed_items_sit_among_their_nearest_landmarks():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(500, 3))
    chosen = choose_landmarks(500, 100, seed=1)
    assert np.array_equal(chosen, choose_landmarks(500, 100, seed=1)) and np.unique(chosen).size == 100
    landmark_xy = coords[chosen, :2] * 7.0  # a "layout" that is a plain projection of the coordinates
    xy = place_from_landmarks(coords, chosen, landmark_xy)
    np.testing.assert_allclose(xy[chosen], landmark_xy, rtol=1e-6)
    others = np.setdiff1d(np.arange(500), chosen)
    error = np.linalg.norm(xy[others] - coords[others, :2] * 7.0, axis=1).mean()
    shuffled = np.linalg.norm(xy[others] - coords[rng.permutation(others), :2] * 7.0, axis=1).mean()
    assert error < 0.25 * shuffled, (error, shuffled)


def test_placement_in_many_dimensions_uses_the_nearest_landmarks():
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(2)
    coords = rng.normal(size=(3000, 24))
    chosen = choose_landmarks(3000, 1000, seed=3)
    landmark_xy = rng.normal(size=(1000, 2))
    others = np.setdiff1d(np.arange(3000), chosen)
    dist, idx = cKDTree(coords[chosen]).query(coords[others], k=8)
    weight = 1.0 / dist
    expected = np.einsum("ij,ijk->ik", weight / weight.sum(axis=1, keepdims=True), landmark_xy[idx])
    xy = place_from_landmarks(coords, chosen, landmark_xy)
    close = np.all(np.isclose(xy[others], expected, atol=1e-3), axis=1)
    assert close.mean() > 0.97  # the same 8 landmarks (the search is approximate), weighted alike


@pytest.mark.parametrize(
    "params",
    [UmapParams(n_neighbors=15, n_epochs=200), TsneParams(perplexity=15, n_iter=300), PacmapParams(n_neighbors=8, n_iter=300)],
    ids=["umap", "tsne", "pacmap"],
)
def test_a_landmark_layout_keeps_what_the_full_layout_keeps(stages, params):
    """A third of the items as landmarks, the rest placed and refined: the map's neighbourhoods and
    planted communities come out nearly as well as from a full run of the same method."""
    _, graph, embedding, labels = stages
    full = atlas.project(embedding, dataclasses.replace(params, landmarks=0))
    steps = []
    marked = atlas.project(embedding, dataclasses.replace(params, landmarks=400), progress=lambda s, t, xy: steps.append((s, t, xy)))
    assert marked.xy.shape == full.xy.shape and np.all(np.isfinite(marked.xy))
    assert not np.allclose(marked.xy, full.xy)  # the landmark route really ran
    recall_full, recall_marked = knn_recall(graph, full.xy), knn_recall(graph, marked.xy)
    agree_full, chance = label_agreement(full.xy, labels)
    agree_marked, _ = label_agreement(marked.xy, labels)
    assert recall_marked >= 0.85 * recall_full, (recall_marked, recall_full)
    assert agree_marked >= 0.9 * agree_full and agree_marked > 3 * chance, (agree_marked, agree_full, chance)
    if steps:  # progress runs forward to the end; the landmarks' own smaller layout is never shown
        done = [s for s, _, _ in steps]
        assert done == sorted(done) and steps[-1][0] == steps[-1][1]
        assert all(xy is None or xy.shape == full.xy.shape for _, _, xy in steps)


def test_landmarks_are_seeded(stages):
    _, _, embedding, _ = stages
    params = UmapParams(n_neighbors=15, n_epochs=100, landmarks=300)
    np.testing.assert_allclose(atlas.project(embedding, params).xy, atlas.project(embedding, params).xy, atol=1e-4)


def test_a_negative_landmark_count_is_refused():
    with pytest.raises(atlas.AtlasError, match="landmarks"):
        UmapParams(landmarks=-1)


def test_tsne_refines_placed_items_longer_than_a_finished_map(stages):
    """Items placed among landmarks are a rougher start than a map at another perplexity: t-SNE
    gives them the 100 steps measured against a full run, a finished map its ``warm_iter``."""
    from atlas.projections import tsne
    from atlas.projections.base import ProjectionInputs, embedding_neighbors

    _, _, embedding, _ = stages
    params = TsneParams(perplexity=10, warm_iter=30)
    neighbors = embedding_neighbors(embedding, 31)
    start = atlas.project(embedding, dataclasses.replace(params, n_iter=50, exaggeration_iter=20)).xy
    totals = {}
    for placed in (False, True):
        seen = []
        inputs = ProjectionInputs(embedding, neighbors, None, start, True, placed=placed)
        tsne.Tsne().fit(inputs, params, progress=lambda step, total, xy, seen=seen: seen.append(total))
        totals[placed] = seen[-1]
    assert totals == {False: 30, True: tsne.PLACED_ITERATIONS}
