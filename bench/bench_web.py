"""Benchmark the published web atlas at scale.

Writes a synthetic export (clustered points, random names, a category and a number per item,
k graph neighbours), runs ``write_html`` on it and opens the page in headless Chromium:

    .venv/bin/python bench/bench_web.py                 # 200,000 items
    .venv/bin/python bench/bench_web.py --sizes 20000,200000 --repeats 3

Reported per size: write time of ``write_html``, the process's peak memory so far (synthetic
data and neighbour search included), file size, load time until
``window.atlasMap.ready`` (median of the repeats, each in a fresh browser), hover latency
(pointer event to tooltip filled, mean and 99th percentile over 2,000 random positions), the frame
interval while zooming and the script time of those frames (label placement, overlay, draw calls). Chromium draws WebGL with a software renderer here, so frame
figures are a pessimistic proxy for a real GPU.

Where the load time goes (medians of the repeats, from the page's performance marks, see
``startAtlas`` in atlas/web/main.js): *file* until the script starts (reading and parsing the
HTML), *base64*, *gunzip*, *decode* (typed arrays, text columns, label levels), *gl* (WebGL
buffers), *start* (colours, panels), *frame* (the first frame's script: labels, draw calls), and
*draw* from the end of the first frame's script until the test sees ``ready``: chiefly the
software renderer drawing every point while the page waits to read the picture back (about a
microsecond a point here), plus the test's polling. ``--screenshots DIR`` saves each size's
first view.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from harness import ROOT, banner, machine_info, median, peak_self, results_path, table, write_results

# (label, performance mark that ends the phase); each phase starts where the one before ended
PHASES = (("file", "atlas:start"), ("base64", "atlas:base64"), ("gunzip", "atlas:inflated"), ("decode", "atlas:data"),
          ("gl", "atlas:renderer"), ("start", "atlas:started"), ("frame", "atlas:drawn"))
MARKS_PROBE = """() => Object.fromEntries(performance.getEntriesByType('mark').map((m) => [m.name, m.startTime]))"""

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from atlas.web import write_html  # noqa: E402

SYLLABLES = ["ka", "ri", "mo", "ten", "sa", "lu", "vor", "en", "di", "pa", "zo", "shi", "ma", "ro", "qu", "el"]

HOVER_PROBE = """(samples) => {
  const overlay = document.getElementById('atlas-overlay'), box = overlay.getBoundingClientRect();
  const tooltip = document.getElementById('atlas-tooltip-name');
  const times = [];
  let hits = 0;
  for (let s = 0; s < samples; s++) {
    const x = box.left + Math.random() * box.width, y = box.top + Math.random() * box.height;
    const t0 = performance.now();
    overlay.dispatchEvent(new PointerEvent('pointermove', {clientX: x, clientY: y, bubbles: true}));
    void tooltip.offsetWidth;  // the tooltip's layout is part of the cost
    times.push(performance.now() - t0);
    if (atlasMap.state.hover >= 0) hits++;
  }
  // The browser's clock ticks in 0.1 ms steps, so the mean over all probes is the finer figure.
  const mean = times.reduce((a, b) => a + b, 0) / samples;
  times.sort((a, b) => a - b);
  return {mean, p99: times[Math.floor(samples * 0.99)], hits};
}"""

FRAME_PROBE = """(frames) => new Promise((resolve) => {
  const overlay = document.getElementById('atlas-overlay'), box = overlay.getBoundingClientRect();
  const stamps = [], scripts = [];
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const step = (now) => {
    stamps.push(now);
    scripts.push(atlasMap.state.frameMs);
    if (stamps.length > frames) {
      resolve({interval: median(stamps.slice(1).map((t, i) => t - stamps[i])), script: median(scripts.slice(1))});
      return;
    }
    const dy = stamps.length % 20 < 10 ? -60 : 60;
    overlay.dispatchEvent(new WheelEvent('wheel', {deltaY: dy, clientX: box.left + box.width * 0.6,
                                                   clientY: box.top + box.height / 2, bubbles: true, cancelable: true}));
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})"""


def synthetic_export(directory: Path, n: int, k: int, seed: int = 0) -> None:
    """Clustered 2D points of uneven size and density, Zipf-like popularity, random names."""
    rng = np.random.default_rng(seed)
    clusters = 80
    centres = rng.uniform(-60, 60, size=(clusters, 2))
    weights = rng.dirichlet(np.full(clusters, 0.7))
    label = rng.choice(clusters, size=n, p=weights)
    spread = rng.uniform(0.8, 5.0, size=clusters)[label]
    xy = centres[label] + rng.standard_normal((n, 2)) * spread[:, None]
    syllables = np.array(SYLLABLES)
    words = ["".join(rng.choice(syllables, size=rng.integers(2, 4))).title() for _ in range(5000)]
    first, second = rng.integers(0, len(words), size=(2, n))
    names = [f"{words[a]} {words[b]}" for a, b in zip(first, second)]
    layout = pd.DataFrame({
        "item_id": [f"item{i}" for i in range(n)],
        "x": xy[:, 0],
        "y": xy[:, 1],
        "n_users": np.maximum(1, (rng.pareto(1.1, size=n) * 20)).astype(np.int64),
        "title": names,
        "genre": [f"genre {g}" for g in (label % 30)],
        "year": rng.integers(1950, 2025, size=n),
    })
    layout.to_parquet(directory / "layout.parquet", index=False)
    _, nearest = cKDTree(xy).query(xy, k=k + 1)
    neighbors = pd.DataFrame({
        "item_id": np.repeat(layout["item_id"].to_numpy(), k),
        "neighbor_id": layout["item_id"].to_numpy()[nearest[:, 1:].ravel()],
        "rank": np.tile(np.arange(k), n),
        "weight": np.tile(1.0 / (1.0 + np.arange(k)), n),
    })
    neighbors.to_parquet(directory / "neighbors.parquet", index=False)
    manifest = {"name_column": "title", "projection": "umap", "title": f"Benchmark atlas ({n:,} items)"}
    (directory / "manifest.json").write_text(json.dumps(manifest))


def phases(marks: dict, origin_ms: float, seen_ms: float) -> dict:
    """Milliseconds of each load phase; `draw` runs from the first frame's script's end until the
    test saw `ready` (seen_ms, on the page's clock)."""
    out, before = {}, origin_ms
    for label, mark in PHASES:
        if mark in marks:
            out[label] = marks[mark] - before
            before = marks[mark]
    out["draw"] = seen_ms - before
    return out


def measure_page(page_path: Path, repeats: int, screenshot: Path | None = None) -> dict:
    from browser import chromium_page

    loads, hover, frame, breakdowns = [], None, None, []
    for attempt in range(repeats):
        with chromium_page() as (page, log):
            started = time.perf_counter()
            page.goto(page_path.as_uri(), wait_until="commit", timeout=120000)
            page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=120000, polling=20)
            loads.append(time.perf_counter() - started)
            seen = time.time() * 1000 - page.evaluate("performance.timeOrigin")  # on the page's clock
            seen_after_goto = seen - loads[-1] * 1000  # the page's clock starts at navigation, a little after goto
            breakdowns.append(phases(page.evaluate(MARKS_PROBE), seen_after_goto, seen))
            if attempt == 0:
                if screenshot is not None:
                    page.screenshot(path=str(screenshot))
                hover = page.evaluate(HOVER_PROBE, 2000)
                frame = page.evaluate(FRAME_PROBE, 60)
            errors = log.errors()
            if errors:
                raise RuntimeError(f"page errors: {errors}")
    breakdown = {label: median([b[label] for b in breakdowns]) for label in breakdowns[0]}
    return {"load_s": median(loads), "loads": loads, "hover": hover, "frame": frame, "phases_ms": breakdown}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000", help="comma-separated item counts")
    parser.add_argument("--neighbors", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--screenshots", type=Path, default=None, help="save each size's first view here")
    args = parser.parse_args()

    info = machine_info()
    print(banner("atlas web page benchmark", info), flush=True)
    results: dict = {"machine": info, "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "sizes": []}
    out = results_path("web")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="atlas-bench-web-") as tmp:
            directory = Path(tmp)
            synthetic_export(directory, n, args.neighbors)
            started = time.perf_counter()
            page_path = write_html(directory)
            write_s = time.perf_counter() - started
            row = {"items": n, "write_s": write_s, "peak_rss": peak_self(), "file_bytes": page_path.stat().st_size}
            shot = args.screenshots / f"web-{n}.png" if args.screenshots else None
            if shot:
                shot.parent.mkdir(parents=True, exist_ok=True)
            row.update(measure_page(page_path, args.repeats, shot))
            results["sizes"].append(row)
            write_results(out, results)

    rows = [[f"{r['items']:,}", f"{r['write_s']:.2f}", f"{r['peak_rss'] / 2**20:.0f}", f"{r['file_bytes'] / 1e6:.1f}", f"{r['load_s']:.2f}",
             f"{r['hover']['mean']:.3f} / {r['hover']['p99']:.1f}", f"{r['frame']['interval']:.1f}", f"{r['frame']['script']:.2f}"]
            for r in results["sizes"]]
    table(f"neighbours per item: {args.neighbors}; load = median of {args.repeats} fresh browsers; peak = this process's peak RSS so far",
          ["items", "write s", "peak MB", "file MB", "load s", "hover ms (mean/p99)", "frame ms", "script ms"], rows)
    for r in results["sizes"]:
        loads = ", ".join(f"{t:.2f}" for t in r["loads"])
        print(f"  {r['items']:,} items: loads {loads}; pointer over an item in {r['hover']['hits']} of 2000 hover probes")
        print("    load phases, ms (medians): " + ", ".join(f"{k} {v:.0f}" for k, v in r["phases_ms"].items()))
    print(f"raw: {out.relative_to(ROOT)}")

if __name__ == "__main__":
    main()
