"""atlas.columns: one rule for how a metadata column is shown, everywhere."""

import numpy as np
import pandas as pd
import pytest

from atlas import columns
from atlas.columns import CATEGORY, MULTI, NUMBER, TEXT, colour_values, column_kind, value_counts


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (np.linspace(0, 1, 50), NUMBER),
        (np.arange(1, 6).repeat(10), CATEGORY),  # a 1–5 rating: categories
        ([True, False] * 20, CATEGORY),
        (["Action|Comedy", "Drama", "Comedy|Drama|Romance", "Action"] * 50, MULTI),
        ([["Action", "Comedy"], ["Drama"], []] * 20, MULTI),  # a Parquet list column
        (["US", "FR", "DE", "JP"] * 30, CATEGORY),
        ([f"director {i % 60}" for i in range(300)], CATEGORY),  # many values, but far fewer than items
        ([f"Title {i}" for i in range(300)], TEXT),
        ([f"A, B {i}" for i in range(300)], TEXT),  # commas inside names are not a separator
        ([None] * 10, TEXT),
    ],
)
def test_column_kind(values, kind):
    assert column_kind(pd.Series(values)) == kind


@pytest.mark.parametrize("storage", ["python", "pyarrow"])
def test_text_read_as_pandas_strings_has_the_kind_of_the_same_text_as_objects(storage):
    """CSV and Parquet readers may give pandas' string type; it holds no lists, and each kind of
    text column keeps its kind (the list check is skipped for it)."""
    for values, kind in [
        (["Action|Comedy", "Drama", "Comedy|Drama|Romance", "Action"] * 50, MULTI),
        (["US", "FR", "DE", None] * 30, CATEGORY),
        ([f"Title {i}" for i in range(300)], TEXT),
    ]:
        text = pd.Series(values, dtype=pd.StringDtype(storage))
        assert column_kind(text) == column_kind(pd.Series(values, dtype=object)) == kind
    tags = pd.Series(["a|b", "b", None, "a|c"] * 10, dtype=pd.StringDtype(storage))
    assert columns.value_sets(tags)[:4] == columns.value_sets(pd.Series(tags.tolist(), dtype=object))[:4] == [["a", "b"], ["b"], [], ["a", "c"]]


def test_sets_are_counted_by_single_value():
    values = pd.Series(["Action|Comedy", "Drama", "Comedy|Drama|Romance", "Comedy", None])
    assert value_counts(values) == [("Comedy", 3), ("Drama", 2), ("Action", 1), ("Romance", 1)]


def test_colour_values_keep_the_top_values_and_say_how_many_share_other():
    values = pd.Series([f"v{i % 20}" for i in range(400)] + ["v0"] * 100)
    labels, legend = colour_values(values, max_colours=5)
    assert legend["kind"] == CATEGORY and [v for v, _ in legend["values"]] == ["v0", "v1", "v10", "v11", "v12"]
    assert legend["other"] == int((labels == "other").sum()) == 300
    assert labels[0] == "v0" and labels[2] == "other"


def test_colour_values_of_sets_without_neighbours_take_the_most_common_value_or_one_value():
    values = pd.Series(["Romance|Comedy", "Comedy", "Drama", "Drama|Comedy", "Romance"] * 4)
    labels, legend = colour_values(values, max_colours=2)
    assert [v for v, _ in legend["values"]] == ["Comedy", "Drama"]
    # "Drama|Comedy" lists Drama first, but Comedy is the more common: never list order
    assert list(labels[:5]) == ["Comedy", "Comedy", "Drama", "Comedy", "other"]
    has, legend = colour_values(values, has="Comedy")
    assert list(has[:5]) == ["Comedy", "Comedy", "not Comedy", "Comedy", "not Comedy"]
    assert legend["values"] == [("Comedy", 12), ("not Comedy", 8)]


def alphabetical_sets(seed: int = 0, per_group: int = 40):
    """Three communities of items whose genres are stored in alphabetical order, as MovieLens
    stores them: every item is an Adventure, and each community has its own second genre; one
    item in five is also a Thriller, in every community. Each item's neighbours are five items
    of its own community."""
    rng = np.random.default_rng(seed)
    own = ["Sci-Fi", "Children", "Drama"]
    group = np.repeat(np.arange(3), per_group)
    genres = []
    for k, g in enumerate(group):
        values = ["Adventure", own[g]] + (["Thriller"] if k % 5 == 0 else [])
        genres.append("|".join(sorted(values)))
    neighbours = np.array([rng.choice(np.flatnonzero((group == g) & (np.arange(group.size) != i)), 5, replace=False) for i, g in enumerate(group)])
    return pd.Series(genres), group, neighbours, own


