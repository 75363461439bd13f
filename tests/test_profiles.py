import numpy as np
import pytest

import atlas
from atlas.profiles import FilterParams, build_profiles


def toy():
    # u2 has a single item; item z is used by one user only
    return atlas.from_arrays(
        ["u0", "u0", "u0", "u0", "u1", "u1", "u1", "u2", "u3", "u3"],
        ["a", "b", "c", "z", "a", "b", "c", "a", "a", "b"],
        [5, 4, 3, 1, 3, 5, 4, 2, 4, 4],
    )


def test_filters_reach_a_fixed_point():
    p = build_profiles(toy(), FilterParams(min_item_users=2, min_user_items=2))
    assert sorted(p.item_ids) == ["a", "b", "c"]
    assert sorted(p.user_ids) == ["u0", "u1", "u3"]
    assert np.all(p.user_lengths >= 2) and np.all(p.item_users >= 2)
    assert p.n_interactions == 8


def test_weight_threshold_keeps_the_weights():
    p = build_profiles(toy(), FilterParams(min_item_users=1, min_user_items=1, min_weight=4))
    assert p.n_interactions == 6
    assert set(np.unique(p.matrix.data)) == {4.0, 5.0}


def test_interactions_of_weight_zero_stay_in_the_profiles():
    data = atlas.from_arrays(["u0", "u0", "u1", "u1"], ["a", "b", "a", "b"], [0.0, 1.0, 2.0, 0.0])
    p = build_profiles(data, FilterParams(min_item_users=1, min_user_items=1))
    assert p.n_interactions == 4 and list(p.item_users) == [2, 2]


def test_power_user_cap_is_deterministic_and_seeded(planted):
    base = FilterParams(min_item_users=1, min_user_items=1, max_user_items=5)
    a = build_profiles(planted, base)
    b = build_profiles(planted, base)
    c = build_profiles(planted, FilterParams(min_item_users=1, min_user_items=1, max_user_items=5, seed=9))
    assert a.user_lengths.max() == 5
    assert np.array_equal(a.matrix.toarray(), b.matrix.toarray())
    assert a.matrix.shape != c.matrix.shape or not np.array_equal(a.matrix.toarray(), c.matrix.toarray())


@pytest.mark.parametrize(
    "params,match",
    [
        (FilterParams(min_item_users=100), "no interactions are left after filtering"),
        (FilterParams(min_item_users=1, min_user_items=1, min_weight=10), "no interaction has a weight of at least 10"),
    ],
)
def test_filter_errors(params, match):
    with pytest.raises(atlas.AtlasError, match=match):
        build_profiles(toy(), params)


def test_single_user_is_an_error():
    data = atlas.from_arrays(["u"] * 4, ["a", "b", "c", "d"])
    with pytest.raises(atlas.AtlasError, match="only one user is left"):
        build_profiles(data, FilterParams(min_item_users=1, min_user_items=1))


def test_bad_parameters_name_the_argument():
    with pytest.raises(atlas.AtlasError, match="min_item_users must be at least 1"):
        FilterParams(min_item_users=0)
    with pytest.raises(atlas.AtlasError, match="max_user_items .* is below min_user_items"):
        FilterParams(min_user_items=10, max_user_items=5)


def test_item_frame_joins_metadata_in_profile_order(planted):
    p = build_profiles(planted, FilterParams(min_item_users=3, min_user_items=2))
    frame = atlas.item_frame(p, planted)
    assert list(frame["item_id"]) == list(p.item_ids)
    assert frame["community"].notna().all()
    assert (frame["n_users"].to_numpy() == p.item_users).all()


def test_the_kept_codes_are_renumbered_as_unique_and_searchsorted_would():
    from atlas.profiles import _renumber

    rng = np.random.default_rng(4)
    codes = rng.choice(np.r_[0:40, 70:90, 199], size=500)  # gaps, a code at the very end
    kept, position = _renumber(codes.astype(np.int32), 200)
    assert np.array_equal(kept, np.unique(codes)) and np.array_equal(position, np.searchsorted(np.unique(codes), codes))
