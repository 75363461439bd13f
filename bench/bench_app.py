"""Benchmark the notebook app's responsiveness in a real browser.

Serves ``notebooks/app.py`` on the built-in demo data with ``marimo run`` (a fresh stage cache
unless ``--cache-dir`` is given), opens it in headless Chromium and times what a person waits
for, from the action to the moment the changed map is drawn:

    .venv/bin/python bench/bench_app.py                  # demo data, 5 rounds
    .venv/bin/python bench/bench_app.py --rounds 9 -- --min-item-users 20   # flags after -- go to the app
    .venv/bin/python bench/bench_app.py --emblaze        # with the Emblaze comparison shown first

With ``--emblaze`` the Emblaze comparison is scrolled into view once the maps are drawn (so its
viewer is mounted and drawn), then the page goes back to the maps before anything is timed: the
same run with a viewer on the page. Run it with and without, back to back, to compare.

Measured:

- *first render*: page load until the first map, and until every map, is drawn;
- *new value*: a projection slider (UMAP min_dist, t-SNE perplexity) moved to a value not seen
  before: until the first frame that shows something new (the layout forming above the maps,
  or the map itself), until the first frame that differs from the map before the change (a
  refinement's first frame of the forming layout is the old map, at epoch 0: a frame counts as
  changed when its dots sit more than ``CHANGED_PX`` off the old map's positions after the best
  affine fit), and until that view is redrawn with the final layout;
- *seen value*: the slider moved back and forth between two values seen before, until the
  view shows the earlier layout again (checked: the drawn points must equal the first drawing);
- *colour*: the colour-by choice changed, until the points are recoloured;
- *min_item_users*: the sidebar's "min users per item" filter moved and applied (every stage
  after the filter reruns), then moved back and forth between the two values seen.

Each timing is split into the kernel's part (the first cell starting to run until the last
cell finishes, read from marimo's websocket messages) and the bytes of cell output sent to
the page. Times are taken in the page (``performance.now``), from the input event that caused
the change (the key press, the click on a form's button, the dropdown's change) to the first
animation frame that shows it. Raw numbers go to ``bench/results/app-<time>.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import ROOT, banner, load_average, machine_info, median, results_path, table, write_results

sys.path.insert(0, str(ROOT / "tests"))

from browser import SYMBOL_MARKS_JS, chromium_page, marimo_server  # noqa: E402

sys.path.insert(0, str(ROOT))
from atlas.widgets.tables import SINCE_LABEL  # noqa: E402

# The code a run measures: the package and the notebooks (for the fingerprint in the results).
APP_CODE = ("atlas/**/*.py", "notebooks/*.py")

# Records every websocket message the page receives: time, operation, cell status, size.
SOCKET_LOG = """
(() => {
  window.__atlasSocket = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (event) => {
      const size = typeof event.data === 'string' ? event.data.length : (event.data.byteLength || event.data.size || 0);
      let op = '?', status = null, cell = null, output = 0;
      if (typeof event.data === 'string') {
        try {
          const msg = JSON.parse(event.data);
          const data = msg.data || msg;
          op = msg.op || data.op || '?';
          status = data.status || null;
          cell = data.cell_id || null;
          output = data.output && data.output.data ? JSON.stringify(data.output.data).length : 0;
        } catch (e) { /* not JSON */ }
      }
      window.__atlasSocket.push({t: performance.now(), op, status, cell, size, output});
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, Native);
})();
"""

# The drawn symbols of the maps (found as in the tests), and a short signature of one mark's
# drawn points: positions, fills and opacities.
MARKS_JS = f"window.__atlasMarks = {SYMBOL_MARKS_JS};" + """
// Above --max-chart-points the maps are one WebGL widget (atlas/widgets/scatter.js): its views
// are in the order umap, t-SNE, PaCMAP; a view's signature is where sampled items are drawn.
// The newest WebGL maps widget's state on the page (through shadow roots), or null. The walk
// through the whole page is kept for a tenth of a second while the widget it found stays on the
// page: run on every animation frame while a change is timed, it took a share of a core that the
// app's own threads then lacked.
window.__atlasWebglRoot = () => {
  const known = window.__atlasWebglKnown;
  if (known && known.root.isConnected && performance.now() - known.at < 100) return known.root;
  const roots = [];
  const visit = (node) => {
    if (!node) return;
    if (node.atlasMaps) roots.push(node);
    if (node.shadowRoot) visit(node.shadowRoot);
    for (const child of node.children || []) visit(child);
  };
  visit(document.body);
  const root = roots.length ? roots[roots.length - 1] : null;
  window.__atlasWebglKnown = root ? {root, at: performance.now()} : null;
  return root;
};
window.__atlasWebglMaps = () => {
  const root = window.__atlasWebglRoot();
  return root ? root.atlasMaps : null;
};
window.__atlasWebgl = (name) => {
  const root = window.__atlasWebglRoot();
  const maps = root ? root.atlasMaps : null;
  const v = ['umap', 'tsne', 'pacmap'].indexOf(name.split('_')[0]);
  if (!maps || v < 0 || !maps.count) return null;
  const canvases = root.querySelectorAll('canvas[data-drawn]');
  if (!canvases[v] || !canvases[v].dataset.drawn) return null;
  // a view's points move only when it draws (a frame counted on its canvas): until then, the last signature
  const known = root.__atlasSignatures || (root.__atlasSignatures = {});
  const frames = canvases[v].dataset.frames;
  if (known[v] && known[v].frames === frames) return known[v].signature;
  const step = Math.max(1, Math.floor(maps.count / 40)), picks = [];
  const box = canvases[v].getBoundingClientRect();  // positions in the view, wherever the page is scrolled
  for (let row = 0; row < maps.count; row += step) {
    const [x, y] = maps.project(v, row);
    picks.push((x - box.left).toFixed(1) + ',' + (y - box.top).toFixed(1));
  }
  const signature = 'webgl:' + maps.count + ':' + canvases[v].dataset.colour + ':' + picks.join(';');
  known[v] = {frames, signature};
  return signature;
};
window.__atlasSignature = (name) => {
  const items = window.__atlasMarks()[name];
  if (!items || !items.length) return window.__atlasWebgl(name);
  const sorted = items.slice().sort((a, b) => a.datum.row - b.datum.row);
  const pick = sorted.filter((_, i) => i % Math.max(1, Math.floor(sorted.length / 40)) === 0);
  return items.length + ':' + pick.map(i => [i.x.toFixed(1), i.y.toFixed(1), i.fill, i.opacity].join(',')).join(';');
};
window.__atlasPreview = () => {
  // the first 40 dots, read from their group (matching every dot of the page each frame cost more)
  const group = document.querySelector('svg[data-atlas-preview] g');
  const dots = group ? Array.prototype.slice.call(group.children, 0, 40) : [];
  return dots.length ? dots.map(c => c.getAttribute('cx') + ',' + c.getAttribute('cy')).join(';') : null;
};
// Every dot of the layout forming above the maps, and the preview's size.
window.__atlasPreviewDots = () => {
  const svg = document.querySelector('svg[data-atlas-preview]');
  if (!svg) return null;
  const xy = [...svg.querySelectorAll('circle')].map(c => [+c.getAttribute('cx'), +c.getAttribute('cy')]);
  return {width: +svg.getAttribute('width'), height: +svg.getAttribute('height'), xy};
};
// Where each table row is drawn in one map now (screen pixels, by row; null where not drawn).
window.__atlasPositions = (name) => {
  const items = window.__atlasMarks()[name];
  if (items && items.length) {
    const out = [];
    items.forEach(i => { out[i.datum.row] = [i.x, i.y]; });
    return Array.from(out, v => v || null);
  }
  const maps = window.__atlasWebglMaps();
  const v = ['umap', 'tsne', 'pacmap'].indexOf(name.split('_')[0]);
  if (!maps || v < 0) return null;
  return Array.from({length: maps.count}, (_, row) => maps.project(v, row));
};
window.__atlasWatch = (name, before, timeout) => new Promise((resolve) => {
  // the wait starts at the last input event before the change is drawn: the key press, the
  // click on a form's button, the choice in a dropdown
  const armed = performance.now();
  let t0 = armed;
  let first = null;  // the first frame that shows anything new: the map, or the layout forming above it
  const preview = window.__atlasPreview();
  // every new frame of the forming layout, kept whole: which of them differs from the map before
  // the change is decided afterwards (a refinement's first frame is the old map itself)
  const frames = [];
  let lastForming = preview;
  const kinds = ['keydown', 'pointerdown', 'change'];
  const mark = (event) => { t0 = event.timeStamp || performance.now(); };
  kinds.forEach(kind => window.addEventListener(kind, mark, true));
  const finish = (result) => { kinds.forEach(kind => window.removeEventListener(kind, mark, true)); resolve(result); };
  let ticks = 0, tickMs = 0;  // what the watching itself costs the page
  const tick = () => {
    const began = performance.now();
    const now = window.__atlasSignature(name);
    const forming = window.__atlasPreview();
    if (first === null && forming !== null && forming !== preview) first = performance.now() - t0;
    if (forming !== null && forming !== lastForming) {
      frames.push({t: performance.now(), dots: window.__atlasPreviewDots()});
      lastForming = forming;
    }
    if (now !== null && now !== before) {
      const ms = performance.now() - t0;
      frames.forEach(f => { f.ms = f.t - t0; });
      finish({start: t0, ms, first_ms: first === null ? ms : first, signature: now, frames, tick_ms: ticks ? tickMs / ticks : null, ticks});
      return;
    }
    ticks += 1;
    tickMs += performance.now() - began;
    if (performance.now() - armed > timeout) { finish({start: t0, ms: null, first_ms: first, signature: null, frames: []}); return; }
    requestAnimationFrame(tick);
  };
  tick();
});
"""


def socket_summary(page, start: float) -> dict:
    """Kernel time and output bytes from the websocket messages received after ``start``."""
    messages = page.evaluate("(start) => window.__atlasSocket.filter(m => m.t >= start)", start)
    cells = [m for m in messages if m["op"] == "cell-op"]
    running = [m["t"] for m in cells if m["status"] == "running"]
    idle = [m["t"] for m in cells if m["status"] == "idle"]
    return {
        "kernel_ms": (max(idle) - min(running)) if running and idle else None,
        "first_run_ms": (min(running) - start) if running else None,
        "cells_run": len({m["cell"] for m in cells if m["status"] == "running"}),
        "output_bytes": sum(m["output"] for m in cells),
        "socket_bytes": sum(m["size"] for m in messages),
        "timeline": [[round(m["t"] - start), m["cell"], m["status"], m["output"]] for m in cells if m["status"] or m["output"]],
    }


#: A frame of the forming layout differs from the map before the change when, after the best
#: affine fit of the old map's positions onto it (the preview scales each axis to its box, and a
#: map may be turned to match another), its dots still sit this far off, root mean square, in
#: the preview's pixels.
CHANGED_PX = 1.0


def preview_rows(n: int, points: int) -> np.ndarray:
    """The rows ``atlas.app.jobs.preview_svg`` draws: all, or a fixed sample of ``points``."""
    return np.arange(n) if points >= n else np.sort(np.random.default_rng(0).choice(n, points, replace=False))


def frame_residual(old: list, dots: list) -> float | None:
    """RMS distance (preview pixels) between a preview frame and the old map's positions of the
    same rows after their best affine fit; None when the frame cannot be matched to the map."""
    if not old or not dots or len(dots) > len(old):
        return None
    rows = preview_rows(len(old), len(dots))
    if any(old[r] is None for r in rows):
        return None
    source = np.c_[np.array([old[r] for r in rows], dtype=np.float64), np.ones(len(rows))]
    target = np.array(dots, dtype=np.float64)
    fit, *_ = np.linalg.lstsq(source, target, rcond=None)
    return float(np.sqrt(((source @ fit - target) ** 2).sum(axis=1).mean()))


def first_changed(result: dict, old: list | None) -> None:
    """Add ``first_changed_ms``: the first frame (forming layout or final map) that differs from
    the map before the change, and each preview frame's residual; drop the frames themselves."""
    # a frame drawn before the last input event (a slider moved, then the form applied) answers an earlier one
    frames = [f for f in result.pop("frames", None) or [] if f["ms"] >= 0]
    residuals = [(f["ms"], frame_residual(old, (f.get("dots") or {}).get("xy"))) for f in frames]
    result["first_ms"] = min([ms for ms, _ in residuals] + [result["ms"]])  # from the last input event, as the others
    result["preview_frames"] = [[round(ms), None if r is None else round(r, 2)] for ms, r in residuals]
    changed = [ms for ms, r in residuals if r is not None and r > CHANGED_PX]  # unmatched frames count as unchanged
    result["first_changed_ms"] = min(changed) if changed else result["ms"]