def test_a_set_stored_in_alphabetical_order_is_coloured_by_each_items_most_distinctive_value():
    genres, group, neighbours, own = alphabetical_sets()
    assert genres[0] == "Adventure|Sci-Fi|Thriller"  # the first listed value is the same for every item
    labels, legend = colour_values(genres, neighbors=neighbours)
    assert "Adventure" not in set(labels)  # held by every item, it tells nothing
    assert all(label == own[g] for label, g in zip(labels, group))
    # the same with the neighbours as a sparse matrix
    assert list(colour_values(genres, neighbors=columns.neighbour_matrix(neighbours, len(genres)))[0]) == list(labels)
    # the legend counts every item holding a value, not the items it colours
    assert dict(legend["values"]) == {"Adventure": 120, "Sci-Fi": 40, "Children": 40, "Drama": 40, "Thriller": 24}


def test_a_set_legend_counts_every_holder():
    genres, _, neighbours, _ = alphabetical_sets()
    labels, order, note = columns.legend_categories(genres, neighbors=neighbours, name="genres")
    assert "Thriller (24)" in order and "Adventure (120)" in order  # neither colours an item here
    assert set(labels) == {"Sci-Fi (40)", "Children (40)", "Drama (40)"}
    assert "most distinctive value" in note and "every item holding the value" in note
    with pytest.raises(ValueError, match="one row per item"):
        colour_values(genres, neighbors=neighbours[:10])


def test_numbers_pass_through():
    values = pd.Series(np.linspace(0, 1, 30))
    labels, legend = colour_values(values)
    assert legend["kind"] == NUMBER and np.allclose(labels, values)


def test_the_web_page_and_the_app_agree(tmp_path):
    """The same column is a category in the app's colour choices and in the web atlas."""
    from atlas.web.pack import _Blob, _pack_field
    from atlas.widgets import colour_options

    frame = pd.DataFrame(
        {
            "rating": np.arange(1, 6).repeat(8),
            "year": np.arange(1950, 1990),
            "genres": ["Action|Comedy", "Drama", "Comedy|Drama", "Action"] * 10,
            "title": [f"film {i}" for i in range(40)],
        }
    )
    options = colour_options(frame, name_column=None)
    for column in frame.columns:
        packed = _pack_field(column, frame[column], _Blob())
        web_kind = {"number": NUMBER, "category": CATEGORY, "multi": MULTI, "text": TEXT}[packed["kind"]]
        assert (column in options) == (web_kind != TEXT)
        assert web_kind == column_kind(frame[column])
    assert columns.MAX_COLOURS >= 10


def test_legend_categories_count_each_colour_and_say_what_it_means():
    genres = pd.Series(["Drama|Comedy", "Comedy", "Drama", "Horror|Drama", None, "Western"] * 5)
    labels, order, note = columns.legend_categories(genres, max_colours=2, name="genres")
    assert order == ["Drama (15)", "Comedy (10)", "other (5)", "no value (5)"]  # counts of every item holding the value
    assert labels[:6].tolist() == ["Drama (15)", "Comedy (10)", "Drama (15)", "Drama (15)", "no value (5)", "other (5)"]
    assert note == (
        "**genres** holds sets of values: each item takes the colour of its most distinctive value among the 2 most common of 4 "
        "(the one most over-represented among its neighbours); a count is of every item holding the value; 5 items hold none of them (“other”)."
    )
    region = pd.Series(["north", None, "south"] * 5)
    assert columns.legend_categories(region, absent="outside any region")[1][-1] == "outside any region (5)"
    labels, order, note = columns.legend_categories(genres, has="Drama", name="genres")
    assert order == ["Drama (15)", "not Drama (15)"] and "items with “Drama” against the rest" in note


def test_legend_categories_of_a_large_category_say_how_many_share_other():
    values = pd.Series([f"director {i % 30}" for i in range(300)])
    labels, order, note = columns.legend_categories(values, name="director")
    assert len(order) == columns.MAX_COLOURS + 1 and order[-1] == "other (180)"
    assert note == "**director** has 30 values: the 12 most common have a colour, the other 18 (180 items) share “other”."
    small = pd.Series(["a", "b"] * 10)
    assert columns.legend_categories(small)[2] == ""  # nothing to explain
    with pytest.raises(ValueError, match="holds numbers"):
        columns.legend_categories(pd.Series(np.linspace(0, 1, 40)), name="score")


def test_set_choices_and_free_text():
    genres = pd.Series(["Drama|Comedy", "Comedy", "Comedy|Horror"] * 10)
    assert columns.set_choices(genres) == {"each item's most distinctive value": "", "has “Comedy”": "Comedy", "has “Drama”": "Drama", "has “Horror”": "Horror"}
    assert columns.set_choices(pd.Series(["a", "b"] * 10)) == {}
    frame = pd.DataFrame({"title": [f"film {i}" for i in range(40)], "genre": ["a", "b"] * 20, "item_id": [str(i) for i in range(40)]})
    assert columns.not_colourable(frame, skip=("item_id",)) == ["title"]
