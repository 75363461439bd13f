"""The sweep notebook in headless Chromium on the built-in demo (1,448 items): every layout of the
default grid is drawn as a small multiple from one data source, its metrics are listed, the page
stays far under marimo's output limit and nothing is logged as an error."""

from __future__ import annotations

import json
import math
from urllib.parse import urljoin

import numpy as np
import pytest

import atlas
from atlas import widgets
from test_notebooks import SWEEP, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The plain (non-interactive) charts on the page: their Vega-Lite specification, and where their
# canvas lies against the output area that holds it.
SWEEP_CHARTS_JS = """
() => [...document.querySelectorAll('marimo-vega, marimo-mime-renderer')]
  .filter(h => h.shadowRoot && h.shadowRoot.querySelector('.vega-embed canvas'))
  .map(h => {
    const canvas = h.shadowRoot.querySelector('.vega-embed canvas').getBoundingClientRect();
    let box = h;  // the output area: the nearest element that takes room (marimo-vega itself does not)
    while (box.parentElement && !(box.getBoundingClientRect().width > 0)) box = box.parentElement;
    const area = box.getBoundingClientRect();
    return {spec: h.getAttribute('data-spec') || h.getAttribute('data-data'), canvas: [canvas.left, canvas.right, canvas.width, canvas.height], area: [area.left, area.right]};
  })
"""


#: What the sweep at 1.4k items sent before its small multiples shared one data source: 16.9 MB
#: in one message. Now the sampled items travel as one Arrow file and each message is small.
MAX_OUTPUT_BYTES = 500_000


def read_spec(text: str | None) -> dict:
    """A chart's Vega-Lite specification from its element (a plain chart's is JSON inside a JSON string)."""
    spec = json.loads(text or "{}")
    return json.loads(spec) if isinstance(spec, str) else spec


def data_rows(page, url: str, spec: dict) -> int:
    """Rows of the one data source of a chart: inline, or the Arrow file the page fetches."""
    import pyarrow as pa

    if spec.get("datasets"):
        return len(next(iter(spec["datasets"].values())))
    body = page.request.get(urljoin(url + "/", spec["data"]["url"])).body()
    return pa.ipc.open_file(pa.BufferReader(body)).read_all().num_rows


def test_the_sweep_draws_every_layout_of_its_grid_on_the_demo(tmp_path):
    from browser import chromium_page, marimo_server

    swept = [m for m in atlas.projections.projections().values() if m.sweep and m.compare_by_default]
    expected = sum(math.prod(len(first) for _offered, first in m.sweep.values()) for m in swept)
    n_items = atlas.Build(atlas.demo.demo_movielens(), atlas.build_params({}, demo=True)).profiles.n_items
    assert n_items > 1000 and expected >= 8

    sizes: dict[str, int] = {}
    with marimo_server(SWEEP, ["--demo", "--cache-dir", str(tmp_path / "cache")]) as url, chromium_page(viewport=(1500, 1100)) as (page, log):

        def note(response):
            if "/@file/" in response.url:
                try:
                    sizes[response.url] = len(response.body())
                except Exception:  # a file dropped by a rerun: nothing to count
                    pass

        frames: list[int] = []
        page.on("response", note)
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload))))
        page.goto(url)
        charts = lambda: [(c, spec) for c in page.evaluate(SWEEP_CHARTS_JS) if "concat" in (spec := read_spec(c["spec"]))]  # noqa: E731
        wait_for(page, lambda: len(charts()) == 1, timeout=400, what="the small multiples")
        chart, spec = charts()[0]
        assert len(spec["concat"]) == expected
        assert all(" · recall " in " ".join(np.atleast_1d(c["title"]["text"] if isinstance(c["title"], dict) else c["title"])) for c in spec["concat"])
        assert len(spec.get("datasets", {})) <= 1  # one data source for every map
        assert data_rows(page, url, spec) == min(n_items, widgets.SWEEP_POINTS)
        left, right, width, height = chart["canvas"]
        assert width > 600 and height > 400
        assert chart["area"][0] - 1 <= left and right <= chart["area"][1] + 1, chart  # every map whole, none cut off on the right
        wait_for(page, lambda: page.get_by_text("Metrics", exact=False).count() > 0, timeout=60, what="the metrics")
        rows = page.locator("marimo-table tr").all_inner_texts()
        assert sum("recall" in r or "n_neighbors" in r or "perplexity" in r for r in rows) >= expected, rows
        assert page.get_by_text("too large", exact=False).count() == 0
        largest = max([*frames, *sizes.values()])
        print("largest websocket frames:", sorted(frames)[-3:], "largest files:", sorted(sizes.values())[-3:])
        assert largest < MAX_OUTPUT_BYTES, (largest, sorted(sizes.items(), key=lambda kv: -kv[1])[:3])
        page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)
        print(f"sweep: {expected} maps of {n_items:,} items; largest message or file {largest / 1e3:.0f} kB; screenshot {tmp_path / 'sweep.png'}")
        assert log.errors_but_replaced_charts() == []
