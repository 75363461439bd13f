"""A user's path: their kept items in the order they first met them (atlas.paths)."""

from __future__ import annotations

import numpy as np
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
                               "(the first ringed, the last boxed); 1 items without a time are left out.")
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


# -- the app's view of a path ----------------------------------------------------------------------


def test_a_path_frame_holds_the_stops_of_one_view_in_order():
    from atlas.widgets.paths import path_frame

    xy = [[0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [5.0, 5.0]]
    frame = path_frame(xy, [2, 0, 3], key="umap", times=[1609459200, 1609502400, 1609588800], names=["a", "b", "c", "d"])
    assert list(frame.columns) == ["umap_x", "umap_y", "step", "name", "when"]
    assert frame[["umap_x", "umap_y"]].to_numpy().tolist() == [[3.0, 1.0], [0.0, 0.0], [5.0, 5.0]]
    assert frame["step"].tolist() == [1, 2, 3] and frame["name"].tolist() == ["c", "a", "d"]
    assert frame["when"].tolist() == ["2021-01-01", "2021-01-01 12:00", "2021-01-02 12:00"]
    assert len(path_frame(xy, [], key="umap")) == 0


def _marks(spec: dict) -> list[tuple]:
    """(mark type, filter) of each layer of a layered view's spec."""
    out = []
    for layer in spec["layer"]:
        mark = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        filters = [t["filter"] for t in layer.get("transform", []) if "filter" in t]
        out.append((mark, filters[0] if filters else None))
    return out


def test_path_layers_draw_a_line_in_step_order_with_marked_ends():
    import altair as alt

    from atlas.widgets.paths import NUMBERED, path_frame, path_layer

    xy = [[float(k), float(k % 3)] for k in range(60)]
    short = path_layer(xy, [5, 1, 9], key="tsne", names=[f"item {k}" for k in range(60)]).to_dict()  # validated by Altair
    assert _marks(short) == [("line", None), ("point", "datum.step == 1"), ("point", "datum.step == 3"), ("text", None), ("text", None)]
    line = short["layer"][0]
    assert line["encoding"]["order"] == {"field": "step", "type": "quantitative"}
    assert line["encoding"]["x"]["field"] == "tsne_x" and line["encoding"]["x"]["scale"] == {"nice": False, "padding": 8, "zero": False}
    assert [short["layer"][k]["mark"]["shape"] for k in (1, 2)] == ["circle", "square"]
    long = path_layer(xy, list(range(NUMBERED + 5)), key="tsne").to_dict()
    assert _marks(long)[-1] == ("text", f"datum.step == 1 || datum.step == {NUMBERED + 5}")  # a long path numbers its ends only
    assert isinstance(path_layer(xy, [4], key="tsne"), alt.LayerChart) and len(path_layer(xy, [4], key="tsne").layer) == 4  # one stop: no end box
    frame = path_frame(xy, [1, 2], key="tsne")
    assert "first time" not in str(path_layer(xy, [1, 2], key="tsne").to_dict()) and len(frame) == 2


def test_map_views_lay_a_users_path_over_the_views_that_have_one(tiny):
    from atlas.widgets import map_table, map_views, path_frames
    from atlas.widgets.memo import Recent

    inter, profiles = tiny
    items = atlas.item_frame(profiles)
    rng = np.random.default_rng(0)
    layouts = {"umap": rng.normal(size=(len(items), 2)), "tsne": rng.normal(size=(len(items), 2))}
    table = map_table(items, layouts)
    path = user_path(profiles, inter, "ann")
    frames = path_frames(table, path, ["umap"])
    assert frames["umap"]["name"].tolist() == ["d", "b", "c", "a"]
    np.testing.assert_allclose(frames["umap"][["umap_x", "umap_y"]].to_numpy(), layouts["umap"][path.rows])
    memo = Recent(4)
    views = {"UMAP": "umap", "t-SNE": "tsne"}
    chart, _, _ = map_views(table, views, color="n_users", highlights={"user": path.rows.tolist()}, memo=memo, paths=frames)
    umap_view, tsne_view = chart.to_dict()["hconcat"]
    assert [m for m, _ in _marks(umap_view)] == ["circle", "line", "point", "point", "text", "text"]  # the points first, then the path
    assert "layer" not in tsne_view  # no path there: the plain view
    plain, _, _ = map_views(table, views, color="n_users", highlights={"user": path.rows.tolist()}, memo=memo)
    assert plain is not chart and "layer" not in plain.to_dict()["hconcat"][0]  # a chart without the path is another chart
