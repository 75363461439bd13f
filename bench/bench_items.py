"""Catalogues of 25k to 1M items: each stage's time and peak memory, and how it grows.

    .venv/bin/python bench/bench_items.py --sizes 25k 100k            # about 10 minutes
    .venv/bin/python bench/bench_items.py --sizes 25k 100k 300k 1M --landmarks auto
    .venv/bin/python bench/bench_items.py --sizes 100k --landmarks off auto   # full layouts against landmark ones

The data: ``atlas.demo``'s planted model with 50 tastes (communities), power-law popularity inside
each, Lomax profile lengths, and ``USERS_PER_ITEM`` users of mean profile length
``MEAN_LENGTH`` per item, so about 50 interactions an item at every size; it is written as one
Parquet file of (user, item) rows plus an items file (name, community), in a child of its own,
and not counted. Each build then runs in its own child under a memory cap: a small warm-up build
(numba compilation), then ``atlas.load_dataset`` (interactions + items) and ``Pipeline.build``
with the default parameters (UMAP, t-SNE and PaCMAP), then ``export_layout(page=True)``. Per
stage: wall time and the process's peak resident memory during that stage (``VmHWM`` reset when
the stage starts). The growth exponent k of each stage (time ∝ itemsᵏ) is the least-squares slope
of log time on log items over the sizes that finished.

Results: ``bench/results/items-<time>.json``; the table and ``bench/items.png`` (log–log) are made
from it with ``--report FILE``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness import GIB, ROOT, Runner, banner, gib, machine_info, peak_self, results_path, say, secs, table, write_results

SIZES = {"25k": 25_000, "100k": 100_000, "300k": 300_000, "1M": 1_000_000}
N_TASTES = 50
USERS_PER_ITEM = 2
MEAN_LENGTH = 25.0  # × 2 users an item: about 50 interactions an item
STAGE_ORDER = ("load", "profiles", "cooccurrence", "graph", "embedding", "neighbors", "umap", "tsne", "pacmap", "regions", "metrics", "export")


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def task_generate(args: dict) -> dict:
    """Write the catalogue: ``interactions.parquet`` (user, item) and ``items.csv``."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from atlas.demo import _ItemModel

    start = time.perf_counter()
    n_items = args["items"]
    rng = np.random.default_rng(args["seed"])
    model = _ItemModel.draw(rng, n_items, N_TASTES, 0.8)
    users, items = model.profiles(rng, USERS_PER_ITEM * n_items, MEAN_LENGTH, 2.5, 1000, 0.85)
    folder = Path(args["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"user": users.astype(np.int64), "item": items.astype(np.int64)}), folder / "interactions.parquet")
    meta = pd.DataFrame({"item_id": np.arange(n_items), "name": [f"item {i} (t{c})" for i, c in enumerate(model.community)],
                         "taste": [f"t{c}" for c in model.community]})
    meta.to_csv(folder / "items.csv", index=False)
    return {"rows": int(users.shape[0]), "seconds": time.perf_counter() - start}


def task_build(args: dict) -> dict:
    """Load, build and export the catalogue in ``args['folder']``, stage by stage."""
    import atlas
    from atlas.export import export_layout
    from harness import start_measuring

    warm = atlas.Pipeline().build(atlas.synthetic_profiles(2000, 300, mean_profile_length=15, seed=1))
    del warm
    import torch

    torch.set_num_threads(1)  # PyMDE: on this shared machine two threads wait for each other at every step
    folder = Path(args["folder"])
    mem = start_measuring()
    stages: dict = {}
    started: dict = {}

    def progress(stage, done, total):
        if done == 0:
            _reset_peak()
            started[stage] = time.perf_counter()
            say(f"{args['size']}: {stage} …")
        elif done == total and stage in started:
            seconds = time.perf_counter() - started.pop(stage)
            if seconds >= stages.get(stage, {}).get("seconds", -1.0):  # a stage met again (cached neighbours, per-layout regions) keeps its longest run
                stages[stage] = {"seconds": seconds, "peak": peak_self()}

    start = time.perf_counter()
    _reset_peak()
    data = atlas.load_dataset(folder / "interactions.parquet", items_path=folder / "items.csv", label_column="taste")
    stages["load"] = {"seconds": time.perf_counter() - start, "peak": peak_self()}
    params = atlas.BuildParams()
    if args.get("landmarks") is not None:
        params = atlas.BuildParams(projections=tuple(dataclasses.replace(p, landmarks=args["landmarks"]) for p in params.projections))
    result = atlas.Pipeline().build(data, params, progress=progress)
    progress("export", 0, 1)
    export_layout(folder / "out", result, data, page=True)
    progress("export", 1, 1)
    total = time.perf_counter() - start
    layouts = {name: lay.xy for name, lay in result.layouts.items()}
    if args.get("save_layouts"):
        import numpy as np

        np.savez(folder / f"layouts-{args['landmarks']}.npz", **layouts)
    kept = embedding_recall(result.embedding, layouts)
    return {"embedding_recall": kept, "total_seconds": total, "stages": stages, "profiles": result.profiles.summary(), "pair_updates": result.profiles.pair_updates,
            "metrics": result.metrics, "html_bytes": (folder / "out" / "atlas.html").stat().st_size, **mem}


#: Each item's nearest neighbours in the embedding whose share is kept among its nearest in a map.
RECALL_K = 10
#: Items sampled for that share (every one of them is a query against all items).
RECALL_SAMPLE = 5_000


def embedding_recall(embedding, layouts: dict) -> dict[str, float]:
    """Per layout, the share of each sampled item's ``RECALL_K`` nearest neighbours in the embedding
    (exact, in its own metric) that are among its ``RECALL_K`` nearest on the map: how much of what
    the map was made from it keeps, comparable between a landmark and a full layout."""
    import numpy as np
    from scipy.spatial import cKDTree

    from atlas.projections.knn import exact_neighbors

    space = embedding.space()
    n = space.shape[0]
    sample = np.random.default_rng(0).choice(n, size=min(n, RECALL_SAMPLE), replace=False)
    near = exact_neighbors(space, RECALL_K, embedding.metric, queries=sample)[0][:, 1:]
    kept = {}
    for name, xy in layouts.items():
        _, on_map = cKDTree(np.asarray(xy, dtype=np.float64)).query(xy[sample], RECALL_K + 1)
        kept[name] = float(np.mean([np.intersect1d(a[1:], b).size / RECALL_K for a, b in zip(on_map, near)]))
    return kept


def growth(sizes: dict[str, float], seconds: dict[str, float]) -> float | None:
    """The exponent k of time ∝ itemsᵏ, fitted by least squares on log–log, over ≥ 2 sizes."""
    pts = [(math.log(sizes[s]), math.log(t)) for s, t in seconds.items() if t and t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx > 0 else None


def report(results: dict, plot: Path | None = None) -> list[str]:
    """Print (and return as Markdown lines) the stage table of each landmark setting; draw the plot."""
    lines: list[str] = []
    for setting, runs in results["runs"].items():
        ok = {size: r for size, r in runs.items() if r.get("status") == "ok"}
        items = {size: r["profiles"]["items"] for size, r in ok.items()}
        header = ["stage", *[f"{s} ({items[s]:,} items)" for s in ok], "k (time ∝ itemsᵏ)"]
        rows = []
        for stage in STAGE_ORDER:
            times = {s: r["stages"][stage]["seconds"] for s, r in ok.items() if stage in r["stages"]}
            if not times:
                continue
            k = growth(items, times)
            rows.append([stage, *[f"{secs(times[s])}, {gib(ok[s]['stages'][stage]['peak'])}" if s in times else "–" for s in ok],
                         "–" if k is None else f"{k:.2f}"])
        k = growth(items, {s: r["total_seconds"] for s, r in ok.items()})
        rows.append(["total (peak of the process tree)", *[f"{secs(r['total_seconds'])}, {gib(r['peak_rss'])}" for r in ok.values()],
                     "–" if k is None else f"{k:.2f}"])
        for size, r in runs.items():
            if r.get("status") != "ok":
                rows.append([f"{size}: {r.get('status')}", f"after {secs(r.get('wall'))}, peak {gib(r.get('peak_rss'))}"] + [""] * (len(header) - 2))
        table(f"landmarks={setting}", header, rows)
        lines += [f"*landmarks={setting}* (time, peak RSS during the stage)", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header), *["| " + " | ".join(map(str, row)) + " |" for row in rows], ""]
        quality = [[s, *[f"{r['metrics'][m]['knn_recall']:.3f} / {r['metrics'][m].get('label_agreement', float('nan')):.3f}" for m in ("umap", "tsne", "pacmap") if m in r["metrics"]]]
                   for s, r in ok.items()]
        if quality:
            lines += ["kNN recall / label agreement: " + "; ".join(f"{q[0]}: umap {q[1]}, t-SNE {q[2]}, PaCMAP {q[3]}" for q in quality if len(q) == 4), ""]
    lines += landmark_lines(results)
    sizes = {size for runs in results["runs"].values() for size in runs}
    if plot is not None and len(sizes) >= 2:
        _plot(results, plot)
    elif plot is not None:  # one point per stage draws no line: the picture of earlier runs stays
        print(f"{plot.name} not redrawn: a growth plot needs two sizes (merge results files, then --report)")
    return lines


def landmark_lines(results: dict) -> list[str]:
    """Each landmark layout's embedding recall (``embedding_recall``) as a share of the full
    layout's at the same size, where both ran."""
    full = results["runs"].get("off", {})
    lines = []
    for setting, runs in results["runs"].items():
        for size, run in runs.items():
            base = full.get(size, {}).get("embedding_recall")
            mine = run.get("embedding_recall")
            if setting == "off" or not base or not mine:
                continue
            shares = ", ".join(f"{m} {mine[m]:.3f} against {base[m]:.3f} ({mine[m] / base[m]:.0%})" for m in mine if base.get(m))
            lines.append(f"{size}, landmarks={setting}: embedding {RECALL_K}-NN kept on the map — {shares}")
            say(lines[-1])
    return lines + ([""] if lines else [])


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(results["runs"])
    fig, axes = plt.subplots(1, len(settings), figsize=(6.5 * len(settings), 5), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        # a build stopped part way still shows the stages it finished (its items: the size asked for)
        ok = {s: r for s, r in results["runs"][setting].items() if r.get("status") == "ok" or r.get("stages")}
        for number, stage in enumerate(STAGE_ORDER):
            pts = [(r.get("profiles", {}).get("items", SIZES.get(size)), r["stages"][stage]["seconds"]) for size, r in ok.items() if stage in r["stages"]]
            if len(pts) >= 2:
                k = growth({str(x): x for x, _ in pts}, {str(x): t for x, t in pts})
                late = number >= 10  # the colour cycle has 10 colours: the stages after them dashed, square
                ax.plot(*zip(*pts), marker="s" if late else "o", linestyle="--" if late else "-", label=f"{stage} (k={k:.2f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("items")
        ax.set_ylabel("seconds")
        ax.set_title(f"stage time, landmarks={setting}")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=["25k", "100k"])
    ap.add_argument("--landmarks", nargs="+", default=["default"],
                    help="landmark settings of every projection to run: default (the projections' own rule), off (0: full layouts), or a number")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per build")
    ap.add_argument("--mem-cap-gb", type=float, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-layouts", action="store_true", help="keep each build's layouts (for comparing landmark and full runs)")
    ap.add_argument("--workdir", help="where the catalogues go (default: a temporary folder, deleted at the end)")
    ap.add_argument("--out", help="JSON output (default bench/results/items-<time>.json)")
    ap.add_argument("--report", help="only print the tables of an earlier results file and draw bench/items.png")
    opts = ap.parse_args(argv)
    if opts.report:
        results = json.loads(Path(opts.report).read_text())
        print("\n".join(report(results, ROOT / "bench" / "items.png")))
        return 0
    workdir = Path(opts.workdir) if opts.workdir else Path(tempfile.mkdtemp(prefix="atlas-items-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(workdir, opts.mem_cap_gb * GIB)
    info = machine_info()
    print(banner("atlas catalogue-size benchmark", info), flush=True)
    out_path = Path(opts.out) if opts.out else results_path("items")
    results: dict = {"machine": info, "options": vars(opts), "data": {"tastes": N_TASTES, "users_per_item": USERS_PER_ITEM, "mean_length": MEAN_LENGTH}, "runs": {}}
    try:
        for name in opts.sizes:
            folder = workdir / name
            if not (folder / "items.csv").exists():
                gen = runner.run(task_generate, {"folder": str(folder), "items": SIZES[name], "seed": opts.seed}, timeout=opts.timeout)
                if gen["status"] != "ok":
                    print(f"{name}: could not write the data ({gen['status']})")
                    continue
                say(f"{name}: wrote {gen['rows']:,} rows in {gen['seconds']:.0f}s")
            for setting in opts.landmarks:
                landmarks = None if setting == "default" else 0 if setting == "off" else int(setting)
                args = {"folder": str(folder), "size": name, "landmarks": landmarks, "save_layouts": opts.save_layouts}
                run = runner.run(task_build, args, timeout=opts.timeout)
                results["runs"].setdefault(setting, {})[name] = run
                say(f"{name}, landmarks={setting}: {run['status']} in {run['wall']:.0f}s, peak {gib(run['peak_rss'])}")
                write_results(out_path, results)
    finally:
        write_results(out_path, results)
        if not opts.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    report(results, ROOT / "bench" / "items.png")
    print(f"\nresults: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
