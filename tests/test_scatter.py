"""The full-resolution WebGL maps: the data the widget sends, its colours, selection and tooltip,
and (in a real browser) that it draws every point and hands a lasso selection back to Python."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import atlas.app
from atlas import widgets
from atlas.columns import MAX_COLOURS, NO_VALUE, OTHER, legend_categories
from atlas.errors import AtlasError
from atlas.widgets.charts import HIGHLIGHT_STYLES, NOT_HAS_COLOUR, category_colours
from atlas.widgets.scatter import MISSING_COLOUR, VIRIDIS, _rgb, map_colours, maps_widget, widget_module


def planted_table(n: int = 600, groups: int = 4, seed: int = 0) -> pd.DataFrame:
    """A map table of ``groups`` well separated clusters (``group`` names them) in two layouts."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % groups
    centres = np.array([[10.0 * np.cos(a), 10.0 * np.sin(a)] for a in np.linspace(0, 2 * np.pi, groups, endpoint=False)])
    umap = centres[group] + rng.normal(scale=0.8, size=(n, 2))
    items = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "n_users": rng.integers(1, 500, n),
            "title": [f"item {k}" for k in range(n)],
            "group": [f"g{g}" for g in group],
            "score": rng.normal(size=n),
        }
    )
    neighbors = np.stack([(np.arange(n) + groups * s) % n for s in (1, 2, 3)], axis=1)
    return widgets.map_table(items, {"umap": umap, "tsne": umap[:, ::-1] * [1.0, -1.0]}, name_column="title", neighbors=neighbors)


VIEWS = {"UMAP": "umap", "t-SNE": "tsne"}


def decoded(widget) -> dict[str, np.ndarray]:
    """The widget's arrays in table-row order."""
    n = widget.count
    rows = np.frombuffer(widget.rows, dtype="<i4")
    back = np.empty(n, dtype=np.int64)
    back[rows] = np.arange(n)
    coords = np.frombuffer(widget.coords, dtype="<f4").reshape(-1, n, 2)
    colors = np.frombuffer(widget.colors, dtype=np.uint8).reshape(n, 4)
    return {"rows": rows, "coords": coords[:, back], "colors": colors[back], "sizes": np.frombuffer(widget.sizes, dtype="<f4")[back]}


def test_every_row_is_sent_in_every_view_most_popular_drawn_last():
    table = planted_table()
    widget = maps_widget(table, VIEWS, color="group")
    data = decoded(widget)
    assert widget.count == len(table) and widget.titles == ["UMAP", "t-SNE"]
    assert sorted(data["rows"]) == list(range(len(table)))  # a permutation: no row dropped or repeated
    for v, key in enumerate(VIEWS.values()):
        np.testing.assert_allclose(data["coords"][v], table[[f"{key}_x", f"{key}_y"]].to_numpy(), rtol=1e-6)
    users = table["n_users"].to_numpy()[data["rows"]]
    assert (np.diff(users) <= 0).all()  # drawing order: most popular first (the renderer draws it last, on top)
    assert data["sizes"][int(table["n_users"].idxmax())] == pytest.approx(1.0)
    assert data["sizes"][int(table["n_users"].idxmin())] == pytest.approx(0.0)


def test_categories_take_the_altair_legend_with_counts_and_the_rest_share_other():
    n = 400
    values = [f"c{k:02d}" for k in range(MAX_COLOURS + 5) for _ in range(20 - k % 3)][:n]
    values += ["c00"] * (n - len(values))
    table = planted_table(n)
    table["genre"] = values
    table.loc[3, "genre"] = None
    colours = map_colours(table, "genre")
    labels, order, note = legend_categories(table["genre"], name="genre")
    palette = dict(zip(order, category_colours(order)))
    assert len(order) == MAX_COLOURS + 2 and order[-2].startswith(f"{OTHER} (") and order[-1] == f"{NO_VALUE} (1)"
    for row in range(n):  # the colour the Altair views give the same row
        assert tuple(colours.rgba[row, :3]) == _rgb(palette[labels[row]]), row
    assert colours.legend["kind"] == "category"
    assert colours.legend["entries"] == [[label, palette[label]] for label in order]  # legend order, with counts
    assert colours.title == "genre" and colours.legend["note"] == note and "share “other”" in note
    assert colours.values[3] == f"{NO_VALUE} (1)" and colours.values[0] == labels[0]


