"""A layout's refinement after a slider move: how many steps keep what a finished map keeps.

From the default build's map of a projection (t-SNE at perplexity 20, or UMAP at min_dist 0) to
each of a few other values of one of its parameters: the map refined for a few step counts (t-SNE's
``warm_iter``, UMAP's ``warm_epochs``) and a fresh run from PCA at that value, each scored by the
embedding's 10-NN recall in the 2D map and, where the data has labels, by label agreement among
the 10 nearest points. Also the refinement's time, on this machine as it is.

    .venv/bin/python bench/bench_refine.py                                   # t-SNE, the demo
    .venv/bin/python bench/bench_refine.py --input plays.parquet --items items.csv --label-col taste
    .venv/bin/python bench/bench_refine.py --projection umap --values 0.1,0.25,0.5 --steps 40,50,60,100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import banner, machine_info, results_path  # noqa: E402

K = 10

#: Per projection: the parameter a slider moves, its default new values, and the parameter that
#: sets a refinement's length.
SLIDERS = {"tsne": ("perplexity", "10,30,40", "warm_iter"), "umap": ("min_dist", "0.1,0.25,0.5", "warm_epochs")}


def scores(xy: np.ndarray, truth: np.ndarray, labels) -> dict:
    """The embedding's 10-NN recall in ``xy``, and label agreement among the 10 nearest points."""
    from atlas.metrics import _nearest, label_agreement

    near = _nearest(xy, K)
    recall = float((near[:, :, None] == truth[:, None, :]).any(axis=2).mean())
    label = label_agreement(xy, labels, K, near=near)[0] if labels is not None else None
    return {"recall": round(recall, 4), "label": None if label is None else round(float(label), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="interactions file (default: the demo)")
    ap.add_argument("--items")
    ap.add_argument("--label-col")
    ap.add_argument("--projection", choices=sorted(SLIDERS), default="tsne")
    ap.add_argument("--values", help="the parameter's new values, comma separated (default: t-SNE's perplexity 10,30,40; UMAP's min_dist 0.1,0.25,0.5)")
    ap.add_argument("--steps", default="30,50,100", help="refinement lengths to compare, comma separated")
    ap.add_argument("--out")
    opts = ap.parse_args()

    import atlas
    from atlas import projections
    from atlas.profiles import item_labels

    info = machine_info()
    knob, default_values, length = SLIDERS[opts.projection]
    print(banner(f"{opts.projection}'s refinement after a new {knob}", info), flush=True)
    data = atlas.demo_movielens() if opts.input is None else atlas.load_dataset(opts.input, items_path=opts.items, label_column=opts.label_col)
    build = atlas.Build(data, atlas.BuildParams())
    runner = build._runner()
    embedding = build.embedding
    labels = item_labels(build.profiles, data)
    start_params = build.params.projection(opts.projection)
    start = runner.project(embedding, start_params, from_pca=True).xy
    truth = runner.neighbors(embedding, K + 1).indices[:, 1 : K + 1]
    rows = [{knob: getattr(start_params, knob), "route": "start", **scores(start, truth, labels)}]
    print(rows[-1], flush=True)
    for value in (float(v) for v in (opts.values or default_values).split(",")):
        params = dataclasses.replace(start_params, **{knob: value})
        neighbors = runner.neighbors(embedding, projections.of(params).k_needed(params))
        began = time.perf_counter()
        fresh = runner.project(embedding, params, from_pca=True).xy
        rows.append({knob: value, "route": "from PCA", "seconds": round(time.perf_counter() - began, 2), **scores(fresh, truth, labels)})
        print(rows[-1], flush=True)
        for steps in (int(s) for s in opts.steps.split(",")):
            began = time.perf_counter()
            xy = projections.project(embedding, dataclasses.replace(params, **{length: steps}), neighbors, init=start, refine=True).xy
            rows.append({knob: value, "route": f"refined, {steps} steps", "seconds": round(time.perf_counter() - began, 2), **scores(xy, truth, labels)})
            print(rows[-1], flush=True)
    out = Path(opts.out) if opts.out else results_path(f"{opts.projection}-refine")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "argv": sys.argv[1:], "items": int(start.shape[0]), "rows": rows}, indent=1))
    print(f"raw: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}", flush=True)


if __name__ == "__main__":
    main()