def timed(page, mark: str, action, settle: float = 1.5, timeout: float = 300.0) -> dict:
    """Run ``action`` and time it until ``mark`` is drawn differently; then let the page settle
    (the cells after the maps finish) so that the next action starts from rest."""
    before = page.evaluate("(name) => window.__atlasSignature(name)", mark)
    old = page.evaluate("(name) => window.__atlasPositions(name)", mark)
    page.evaluate("(args) => { window.__atlasResult = window.__atlasWatch(...args); }", [mark, before, timeout * 1000])
    action()
    result = page.evaluate("() => window.__atlasResult")
    if result["ms"] is None:
        raise SystemExit(f"{mark} did not change within {timeout:.0f} s")
    first_changed(result, old)
    print(f"  {mark}: first frame {result['first_ms']:.0f} ms, first changed frame {result['first_changed_ms']:.0f} ms, "
          f"final {result['ms']:.0f} ms; preview frames (ms, px off the old map): {result['preview_frames'][:4]}", flush=True)  # fmt: skip
    page.wait_for_timeout(int(settle * 1000))
    result.update(socket_summary(page, result["start"]))
    return result


def wait_until(page, js: str, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        page.wait_for_timeout(200)


def show_emblaze(page) -> None:
    """Scroll the Emblaze comparison into view until its viewer is drawn, then back to the top."""
    page.get_by_role("heading", name="Compare layouts (Emblaze)").scroll_into_view_if_needed()
    page.mouse.wheel(0, 400)
    canvas = page.locator("marimo-anywidget canvas")
    deadline = time.monotonic() + 300
    while not any((canvas.nth(i).bounding_box() or {}).get("width", 0) > 300 for i in range(canvas.count())):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the Emblaze viewer")
        page.wait_for_timeout(500)
    page.wait_for_timeout(2000)
    page.evaluate("window.scrollTo(0, 0)")
    print("Emblaze shown", flush=True)


def slider(page, label: str):
    thumb = page.get_by_role("complementary").locator(f"marimo-slider[data-label*='{label}'] [role='slider']")
    thumb.focus()
    return thumb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="back-and-forth moves between two seen values")
    parser.add_argument("--cache-dir", help="stage cache to use (default: a fresh one)")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds of rest after each change")
    parser.add_argument("--tabs", type=int, default=3, help="second tabs opened on the same address, each timed to every map drawn")
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes to run alongside (a loaded machine)")
    parser.add_argument(
        "--checkout", type=Path, help="measure another checkout's app and atlas package instead (e.g. a git worktree of an earlier commit)"
    )
    parser.add_argument("--emblaze", action="store_true", help="show the Emblaze comparison (mount its viewer) before timing")
    parser.add_argument("app_args", nargs="*", help="flags passed to the app after --")
    args = parser.parse_args()

    cache = args.cache_dir or tempfile.mkdtemp(prefix="atlas-bench-cache-")
    info = machine_info((args.checkout or ROOT).resolve(), APP_CODE)
    print(banner("atlas app benchmark", info), flush=True)
    report: dict = {"machine": info, "argv": sys.argv[1:], "app_args": args.app_args, "busy": args.busy, "emblaze": args.emblaze, "load": [load_average()]}
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        cases = measure(args, cache, report)
    finally:
        for hog in hogs:
            hog.kill()
    report["cases"] = cases
    out = results_path("app")
    write_results(out, report)
    write_results(ROOT / "bench" / "results" / "app.summary.json", summary(report, out))

    busy = (f", {args.busy} busy-loop processes alongside" if args.busy else "") + (", Emblaze shown" if args.emblaze else ", Emblaze not shown")
    rows = []
    for name, case in cases.items():
        seen = "change" if name == "colour" else "seen value"
        for what, values in ([("new value", [case["new"]])] if case.get("new") else []) + [(f"{seen} (median of {len(case['seen'])})", case["seen"])]:
            kernel, cells, output = (median(r.get(key) for r in values) for key in ("kernel_ms", "cells_run", "output_bytes"))
            first = median(r.get("first_ms") for r in values)
            changed = median(r.get("first_changed_ms") for r in values)
            rows.append([f"{name} {what}", f"{first:.0f}", f"{changed:.0f}", f"{median(r['ms'] for r in values):.0f}", f"{kernel or 0:.0f}", f"{cells:.0f}", f"{output / 1024:.0f}"])
    table(f"commit {info['commit']}{busy}, load average {min(report['load']):.1f}–{max(report['load']):.1f}; "
          f"first map {report['first_map_s']:.1f} s, every map {report['first_render_s']:.1f} s (fresh cache={args.cache_dir is None}); "
          f"a second tab: every map in {median(report['second_tab_s']):.2f} s (median of {len(report['second_tab_s'])})",
          ["change", "first frame (ms)", "first changed frame (ms)", "final map (ms)", "kernel (ms)", "cells", "output KB"], rows)
    if report["console_errors"]:
        print("console errors:", *report["console_errors"], sep="\n  ")
    print(f"raw: {out.relative_to(ROOT)}")