@pytest.mark.parametrize("as_lists", [False, True], ids=["joined text", "Parquet lists"])
def test_sets_of_values_colour_by_their_most_distinctive_value_or_by_one_value(as_lists):
    table = planted_table(8, groups=2)  # neighbours: the even rows among themselves, the odd rows too
    tags = ["x|y", "y", "x", "y|x", "z|x", "y", "x", "y"]
    table["tags"] = [t.split("|") for t in tags] if as_lists else tags
    colours = map_colours(table, "tags")
    # each item takes the value its neighbours hold most (x among the even rows, y among the odd),
    # whatever order it lists them in; the legend counts every item holding a value
    assert list(colours.values) == ["x (5)", "y (5)", "x (5)", "y (5)", "x (5)", "y (5)", "x (5)", "y (5)"]
    assert [label for label, _ in colours.legend["entries"]] == ["x (5)", "y (5)", "z (1)"]
    assert colours.title == "tags (most distinctive value)" and "sets of values" in colours.legend["note"]
    assert [tuple(colours.rgba[row, :3]) for row in (0, 1)] == [_rgb(c) for c in category_colours(["x (5)", "y (5)", "z (1)"])[:2]]
    held = map_colours(table, "tags", has="z")
    assert list(held.values) == ["not z (7)"] * 4 + ["z (1)"] + ["not z (7)"] * 3
    assert held.title == "tags: has “z”" and [label for label, _ in held.legend["entries"]] == ["z (1)", "not z (7)"]
    assert tuple(held.rgba[4, :3]) != tuple(held.rgba[0, :3]) and tuple(held.rgba[0, :3]) == _rgb(NOT_HAS_COLOUR)


def test_highlights_are_outlined_in_their_kinds_colour_searched_on_top():
    table = planted_table(20)
    widget = maps_widget(table, VIEWS, color="group", highlights={"searched": [4], "neighbour": [4, 5, 6], "pasted": [9]})
    colour = {kind: c for kind, (_, c, _) in HIGHLIGHT_STYLES.items()}
    assert widget.highlight == [9, 5, 6, 4]  # drawing order: the searched item last, on top of its neighbours
    assert widget.highlight_colors == [colour["pasted"], colour["neighbour"], colour["neighbour"], colour["searched"]]
    assert [label for label, _ in widget.outlines] == ["pasted list", "its graph neighbours", "searched item"]
    assert maps_widget(table, VIEWS, color="group").outlines == []


def test_numbers_run_along_the_ramp_and_missing_ones_are_grey():
    table = planted_table(40)
    table["score"] = np.linspace(-1.0, 3.0, 40)
    table.loc[5, "score"] = np.nan
    colours = map_colours(table, "score")
    assert colours.legend["kind"] == "ramp" and colours.legend["stops"] == list(VIRIDIS)
    assert tuple(colours.rgba[0, :3]) == _rgb(VIRIDIS[0])
    assert tuple(colours.rgba[39, :3]) == _rgb(VIRIDIS[-1])
    assert tuple(colours.rgba[5, :3]) == _rgb(MISSING_COLOUR)
    assert ["missing", MISSING_COLOUR] in colours.legend["entries"]
    # continuous: the midpoint of the values lands mid-ramp, between the two middle stops
    middle = widgets.scatter.ramp(np.array([0.5]))[0]
    mid_row = int(np.nanargmin(np.abs(table["score"].to_numpy() - 1.0)))
    assert np.abs(colours.rgba[mid_row, :3].astype(int) - middle.astype(int)).max() <= 8


