"""atlas.widgets: the Emblaze wrapper, the map tables and charts, and the controls."""

from __future__ import annotations

import html
import io
import re
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas import widgets
from atlas.widgets.charts import linked_maps
from atlas.widgets.controls import control, slider_steps
from atlas.widgets.emblaze import _BACKBONE_LISTENER, _PORTABLE_LISTENER, emblaze_view, portable_emblaze_esm, subset_neighbors
from atlas.widgets.tables import is_quantitative, metadata_columns, rows_from_text, sample_rows, view_colour

# ---------------------------------------------------------------------------------------------
# Emblaze
# ---------------------------------------------------------------------------------------------


def emblaze_bundle() -> str:
    import emblaze.viewer

    return (emblaze.viewer.BUNDLE_DIR / "widget-main.js").read_text()


def two_clusters(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 2)) + np.repeat([[0.0, 0.0], [8.0, 0.0]], n // 2, axis=0)
    rotated = a @ np.array([[0.0, -1.0], [1.0, 0.0]])
    return a, rotated


def test_portable_esm_replaces_the_backbone_listener_once():
    source = emblaze_bundle()
    patched = portable_emblaze_esm(source)
    assert _BACKBONE_LISTENER in source
    assert _BACKBONE_LISTENER not in patched
    assert patched.count(_PORTABLE_LISTENER) == 1
    assert portable_emblaze_esm(patched) == patched  # idempotent


def test_portable_esm_refuses_an_unknown_bundle():
    with pytest.raises(RuntimeError, match="does not contain the piece atlas adapts for its 'trait listener' fix"):
        portable_emblaze_esm("export default { render() {} }")


def test_emblaze_view_ships_the_patched_module_and_the_frames():
    a, b = two_clusters()
    names = [f"item {i}" for i in range(len(a))]
    view = emblaze_view({"UMAP": a, "t-SNE": b}, names=names, colors=np.repeat(["x", "y"], 30))
    assert _PORTABLE_LISTENER in view._esm
    assert _BACKBONE_LISTENER not in view._esm
    assert view.data["frameLabels"] == ["UMAP", "t-SNE"]
    assert view.thumbnailData["items"][3]["name"] == "item 3"
    assert view.colorScheme == "tableau"  # categorical colours
    # the second frame was rotated by 90°; Emblaze's alignment turns it back onto the first
    aligned = view.embeddings[1].field("position")
    assert np.allclose(aligned, a, atol=1e-6)


def test_emblaze_view_lists_the_graph_neighbours_with_pads_filled():
    a, b = two_clusters()
    n = len(a)
    neighbors = np.tile(np.arange(1, 6), (n, 1)) % n
    neighbors[0] = [7, 8, -1, -1, -1]
    view = emblaze_view({"A": a, "B": b}, names=[str(i) for i in range(n)], neighbors=neighbors)
    table = view.embeddings[0].get_ancestor_neighbors()
    assert table.metric == "graph"
    assert table[0].tolist() == [7, 8, 8, 8, 8]
    assert table[5].tolist() == [1, 2, 3, 4, 5]
    assert view.colorScheme == "tableau"  # zeros: a single category


@pytest.mark.parametrize(
    ("layouts", "kwargs", "message"),
    [
        ({}, {}, "at least one"),
        ({"A": np.zeros((5, 3))}, {}, r"shape \(5, 2\)"),
        ({"A": np.zeros((5, 2)), "B": np.zeros((4, 2))}, {}, r"layout 'B' must have shape \(5, 2\)"),
        ({"A": np.full((5, 2), np.nan)}, {}, "non-finite"),
        ({"A": np.zeros((5, 2))}, {"names": ["a"]}, "names has 1 entries for 5 items"),
        ({"A": np.zeros((5, 2))}, {"colors": [1, 2]}, "one value per item"),
        ({"A": np.zeros((5, 2))}, {"neighbors": np.zeros((5, 2), dtype=float)}, "integer row indices"),
        ({"A": np.zeros((5, 2))}, {"neighbors": np.full((5, 2), 9)}, "between 0 and 4"),
    ],
)
def test_emblaze_view_rejects_bad_input(layouts, kwargs, message):
    kwargs = {"names": [str(i) for i in range(5)], **kwargs}
    with pytest.raises(ValueError, match=message):
        emblaze_view(layouts, **kwargs)


EMBLAZE_NOTEBOOK = '''
import marimo

app = marimo.App(width="full")

with app.setup:
    import numpy as np

    from atlas.widgets.emblaze import emblaze_view


@app.cell
def _():
    rng = np.random.default_rng(0)
    n = 200
    a = rng.normal(size=(n, 2)) + np.repeat([[0.0, 0.0], [6.0, 6.0]], n // 2, axis=0)
    b = a @ np.array([[0.0, -1.0], [1.0, 0.0]]) + rng.normal(scale=0.3, size=(n, 2))
    neighbors = np.argsort(((a[:, None] - a[None]) ** 2).sum(-1), axis=1)[:, 1:11]
    emblaze_view({"A": a, "B": b}, names=[f"item {i}" for i in range(n)], colors=np.repeat(["x", "y"], n // 2), neighbors=neighbors)
    return


if __name__ == "__main__":
    app.run()
'''


def coloured_pixels(png: bytes) -> int:
    """Pixels that are neither white nor grey: drawn points."""
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    spread = image.max(axis=2) - image.min(axis=2)
    return int((spread > 40).sum())


@pytest.mark.browser
@pytest.mark.slow
def test_emblaze_draws_in_marimo(tmp_path):
    from browser import chromium_page, marimo_server

    notebook = tmp_path / "emblaze_check.py"
    notebook.write_text(textwrap.dedent(EMBLAZE_NOTEBOOK))
    repo = str(Path(__file__).resolve().parents[1])
    with marimo_server(notebook, env={"PYTHONPATH": repo}) as url, chromium_page() as (page, log):
        page.goto(url)
        canvas = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            page.wait_for_timeout(1000)
            candidates = page.locator("marimo-anywidget canvas")
            sizes = [candidates.nth(i).bounding_box() for i in range(candidates.count())]
            big = [i for i, box in enumerate(sizes) if box and box["width"] > 300]
            if big:
                canvas = candidates.nth(big[0])
                break
        assert canvas is not None, "Emblaze never created its plot canvas"
        page.wait_for_timeout(2000)  # let the points fade in
        page.screenshot(path=str(tmp_path / "emblaze.png"))
        assert page.locator("marimo-anywidget .text-error").count() == 0, "marimo shows an error box in the widget"
        assert coloured_pixels(canvas.screenshot()) > 500, "the Emblaze canvas is blank"
        assert log.errors() == []


EMBLAZE_LEGEND_NOTEBOOK = '''
import marimo

app = marimo.App(width="full")

with app.setup:
    import marimo as mo
    import numpy as np

    from atlas.widgets.emblaze import emblaze_parts


@app.cell
def _():
    mo.sidebar([mo.md("Settings, as wide as the app's")], width="360px")
    return


@app.cell
def _():
    rng = np.random.default_rng(0)
    n = 300
    a = rng.normal(size=(n, 2)) + np.repeat([[0.0, 0.0], [6.0, 6.0], [0.0, 6.0]], n // 3, axis=0)
    b = a @ np.array([[0.0, -1.0], [1.0, 0.0]]) + rng.normal(scale=0.3, size=(n, 2))
    neighbors = np.argsort(((a[:, None] - a[None]) ** 2).sum(-1), axis=1)[:, 1:11]
    names = [f"item {i}" for i in range(n)]
    genres = ["Drama", "Comedy", "Action", "Thriller", "Romance", "Adventure", "Crime", "Science Fiction", "Horror",
              "Children", "Documentary", "other (13 more)", "missing"]
    palette = list(zip(genres, ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                                "#ff9da7", "#9c755f", "#bab0ac", "#8cd17d", "#999999", "#dddddd"]))
    labels = np.asarray([genres[i % len(genres)] for i in range(n)], dtype=object)
    users = np.log10(rng.integers(1, 20000, size=n).astype(float))
    viewers = [  # as the app colours them: the maps' categories, or user counts on a log scale
        emblaze_parts({"UMAP": a, "t-SNE": b}, names=names, colors=labels, neighbors=neighbors, colours=palette).viewer(),
        emblaze_parts({"UMAP": a, "t-SNE": b}, names=names, colors=users, neighbors=neighbors, colour_log=True).viewer(),
    ]
    for viewer in viewers:
        viewer.selectedIDs = [0]  # a clicked point: the map shows its buttons too
    mo.vstack(viewers)
    return


if __name__ == "__main__":
    app.run()
'''

# For each Emblaze viewer on the page: its legend's box and, for each control of its toolbars
# (the map's buttons, the sidebar's search box, view switch and buttons), its box and whether
# the point at its centre is the control (or inside it) with the legend made to catch the pointer
# as well: a legend drawn over a control would be found there instead.
EMBLAZE_TOOLBARS_JS = """
() => {
  const roots = [document];
  document.querySelectorAll('*').forEach((e) => { if (e.shadowRoot) roots.push(e.shadowRoot); });
  const box = (e) => { const b = e.getBoundingClientRect(); return {x: b.left, y: b.top, width: b.width, height: b.height}; };
  const viewers = [];
  for (const root of roots) {
    root.querySelectorAll('.vis-container').forEach((vis) => {
      const legend = vis.querySelector('.scatterplot-parent > .legend-container');
      if (legend) legend.style.pointerEvents = 'auto';
      const controls = Array.from(vis.querySelectorAll(
        '#button-panel button, .search-bar input, .action-toolbar button, .action-toolbar label'))
        .filter((c) => c.getBoundingClientRect().width > 0)
        .map((c) => {
          const b = box(c), hit = root.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
          return {text: (c.textContent || c.placeholder || '').trim(), box: b, free: !!hit && c.contains(hit),
                  under: hit ? hit.tagName + '.' + String(hit.className && hit.className.baseVal !== undefined ? hit.className.baseVal : hit.className) : null};
        });
      if (legend) legend.style.pointerEvents = '';
      viewers.push({legend: legend ? box(legend) : null, map: box(vis.querySelector('.scatterplot-parent')),
                    mapButtons: vis.querySelectorAll('#button-panel button').length, controls});
    });
  }
  return viewers;
}
"""


def boxes_overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.browser
@pytest.mark.slow
def test_the_emblaze_legend_leaves_its_toolbars_free(tmp_path):
    """In an app-wide layout (a 360 px settings sidebar), with categories and with a log ramp,
    and with a clicked point (the map then shows buttons top right), every control of Emblaze's
    toolbars is visible and takes the pointer: the legend stays inside the map and off them."""
    from browser import chromium_page, marimo_server

    notebook = tmp_path / "emblaze_legend.py"
    notebook.write_text(textwrap.dedent(EMBLAZE_LEGEND_NOTEBOOK))
    repo = str(Path(__file__).resolve().parents[1])
    with marimo_server(notebook, env={"PYTHONPATH": repo}) as url, chromium_page() as (page, log):
        page.goto(url)
        viewers = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            page.wait_for_timeout(1000)
            viewers = page.evaluate(EMBLAZE_TOOLBARS_JS)
            if len(viewers) == 2 and all(v["legend"] and v["mapButtons"] for v in viewers):
                break
        assert len(viewers) == 2 and all(v["legend"] and v["mapButtons"] for v in viewers), viewers
        page.wait_for_timeout(1500)  # the legend is drawn a moment after the viewer
        for k in range(2):
            shown = page.locator(".vis-container").nth(k)
            shown.scroll_into_view_if_needed()  # elementFromPoint sees only what is in the window
            page.wait_for_timeout(500)
            shown.screenshot(path=str(tmp_path / f"emblaze_toolbars_{k}.png"))
            viewer = page.evaluate(EMBLAZE_TOOLBARS_JS)[k]
            legend, plot = viewer["legend"], viewer["map"]
            assert legend["width"] > 20 and legend["height"] > 20
            assert plot["x"] <= legend["x"] and legend["x"] + legend["width"] <= plot["x"] + plot["width"] + 0.5
            assert {"Start Radius Select", "Reset", "Help", "Settings"} <= {c["text"] for c in viewer["controls"]}
            for control in viewer["controls"]:
                assert control["free"], f"{control['text']!r} is covered by {control['under']}"
                assert not boxes_overlap(legend, control["box"]), control["text"]
        assert log.errors() == []


# ---------------------------------------------------------------------------------------------
# Map tables
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "n_users": [40, 10, 25, 5],
            "title": ["Alien", "Babe", "Casablanca", "Alien Resurrection"],
            "genre": ["Sci-Fi", "Children", "Drama", "Sci-Fi"],
            "rating.mean": [4.1, 3.2, 4.5, 2.9],
        }
    )


