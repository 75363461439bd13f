"""tests/browser.py: the page log lets through only marimo's replacement race, each message tied
to the element it replaced, and catches an error in atlas's own widget even while charts are
being replaced."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from browser import Replaced, unexplained

MARIMO = "http://127.0.0.1:2718/assets/state-_Qai_QyX.js"
DATA = "/@file/39314-10641-CDRy0l11.arrow"
CHUNKED = "Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING"
DESTROYED = "Error: [anywidget] binding destroyed\n    at n (http://127.0.0.1:2718/assets/state-_Qai_QyX.js:3:13681)"
ATLAS_FRAME = "\n    at LinkedMaps.mount (http://127.0.0.1:2718/@file/37284-10018-pK6qJNkl.js:837:10)"
REPLACED = Replaced(charts=1, widgets=1, files=frozenset({DATA}), failed_fetches=((DATA, "TypeError: Failed to fetch"),))


def test_the_race_of_a_replaced_chart_and_widget_is_let_through():
    console = [
        ("error", CHUNKED, "http://127.0.0.1:2718" + DATA),
        ("error", "TypeError: Failed to fetch", MARIMO),
        ("error", DESTROYED, MARIMO),
        ("warning", "GPU stall due to ReadPixels", ""),
    ]
    page_errors = [("Cannot read properties of null (reading 'clientWidth')", "TypeError: x\n    at a (http://h/assets/index.js:1:2)")]
    assert unexplained(console, page_errors, REPLACED) == []


@pytest.mark.parametrize(
    ("console", "page_errors", "replaced"),
    [
        # nothing was replaced: the same messages are real errors
        ([("error", CHUNKED, "http://h" + DATA)], [], Replaced()),
        ([("error", "TypeError: Failed to fetch", MARIMO)], [], Replaced()),
        ([("error", DESTROYED, MARIMO)], [], Replaced()),
        ([], [("Cannot read properties of null (reading 'clientWidth')", "")], Replaced()),
        # a file no replaced element named: atlas's widget module, say
        ([("error", CHUNKED, "http://h/@file/1-2-widget.js")], [], REPLACED),
        ([("error", "TypeError: Failed to fetch", MARIMO)], [], Replaced(charts=1, files=frozenset({DATA}), other_failed_fetches=1)),
        # a longer message than the exact one, or one raised through atlas's scripts
        ([("error", "Error: [anywidget] binding destroyed while drawing the maps", MARIMO)], [], REPLACED),
        ([("error", DESTROYED + ATLAS_FRAME, MARIMO)], [], REPLACED),
        ([], [("Cannot read properties of null (reading 'clientWidth')", "TypeError: x" + ATLAS_FRAME)], REPLACED),
        # more messages than replacements: one widget explains one destroyed binding
        ([("error", DESTROYED, MARIMO), ("error", DESTROYED, MARIMO)], [], REPLACED),
        ([("error", "TypeError: Failed to fetch", MARIMO)] * 2, [], Replaced(charts=1, files=frozenset({DATA}), failed_fetches=((DATA, "TypeError: Failed to fetch"),))),
    ],
    ids=["chunked-nothing-replaced", "fetch-nothing-replaced", "binding-nothing-replaced", "width-nothing-replaced",
         "chunked-other-file", "fetch-other-file", "binding-longer", "binding-through-atlas", "width-through-atlas",
         "binding-twice-one-widget", "fetch-twice-one-failure"],
)  # fmt: skip
def test_anything_not_tied_to_a_replaced_element_is_reported(console, page_errors, replaced):
    left = unexplained(console, page_errors, replaced)
    assert len(left) == 1, left


def test_a_bundle_fetch_cut_off_with_its_chart_is_let_through_only_through_marimos_scripts():
    """marimo's bundle logs "Failed to fetch" (with its stack) when a replaced chart's request is
    cut off before the page log sees it fail; through atlas's scripts, or with nothing replaced, it is reported."""
    cut = "TypeError: Failed to fetch\n    at http://h/assets/tooltip-mT3CGest.js:1:20111\n    at async r (http://h/assets/vega-component-CnadTgoE.js:1:9674)"
    assert unexplained([("error", cut, MARIMO)], [], Replaced(charts=1)) == []
    assert len(unexplained([("error", cut + ATLAS_FRAME, MARIMO)], [], Replaced(charts=1))) == 1
    assert len(unexplained([("error", cut, MARIMO)], [], Replaced())) == 1
    assert len(unexplained([("error", cut, MARIMO)] * 2, [], Replaced(charts=1))) == 1
    # the engine's frames between marimo's (a Promise.all the fetch ran inside) name no script
    nested = cut + "\n    at async Promise.all (index 1)\n    at async r (http://h/assets/vega-component-CnadTgoE.js:1:9319)"
    assert unexplained([("error", nested, MARIMO)], [], Replaced(charts=1)) == []
    assert len(unexplained([("error", nested + ATLAS_FRAME, MARIMO)], [], Replaced(charts=1))) == 1


