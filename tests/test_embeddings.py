"""The embedding methods (atlas.embeddings): each runs, is deterministic under a seed, recovers
planted tastes, and refuses bad options in one line; the SVD matches a dense reference."""

import dataclasses

import numpy as np
import pytest

import atlas
from atlas import embeddings
from atlas.embed import EmbedParams
from atlas.embeddings.als import AlsParams
from atlas.embeddings.svd import SvdParams, document_weighted, interaction_matrix, svd_vectors
from atlas.errors import AtlasError
from atlas.metrics import label_agreement


@pytest.fixture(scope="module")
def profiles(planted):
    return atlas.build_profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))


@pytest.fixture(scope="module")
def inputs(profiles):
    graph = atlas.graph_from_candidates(atlas.cooccurrence_candidates(profiles), atlas.GraphParams(n_neighbors=10))
    return embeddings.EmbeddingInputs(profiles, graph)


@pytest.fixture(scope="module")
def labels(planted, profiles):
    return planted.items.loc[profiles.item_ids.astype(str), "community"].to_numpy()


METHODS = [
    SvdParams(dim=16, weighting="ppmi"),
    SvdParams(dim=16, weighting="sppmi", shift=2.0),
    SvdParams(dim=16, weighting="bm25"),
    SvdParams(dim=16, weighting="tfidf"),
    AlsParams(factors=16, iterations=10),
    AlsParams(factors=16, iterations=5, model="bpr"),
    EmbedParams(max_iter=150),
    EmbedParams(max_iter=150, init="svd"),
]
IDS = ["svd-ppmi", "svd-sppmi", "svd-bm25", "svd-tfidf", "als", "bpr", "pymde", "pymde-from-svd"]


@pytest.mark.parametrize("params", METHODS, ids=IDS)
def test_each_method_is_deterministic_and_recovers_planted_tastes(inputs, labels, params):
    a = embeddings.embed(inputs, params)
    b = embeddings.embed(inputs, params)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert a.coords.shape[0] == inputs.n_items and np.isfinite(a.coords).all()
    assert a.method == embeddings.of(params).name and a.params == params
    agreement, chance = label_agreement(a.space(), labels)
    shuffled, _ = label_agreement(a.space(), np.random.default_rng(0).permutation(labels))
    # six equal communities: chance is about 1/6; the planted tastes must be found clearly
    assert agreement > 0.6 and agreement > 2.5 * shuffled, (agreement, shuffled, chance)


@pytest.mark.parametrize("params", [SvdParams(dim=16), AlsParams(factors=16, iterations=5), EmbedParams(max_iter=100)], ids=["svd", "als", "pymde"])
def test_another_seed_gives_other_vectors_for_randomised_methods(inputs, params):
    a = embeddings.embed(inputs, params)
    b = embeddings.embed(inputs, dataclasses.replace(params, seed=params.seed + 1))
    if isinstance(params, SvdParams):  # the SVD converges to the same subspace from any start
        np.testing.assert_allclose(np.abs(a.coords[:, :4]), np.abs(b.coords[:, :4]), atol=2e-3)
    else:
        assert not np.allclose(a.coords, b.coords)


def _signed(vectors):
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    return vectors * signs


def test_svd_of_ppmi_equals_a_dense_reference(profiles):
    x = interaction_matrix(profiles, False).toarray()
    c = x.T @ x
    np.fill_diagonal(c, 0.0)
    totals = c.sum(axis=1)
    smoothed = totals**0.75
    with np.errstate(divide="ignore"):
        pmi = np.log(c) + np.log(smoothed.sum()) - np.log(totals)[:, None] - np.log(smoothed)[None, :]
    ppmi = np.where(c > 0, np.maximum(pmi, 0.0), 0.0)
    u, s, _ = np.linalg.svd(ppmi)
    reference = _signed(u[:, :8] * np.sqrt(s[:8]))
    got = svd_vectors(profiles, SvdParams(dim=8, weighting="ppmi", power=0.5, n_iter=30))
    np.testing.assert_allclose(got, reference, atol=2e-4)