@pytest.fixture
def neighbors() -> np.ndarray:
    return np.array([[3, 2], [2, -1], [0, 1], [0, -1]])


@pytest.fixture
def table(items, neighbors) -> pd.DataFrame:
    xy = np.arange(8, dtype=float).reshape(4, 2)
    return widgets.map_table(items, {"umap": xy, "tsne": -xy}, name_column="title", neighbors=neighbors)


def test_map_table_joins_coordinates_names_and_neighbours(table):
    assert table["name"].tolist() == ["Alien", "Babe", "Casablanca", "Alien Resurrection"]
    assert table["neighbours"].tolist() == ["Alien Resurrection, Casablanca", "Casablanca", "Alien, Babe", "Alien"]
    assert table["umap_y"].tolist() == [1.0, 3.0, 5.0, 7.0]
    assert table["tsne_x"].tolist() == [0.0, -2.0, -4.0, -6.0]
    assert "rating_mean" in table.columns  # Vega cannot use dots in field names
    assert "title" not in table.columns  # it is the name
    assert not table["highlight"].any()
    assert metadata_columns(table) == ["genre", "rating_mean"]


def test_tooltip_neighbours_skip_pads_anywhere_and_stop_at_the_limit():
    from atlas.widgets.tables import neighbour_names

    names = np.array([10, 11, 12, 13], dtype=object)  # ids that are numbers
    rows = np.array([[1, -1, 2, 3], [-1, -1, -1, -1], [3, 2, 1, 0], [0, 1, -1, 2]])
    assert neighbour_names(names, rows, limit=3) == ["11, 12", "", "13, 12, 11", "10, 11"]
    assert neighbour_names(names, rows[:, :0]) == ["", "", "", ""]