def test_each_view_takes_its_own_faithfulness_along_one_zero_to_one_ramp():
    table = planted_table(40)
    table["umap_faithfulness"] = np.linspace(0.0, 1.0, 40)
    table["tsne_faithfulness"] = 1.0 - table["umap_faithfulness"]
    table.loc[3, "tsne_faithfulness"] = np.nan  # an item without graph neighbours
    widget = maps_widget(table, VIEWS, color="faithfulness")
    n = widget.count
    rows = np.frombuffer(widget.rows, dtype="<i4")
    colors = np.frombuffer(widget.colors, dtype=np.uint8).reshape(2, n, 4)  # one block per view, in drawing order
    at = {int(r): k for k, r in enumerate(rows)}
    assert tuple(colors[0, at[0], :3]) == _rgb(VIRIDIS[0]) and tuple(colors[1, at[0], :3]) == _rgb(VIRIDIS[-1])
    assert tuple(colors[0, at[39], :3]) == _rgb(VIRIDIS[-1]) and tuple(colors[1, at[39], :3]) == _rgb(VIRIDIS[0])
    assert tuple(colors[1, at[3], :3]) == _rgb(MISSING_COLOUR)
    assert (widget.legend["low"], widget.legend["high"]) == ("0%", "100%")
    assert widget.legend["title"] == "faithfulness (neighbours kept near)"
    lines = dict(widget.tooltip(0))
    assert lines["faithfulness on UMAP"] == "0%" and lines["faithfulness on t-SNE"] == "100%"
    assert dict(widget.tooltip(3))["faithfulness on t-SNE"] == "missing"
    with pytest.raises(ValueError, match=r"no columns \['tsne_faithfulness'\]"):
        maps_widget(table.drop(columns=["tsne_faithfulness"]), VIEWS, color="faithfulness")


def test_popularity_is_coloured_on_a_log_scale():
    table = planted_table(3, groups=1)
    table["n_users"] = [1, 10, 100]
    colours = map_colours(table, "n_users")
    assert colours.title == "n_users (log scale)"
    assert tuple(colours.rgba[1, :3]) == tuple(widgets.scatter.ramp(np.array([0.5]))[0])  # 10 is half way from 1 to 100
    assert (colours.legend["low"], colours.legend["high"]) == ("1", "100")


def test_selection_reads_back_as_table_rows_with_the_colour_value():
    table = planted_table()
    element = widgets.webgl_maps(table, VIEWS, color="group", highlight_rows=[7])
    assert element.value.empty and list(element.value.columns) == [*table.columns, "colour_value"]
    element.widget.selection = [42, 3, 3, 599]  # as the page sends it (any order)
    chosen = element.value
    assert list(chosen["row"]) == [3, 42, 599]
    assert list(chosen["name"]) == ["item 3", "item 42", "item 599"]
    assert list(chosen["colour_value"]) == [f"{g} (150)" for g in table["group"].iloc[[3, 42, 599]]]  # the legend entry
    assert element.widget.highlight == [7]


def test_tooltip_names_the_item_its_popularity_colour_value_and_neighbours():
    table = planted_table()
    widget = maps_widget(table, VIEWS, color="group")
    lines = dict(widget.tooltip(5))
    assert lines["name"] == "item 5"
    assert lines["popularity"] == f"{table['n_users'][5]:,} users"
    assert lines["group"] == table["group"][5]
    assert lines["top neighbours"] == table["neighbours"][5]
    sent = []
    widget.send = sent.append
    widget._answer(widget, {"type": "tooltip", "row": 5}, [])
    widget._answer(widget, {"type": "tooltip", "row": 10_000}, [])  # a row that does not exist: no answer
    assert sent == [{"type": "tooltip", "row": 5, "lines": widget.tooltip(5)}]
    assert "popularity" in dict(maps_widget(table, VIEWS, color="n_users").tooltip(5))


@pytest.mark.parametrize(
    ("views", "color", "message"),
    [
        ({}, "group", "views must name at least one layout"),
        ({"PaCMAP": "pacmap"}, "group", r"no columns \['pacmap_x', 'pacmap_y'\]"),
        (VIEWS, "nope", "colour column 'nope' is not in the map table"),
    ],
)
def test_bad_views_or_colours_are_named(views, color, message):
    with pytest.raises(ValueError, match=message):
        maps_widget(planted_table(), views, color=color)