def summary(report: dict, raw: Path) -> dict:
    """The figures the READMEs cite, small enough to commit: per change, the medians of the first
    frame, the first frame that differs from the map before, and the final map (ms)."""
    def settle(r: dict) -> dict:  # both first-frame figures again from the kept frames (ms, px off)
        frames = [(ms, px) for ms, px in r.get("preview_frames") or [] if ms >= 0]
        return {**r, "first_ms": min([ms for ms, _ in frames] + [r["ms"]]),
                "first_changed_ms": min([ms for ms, px in frames if px is not None and px > CHANGED_PX] + [r["ms"]])}  # fmt: skip

    cases = {}
    for name, case in report["cases"].items():
        case = {"new": settle(case["new"]) if case.get("new") else None, "seen": [settle(r) for r in case["seen"]]}
        for what, values in ([("new", [case["new"]])] if case.get("new") else []) + [("seen", case["seen"])]:
            cases[f"{name} {what}"] = {
                "moves": len(values),
                **{key: median(r.get(key) for r in values) for key in ("first_ms", "first_changed_ms", "ms", "kernel_ms")},
            }
            if what == "new":
                cases[f"{name} {what}"]["preview_frames_ms_px"] = values[0].get("preview_frames")
    machine = report["machine"]
    return {"made_by": "bench/bench_app.py " + " ".join(report.get("argv", [])), "raw": f"{raw.relative_to(ROOT)} (local)",
            "date": machine.get("date"), "commit": machine.get("commit"), "cores": machine.get("cores"), "load": report["load"],
            "busy": report["busy"], "emblaze": report["emblaze"], "app_args": report["app_args"],
            "first_map_s": report.get("first_map_s"), "first_render_s": report.get("first_render_s"),
            "second_tab_s": report.get("second_tab_s"), "drawn_twice": report.get("drawn_twice", []),
            "drawn_differently": report.get("drawn_differently", []), "cases": cases}  # fmt: skip