def test_map_table_takes_the_tooltip_neighbours_made_once_per_graph(items):
    """The app makes the neighbour names once per graph and passes them with every layout: the
    table is the one made from the neighbours themselves; text for other items is refused."""
    from atlas.widgets import map_table, neighbour_names

    n = len(items)
    rows = np.array([[(i + 1) % n, (i + 2) % n, -1] for i in range(n)])
    layouts = {"umap": np.zeros((n, 2))}
    made_here = map_table(items, layouts, name_column="title", neighbors=rows)
    text = neighbour_names(map_table(items, {}, name_column="title")["name"].to_numpy(), rows)
    given = map_table(items, layouts, name_column="title", neighbors=rows, neighbour_text=text)
    pd.testing.assert_frame_equal(given, made_here)
    assert given.attrs["neighbors"] is not None and given["neighbours"].iloc[0] == f"{items['title'].iloc[1]}, {items['title'].iloc[2 % n]}"
    with pytest.raises(ValueError, match="one entry per item"):
        map_table(items, layouts, name_column="title", neighbors=rows, neighbour_text=text[:-1])


def test_map_table_without_metadata_uses_ids(items):
    table = widgets.map_table(items[["item_id", "n_users"]], {"umap": np.zeros((4, 2))})
    assert table["name"].tolist() == ["a", "b", "c", "d"]
    assert table["neighbours"].tolist() == ["", "", "", ""]


