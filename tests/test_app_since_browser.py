"""The app aligned to an earlier export, in headless Chromium: the line under the maps says what
changed since it (kept, new, gone, how far items moved, as ``atlas diff`` says it), and the colour
"new since the export aligned to" marks exactly the items that export did not hold."""

from __future__ import annotations

import re

import pytest

import atlas
from atlas.cli import main
from test_app_browser import FILTERS, EVERY_MAP, kept, styles, write_films
from test_notebooks import APP, drawn_marks, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The earlier export kept fewer films (seen by at least 6 users instead of 3).
EARLIER = ["--min-item-users", "6", "--min-user-items", "2", "--min-weight", "3.5"]


def test_the_maps_say_and_colour_what_is_new_since_the_export_aligned_to(tmp_path):
    from browser import chromium_page, marimo_server

    ratings, movies = write_films(tmp_path)
    cache = tmp_path / "cache"
    earlier = tmp_path / "films-before"
    assert main(["build", str(ratings), "--items", str(movies), *EARLIER, "--no-compare", "--out", str(earlier), "--cache-dir", str(cache), "--quiet"]) == 0
    before = set(atlas.read_layout(earlier)[0]["item_id"].astype(str))
    data, profiles = kept((ratings, movies))
    now = {str(i) for i in profiles.item_ids}
    new = now - before
    assert new and before - now == set()  # the earlier filter kept a subset: some new, none gone

    args = ["--input", str(ratings), "--items", str(movies), *FILTERS, "--align-to", str(earlier), "--cache-dir", str(cache)]
    with marimo_server(APP, args) as url, chromium_page(viewport=(1500, 1100)) as (page, log):
        page.goto(url)
        wait_for(page, lambda: EVERY_MAP <= set(drawn_marks(page)), timeout=400, what="every map")
        line = re.compile(rf"Since films-before \(UMAP\): {len(before & now):,} items kept, {len(new):,} new, 0 gone; median move")
        wait_for(page, lambda: page.get_by_text(line).count() == 1, timeout=60, what="the line on what changed")

        page.locator("marimo-dropdown[data-label*='colour by'] select").select_option(label="new since the export aligned to")

        def coloured():
            marks = styles(page).get("umap_map_marks", [])
            return marks if marks and all(str(value).startswith(("new since that export (", "on its map too (")) for _, value, _, _ in marks) else None

        marks = wait_for(page, coloured, timeout=60, what="the maps coloured by what is new")
        item_ids = [str(i) for i in profiles.item_ids]
        assert len(marks) == len(item_ids)  # every item drawn, each labelled with its legend entry's count
        marked_new = {item_ids[row] for row, value, _, _ in marks if value == f"new since that export ({len(new)})"}
        assert marked_new == new
        page.screenshot(path=str(tmp_path / "since.png"))
        print(f"screenshot {tmp_path / 'since.png'}")
        assert log.errors_but_replaced_charts() == []