def second_tab(page, every: str) -> float:
    """Seconds from opening the page's address in a new tab (a reload, a shared link) to every
    map drawn: a new session of the app, each stage read from the cache."""
    tab = page.context.new_page()
    tab.add_init_script(MARKS_JS)
    start = time.perf_counter()
    tab.goto(page.url)
    wait_until(tab, every, 300, "every map in the second tab")
    took = time.perf_counter() - start
    tab.close()
    return took


def measure(args, cache: str, report: dict) -> dict:
    """Serve the app, drive it in Chromium and return the timed cases (fills ``report``)."""
    source = (args.checkout or ROOT).resolve()
    env = {"PYTHONPATH": str(source)} if args.checkout else None
    with marimo_server(next(p for p in (source / "notebooks" / "app.py", source / "notebooks" / "atlas.py") if p.exists()), ["--cache-dir", cache, *args.app_args], env=env) as url, chromium_page(viewport=(1500, 1400)) as (page, log):
        page.add_init_script(SOCKET_LOG)
        page.add_init_script(MARKS_JS)
        start = time.perf_counter()
        page.goto(url)
        first_map = "() => window.__atlasSignature && window.__atlasSignature('umap_map_marks')"
        wait_until(page, first_map, 900, "the first map")
        report["first_map_s"] = time.perf_counter() - start
        every = "() => ['umap', 'tsne', 'pacmap'].every(name => window.__atlasSignature(name + '_map_marks'))"
        wait_until(page, every, 900, "every map")
        report["first_render_s"] = time.perf_counter() - start
        print(f"first map {report['first_map_s']:.1f} s, every map {report['first_render_s']:.1f} s", flush=True)
        wait_until(page, "() => document.body.innerText.includes('Quality at a glance')", 300, "the metrics")
        if args.emblaze:
            show_emblaze(page)
        page.wait_for_timeout(3000)
        report["load"].append(load_average())
        report["second_tab_s"] = [second_tab(page, every) for _ in range(args.tabs)]
        print(f"a second tab on the same address (every stage cached): every map in {', '.join(f'{t:.2f}' for t in report['second_tab_s'])} s", flush=True)

        cases = {}
        for name, label, mark in (("umap_min_dist", "min_dist", "umap_map_marks"), ("tsne_perplexity", "perplexity", "tsne_map_marks")):
            first = page.evaluate("(name) => window.__atlasSignature(name)", mark)
            thumb = slider(page, label)
            new = timed(page, mark, lambda thumb=thumb: thumb.press("ArrowRight"), args.settle)
            seen = []
            for i in range(args.rounds):
                key = "ArrowLeft" if i % 2 == 0 else "ArrowRight"
                seen.append(timed(page, mark, lambda key=key, thumb=thumb: thumb.press(key), args.settle))
                # a seen value must come back exactly as it was first drawn
                if key == "ArrowLeft" and seen[-1]["signature"] != first:
                    raise SystemExit(f"{name}: the seen value was drawn differently the second time")
            cases[name] = {"new": new, "seen": seen}

        colour = page.locator("marimo-dropdown[data-label*='colour by'] select")
        options = colour.locator("option").all_text_contents()
        current = colour.input_value()
        # not the items new since an aligned export: with none aligned to, that choice says so and keeps
        # popularity's colours, so going back draws nothing new and the wait for a change never ends
        other = [o for o in options if o and o != current and o != SINCE_LABEL][:2]
        if other:  # data without metadata may offer one colouring only
            cases["colour"] = {"seen": [timed(page, "umap_map_marks", lambda o=o: colour.select_option(o), args.settle) for o in other + [current]]}
        else:
            print("  colour: one choice only, not timed", flush=True)

        # a filter in the sidebar form: every stage after it reruns, or comes from the cache
        thumb = page.locator("marimo-slider[data-label*='min users per item'] [role='slider']").filter(visible=True).first
        apply = page.get_by_role("button", name="Apply filters")

        def move_and_apply(key):
            thumb.focus()
            thumb.press(key)
            apply.click()

        first = page.evaluate("(name) => window.__atlasSignature(name)", "umap_map_marks")
        new = timed(page, "umap_map_marks", lambda: move_and_apply("ArrowRight"), args.settle)
        seen = []
        for i in range(min(args.rounds, 4)):
            key = "ArrowLeft" if i % 2 == 0 else "ArrowRight"
            seen.append(timed(page, "umap_map_marks", lambda key=key: move_and_apply(key), args.settle))
            if key == "ArrowLeft" and seen[-1]["signature"] != first:
                # the first redraw differs: an intermediate drawing, or the final map itself?
                page.wait_for_timeout(3000)
                settled = page.evaluate("(name) => window.__atlasSignature(name)", "umap_map_marks")
                finding = "drawn_differently" if settled != first else "drawn_twice"
                report.setdefault(finding, []).append("min_item_users")
                print(f"  filters: the seen value's first redraw differs from its first drawing; after 3 s it is {'still different' if settled != first else 'the same'}", flush=True)
        cases["min_item_users"] = {"new": new, "seen": seen}
        report["load"].append(load_average())
        report["console_errors"] = log.errors()

    for case in cases.values():
        for row in [case.get("new"), *case["seen"]]:
            if row:
                row.pop("signature", None)
    return cases


if __name__ == "__main__":
    main()