def test_an_error_in_atlas_is_reported_beside_the_race():
    text = "TypeError: Cannot read properties of undefined (reading 'join')" + ATLAS_FRAME
    assert unexplained([("error", DESTROYED, MARIMO), ("error", text, MARIMO)], [], REPLACED) == [f"{text} [{MARIMO}]"]


BROKEN_MAPS = """
import marimo

app = marimo.App(width="full")

with app.setup:
    import marimo as mo

    from atlas import widgets
    from test_scatter import planted_table


@app.cell
def _():
    table = planted_table(2000, groups=4)
    state = mo.ui.dropdown(["good", "broken"], value="good", label="maps state")
    state
    return state, table


@app.cell
def _(state, table):
    maps = widgets.webgl_maps(table, {"UMAP": "umap", "t-SNE": "tsne"}, color="group")
    if state.value == "broken":
        maps.widget.legend = {"title": "score", "kind": "ramp"}  # a ramp legend without its stops
    maps
    return


if __name__ == "__main__":
    app.run()
"""


@pytest.mark.browser
def test_an_error_in_the_webgl_maps_is_caught_while_they_are_replaced(tmp_path):
    """The maps are replaced by maps whose model holds a bad legend: the allow-list is armed by
    the replacement, and the error thrown by atlas's scatter widget still fails the page."""
    from browser import chromium_page, marimo_server

    notebook = tmp_path / "broken_maps.py"
    notebook.write_text(textwrap.dedent(BROKEN_MAPS))
    here = Path(__file__).resolve().parent
    with marimo_server(notebook, env={"PYTHONPATH": f"{here.parent}:{here}"}) as url, chromium_page() as (page, log):
        page.goto(url)
        page.locator(".atlas-maps-surface canvas[data-drawn]").first.wait_for(timeout=120_000)
        assert log.errors_but_replaced_charts() == []  # the good maps draw cleanly
        page.locator("marimo-dropdown[data-label*='maps state'] select").select_option("broken")
        page.get_by_text("The maps could not be drawn").wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        assert log.replaced().widgets >= 1  # the first maps' widget was replaced
        errors = log.errors_but_replaced_charts()
        assert any("reading 'join'" in e and "drawLegend" in e for e in errors), log.console


def test_a_replaced_widgets_module_cut_off_is_let_through_only_for_its_own_file():
    """A widget replaced while its module loads: the cut transfer and marimo's failed import of
    that module are its race; the same for a module no replaced widget named is reported."""
    module = "/@file/2155126-32345-19xLS3DM.js"
    failed = "TypeError: Failed to fetch dynamically imported module: http://127.0.0.1:2718" + module
    console = [("error", CHUNKED, "http://127.0.0.1:2718" + module), ("error", failed, MARIMO)]
    assert unexplained(console, [], Replaced(widgets=1, files=frozenset({module}))) == []
    assert len(unexplained(console, [], Replaced(widgets=1, files=frozenset({DATA})))) == 2
    assert len(unexplained([("error", failed, MARIMO)] * 2, [], Replaced(widgets=1, files=frozenset({module})))) == 1
    assert len(unexplained([("error", failed + ATLAS_FRAME, MARIMO)], [], Replaced(widgets=1, files=frozenset({module})))) == 1
