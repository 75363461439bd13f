import numpy as np
import pytest

import atlas
from atlas.embed import EmbedParams, embed_graph, sample_non_edges


@pytest.fixture(scope="module")
def graph(planted):
    p = atlas.build_profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))
    return atlas.graph_from_candidates(atlas.cooccurrence_candidates(p), atlas.GraphParams(n_neighbors=10))


def test_same_seed_same_embedding_other_seed_differs(graph):
    a = embed_graph(graph, EmbedParams(max_iter=100, seed=1))
    b = embed_graph(graph, EmbedParams(max_iter=100, seed=1))
    c = embed_graph(graph, EmbedParams(max_iter=100, seed=2))
    np.testing.assert_array_equal(a.coords, b.coords)
    assert not np.allclose(a.coords, c.coords)


@pytest.mark.parametrize("dim,init", [(2, "random"), (4, "spectral")])
def test_embedding_shape_and_finite_distortion(graph, dim, init):
    e = embed_graph(graph, EmbedParams(embedding_dim=dim, init=init, max_iter=100))
    assert e.coords.shape == (graph.n_items, dim)
    assert np.isfinite(e.coords).all() and np.isfinite(e.distortion)


def test_graph_neighbours_end_up_closer_than_random_pairs(graph):
    e = embed_graph(graph, EmbedParams(max_iter=200))
    x = e.coords
    edge_d = np.linalg.norm(x[graph.edges[:, 0]] - x[graph.edges[:, 1]], axis=1).mean()
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, graph.n_items, (2, 5000))
    random_d = np.linalg.norm(x[a] - x[b], axis=1).mean()
    assert edge_d < 0.5 * random_d


def test_non_edges_avoid_edges_and_duplicates():
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    found = sample_non_edges(6, edges, 8, np.random.default_rng(0))
    keys = set(map(tuple, found.tolist()))
    assert len(keys) == found.shape[0] == 8
    assert not keys & {(0, 1), (1, 2), (2, 3)}
    assert (found[:, 0] < found[:, 1]).all()


def test_bad_parameters():
    with pytest.raises(atlas.AtlasError, match="Unsupported value 'pca' for init; the supported values are 'random', 'spectral'"):
        EmbedParams(init="pca")
    with pytest.raises(atlas.AtlasError, match="embedding_dim must be between 2 and 64"):
        EmbedParams(embedding_dim=0)
