"""A placed user's items drawn as a path in time order, in headless Chromium: the demo's ratings
carry their times, so the app joins the user's top items on every map in the order the user met
them, and says so."""

from __future__ import annotations

import numpy as np
import pytest

import atlas
from atlas import widgets
from browser import VEGA_VIEW_JS
from test_notebooks import APP, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The names along every drawn path line, in the order the line joins them.
PATH_LINES_JS = """
() => {
  const VIEW = """ + VEGA_VIEW_JS.strip() + """;
  const lines = [];
  document.querySelectorAll('marimo-vega, marimo-mime-renderer').forEach(host => {
    if (!host.shadowRoot) return;
    host.shadowRoot.querySelectorAll('.vega-embed').forEach(el => {
      const view = VIEW(el);
      if (!view) return;
      const visit = (item) => {
        const first = item.items && item.items[0];
        if (item.marktype === 'line' && first && first.datum && 'step' in first.datum) lines.push(item.items.map(i => i.datum.name));
        else (item.items || []).forEach(visit);
      };
      visit(view.scenegraph().root);
    });
  });
  return lines;
}
"""


def test_a_placed_users_items_are_joined_in_time_order_on_every_map(tmp_path):
    from browser import chromium_page, marimo_server

    data = atlas.demo.demo_movielens()
    profiles = atlas.Build(data, atlas.build_params({}, demo=True)).profiles
    assert atlas.paths.has_times(data.interactions)
    lengths = np.diff(profiles.matrix.indptr)
    user = str(profiles.user_ids[int(np.argsort(lengths)[len(lengths) // 2])])
    path = atlas.paths.user_path(profiles, data.interactions, user, top=8)
    names = widgets.map_table(atlas.item_frame(profiles, data), {}, name_column=data.name_column)["name"].astype(str).to_numpy()
    expected = [names[r] for r in path.rows]
    assert len(expected) == 8

    with marimo_server(APP, ["--demo", "--cache-dir", str(tmp_path / "cache")]) as url, chromium_page(viewport=(1500, 1100)) as (page, log):
        page.goto(f"{url}/?user={user}&top=8")
        wait_for(page, lambda: len(page.evaluate(PATH_LINES_JS)) == 3, timeout=400, what="a path on each of the three maps")
        assert page.evaluate(PATH_LINES_JS) == [expected] * 3  # the same stops, in time order, on every map
        note = page.get_by_text(f"User {user}'s path: 8 items in the order they first met them", exact=False)
        wait_for(page, lambda: note.count() == 1, timeout=60, what="the path's note")
        page.screenshot(path=str(tmp_path / "path.png"))
        print(f"path of user {user}: {expected}; screenshot {tmp_path / 'path.png'}")
        assert log.errors_but_replaced_charts() == []
