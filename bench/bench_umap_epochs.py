"""UMAP's epochs: UMAP's own one-thread optimiser against atlas's rounds (``atlas/projections/umap_epochs.py``)
on the same inputs, at one and two threads: time, what the map keeps of the embedding, and whether
the two thread counts give the same bytes.

    .venv/bin/python bench/bench_umap_epochs.py                                   # the demo
    .venv/bin/python bench/bench_umap_epochs.py --input plays.parquet --items items.csv --label-col taste
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from harness import banner, machine_info, results_path  # noqa: E402


def umap_inputs(data):
    """The embedding and the arguments atlas's UMAP hands its optimiser, for ``data`` with the
    default build parameters."""
    import atlas
    from atlas.projections import umap as atlas_umap
    from atlas.projections.umap import UmapParams

    caught: dict = {}

    def catch(layout, head, tail, epochs, epochs_per_sample, a, b, rng_state, *, alpha, report):
        caught.update(layout=layout.copy(), head=head, tail=tail, epochs=epochs, per_sample=epochs_per_sample, a=a, b=b, rng=rng_state.copy(), alpha=alpha)

    original = atlas_umap.optimize_layout
    atlas_umap.optimize_layout = catch
    try:
        built = atlas.Pipeline().build(data, atlas.BuildParams(projections=(UmapParams(),)))
    finally:
        atlas_umap.optimize_layout = original
    return built, caught


def run(kind: str, threads: int, inputs: dict) -> tuple[np.ndarray, float]:
    import numba

    layout = inputs["layout"].copy()
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    start = time.perf_counter()
    try:
        if kind == "umap-learn":
            from umap.layouts import optimize_layout_euclidean

            optimize_layout_euclidean(
                layout, layout, inputs["head"], inputs["tail"], inputs["epochs"], layout.shape[0], inputs["per_sample"], inputs["a"], inputs["b"],
                inputs["rng"].copy(), gamma=1.0, initial_alpha=inputs["alpha"], negative_sample_rate=5, parallel=False, tqdm_kwds={"disable": True}, move_other=True,
            )  # fmt: skip
        else:
            from atlas.projections import umap_epochs

            umap_epochs.optimize(
                layout, inputs["head"], inputs["tail"], inputs["epochs"], inputs["per_sample"], inputs["a"], inputs["b"], inputs["rng"].copy(),
                alpha=inputs["alpha"], report=lambda *_: None, threads=lambda epoch, count: threads,
            )  # fmt: skip
    finally:
        numba.set_num_threads(before)
    return layout, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", help="interactions file (default: the built-in demo)")
    ap.add_argument("--items", help="items file")
    ap.add_argument("--label-col", help="items column with a known label (for the label agreement)")
    ap.add_argument("--out", help="JSON output (default bench/results/umap-epochs-<time>.json)")
    opts = ap.parse_args()

    import atlas
    from atlas import metrics
    from bench_items import embedding_recall

    info = machine_info()
    print(banner("UMAP's epochs: umap-learn's one thread against atlas's rounds", info), flush=True)
    data = atlas.demo_movielens() if opts.input is None else atlas.load_dataset(opts.input, items_path=opts.items, label_column=opts.label_col)
    from atlas.profiles import item_labels

    built, inputs = umap_inputs(data)
    embedding = built.embedding
    run("atlas", 1, {**inputs, "epochs": 2})  # compile first
    labels = item_labels(built.profiles, data)
    rows, layouts = [], {}
    for kind, threads in (("umap-learn", 1), ("atlas", 1), ("atlas", 2)):
        xy, seconds = run(kind, threads, inputs)
        layouts[(kind, threads)] = xy
        row = {"optimiser": kind, "threads": threads, "seconds": seconds, "embedding_recall": embedding_recall(embedding, {"map": xy})["map"],
               "trustworthiness": metrics.trustworthiness(embedding.space(), xy), "width": float(np.ptp(xy, axis=0).max())}  # fmt: skip
        if labels is not None:
            row["label_agreement"] = metrics.label_agreement(xy, labels)[0]
        rows.append(row)
        print(" · ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    same = layouts[("atlas", 1)].tobytes() == layouts[("atlas", 2)].tobytes()
    base = rows[0]["seconds"]
    print(f"{inputs['layout'].shape[0]:,} items, {len(inputs['head']):,} edges, {inputs['epochs']} epochs; atlas at 2 threads {base / rows[2]['seconds']:.2f}x umap-learn's one; 1 and 2 threads byte-identical: {same}")
    out = Path(opts.out) if opts.out else results_path("umap-epochs")
    out.write_text(json.dumps({"machine": info, "argv": sys.argv[1:], "items": int(inputs["layout"].shape[0]), "edges": int(len(inputs["head"])),
                               "epochs": int(inputs["epochs"]), "rows": rows, "identical_at_1_and_2_threads": same}, indent=1))  # fmt: skip
    print(f"results: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
