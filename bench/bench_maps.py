"""Benchmark the app's two map views in a real browser: the WebGL views of every item against the
Altair views of their 20k sample, on the same tables, in the same run.

    .venv/bin/python bench/bench_maps.py                       # 25k and 50k items, 3 rounds
    .venv/bin/python bench/bench_maps.py --sizes 25000 --rounds 5

A small marimo notebook (written to a temporary folder) holds synthetic map tables (planted
clusters, two layouts, metadata and neighbour names as the app's map table has them) and shows
one view at a time, chosen from a dropdown, with the app's functions: ``widgets.webgl_maps`` (all
points) or ``widgets.map_views`` + ``selectable_chart`` (a sample of ``MAX_CHART_POINTS``).
Times are taken in the page (``performance.now``) from the dropdown's change event to the first
animation frame that shows the result:

- *appear*: the view chosen until both of its maps are drawn (WebGL: every point in the draw
  call of both canvases; Altair: both marks hold their sample);
- *recolour*: the colour-by choice changed to a column not shown before in that view, until both
  maps show the new colours (WebGL: the canvases drew a frame with the new legend; Altair: the
  marks' fills changed).

Each view gets a fresh memo when it appears, as a new app session would. Headless Chromium draws
WebGL with SwiftShader on the CPU, a pessimistic proxy for a real GPU. The order of the views
alternates between rounds. Raw numbers go to ``bench/results/maps-<time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from harness import ROOT, banner, load_average, machine_info, median, results_path, table, write_results

sys.path.insert(0, str(ROOT / "tests"))

from bench_app import SOCKET_LOG, socket_summary  # noqa: E402
from browser import SYMBOL_MARKS_JS, chromium_page, marimo_server  # noqa: E402

APP_CODE = ("atlas/**/*.py", "atlas/**/*.js")
COLOURS = ("group", "n_users", "score")


def synthetic_map_table(n: int, seed: int = 0):
    """A map table like the app's: clusters in two layouts, a category, a number, neighbours."""
    import numpy as np
    import pandas as pd

    from atlas import widgets

    rng = np.random.default_rng(seed)
    group = rng.integers(0, 16, n)
    centres = rng.normal(scale=8.0, size=(16, 2))
    umap = centres[group] + rng.normal(size=(n, 2))
    tsne = centres[::-1][group] * 1.5 + rng.normal(scale=1.5, size=(n, 2))
    items = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "n_users": np.ceil(rng.pareto(1.2, n) * 5 + 1).astype(int),
            "title": [f"Item number {k}" for k in range(n)],
            "group": [f"group {g}" for g in group],
            "score": rng.normal(size=n),
        }
    )
    neighbors = rng.integers(0, n, size=(n, 10))
    return widgets.map_table(items, {"umap": umap, "tsne": tsne}, name_column="title", neighbors=neighbors)


NOTEBOOK = """
import marimo

app = marimo.App(width="full")

with app.setup:
    import sys

    import marimo as mo

    sys.path.insert(0, {bench!r})
    from atlas import widgets
    from bench_maps import synthetic_map_table


@app.cell
def _():
    tables = {{n: synthetic_map_table(n) for n in {sizes!r}}}
    view = mo.ui.dropdown({choices!r}, value="none", label="view")
    colour = mo.ui.dropdown({colours!r}, value={first!r}, label="colour")
    mo.hstack([view, colour], justify="start")
    return colour, tables, view


@app.cell
def _(view):
    memo = widgets.Memo()  # a fresh one for each view shown, as on a server that has drawn nothing yet
    return (memo,)


@app.cell
def _(colour, memo, tables, view):
    _views = {{"UMAP": "umap", "t-SNE": "tsne"}}
    if view.value == "none":
        maps = mo.md("no view")
    else:
        _kind, _n = view.value.split()
        if _kind == "webgl":
            maps = widgets.webgl_maps(tables[int(_n)], _views, color=colour.value)
        else:
            _chart = widgets.map_views(tables[int(_n)], _views, color=colour.value, memo=memo.charts)[0]
            maps = widgets.selectable_chart(_chart)
    maps
    return


if __name__ == "__main__":
    app.run()
"""

