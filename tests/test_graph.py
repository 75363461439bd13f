import numpy as np
import pytest

import atlas
from atlas.graph import GraphParams, graph_from_candidates, recipe_graph


@pytest.fixture(scope="module")
def profiles(planted):
    return atlas.build_profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))


def test_topk_graph_is_symmetric_unique_and_covers_every_item(profiles):
    cands = atlas.cooccurrence_candidates(profiles)
    g = graph_from_candidates(cands, GraphParams(n_neighbors=8))
    assert (g.edges[:, 0] < g.edges[:, 1]).all()
    assert np.unique(g.edges, axis=0).shape[0] == g.n_edges
    assert (g.degrees() >= 8).all()  # every item keeps its own 8, popular items may gain more
    s = g.summary()
    assert s["isolated_items"] == 0 and s["components"] >= 1


def test_items_with_too_few_accepted_partners_get_fallbacks(profiles):
    cands = atlas.cooccurrence_candidates(profiles, atlas.CooccurrenceParams(weighting="pmi", min_count=20))
    g = graph_from_candidates(cands, GraphParams(n_neighbors=8))
    assert g.n_fallback_items > 0
    assert (g.degrees() > 0).all()


def test_fast_graph_agrees_with_the_published_recipe(profiles):
    fast = graph_from_candidates(atlas.cooccurrence_candidates(profiles, atlas.CooccurrenceParams(weighting="count")), GraphParams(n_neighbors=10))
    recipe = recipe_graph(profiles, GraphParams(n_neighbors=10, method="recipe"))
    a = set(map(tuple, fast.edges.tolist()))
    b = set(map(tuple, recipe.edges.tolist()))
    shared = len(a & b) / len(b)
    assert shared > 0.6, shared


def test_graph_neighbours_share_the_planted_community(profiles, planted):
    labels = atlas.item_labels(profiles, planted)
    g = graph_from_candidates(atlas.cooccurrence_candidates(profiles), GraphParams(n_neighbors=10))
    same = labels[g.edges[:, 0]] == labels[g.edges[:, 1]]
    assert same.mean() > 0.6  # chance is about 1/6


def test_more_neighbours_than_items_is_an_error(planted):
    small = atlas.build_profiles(atlas.from_arrays(["u", "u", "u", "v", "v", "v"], ["a", "b", "c", "a", "b", "c"]), atlas.FilterParams(min_item_users=1, min_user_items=1))
    cands = atlas.cooccurrence_candidates(small)
    with pytest.raises(atlas.AtlasError, match="--n-neighbors 15 needs more than 15 items, but only 3 are left"):
        graph_from_candidates(cands, GraphParams(n_neighbors=15))
