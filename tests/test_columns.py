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
        web_kind = {"number": NUMBER, "category": CATEGORY, "text": TEXT}[packed["kind"]]
        assert (column in options) == (web_kind != TEXT)
        assert web_kind == {MULTI: CATEGORY}.get(column_kind(frame[column]), column_kind(frame[column]))
    assert columns.MAX_COLOURS >= 10
