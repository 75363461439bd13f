"""atlas.widgets.charts: colours with counted legends and highlights one can tell apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atlas import widgets
from atlas.widgets.charts import category_colours, highlight_kinds


@pytest.fixture
def films() -> pd.DataFrame:
    items = pd.DataFrame(
        {
            "item_id": [f"m{i}" for i in range(8)],
            "n_users": [80, 70, 60, 50, 40, 30, 20, 10],
            "title": [f"Film {i}" for i in range(8)],
            "genres": ["Action|Sci-Fi", "Sci-Fi", "Drama", "Drama|Romance", "Action", "Sci-Fi|Drama", "Comedy", "Horror"],
        }
    )
    xy = np.arange(16, dtype=float).reshape(8, 2)
    return widgets.map_table(items, {"umap": xy, "tsne": -xy}, name_column="title")


def test_highlight_kinds_rank_the_searched_item_on_top():
    labels, rank = highlight_kinds(6, {"searched": [1], "neighbour": [1, 2], "user": [2, 3], "pasted": [3, 4]})
    assert labels.tolist() == [None, "searched item", "its graph neighbours", "the user's items", "pasted list", None]
    assert rank[1] > rank[2] > rank[3] > rank[4] > rank[0] == rank[5] == 0


def test_maps_outline_each_kind_in_its_own_style(films):
    chart, _, _ = widgets.map_views(films, {"UMAP": "umap"}, color="n_users", highlights={"searched": [0], "neighbour": [1, 2], "user": [5]})
    spec = chart.to_dict()
    encoding = spec["hconcat"][0]["encoding"]
    stroke = encoding["stroke"]["condition"]
    assert stroke["field"] == "highlight_kind" and stroke["legend"]["title"] == "outlined"
    assert stroke["scale"]["domain"] == ["the user's items", "its graph neighbours", "searched item"]  # only the kinds shown
    assert len(set(stroke["scale"]["range"])) == 3  # three different colours
    widths = dict(zip(encoding["strokeWidth"]["scale"]["domain"], encoding["strokeWidth"]["scale"]["range"]))
    assert widths["searched item"] > widths["its graph neighbours"]  # the searched item stands out from its neighbours
    drawn = next(iter(spec["datasets"].values()))
    assert [row["highlight_kind"] for row in drawn][:3] == ["searched item", "its graph neighbours", "its graph neighbours"]
    assert encoding["order"]["field"] == "highlight_rank"


def test_sets_colour_by_their_most_distinctive_value_or_one_value_with_counted_legends(films):
    chart, _, note = widgets.map_views(films, {"UMAP": "umap"}, color="genres")
    colour = chart.to_dict()["hconcat"][0]["encoding"]["color"]["condition"]
    domain = colour["scale"]["domain"]
    assert domain[:3] == ["Drama (3)", "Sci-Fi (3)", "Action (2)"] and all("(" in d for d in domain)  # most held first, items holding each
    assert "most distinctive value" in colour["legend"]["title"] and "sets of values" in note
    chart, _, note = widgets.map_views(films, {"UMAP": "umap"}, color="genres", has="Drama")
    colour = chart.to_dict()["hconcat"][0]["encoding"]["color"]["condition"]
    assert colour["scale"]["domain"] == ["Drama (3)", "not Drama (5)"]
    assert colour["scale"]["range"][1] == widgets.charts.NOT_HAS_COLOUR
    tips = [t["field"] for t in chart.to_dict()["hconcat"][0]["encoding"]["tooltip"]]
    assert "genres" in tips  # the whole set on hover, not only its colour


def test_category_colours_grey_out_other_and_missing():
    colours = category_colours(["A (3)", "B (2)", "other (4)", "no value (1)"])
    assert colours[2] == widgets.charts.OTHER_COLOUR and colours[3] == widgets.charts.NO_VALUE_COLOUR
    assert len(set(colours[:2])) == 2


def test_colour_note_lists_single_values_with_counts_and_what_is_left_out(films):
    items = pd.DataFrame({"title": [f"Film {i}" for i in range(40)], "tagline": [f"words {i}" for i in range(40)]})
    text = widgets.colour_note(films, "genres", "", items, name_column="title")
    assert text.startswith("Items holding each value: Drama 3, Sci-Fi 3, Action 2, Comedy 1, Horror 1, Romance 1.")
    assert text.endswith("Not offered for colour (a different value for nearly every item): tagline.")


def test_tooltips_show_the_users_columns_not_the_apps_own(films):
    chart, _, _ = widgets.map_views(films, {"UMAP": "umap"}, color="n_users", highlights={"searched": [0], "neighbour": [1]})
    tooltip = chart.to_dict()["hconcat"][0]["encoding"]["tooltip"]
    fields = {t["field"] for t in tooltip}
    assert "genres" in fields  # the user's metadata
    assert not fields & {"highlight", "highlight_kind", "highlight_rank", "row", "colour_value"}


def test_small_multiples_send_one_sampled_table_whatever_the_number_of_layouts():
    """The sweep's charts: at 25,000 items and 8 layouts the page gets one table of at most
    ``SWEEP_POINTS`` rows, not a copy of every item per chart (16 MB at 1.4k items before)."""
    import json

    import numpy as np
    import pandas as pd

    n = 25_000
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(n)], "n_users": rng.integers(1, 100, n), "genre": rng.choice(["a", "b", "c"], n)})
    layouts = {f"layout {k}": rng.normal(size=(n, 2)).astype(np.float32) for k in range(8)}
    spec = widgets.small_multiples(items, layouts, color="genre").to_dict()
    datasets = spec["datasets"]
    assert len(datasets) == 1 and len(next(iter(datasets.values()))) == widgets.charts.SWEEP_POINTS
    assert len(spec["concat"]) == 8 and all("data" not in chart for chart in spec["concat"])
    assert len(json.dumps(spec)) < 2_000_000


@pytest.mark.parametrize(("n_views", "columns"), [(1, 1), (2, 2), (3, 2), (4, 2)])
def test_maps_fill_the_main_column_two_to_a_row_and_never_narrower_than_450(n_views, columns):
    got, width = widgets.charts.map_grid(n_views)
    assert got == columns and width >= 450
    assert columns * width + (columns - 1) * widgets.charts.MAP_SPACING <= widgets.charts.MAP_AREA  # nothing cut off


def test_three_maps_wrap_two_to_a_row_with_one_brush(films):
    films = films.assign(pacmap_x=films["umap_x"], pacmap_y=films["umap_y"])
    chart, _, _ = widgets.map_views(films, {"UMAP": "umap", "t-SNE": "tsne", "PaCMAP": "pacmap"}, color="n_users")
    spec = chart.to_dict()
    rows = [[view for view in row["hconcat"]] for row in spec["vconcat"]]
    assert [[view["name"] for view in row] for row in rows] == [["umap_map", "tsne_map"], ["pacmap_map"]]
    assert {view["width"] for row in rows for view in row} == {widgets.charts.map_grid(3)[1]}
    assert [p["name"] for p in spec["params"]] == ["brush"]


def test_small_multiples_send_positions_to_a_ten_thousandth_of_the_map():
    """Positions travel rounded to about 1/10,000 of each layout's range (far below a pixel of a
    220-pixel map), whatever the layout's scale; full float digits took three times the text."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 500
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(n)], "n_users": rng.integers(1, 100, n)})
    layouts = {"wide": rng.normal(scale=80.0, size=(n, 2)), "narrow": rng.normal(scale=0.02, size=(n, 2))}
    rows = next(iter(widgets.small_multiples(items, layouts).to_dict()["datasets"].values()))
    for key, xy in zip(("l0", "l1"), layouts.values()):
        sent = np.array([[row[f"{key}_x"], row[f"{key}_y"]] for row in rows])
        span = np.ptp(xy, axis=0)
        assert np.all(np.abs(sent - xy) <= span / 10_000 + 1e-12)
        assert np.any(sent != xy)  # rounded, not sent as they were