# Polls a condition on every animation frame from the dropdown's change event until it holds.
WATCH_JS = (
    f"window.__marks = {SYMBOL_MARKS_JS};"
    + """
performance.setResourceTimingBufferSize(100000);  // the page loads hundreds of assets before the views
window.__fills = () => {
  const marks = window.__marks();
  const names = Object.keys(marks).sort();
  if (names.length < 2) return null;
  return names.map(n => marks[n].length + ':' + marks[n].slice(0, 200).map(i => i.fill).join(',')).join('|');
};
window.__drawn = () => {
  const canvases = [];
  const visit = (root) => root.querySelectorAll('*').forEach(e => {
    if (e.shadowRoot) visit(e.shadowRoot);
    if (e.matches('.atlas-maps-surface canvas[data-drawn]')) canvases.push(e);
  });
  visit(document);
  return canvases;
};
window.__watch = (condition, timeout) => new Promise((resolve) => {
  const armed = performance.now();
  let t0 = armed;
  const mark = (event) => { t0 = event.timeStamp || performance.now(); };
  window.addEventListener('change', mark, true);
  const tick = () => {
    let ok = false;
    try { ok = condition(); } catch (e) { ok = false; }
    if (ok) { window.removeEventListener('change', mark, true); resolve({start: t0, ms: performance.now() - t0}); return; }
    if (performance.now() - armed > timeout) { window.removeEventListener('change', mark, true); resolve({start: t0, ms: null}); return; }
    requestAnimationFrame(tick);
  };
  tick();
});
"""
)


def condition(kind: str, n: int, drawn: int, colour_title: str | None, fills_before: str | None) -> str:
    """JavaScript that is true once the view shows what was asked for."""
    if kind == "webgl":
        colour = f" && c.dataset.colour === {colour_title!r}" if colour_title else ""
        return f"() => {{ const cs = window.__drawn(); return cs.length === 2 && cs.every(c => c.dataset.drawn === '{n}'{colour}); }}"
    before = "null" if fills_before is None else repr(fills_before)
    return (
        "() => { const marks = window.__marks(); const names = Object.keys(marks);"
        f" if (names.length < 2 || !names.every(k => marks[k].length === {drawn})) return false;"
        f" const now = window.__fills(); return now !== null && now !== {before}; }}"
    )


def timed(page, js: str, action, timeout: float = 300.0) -> dict:
    page.evaluate(f"() => {{ window.__result = window.__watch({js}, {timeout * 1000}); }}")
    action()
    result = page.evaluate("() => window.__result")
    if result["ms"] is None:
        state = page.evaluate("() => window.__drawn().map(c => ({...c.dataset}))")
        raise SystemExit(f"the view was not drawn within {timeout:.0f} s; WebGL canvases: {state}; waited for {js}")
    page.wait_for_timeout(1500)  # let the kernel and the page come to rest
    summary = socket_summary(page, result["start"])
    # the Altair views' data comes over HTTP (marimo's virtual files), the widget's over the websocket
    fetched = page.evaluate(
        "(start) => performance.getEntriesByType('resource').filter(e => e.startTime >= start).reduce((s, e) => s + (e.encodedBodySize || 0), 0)",
        result["start"],
    )
    return {"ms": result["ms"], "sent_bytes": summary["socket_bytes"] + fetched, "kernel_ms": summary["kernel_ms"]}


def titles_for(tables_n: int) -> dict[str, str]:
    """The legend title the WebGL view gives each colour choice."""
    from atlas.widgets.scatter import map_colours

    table = synthetic_map_table(min(tables_n, 2000))
    return {c: map_colours(table, c).title for c in COLOURS}