def test_the_module_bundles_the_web_atlas_renderer_once():
    module = widget_module()
    assert module.count("class PointRenderer") == 1 and module.count("class View") == 1
    assert module.rstrip().endswith("export default { render };")


def test_the_app_option_sets_where_the_webgl_maps_start():
    assert atlas.app.app_settings({"max-chart-points": "500"}).get("max_chart_points") == 500
    with pytest.raises(AtlasError, match="--max-chart-points must be a whole number of items, got 'lots'"):
        atlas.app.app_settings({"max-chart-points": "lots"})
    with pytest.raises(AtlasError, match="--max-chart-points must be at least 1"):
        atlas.app.app_settings({"max-chart-points": "0"})


# ---------------------------------------------------------------------------------------------
# In a browser
# ---------------------------------------------------------------------------------------------

N_BROWSER = 25_000

MAPS_NOTEBOOK = f'''
import marimo

app = marimo.App(width="full")

with app.setup:
    import marimo as mo

    from atlas import widgets
    from test_scatter import PATH, planted_table


@app.cell
def _():
    table = planted_table({N_BROWSER}, groups=5)
    colour = mo.ui.dropdown(["group", "n_users"], value="group", label="colour by")
    colour
    return colour, table


@app.cell
def _(colour, table):
    maps = widgets.webgl_maps(table, {{"UMAP": "umap", "t-SNE": "tsne"}}, color=colour.value, path=PATH)
    maps
    return (maps,)


@app.cell
def _(maps):
    _chosen = maps.value
    mo.md(f"**{{len(_chosen):,}} items selected** from groups {{sorted(set(_chosen['group']))}}")
    return


if __name__ == "__main__":
    app.run()
'''


#: A path through rows of the browser test's table (every 7th row: across the groups).
PATH = [0, 7, 14, 21, 28]


def orange_pixels(png: bytes) -> int:
    """Pixels of a screenshot in the path's orange (``widgets.paths.PATH_COLOUR``, #e66101)."""
    import io

    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(rgb - [230, 97, 1]).sum(axis=2) < 60).sum())


def test_a_path_travels_as_table_rows_in_its_order():
    widget = maps_widget(planted_table(), VIEWS, color="group", path=[9, 3, 40])
    assert widget.path == [9, 3, 40]
    assert maps_widget(planted_table(), VIEWS, color="group").path == []