def test_map_table_rejects_a_layout_of_the_wrong_size(items):
    with pytest.raises(ValueError, match=r"layout 'umap' must have shape \(4, 2\)"):
        widgets.map_table(items, {"umap": np.zeros((3, 2))})


def test_each_map_gets_its_own_faithfulness_column_kept_out_of_the_metadata(items, neighbors):
    xy = np.arange(8, dtype=float).reshape(4, 2)
    share = {"umap": np.array([1.0, 0.5, 0.0, np.nan]), "tsne": np.array([0.0, 0.0, 1.0, 1.0])}
    table = widgets.map_table(items, {"umap": xy, "tsne": -xy}, name_column="title", neighbors=neighbors, per_map={"faithfulness": share})
    np.testing.assert_array_equal(table["umap_faithfulness"], share["umap"])
    np.testing.assert_array_equal(table["tsne_faithfulness"], share["tsne"])
    assert metadata_columns(table) == ["genre", "rating_mean"]
    assert view_colour(table, "faithfulness", "tsne") == "tsne_faithfulness" and view_colour(table, "genre", "tsne") == "genre"
    assert widgets.can_colour(table, "faithfulness", ["umap", "tsne"]) and not widgets.can_colour(table, "faithfulness", ["umap", "pacmap"])
    assert not widgets.can_colour(widgets.map_table(items, {"umap": xy}), "faithfulness", ["umap"])  # not measured: popularity instead
    with pytest.raises(ValueError, match=r"faithfulness of layout 'umap' must have one value per item \(4\)"):
        widgets.map_table(items, {"umap": xy}, per_map={"faithfulness": {"umap": np.ones(3)}})


def test_the_maps_are_coloured_each_by_its_own_faithfulness_on_one_scale(items, neighbors):
    xy = np.arange(8, dtype=float).reshape(4, 2)
    share = {"umap": np.array([1.0, 0.5, 0.0, 0.5]), "tsne": np.array([0.0, 0.0, 1.0, 1.0])}
    table = widgets.map_table(items, {"umap": xy, "tsne": -xy}, name_column="title", neighbors=neighbors, per_map={"faithfulness": share})
    chart, _, note = widgets.map_views(table, {"UMAP": "umap", "t-SNE": "tsne"}, color="faithfulness")
    views = chart.to_dict()["hconcat"]
    colours = [view["encoding"]["color"]["condition"] for view in views]
    assert [c["field"] for c in colours] == ["umap_faithfulness", "tsne_faithfulness"]
    assert all(c["scale"]["domain"] == [0.0, 1.0] and c["type"] == "quantitative" for c in colours)  # one legend reads both maps
    assert colours[0]["legend"]["title"] == "faithfulness (neighbours kept near)" and colours[0]["legend"]["format"] == ".0%"
    tips = [[t for t in view["encoding"]["tooltip"] if t.get("title") == "faithfulness"] for view in views]
    assert [t[0]["field"] for t in tips] == ["umap_faithfulness", "tsne_faithfulness"] and tips[0][0]["format"] == ".0%"
    assert note == ""


def test_colour_options_offer_each_maps_faithfulness_after_popularity(items):
    options = widgets.colour_options(items, name_column="title", faithfulness=True)
    assert list(options)[:2] == ["popularity (users)", "faithfulness (neighbours kept near)"]
    assert options["faithfulness (neighbours kept near)"] == "faithfulness"
    assert widgets.default_colour(options, items, None) == "genre"  # still the first category
    earlier = items.assign(faithfulness=np.linspace(0, 1, 4).tolist())  # an earlier export's column, of its own map
    assert list(widgets.colour_options(earlier, name_column="title", faithfulness=True).values()).count("faithfulness") == 1


def test_the_torn_note_says_per_map_how_many_items_keep_fewer_than_two_neighbours():
    # 10 items: on UMAP 2 of the 9 with neighbours keep 0 or 1 of their 10 (0.2 keeps 2: not torn); on t-SNE none
    umap = np.array([0.0, 0.1, 0.2, 0.5, 0.5, 0.9, 1.0, 1.0, 0.7, np.nan])
    tsne = np.full(10, 0.6)
    note = widgets.torn_note({"UMAP": umap, "t-SNE": tsne})
    assert note == (
        "Torn neighbourhoods — UMAP: 22% of items keep fewer than 2 of their 10 neighbours; "
        "t-SNE: 0% of items keep fewer than 2 of their 10 neighbours."
    )
    assert widgets.torn_note({}) == ""