def measure(sizes: list[int], rounds: int, report: dict) -> list[dict]:
    from atlas.widgets import MAX_CHART_POINTS

    choices = ["none"] + [f"{kind} {n}" for n in sizes for kind in ("altair", "webgl")]
    titles = titles_for(sizes[0])
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        notebook = Path(folder) / "maps_bench.py"
        source = NOTEBOOK.format(bench=str(ROOT / "bench"), sizes=tuple(sizes), choices=choices, colours=list(COLOURS), first=COLOURS[0])
        notebook.write_text(textwrap.dedent(source))
        env = {"PYTHONPATH": str(ROOT)}
        with marimo_server(notebook, env=env, timeout=300) as url, chromium_page(viewport=(1300, 900)) as (page, log):
            page.add_init_script(SOCKET_LOG)
            page.add_init_script(WATCH_JS)
            page.goto(url)
            view = page.locator("marimo-dropdown[data-label*='view'] select")
            colour = page.locator("marimo-dropdown[data-label*='colour'] select")
            view.wait_for(timeout=300_000)
            page.wait_for_timeout(2000)
            for r in range(rounds):
                order = choices[1:] if r % 2 == 0 else choices[1:][::-1]
                for choice in order:
                    kind, n = choice.split()[0], int(choice.split()[1])
                    drawn = n if kind == "webgl" else min(n, MAX_CHART_POINTS)
                    colour.select_option(COLOURS[0])
                    view.select_option("none")
                    # from rest: the last view gone (a slow kernel may still be drawing it)
                    cleared = "() => document.body.innerText.includes('no view') && window.__drawn().length === 0 && Object.keys(window.__marks()).length === 0"
                    page.wait_for_function(cleared, timeout=300_000, polling=250)
                    page.wait_for_timeout(1500)
                    appear = timed(page, condition(kind, n, drawn, titles[COLOURS[0]], None), lambda c=choice: view.select_option(c))
                    recolours = []
                    for name in COLOURS[1:]:
                        before = page.evaluate("() => window.__fills()") if kind == "altair" else None
                        recolours.append(timed(page, condition(kind, n, drawn, titles[name], before), lambda c=name: colour.select_option(c)))
                    row = {"round": r, "view": kind, "items": n, "drawn": drawn, "appear": appear, "recolour": recolours}
                    print(f"  round {r} {kind:6} {n:>6} items: appear {appear['ms']:.0f} ms, recolour {[round(x['ms']) for x in recolours]} ms", flush=True)
                    rows.append(row)
                report["load"].append(load_average())
            report["console_errors"] = log.errors()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,50000", help="numbers of items, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every view (order alternates)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    info = machine_info(ROOT, APP_CODE)
    print(banner("atlas map views benchmark", info), flush=True)
    report: dict = {"machine": info, "sizes": sizes, "rounds": args.rounds, "load": [load_average()]}
    rows = measure(sizes, args.rounds, report)
    report["rows"] = rows
    out = results_path("maps")
    write_results(out, report)

    lines = []
    for n in sizes:
        got = {kind: [r for r in rows if r["items"] == n and r["view"] == kind] for kind in ("altair", "webgl")}
        appear = {k: median(r["appear"]["ms"] for r in v) for k, v in got.items()}
        recolour = {k: median(x["ms"] for r in v for x in r["recolour"]) for k, v in got.items()}
        sent = {k: median(r["appear"]["sent_bytes"] for r in v) for k, v in got.items()}
        resent = {k: median(x["sent_bytes"] for r in v for x in r["recolour"]) for k, v in got.items()}
        drawn = {k: v[0]["drawn"] for k, v in got.items()}
        for what, values, bytes_ in (("appear", appear, sent), ("recolour", recolour, resent)):
            lines.append(
                [
                    f"{n:,} items, {what}",
                    f"{values['altair']:.0f} ({drawn['altair']:,} drawn)",
                    f"{values['webgl']:.0f} ({drawn['webgl']:,} drawn)",
                    f"{values['webgl'] / values['altair']:.2f}",
                    f"{bytes_['altair'] / 1e6:.1f} / {bytes_['webgl'] / 1e6:.1f}",
                ]
            )
    table(
        f"commit {info['commit']}, medians of {args.rounds} rounds (recolour: 2 new colours each), load {min(report['load']):.1f}–{max(report['load']):.1f}",
        ["case", "Altair ms", "WebGL ms", "WebGL / Altair", "MB sent (Altair / WebGL)"],
        lines,
    )
    if report["console_errors"]:
        print("console errors:", *report["console_errors"], sep="\n  ")
    print(f"raw: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