def lasso(page, points: list[tuple[float, float]]) -> None:
    """Drag the mouse around a closed path (the widget's default tool is the lasso)."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        for step in range(1, 6):
            page.mouse.move(x0 + (x1 - x0) * step / 5, y0 + (y1 - y0) * step / 5)
    page.mouse.up()


def box_around(page, rows, view: int = 0, margin: float = 6.0) -> list[tuple[float, float]]:
    """A rectangle (page coordinates) around where ``rows`` are drawn in one view."""
    xy = np.array(page.locator(".atlas-maps").evaluate(f"(el, rows) => rows.map(r => el.atlasMaps.project({view}, r))", [int(r) for r in rows]))
    (x0, y0), (x1, y1) = xy.min(axis=0) - margin, xy.max(axis=0) + margin
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def lasso_rows(page, rows, view: int = 0) -> None:
    """Lasso around where ``rows`` are drawn in one view, once the maps are in the window and have
    stopped moving (cells above them still growing would shift the box between reading it and
    dragging around it)."""
    page.locator(".atlas-maps").scroll_into_view_if_needed()
    box = box_around(page, rows, view)
    for _ in range(20):
        page.wait_for_timeout(250)
        again = box_around(page, rows, view)
        if np.allclose(again, box, atol=0.5):
            break
        box = again
    lasso(page, box)


def wait_for(condition, page, timeout: float = 60.0, what: str = "the page"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        page.wait_for_timeout(250)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.browser
@pytest.mark.slow
def test_webgl_maps_draw_every_point_and_send_a_lasso_selection_to_python(tmp_path):
    from browser import chromium_page, marimo_server
    from test_widgets import coloured_pixels

    notebook = tmp_path / "webgl_maps.py"
    notebook.write_text(textwrap.dedent(MAPS_NOTEBOOK))
    here = Path(__file__).resolve().parent
    env = {"PYTHONPATH": f"{here.parent}:{here}"}
    with marimo_server(notebook, env=env) as url, chromium_page(viewport=(1300, 900)) as (page, log):
        page.goto(url)
        canvases = page.locator(".atlas-maps-surface canvas[data-drawn]")
        wait_for(lambda: canvases.count() == 2, page, timeout=120, what="both WebGL views")
        for i in range(2):  # every item is in the GPU buffer and in the draw call of each view
            assert canvases.nth(i).get_attribute("data-buffered") == str(N_BROWSER)
            assert canvases.nth(i).get_attribute("data-drawn") == str(N_BROWSER)
        page.wait_for_timeout(500)
        before = [coloured_pixels(canvases.nth(i).screenshot()) for i in range(2)]
        assert min(before) > 5000, before
        # the user's path is joined over both views, stop after stop, in its orange
        overlays = page.locator(".atlas-maps-overlay")
        assert [overlays.nth(i).get_attribute("data-path-stops") for i in range(2)] == [str(len(PATH))] * 2
        for i in range(2):
            assert orange_pixels(page.locator(".atlas-maps-surface").nth(i).screenshot()) > 300
        page.screenshot(path=str(tmp_path / "webgl_maps.png"))

        table = planted_table(N_BROWSER, groups=5)
        group_two = table.index[table["group"] == "g2"]
        lasso_rows(page, group_two)
        expected = f"{len(group_two):,} items selected from groups ['g2']"
        wait_for(lambda: page.get_by_text(expected).count() == 1, page, what="the selection in Python")
        assert page.locator(".atlas-maps").get_attribute("data-selected") == str(len(group_two))
        page.wait_for_timeout(300)
        after = coloured_pixels(canvases.nth(1).screenshot())  # the other view greys the rest too
        assert 0 < after < before[1] / 2, (after, before)
        page.screenshot(path=str(tmp_path / "webgl_selected.png"))

        row = int(group_two[0])  # the tooltip comes from Python: name, popularity, group, neighbours
        x, y = page.locator(".atlas-maps").evaluate(f"el => el.atlasMaps.project(1, {row})")
        page.mouse.move(x - 30, y - 30)
        page.mouse.move(x, y, steps=5)
        tip = page.locator(".atlas-maps-tooltip").nth(1)
        wait_for(lambda: "popularity" in tip.inner_text(), page, what="the tooltip")
        text = tip.inner_text()
        assert "users" in text and "top neighbours" in text and "group" in text

        page.get_by_role("button", name="Clear selection").click()
        wait_for(lambda: page.get_by_text("0 items selected").count() == 1, page, what="the cleared selection")

        # a new colour: the cell runs again and the new maps draw every point in the new colours
        page.locator("marimo-dropdown[data-label*='colour by'] select").select_option("n_users")
        recoloured = lambda: [c.get_attribute("data-colour") for c in canvases.all()] == ["n_users (log scale)"] * 2  # noqa: E731
        wait_for(recoloured, page, what="the maps in the new colours")
        assert [c.get_attribute("data-drawn") for c in canvases.all()] == [str(N_BROWSER)] * 2
        assert page.get_by_text("n_users (log scale)").count() == 1  # the legend
        assert log.errors() == []


def test_the_maps_share_the_web_atlas_font_stack_with_cjk_fallbacks():
    from importlib.resources import files

    def stack(package: str, name: str, selector: str) -> str:
        css = files(package).joinpath(name).read_text(encoding="utf-8")
        rule = css[css.index(selector):]
        rule = rule[rule.index("font:"):]
        return rule[:rule.index(";")].split(None, 2)[2]  # after "font:" and the size

    widget = stack("atlas.widgets", "scatter.css", ".atlas-maps ")
    assert widget == stack("atlas.web", "atlas.css", "html, body")
    assert '"Noto Sans CJK SC"' in widget and widget.endswith("sans-serif")