def test_items_new_since_an_earlier_export_are_a_colour_with_counts(items, neighbors):
    xy = np.arange(8, dtype=float).reshape(4, 2)
    new = np.array([False, True, False, False])
    table = widgets.map_table(items, {"umap": xy}, name_column="title", neighbors=neighbors, columns={widgets.SINCE: widgets.since_labels(new)})
    assert table["since_export"].tolist() == ["on its map too", "new since that export", "on its map too", "on its map too"]
    assert metadata_columns(table) == ["genre", "rating_mean"]
    chart, _, _ = widgets.map_views(table, {"UMAP": "umap"}, color=widgets.SINCE)
    colour = chart.to_dict()["hconcat"][0]["encoding"]["color"]["condition"]
    assert colour["scale"]["domain"] == ["on its map too (3)", "new since that export (1)"]  # each with its count
    assert colour["legend"]["title"] == "since the export aligned to"
    assert widgets.colour_or_popularity(table, widgets.SINCE, ["umap"]) == (widgets.SINCE, "")
    options = widgets.colour_options(items, name_column="title", faithfulness=True, since=True)
    assert options["new since the export aligned to"] == "since_export"
    # chosen with no export aligned to: popularity, and how to get the colour
    plain = widgets.map_table(items, {"umap": xy}, name_column="title")
    column, why = widgets.colour_or_popularity(plain, widgets.SINCE, ["umap"])
    assert column == "n_users" and "align to a previous export" in why
    with pytest.raises(ValueError, match="one value per item"):
        widgets.map_table(items, {"umap": xy}, columns={widgets.SINCE: ["x"]})


def test_the_changes_note_says_what_atlas_diff_says_with_names_as_text():
    import marimo as mo

    report = {
        "directory": "/exports/films-umap",
        "counts": {"kept": 1300, "new": 148, "gone": 20, "old_items": 1320, "new_items": 1448},
        "median_move": 0.031,
        "p90_move": 0.08,
        "biggest_movers": [{"row": 4, "item_id": "i4", "name": "<b>Heat</b> $x$", "moved": 0.25}, {"row": 9, "item_id": "i9", "name": "Alien", "moved": 0.2}],
    }
    note = widgets.changes_note(report, "UMAP")
    page = mo.md(note).text
    assert "<b>" not in page and "marimo-tex" not in page
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert shown == (
        "Since films-umap (UMAP): 1,300 items kept, 148 new, 20 gone; median move 3.1% of the map's diameter (90th percentile 8.0%); "
        "moved most: <b>Heat</b> $x$ (25%), Alien (20%)."
    )
    assert widgets.changes_note(None, "UMAP") == ""


def test_colour_options_offer_popularity_numbers_categories_and_sets():
    n = 40
    items = pd.DataFrame(
        {
            "title": [f"film {i}" for i in range(n)],
            "title_copy": [f"film {i}" for i in range(n)],  # free text: not offered
            "genres": ["Action|Comedy", "Drama", "Comedy|Drama", "Action"] * 10,
            "rating.mean": np.linspace(1, 5, n),
        }
    )
    options = widgets.colour_options(items, name_column="title")
    assert options == {"popularity (users)": "n_users", "genres": "genres", "rating.mean": "rating_mean"}


@pytest.mark.parametrize(("values", "expected"), [(np.arange(20), True), (np.arange(5), False), (np.array(list("abcdefghijklmno")), False)])
def test_is_quantitative(values, expected):
    assert is_quantitative(pd.Series(values)) is expected


def test_sample_rows_keeps_everything_below_the_limit():
    assert sample_rows(10, 20).tolist() == list(range(10))


def test_sample_rows_draws_a_fixed_sample_that_holds_the_kept_rows():
    rows = sample_rows(1000, 100, keep=[5, 999, 5], seed=3)
    assert rows.shape == (100,)
    assert np.all(np.diff(rows) > 0)
    assert {5, 999} <= set(rows.tolist())
    assert np.array_equal(rows, sample_rows(1000, 100, keep=[5, 999], seed=3))
    assert not np.array_equal(rows, sample_rows(1000, 100, keep=[5, 999], seed=4))


@pytest.mark.parametrize(
    ("query", "expected"),
    [("alien", [0, 3]), ("ALIEN RESURRECTION", [3]), ("d", [3]), ("a", [0, 2, 1, 3]), ("  ", []), ("zzz", [])],
)
def test_find_items_puts_exact_matches_then_popular_ones_first(table, query, expected):
    assert widgets.find_items(table, query).tolist() == expected


def test_find_items_matches_ids_exactly(table):
    assert widgets.find_items(table, "b").tolist()[0] == 1


def test_with_neighbours_adds_graph_neighbours(neighbors):
    assert widgets.with_neighbours([1], neighbors).tolist() == [1, 2]
    assert widgets.with_neighbours([0], neighbors, k=1).tolist() == [0, 3]
    assert widgets.with_neighbours([], neighbors).tolist() == []
    assert widgets.with_neighbours([2], None).tolist() == [2]


def test_rows_from_text_reads_ids_and_names(table):
    assert rows_from_text(table, "a\nCasablanca, nothing\n\n").tolist() == [0, 2]
    assert rows_from_text(table, "").tolist() == []


