"""t-SNE's refinement after a new perplexity: how many steps keep what a finished map keeps.

From the default build's t-SNE map (perplexity 20) to each of a few other perplexities: the map
refined for 30, 50 and 100 steps, and a fresh run from PCA at that perplexity, each scored by the
embedding's 10-NN recall in the 2D map and, where the data has labels, by label agreement among
the 10 nearest points. Also the refinement's time, on this machine as it is.

    .venv/bin/python bench/bench_tsne_refine.py                                   # the demo
    .venv/bin/python bench/bench_tsne_refine.py --input plays.parquet --items items.csv --label-col taste
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
    ap.add_argument("--perplexities", default="10,30,40")
    ap.add_argument("--steps", default="30,50,100")
    ap.add_argument("--out")
    opts = ap.parse_args()

    import atlas
    from atlas import projections
    from atlas.profiles import item_labels

    info = machine_info()
    print(banner("t-SNE's refinement after a new perplexity", info), flush=True)
    data = atlas.demo_movielens() if opts.input is None else atlas.load_dataset(opts.input, items_path=opts.items, label_column=opts.label_col)
    build = atlas.Build(data, atlas.BuildParams())
    runner = build._runner()
    embedding = build.embedding
    labels = item_labels(build.profiles, data)
    start_params = build.params.projection("tsne")
    start = runner.project(embedding, start_params, from_pca=True).xy
    truth = runner.neighbors(embedding, K + 1).indices[:, 1 : K + 1]
    rows = [{"perplexity": start_params.perplexity, "route": "start", **scores(start, truth, labels)}]
    print(rows[-1], flush=True)
    for perplexity in (float(p) for p in opts.perplexities.split(",")):
        params = dataclasses.replace(start_params, perplexity=perplexity)
        neighbors = runner.neighbors(embedding, projections.of(params).k_needed(params))
        began = time.perf_counter()
        fresh = runner.project(embedding, params, from_pca=True).xy
        rows.append({"perplexity": perplexity, "route": "from PCA", "seconds": round(time.perf_counter() - began, 2), **scores(fresh, truth, labels)})
        print(rows[-1], flush=True)
        for steps in (int(s) for s in opts.steps.split(",")):
            began = time.perf_counter()
            xy = projections.project(embedding, dataclasses.replace(params, warm_iter=steps), neighbors, init=start, refine=True).xy
            rows.append({"perplexity": perplexity, "route": f"refined, {steps} steps", "seconds": round(time.perf_counter() - began, 2), **scores(xy, truth, labels)})
            print(rows[-1], flush=True)
    out = Path(opts.out) if opts.out else results_path("tsne-refine")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "argv": sys.argv[1:], "items": int(start.shape[0]), "rows": rows}, indent=1))
    print(f"raw: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}", flush=True)


if __name__ == "__main__":
    main()