def test_svd_of_bm25_equals_a_dense_reference(profiles):
    weighted = document_weighted(interaction_matrix(profiles, False), "bm25").toarray()
    _, s, vt = np.linalg.svd(weighted, full_matrices=False)
    reference = _signed(vt[:6].T * np.sqrt(s[:6]))
    got = svd_vectors(profiles, SvdParams(dim=6, weighting="bm25", power=0.5, n_iter=30))
    np.testing.assert_allclose(got, reference, atol=2e-4)


def test_als_reads_the_weight_column(planted):
    rng = np.random.default_rng(0)
    inter = planted.interactions
    weights = rng.integers(1, 6, inter.user.shape[0]).astype(float)
    weighted = atlas.Dataset(atlas.ingest.from_arrays(inter.user, inter.item, weights, fingerprint="weighted"), planted.items)
    profiles = atlas.build_profiles(weighted, atlas.FilterParams(min_item_users=3, min_user_items=2))
    with_weights = embeddings.embed(embeddings.EmbeddingInputs(profiles), AlsParams(factors=8, iterations=5))
    without = embeddings.embed(embeddings.EmbeddingInputs(profiles), AlsParams(factors=8, iterations=5, use_weights=False))
    assert np.abs(with_weights.coords - without.coords).max() > 1e-2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SvdParams(dim=1), "svd dim must be between 2 and 1024, got 1"),
        (lambda: SvdParams(weighting="pmi"), "Unsupported value 'pmi' for svd weighting"),
        (lambda: SvdParams(shift=0.5), "svd shift must be between 1.0"),
        (lambda: SvdParams(cds=float("nan")), "svd cds must be a finite number"),
        (lambda: SvdParams(power=2), "svd power must be between 0.0 and 1.0"),
        (lambda: AlsParams(factors=0), "als factors must be between 2 and 1024, got 0"),
        (lambda: AlsParams(model="sgd"), "Unsupported value 'sgd' for als model"),
        (lambda: AlsParams(regularization=-1), "als regularization must be between"),
        (lambda: AlsParams(iterations=0), "als iterations must be between 1"),
        (lambda: AlsParams(bm25_b=2), "als bm25_b must be between 0.0 and 1.0"),
        (lambda: AlsParams(seed=-1), "seed must be a whole number"),
        (lambda: embeddings.get("word2vec"), "Unsupported value 'word2vec' for --embedding; the supported values are"),
        (lambda: embeddings.embedding_params({"embedding": "nmf"}), "Unsupported value 'nmf' for --embedding"),
        (lambda: embeddings.embedding_params({"embedding": "svd", "als_factors": "many"}), "--als-factors must be a whole number"),
        (lambda: embeddings.from_dict({"method": "svd", "rank": 3}), "unexpected keyword argument 'rank'"),
    ],
)
def test_bad_options_get_one_line_errors(make, message):
    with pytest.raises((AtlasError, TypeError), match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_more_dimensions_than_items_are_lowered_to_fit(inputs, caplog):
    n = inputs.n_items
    with caplog.at_level("WARNING"):
        svd = embeddings.embed(inputs, SvdParams(dim=500))
        als = embeddings.embed(inputs, AlsParams(factors=500, iterations=2))
    assert svd.coords.shape == (n, n - 1) and als.coords.shape == (n, n - 1)
    assert f"--svd-dim 500 lowered to {n - 1}" in caplog.text and f"--als-factors 500 lowered to {n - 1}" in caplog.text


def test_profile_methods_refuse_a_build_without_the_profile_matrix(inputs):
    with pytest.raises(AtlasError, match="reads the profile matrix.*use --embedding pymde"):
        embeddings.embed(embeddings.EmbeddingInputs(None, inputs.graph), SvdParams(dim=8))


def test_options_round_trip_through_values_and_records():
    params = embeddings.embedding_params({"embedding": "als", "als_factors": "32", "als_model": "bpr"}, seed=4)
    assert params == AlsParams(factors=32, model="bpr", seed=4)
    assert embeddings.embedding_params(embeddings.changed_options(params), seed=4) == params
    assert embeddings.from_dict(embeddings.to_dict(params)) == params
    assert embeddings.from_dict({"embedding_dim": 4}) == EmbedParams(embedding_dim=4)  # a record from before the methods
    assert embeddings.of(embeddings.embedding_params({})).name == embeddings.DEFAULT