def test_comparison_view_reuses_the_parts_of_settings_seen_before_but_never_a_viewer():
    n = 40
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"name": [f"item {i}" for i in range(n)], "n_users": rng.integers(1, 50, n), "genre": np.repeat(["a", "b"], n // 2)})
    neighbors = np.stack([(np.arange(n) + 1) % n, (np.arange(n) + 2) % n], axis=1)

    def layout(key):
        return atlas.Layout(rng.normal(size=(n, 2)).astype(np.float32), "umap", None, key=key)

    memo = widgets.Memo().comparisons
    view_of = lambda layouts, table=table, color="genre", memo=memo: widgets.comparison_view(  # noqa: E731
        layouts, table, neighbors, color=color, max_points=30, graph_key="g", memo=memo
    )[0]
    first = {"UMAP": layout("u1"), "t-SNE": layout("t1")}
    view, rows = widgets.comparison_view(first, table, neighbors, color="genre", max_points=30, graph_key="g", memo=memo)
    assert len(rows) == 30 and len(view.embeddings) == 2
    again = view_of(dict(first))
    assert again is not view  # a new viewer (with a new browser side) every time...
    assert again.embeddings is view.embeddings and again.frameColors == view.frameColors  # ...made of the same parts
    other_colour = view_of(first, color="n_users")
    other_layout = view_of({"UMAP": layout("u2"), "t-SNE": first["t-SNE"]})
    renamed = view_of(first, table=table.assign(name=[f"film {i}" for i in range(n)]))
    for other in (other_colour, other_layout, renamed):  # e.g. another metadata file
        assert other.embeddings is not view.embeddings
    unkeyed = {"UMAP": layout(""), "t-SNE": layout("")}
    assert view_of(unkeyed).embeddings is not view_of(unkeyed).embeddings  # layouts without a cache key are never taken for each other
    # another memo builds its own
    assert view_of(dict(first), memo=widgets.Memo().comparisons).embeddings is not view.embeddings


def test_comparison_view_draws_like_the_maps():
    """y grows upwards as on the Altair maps; popularity on a log scale in the maps' colours."""
    n = 30
    xy = np.c_[np.arange(n, dtype=float), np.arange(n, dtype=float) ** 2]
    table = pd.DataFrame({"name": [f"item {i}" for i in range(n)], "n_users": 10 ** np.linspace(0, 4, n)})
    neighbors = np.stack([(np.arange(n) + 1) % n, (np.arange(n) + 2) % n], axis=1)
    layouts = {"UMAP": atlas.Layout(xy.astype(np.float32), "umap", None, key="k")}
    view, _ = widgets.comparison_view(layouts, table, neighbors, color="n_users", max_points=100)
    drawn = view.embeddings[0].field("position")
    assert np.allclose(drawn[:, 1], -xy[:, 1])  # Emblaze's y points down the screen
    assert view.data["atlasColourLog"] is True and view.colorScheme == "viridis"
    assert np.allclose(view.embeddings[0].field("color"), np.linspace(0, 4, n))  # log10 of the users
    genres = table.assign(genres=["Drama|War", "Comedy", "War"] * 10)
    view, _ = widgets.comparison_view(layouts, genres, neighbors, color="genres", has="War", max_points=100)
    assert view.data["atlasColours"] == [["War (20)", "#4c78a8"], ["not War (10)", widgets.charts.NOT_HAS_COLOUR]]  # as on the maps
    assert set(view.embeddings[0].field("color")) == {"War (20)", "not War (10)"}


def test_subset_neighbors_renumbers_and_drops_outsiders(neighbors):
    sub = subset_neighbors(neighbors, np.array([0, 2, 3]))
    # row 0 -> [3, 2] -> [2, 1]; row 2 -> [0, 1] -> [0, (1 dropped)]; row 3 -> [0, -1] -> [0, -1]
    assert sub.tolist() == [[2, 1], [0, -1], [0, -1]]


# ---------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------


def test_linked_maps_share_one_brush_across_named_views(table):
    spec = linked_maps(table, {"UMAP": "umap", "t-SNE": "tsne"}, color="genre").to_dict()
    assert [view["name"] for view in spec["hconcat"]] == ["umap_map", "tsne_map"]
    assert [view["encoding"]["x"]["field"] for view in spec["hconcat"]] == ["umap_x", "tsne_x"]
    (brush,) = spec["params"]
    assert brush["name"] == "brush" and brush["views"] == ["umap_map", "tsne_map"]
    assert brush["select"]["type"] == "interval"
    colour = spec["hconcat"][0]["encoding"]["color"]
    assert colour["condition"]["field"] == "genre" and colour["condition"]["type"] == "nominal"
    assert colour["value"] == "#d0d0d0"  # outside the brush
    tips = [t["field"] for t in spec["hconcat"][0]["encoding"]["tooltip"]]
    assert tips[:2] == ["name", "n_users"] and "neighbours" in tips


def test_linked_maps_colour_numbers_continuously_and_fade_unhighlighted(table):
    marked = table.assign(highlight=[True, False, False, False])
    spec = linked_maps(marked, {"UMAP": "umap"}, color="n_users").to_dict()
    encoding = spec["hconcat"][0]["encoding"]
    assert encoding["color"]["condition"]["type"] == "quantitative"  # popularity is always a scale
    assert encoding["color"]["condition"]["scale"]["type"] == "log"
    assert encoding["opacity"]["value"] == 0.15
    plain = linked_maps(table, {"UMAP": "umap"}, color=None).to_dict()
    assert plain["hconcat"][0]["encoding"]["opacity"]["value"] == 0.75


def test_map_views_reuses_a_chart_only_for_the_same_drawing(table):
    views = {"UMAP": "umap", "t-SNE": "tsne"}
    memo = widgets.Memo().charts
    lit = {"searched": [2]}
    chart, rows, _ = widgets.map_views(table, views, color="genre", highlights=lit, memo=memo)
    assert rows.tolist() == [0, 1, 2, 3]
    drawn = next(iter(chart.to_dict()["datasets"].values()))
    assert [row["highlight"] for row in drawn] == [False, False, True, False]
    assert widgets.map_views(table.copy(), views, color="genre", highlights=lit, memo=memo)[0] is chart  # same drawing
    assert widgets.map_views(table.copy(), views, color="genre", highlights=lit, memo=widgets.Memo().charts)[0] is not chart
    renamed = table.assign(name=["Alien", "Babe", "Casablanca", "Aliens"])  # other metadata, same layouts
    moved = table.assign(umap_x=table["umap_x"] + 1.0)
    for other in (
        widgets.map_views(table, views, color="genre", highlights={"searched": [1]}, memo=memo),
        widgets.map_views(table, views, color="genre", highlights={"pasted": [2]}, memo=memo),  # same row, another kind
        widgets.map_views(table, views, color="n_users", highlights=lit, memo=memo),
        widgets.map_views(table, views, color="genre", has="Sci-Fi", highlights=lit, memo=memo),
        widgets.map_views(renamed, views, color="genre", highlights=lit, memo=memo),
        widgets.map_views(moved, views, color="genre", highlights=lit, memo=memo),
        widgets.map_views(table, {"UMAP": "umap"}, color="genre", highlights=lit, memo=memo),
    ):
        assert other[0] is not chart


def test_map_views_samples_large_tables_but_keeps_highlights(table):
    big = pd.concat([table] * 10, ignore_index=True).assign(row=np.arange(40))
    _, rows, _ = widgets.map_views(big, {"UMAP": "umap"}, color="genre", highlights={"user": [37], "pasted": [39]}, max_points=12)
    assert len(rows) == 12 and {37, 39} <= set(rows.tolist())


def test_histogram_counts_every_value():
    values = np.r_[np.ones(5), np.full(3, 10.0), 100.0]
    memo = widgets.Memo().charts
    chart = widgets.histogram(values, title="t", x_title="x", log_x=True, bins=10, memo=memo)
    spec = chart.to_dict()
    counts = [row["count"] for row in next(iter(spec["datasets"].values()))]
    assert sum(counts) == 9
    assert widgets.histogram(values.copy(), title="t", x_title="x", log_x=True, bins=10, memo=memo) is chart  # seen before
    assert widgets.histogram(values[:-1], title="t", x_title="x", log_x=True, bins=10, memo=memo) is not chart
    assert widgets.histogram(values, title="other", x_title="x", log_x=True, bins=10, memo=memo) is not chart
    assert spec["encoding"]["x"]["scale"]["type"] == "log"


def test_selectable_chart_keeps_global_altair_options(table):
    import altair as alt

    before = dict(alt.renderers.options)
    chart = widgets.selectable_chart(linked_maps(table, {"UMAP": "umap"}))
    assert dict(alt.renderers.options) == before
    assert len(chart.value) == 0  # nothing brushed yet


# ---------------------------------------------------------------------------------------------
# Controls, colours, metrics
# ---------------------------------------------------------------------------------------------


def test_slider_steps_keep_a_preset_off_the_grid():
    assert slider_steps([1, 5, 10], 7) == [1, 5, 7, 10]


def test_controls_follow_the_declared_options():
    import marimo as mo

    import atlas.app

    fields = atlas.plan.all_fields()
    slider = control(fields["min_dist"], 0.33)
    assert isinstance(slider, mo.ui.slider) and slider.value == 0.33 and 0.33 in slider.steps
    assert isinstance(control(fields["weighting"], "pmi"), mo.ui.dropdown)
    box = control(fields["min_weight"], None)
    assert isinstance(box, mo.ui.text) and box.value == ""
    assert control(fields["min_weight"], 3.5).value == "3.5"
    panel = widgets.projection_controls(atlas.app.app_settings({"perplexity": 45}), atlas.projections.names())
    assert isinstance(panel, mo.ui.dictionary)  # one element bound to one name: marimo re-runs its readers
    assert list(panel.value) == list(atlas.projections.names())
    assert panel["tsne"].value["perplexity"] == 45.0 and panel.value["pacmap"]["mn_ratio"] == atlas.PacmapParams().mn_ratio


def test_default_colour_prefers_the_label_then_a_category(items):
    options = widgets.colour_options(items, name_column="title")
    assert widgets.default_colour(options, items, "genre") == "genre"
    assert widgets.default_colour(options, items, None) == "genre"
    numeric = pd.DataFrame({"item_id": list("abcdefghijklmnop"), "rating.mean": np.linspace(1, 5, 16)})
    assert widgets.default_colour(widgets.colour_options(numeric), numeric, None) == "popularity (users)"


def test_metrics_table_has_one_row_per_layout():
    table = widgets.metrics_table({"umap": {"knn_recall": 0.41234, "trustworthiness": 0.9}, "tsne": {"knn_recall": 0.5}})
    assert table["layout"].tolist() == ["umap", "tsne"]
    assert table.loc[0, "knn_recall"] == 0.412
    assert np.isnan(table.loc[1, "trustworthiness"])


def test_maps_and_comparisons_take_list_columns(table):
    """Genres as a Parquet list column: coloured by single values, hashed for the memo."""
    genres = [["Sci-Fi", "Horror"], ["Children"], ["Drama", "Romance"], ["Sci-Fi"]]
    listed = table.assign(genre=genres)
    memo = widgets.Memo()
    chart, _, note = widgets.map_views(listed, {"UMAP": "umap"}, color="genre", memo=memo.charts)
    drawn = next(iter(chart.to_dict()["datasets"].values()))
    assert [row["colour_value"] for row in drawn] == ["Sci-Fi (2)", "Children (1)", "Drama (1)", "Sci-Fi (2)"]
    assert "sets of values" in note
    assert widgets.map_views(listed.copy(), {"UMAP": "umap"}, color="genre", memo=memo.charts)[0] is chart
    assert widgets.colour_options(listed.drop(columns=["umap_x", "umap_y"]))["genre"] == "genre"


def test_region_names_are_a_text_layer_over_their_view(table):
    from atlas.regions import Regions

    regions = Regions(
        np.array([[0, 2], [0, 2], [1, -1], [1, -1]], dtype=np.int32),
        pd.DataFrame({"region_id": [0, 1, 2], "level": [0, 0, 1], "name": ["Space", "Farm", "Aliens"], "x": [1.0, 5.0, 1.0], "y": [2.0, 6.0, 2.0], "n_items": [2, 2, 2]}),
    )
    names = widgets.region_labels(regions, 0)
    assert names["name"].tolist() == ["Space", "Farm"]
    spec = linked_maps(table, {"UMAP": "umap", "t-SNE": "tsne"}, color="genre", regions={"umap": names}).to_dict()
    umap_view, tsne_view = spec["hconcat"]
    points, halo, text = umap_view["layer"]
    assert points["mark"]["type"] == "circle" and points["encoding"]["x"]["field"] == "umap_x"
    assert text["mark"]["type"] == "text" and text["encoding"]["text"]["field"] == "name"
    assert halo["mark"]["stroke"] == "white" and text["encoding"]["x"]["field"] == "umap_x"
    assert [row["name"] for row in spec["datasets"][text["data"]["name"]]] == ["Space", "Farm"]
    assert "layer" not in tsne_view  # no names given for t-SNE: points only
    (brush,) = spec["params"]
    assert brush["views"] == [points["name"], "tsne_map"]  # the brush still spans both views
    memo = widgets.Memo().charts
    plain, _, _ = widgets.map_views(table, {"UMAP": "umap"}, color="genre", memo=memo)
    named, _, _ = widgets.map_views(table, {"UMAP": "umap"}, color="genre", memo=memo, regions={"umap": names})
    assert named is not plain and widgets.map_views(table, {"UMAP": "umap"}, color="genre", memo=memo, regions={"umap": names.copy()})[0] is named


def test_region_names_that_would_overlap_or_leave_the_view_are_left_out():
    names = pd.DataFrame({
        "name": ["Big", "Overlaps big", "Far away", "Off the edge, a very long name"],
        "x": [5.0, 5.05, 8.0, 10.0], "y": [5.0, 5.0, 8.0, 2.0], "n_items": [50, 40, 30, 20],
    })  # fmt: skip
    points = np.array([0.0, 10.0])
    kept = widgets.charts.uncluttered(names.sample(frac=1.0, random_state=1), points, points, 460, 420)
    # the bigger region wins a place; a name whose box would leave the view is left out
    assert sorted(kept["name"]) == ["Big", "Far away"]


def test_static_table_escapes_cells_and_keeps_rows_in_order():
    frame = pd.DataFrame({"stage": ["profiles", "<b>graph</b>"], "status": ["cached", "computed"], "this run (s)": [0.012, 1.5], "n": [1200, 3]})
    text = widgets.static_table(frame).text
    assert "<b>graph</b>" not in text and "&lt;b&gt;graph&lt;/b&gt;" in text
    assert text.index("profiles") < text.index("graph")
    assert ">1,200</td>" in text and ">0.012</td>" in text
    assert text.count("<tr>") == 3  # the header and one row each


def test_the_server_keeps_one_memo_so_a_second_session_reuses_the_parts_but_makes_its_own_viewer():
    import threading

    shared = widgets.shared_memo()
    assert widgets.shared_memo() is shared  # every session of the process gets the same one
    n = 30
    rng = np.random.default_rng(8)
    table = pd.DataFrame({"name": [f"item {i}" for i in range(n)], "n_users": rng.integers(1, 50, n)})
    neighbors = np.stack([(np.arange(n) + 1) % n, (np.arange(n) + 2) % n], axis=1)
    layouts = {"UMAP": atlas.Layout(rng.normal(size=(n, 2)).astype(np.float32), "umap", None, key="shared-u"),
               "t-SNE": atlas.Layout(rng.normal(size=(n, 2)).astype(np.float32), "tsne", None, key="shared-t")}
    views = []

    def session():  # two sessions run in threads of one server
        views.append(widgets.comparison_view(layouts, table, neighbors, color="n_users", max_points=n, graph_key="shared-g", memo=widgets.shared_memo().comparisons)[0])

    first = threading.Thread(target=session)
    first.start()
    first.join()
    second = threading.Thread(target=session)
    second.start()
    second.join()
    assert views[0] is not views[1]  # each session's own widget
    assert views[0].embeddings is views[1].embeddings  # the same parts, built once
