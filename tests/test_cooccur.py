import numba
import numpy as np
import pytest

import atlas
from atlas.cooccur import CooccurrenceParams, cooccurrence_candidates
from conftest import binary_profiles, dense_cooccurrence


def reference_scores(profiles, weighting):
    g = dense_cooccurrence(profiles)
    d = np.diag(g).copy()
    mass = binary_profiles(profiles).sum(axis=0)
    np.fill_diagonal(g, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if weighting == "count":
            s = g
        elif weighting == "cosine":
            s = g / np.sqrt(np.outer(d, d))
        elif weighting == "jaccard":
            s = g / (d[:, None] + d[None, :] - g)
        else:
            s = np.log(g * profiles.n_users / np.outer(mass, mass))
            s[(g < 1) | (s <= 0)] = -np.inf
    s[g == 0] = -np.inf
    np.fill_diagonal(s, -np.inf)
    return g, s


@pytest.fixture(scope="module")
def profiles(planted):
    return atlas.build_profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))


@pytest.mark.parametrize("weighting", atlas.WEIGHTINGS)
def test_candidates_match_a_dense_reference(profiles, weighting):
    cands = cooccurrence_candidates(profiles, CooccurrenceParams(weighting=weighting, n_candidates=12))
    g, s = reference_scores(profiles, weighting)
    for i in range(profiles.n_items):
        accepted = cands.score[i] > 0
        expected = np.sort(s[i][np.isfinite(s[i])])[::-1][: accepted.sum()]
        np.testing.assert_allclose(cands.score[i][accepted], expected, rtol=1e-4)
        # the listed partners really have those scores and counts
        idx = cands.index[i][accepted]
        np.testing.assert_allclose(s[i, idx], cands.score[i][accepted], rtol=1e-4)
        np.testing.assert_allclose(cands.count[i][cands.index[i] >= 0], g[i, cands.index[i][cands.index[i] >= 0]], rtol=1e-5)
        assert i not in cands.index[i]


@pytest.mark.parametrize("pair_weight,expected", [("none", 2), ("product", 2 * 3 + 1 * 4), ("min", 2 + 1)])
def test_pair_weights_combine_the_two_interactions(pair_weight, expected):
    data = atlas.from_arrays(["u", "u", "v", "v"], ["a", "b", "a", "b"], [2.0, 3.0, 1.0, 4.0])
    p = atlas.build_profiles(data, atlas.FilterParams(min_item_users=1, min_user_items=1))
    c = cooccurrence_candidates(p, CooccurrenceParams(weighting="count", n_candidates=1, pair_weight=pair_weight))
    assert c.score[0, 0] == pytest.approx(expected) and c.count[0, 0] == pytest.approx(expected)


