"""A user's path: their kept items in the order they first met them (atlas.paths)."""

from __future__ import annotations

import pytest

import atlas
from atlas.errors import AtlasError
from atlas.ingest import load_interactions
from atlas.paths import path_note, user_path, when


def write(tmp_path, text: str, name: str = "plays.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- a user's path -----------------------------------------------------------------------------

# ann's history (item, weight, time): e is filtered out by the weight threshold, d is seen twice
# (its first time counts), b and c share a time (map-row order), f has no time.
TINY = """user,item,rating,played_at
ann,a,5,2021-01-05
ann,b,4,2021-01-03
ann,c,4,2021-01-03
ann,d,3,2021-01-09
ann,d,5,2021-01-01
ann,e,1,2021-01-02
ann,f,4,
bob,f,4,2021-02-01
bob,a,4,2021-02-02
bob,c,4,2021-02-03
bob,e,5,2021-02-04
"""


@pytest.fixture()
def tiny(tmp_path):
    inter = load_interactions(write(tmp_path, TINY))
    profiles = atlas.build_profiles(inter, atlas.FilterParams(min_item_users=1, min_user_items=1, min_weight=2))
    return inter, profiles


def test_a_users_items_in_the_order_they_first_met_them(tiny):
    inter, profiles = tiny
    path = user_path(profiles, inter, "ann")
    ids = [profiles.item_ids[r] for r in path.rows]
    # by hand: d (01-01, its first time), b and c (01-03; b's map row comes first), a (01-05); f has no time
    assert ids == ["d", "b", "c", "a"]
    assert [when(t) for t in path.times] == ["2021-01-01", "2021-01-03", "2021-01-03", "2021-01-05"]
    assert list(profiles.item_ids).index("b") < list(profiles.item_ids).index("c")
    assert path.untimed == 1 and path.kept == 5
    assert path_note(path) == ("User **ann**'s path: 4 items in the order they first met them, 2021-01-01 to 2021-01-05 "
                               "(start ● and end ■ marked); 1 items without a time are left out.")
    bob = user_path(profiles, inter, "bob")
    assert [profiles.item_ids[r] for r in bob.rows] == ["f", "a", "c", "e"]


def test_a_users_top_items_keep_time_order(tiny):
    inter, profiles = tiny
    top = user_path(profiles, inter, "ann", top=2)  # the two heaviest: d (3 + 5) and a (5)
    assert [profiles.item_ids[r] for r in top.rows] == ["d", "a"]


def test_a_path_needs_times_and_a_kept_user(tiny, planted):
    inter, profiles = tiny
    assert len(user_path(profiles, inter, "nobody")) == 0
    assert path_note(user_path(profiles, inter, "nobody")) == "User **nobody**: no items kept by the filters, so there is no path to draw."
    with pytest.raises(AtlasError, match="these interactions carry no times.*--time-col"):
        user_path(atlas.build_profiles(planted), planted.interactions, planted.interactions.user_ids[0])
