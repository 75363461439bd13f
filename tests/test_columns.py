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


def test_sets_are_counted_by_single_value():
    values = pd.Series(["Action|Comedy", "Drama", "Comedy|Drama|Romance", "Comedy", None])
    assert value_counts(values) == [("Comedy", 3), ("Drama", 2), ("Action", 1), ("Romance", 1)]


def test_colour_values_keep_the_top_values_and_say_how_many_share_other():
    values = pd.Series([f"v{i % 20}" for i in range(400)] + ["v0"] * 100)
    labels, legend = colour_values(values, max_colours=5)
    assert legend["kind"] == CATEGORY and [v for v, _ in legend["values"]] == ["v0", "v1", "v10", "v11", "v12"]
    assert legend["other"] == int((labels == "other").sum()) == 300
    assert labels[0] == "v0" and labels[2] == "other"


def test_colour_values_of_sets_take_the_first_common_value_or_one_value():
    values = pd.Series(["Romance|Comedy", "Comedy", "Drama", "Drama|Comedy", "Romance"] * 4)
    labels, legend = colour_values(values, max_colours=2)
    assert [v for v, _ in legend["values"]] == ["Comedy", "Drama"]
    assert list(labels[:5]) == ["Comedy", "Comedy", "Drama", "Drama", "other"]
    has, legend = colour_values(values, has="Comedy")
    assert list(has[:5]) == ["Comedy", "Comedy", "not Comedy", "Comedy", "not Comedy"]
    assert legend["values"] == [("Comedy", 12), ("not Comedy", 8)]


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
    assert order == ["Drama (15)", "Comedy (5)", "other (5)", "no value (5)"]  # by first common value
    assert labels[:6].tolist() == ["Drama (15)", "Comedy (5)", "Drama (15)", "Drama (15)", "no value (5)", "other (5)"]
    assert note == "**genres** holds sets of values: each item takes the colour of its first value among the 2 most common of 4; 5 items hold none of them (“other”)."
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
    assert columns.set_choices(genres) == {"each item's first common value": "", "has “Comedy”": "Comedy", "has “Drama”": "Drama", "has “Horror”": "Horror"}
    assert columns.set_choices(pd.Series(["a", "b"] * 10)) == {}
    frame = pd.DataFrame({"title": [f"film {i}" for i in range(40)], "genre": ["a", "b"] * 20, "item_id": [str(i) for i in range(40)]})
    assert columns.not_colourable(frame, skip=("item_id",)) == ["title"]
