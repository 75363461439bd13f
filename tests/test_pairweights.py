"""atlas.pairweights: each pair weight is one registered class, and everything that lists or runs
pair weights — the kernel, the flag, the app's dropdown, the parameters' check, the cache key —
asks the registry; a pair weight registered outside the package (``max_pair_weight`` in
conftest) reaches all of them."""

import numpy as np
import pytest

import atlas
from atlas import cli_args, pairweights, plan
from atlas.cli import make_parser
from atlas.cooccur import CooccurrenceParams, cooccurrence_candidates


def build_help() -> str:
    return make_parser()._subparsers._group_actions[0].choices["build"].format_help()


def hand_profiles() -> atlas.Profiles:
    """u: a=2 b=3 c=1; v: a=1 b=4; w: a=5 c=2."""
    data = atlas.from_arrays(["u", "u", "u", "v", "v", "w", "w"], ["a", "b", "c", "a", "b", "a", "c"], [2.0, 3.0, 1.0, 1.0, 4.0, 5.0, 2.0])
    return atlas.build_profiles(data, atlas.FilterParams(min_item_users=1, min_user_items=1))


def test_the_built_in_pair_weights_are_registered_default_first():
    assert pairweights.pair_weight_names() == ("none", "product", "min")
    assert CooccurrenceParams().pair_weight == pairweights.pair_weight_names()[0]
    assert not pairweights.get_pair_weight("none").weighted and pairweights.get_pair_weight("product").weighted


def test_an_unknown_pair_weight_names_the_registered_ones():
    with pytest.raises(atlas.AtlasError, match=r"^Unsupported value 'max' for pair_weight; the supported values are 'none', 'product', 'min'"):
        CooccurrenceParams(pair_weight="max")
    with pytest.raises(atlas.AtlasError, match=r"Unsupported value 'max' for --pair-weight; the supported values are 'none', 'product', 'min'"):
        plan.build_params({"pair_weight": "max"})


def test_a_registered_pair_weight_reaches_the_flag_the_app_and_the_parameters(max_pair_weight):
    assert pairweights.pair_weight_names() == ("none", "product", "min", "max")
    assert "{none,product,min,max}" in build_help()
    # the app's dropdown
    from atlas.widgets.controls import control

    dropdown = control(plan.all_fields()["pair_weight"], "max")
    assert list(dropdown.options) == ["none", "product", "min", "max"] and dropdown.value == "max"
    params = cli_args.params_from_args(make_parser().parse_args(["build", "--demo", "--pair-weight", "max"]))
    assert params.cooccurrence.pair_weight == "max"
    assert plan.build_params({"pair_weight": "max"}).cooccurrence == params.cooccurrence


def test_unregistering_takes_it_out_of_the_flag(max_pair_weight):
    pairweights.unregister("max")
    assert "max" not in pairweights.pair_weight_names() and "{none,product,min}" in build_help()


@pytest.mark.parametrize(
    "pair_weight,ab,ac,bc",
    [
        ("none", 2, 2, 1),
        ("product", 2 * 3 + 1 * 4, 2 * 1 + 5 * 2, 3 * 1),
        ("min", 2 + 1, 1 + 2, 1),
        ("max", 3 + 4, 2 + 5, 3),
    ],
)
def test_pair_weights_on_a_hand_computed_example(max_pair_weight, pair_weight, ab, ac, bc):
    c = cooccurrence_candidates(hand_profiles(), CooccurrenceParams(weighting="count", n_candidates=2, pair_weight=pair_weight))
    got = {(i, int(j)): float(s) for i in range(3) for j, s in zip(c.index[i], c.count[i]) if j >= 0}
    assert got == {(0, 1): ab, (1, 0): ab, (0, 2): ac, (2, 0): ac, (1, 2): bc, (2, 1): bc}
    np.testing.assert_array_equal(c.score, c.count)  # count: the score is the pair's weight


def test_a_registered_pair_weight_matches_a_dense_reference(max_pair_weight, planted):
    """max on random ratings: every kept partner's count and cosine are Σ_u max(w_ui, w_uj) and
    that over sqrt(Σw_i · Σw_j) (pair(w, w) = w, the default ``item_sums``)."""
    inter = planted.interactions
    rng = np.random.default_rng(3)
    data = atlas.from_arrays(inter.user_ids[inter.user], inter.item_ids[inter.item], rng.uniform(0.5, 5.0, len(inter)))
    p = atlas.build_profiles(data, atlas.FilterParams(min_item_users=3, min_user_items=2))
    x = p.matrix.toarray().astype(np.float32)
    had = x > 0
    s = np.zeros((p.n_items, p.n_items))
    for u in range(x.shape[0]):
        items = np.flatnonzero(had[u])
        s[np.ix_(items, items)] += np.maximum.outer(x[u, items], x[u, items])
    mass = x.sum(axis=0, dtype=np.float64)
    c = cooccurrence_candidates(p, CooccurrenceParams(weighting="cosine", n_candidates=10, pair_weight="max"))
    rows, ranks = np.nonzero(c.index >= 0)
    cols = c.index[rows, ranks]
    np.testing.assert_allclose(c.count[rows, ranks], s[rows, cols], rtol=1e-5)
    accepted = c.score[rows, ranks] > 0
    cosine = s[rows, cols] / np.sqrt(mass[rows] * mass[cols])
    np.testing.assert_allclose(c.score[rows, ranks][accepted], cosine[accepted], rtol=1e-4)
    best = np.where(np.eye(p.n_items, dtype=bool) | (s == 0), -np.inf, s / np.sqrt(np.outer(mass, mass))).max(axis=1)
    np.testing.assert_allclose(c.score[:, 0], best, rtol=1e-4)


def test_negative_weights_are_refused_by_every_weighted_pair_weight(max_pair_weight):
    data = atlas.from_arrays(["u", "u", "v", "v"], ["a", "b", "a", "b"], [2.0, -3.0, 1.0, 4.0])
    p = atlas.build_profiles(data, atlas.FilterParams(min_item_users=1, min_user_items=1))
    with pytest.raises(atlas.AtlasError, match=r"negative weights, which a max pair weight cannot rank"):
        cooccurrence_candidates(p, CooccurrenceParams(pair_weight="max"))
    assert cooccurrence_candidates(p, CooccurrenceParams(pair_weight="none")).index[0, 0] == 1


def test_the_cache_key_holds_the_pair_weights_code(max_pair_weight, planted):
    """Two classes of one name but different code give different co-occurrence keys."""
    pipeline = atlas.Pipeline()
    profiles = pipeline.profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))
    params = CooccurrenceParams(pair_weight="max")
    first = pipeline.cooccurrence(profiles, params).key
    pairweights.unregister("max")

    @pairweights.register
    class Maximum(type(max_pair_weight)):
        @staticmethod
        def contribute(wi, wj):
            return max(wi, wj) + 0.0

    assert pairweights.get_pair_weight("max").kernel_key != max_pair_weight.kernel_key
    assert pipeline.cooccurrence(profiles, params).key != first
    assert pipeline.cooccurrence(profiles, CooccurrenceParams(pair_weight="min")).key != first