@pytest.mark.parametrize("weighting", atlas.WEIGHTINGS)
@pytest.mark.parametrize("pair_weight", ["product", "min"])
def test_weighted_candidates_match_a_dense_reference(weighting, pair_weight):
    rng = np.random.default_rng(4)
    users = rng.integers(0, 60, 900)
    items = rng.integers(0, 25, 900)
    data = atlas.from_arrays(users, items, rng.integers(1, 6, 900).astype(float), aggregate="max")
    p = atlas.build_profiles(data, atlas.FilterParams(min_item_users=1, min_user_items=1))
    x = p.matrix.toarray().astype(np.float64)
    if pair_weight == "product":
        g = x.T @ x
    else:
        g = np.minimum(x[:, :, None], x[:, None, :]).sum(axis=0)
    sums = atlas.weightings.ItemSums(np.diag(g).copy(), x.sum(axis=0), p.n_users)
    strategy = atlas.weightings.get_weighting(weighting)
    i, j = np.indices(g.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = strategy.score(g, i, j, sums)
    s[(g == 0) | (i == j) | ~(s > 0)] = -np.inf
    c = cooccurrence_candidates(p, CooccurrenceParams(weighting=weighting, n_candidates=8, pair_weight=pair_weight))
    for row in range(p.n_items):
        ok = c.score[row] > 0
        np.testing.assert_allclose(c.score[row][ok], np.sort(s[row][np.isfinite(s[row])])[::-1][: ok.sum()], rtol=1e-4)
        listed = c.index[row] >= 0
        np.testing.assert_allclose(c.count[row][listed], g[row, c.index[row][listed]], rtol=1e-5)


def test_negative_weights_are_refused_by_weighted_pairs_only():
    data = atlas.from_arrays(["u0", "u0", "u1", "u1"], ["a", "b", "a", "b"], [1.0, -1.0, 2.0, 3.0])
    p = atlas.build_profiles(data, atlas.FilterParams(min_item_users=1, min_user_items=1))
    with pytest.raises(atlas.AtlasError, match=r"^1 of the kept interactions have negative weights.*--min-weight 0 or use --pair-weight none"):
        cooccurrence_candidates(p, CooccurrenceParams(pair_weight="product"))
    assert cooccurrence_candidates(p, CooccurrenceParams(weighting="count", n_candidates=1)).count[0, 0] == 2


def test_ties_go_to_the_smaller_index():
    # item 0 shares exactly one user with each of items 1..6: all tied
    users = [u for u in range(6) for _ in range(2)]
    items = [x for u in range(6) for x in (0, u + 1)]
    p = atlas.build_profiles(atlas.from_arrays(users, items), atlas.FilterParams(min_item_users=1, min_user_items=1))
    first = list(p.item_ids).index("0")
    c = cooccurrence_candidates(p, CooccurrenceParams(weighting="count", n_candidates=3))
    assert [p.item_ids[j] for j in c.index[first]] == ["1", "2", "3"]


def test_rejected_pairs_become_ranked_fallbacks(profiles):
    strict = cooccurrence_candidates(profiles, CooccurrenceParams(weighting="pmi", min_count=1e9, n_candidates=5))
    assert (strict.score < 0).all() or (strict.index < 0).any()
    # fall-backs are ordered by count, strongest first
    valid = strict.index[0] >= 0
    counts = strict.count[0][valid]
    assert (np.diff(counts) <= 0).all() and counts[0] > 0


def weighted(profiles, seed=5):
    """The same profiles with weights that are not whole numbers (float32 sums that round)."""
    rng = np.random.default_rng(seed)
    values = np.array([0.3, 1.0, 1.7, 2.5, 4.1], dtype=np.float32)
    data = atlas.from_arrays(*_triples(profiles, rng.choice(values, profiles.matrix.nnz)))
    return atlas.build_profiles(data, atlas.FilterParams(min_item_users=1, min_user_items=1))


def _triples(profiles, weights):
    coo = profiles.matrix.tocoo()
    return coo.row, coo.col, weights


def dense_catalogue():
    """30 items, 400 users of 12 items each: every row touches every item."""
    rng = np.random.default_rng(8)
    users = np.repeat(np.arange(400), 12)
    items = np.concatenate([rng.choice(30, 12, replace=False) for _ in range(400)])
    return atlas.build_profiles(atlas.from_arrays(users, items), atlas.FilterParams(min_item_users=1, min_user_items=1))


def candidates_at(threads, profiles, params):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(threads)  # the kernel's threads: which rows each one takes
        return cooccurrence_candidates(profiles, params)
    finally:
        numba.set_num_threads(before)


def same_candidates(a, b):
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("index", "score", "count"))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba runs a single thread here")
@pytest.mark.parametrize("data", ["planted", "weighted", "dense", "dense weighted"])
@pytest.mark.parametrize("weighting", ["cosine", "pmi"])
def test_results_do_not_depend_on_thread_count(profiles, data, weighting):
    chosen = {
        "planted": lambda: profiles, "weighted": lambda: weighted(profiles), "dense": dense_catalogue,
        "dense weighted": lambda: weighted(dense_catalogue()),
    }[data]()
    params = CooccurrenceParams(weighting=weighting, pair_weight="product" if "weighted" in data else "none", n_candidates=8)
    one, two = candidates_at(1, chosen, params), candidates_at(2, chosen, params)
    assert same_candidates(one, two)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32])
def test_every_accumulator_gives_the_same_candidates(profiles, monkeypatch, dtype):
    # uint16 counts where no item has 65,536 users, int32 above, float32 sums of ones above 2^24
    expected = cooccurrence_candidates(profiles, CooccurrenceParams(weighting="jaccard", n_candidates=10))
    monkeypatch.setattr(atlas.cooccur_kernel, "accumulator_dtype", lambda weighted, users: np.float32 if weighted else dtype)
    assert same_candidates(cooccurrence_candidates(profiles, CooccurrenceParams(weighting="jaccard", n_candidates=10)), expected)


def test_a_row_that_touches_every_item():
    # the dense path (a row with more pair updates than items) against the dense reference
    p = dense_catalogue()
    c = cooccurrence_candidates(p, CooccurrenceParams(weighting="count", n_candidates=29))
    g = dense_cooccurrence(p)
    np.fill_diagonal(g, -1)
    for i in range(p.n_items):
        expected = np.lexsort((np.arange(p.n_items), -g[i]))[:29]
        np.testing.assert_array_equal(c.index[i], expected)
        np.testing.assert_array_equal(c.count[i], g[i, expected])


def test_bad_weighting_lists_the_choices():
    with pytest.raises(atlas.AtlasError, match="Unsupported value 'tfidf' for weighting; the supported values are 'count', 'cosine'"):
        CooccurrenceParams(weighting="tfidf")


def test_zero_weights_do_not_break_the_kernel():
    users = [f"u{k}" for k in range(3000) for _ in range(3)]
    items = ["a", "b", "c"] * 3000
    weights = [1.0, 0.0, 1.0] * 3000
    data = atlas.from_arrays(users, items, weights)
    p = atlas.build_profiles(data, atlas.FilterParams(min_item_users=1, min_user_items=1))
    c = cooccurrence_candidates(p, CooccurrenceParams(weighting="count", n_candidates=2, pair_weight="product"))
    ids = list(p.item_ids)
    a, cc = ids.index("a"), ids.index("c")
    assert c.index[a, 0] == cc and c.count[a, 0] == pytest.approx(3000)
