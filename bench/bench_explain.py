"""What the reasons for neighbours and the per-item faithfulness add to a build, and how torn maps are.

For each data set (the MovieLens demo; gowalla from ../shared/datasets when it is there) a
default build runs once (every stage, no disk cache), then the two additions of ``atlas.explain``
are timed alone, ``--reps`` times each: the shared-user counts of every exported neighbour pair
(``neighbor_reasons``) and the faithfulness of the exported layout. The ratio is their median
time over the build's own time (stages + export without them), measured in the same process.

    python bench/bench_explain.py [--reps 5] [--no-gowalla]

Writes ``bench/results/explain-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GOWALLA = ROOT.parent / "shared" / "datasets" / "gowalla"


def gowalla():
    from atlas import Dataset, from_arrays, load_interactions

    users, items = [], []
    for name in ("train.txt", "valid.txt", "test.txt"):
        if (GOWALLA / name).exists():
            part = load_interactions(GOWALLA / name)
            users.append(part.user_ids[part.user])
            items.append(part.item_ids[part.item])
    return Dataset(from_arrays(np.concatenate(users), np.concatenate(items), fingerprint="gowalla-bench"))


def measure(name: str, data, reps: int) -> dict:
    import atlas
    from atlas.explain import faithfulness, neighbor_reasons, torn_summary
    from atlas.export import export_layout

    params = atlas.BuildParams()
    start = time.perf_counter()
    result = atlas.Pipeline().build(data, params)
    build = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        export_layout(out, result, data)
        export = time.perf_counter() - start
    graph, projection = result.graph, result.params.exported
    n, k = graph.neighbors.shape
    rows, cols, ranks = np.repeat(np.arange(n), k), graph.neighbors.ravel(), np.tile(np.arange(k), n)
    ok = cols >= 0
    pair_weight = result.params.cooccurrence.pair_weight

    def timed(work) -> list[float]:
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return times

    reasons_s = timed(lambda: neighbor_reasons(result.profiles, result.candidates, rows[ok], cols[ok], ranks[ok], pair_weight))
    faithful_s = timed(lambda: faithfulness(graph.neighbors, result.layouts[projection].xy))
    added = statistics.median(reasons_s) + statistics.median(faithful_s)
    baseline = build + export - added  # the export above already did both once
    per_projection = {p: torn_summary(faithfulness(graph.neighbors, lay.xy)) for p, lay in result.layouts.items()}
    reasons = neighbor_reasons(result.profiles, result.candidates, rows[ok], cols[ok], ranks[ok], pair_weight)
    row = {
        "dataset": name,
        "items": int(result.profiles.n_items),
        "interactions": int(result.profiles.n_interactions),
        "pairs": int(ok.sum()),
        "build_and_export_s": build + export,
        "reasons_s": statistics.median(reasons_s),
        "faithfulness_s": statistics.median(faithful_s),
        "added_s": added,
        "added_share": added / baseline,
        "median_shared_users": float(np.median(reasons.shared_users)),
        "median_lift": float(np.median(reasons.lift)),
        "faithfulness": per_projection,
        "knn_recall": {p: m.get("knn_recall") for p, m in result.metrics.items()},
    }
    print(
        f"{name}: {row['items']:,} items, {row['pairs']:,} pairs; build+export {row['build_and_export_s']:.1f}s, reasons "
        f"{row['reasons_s'] * 1000:.0f} ms, faithfulness {row['faithfulness_s'] * 1000:.0f} ms: +{row['added_share']:.2%}; "
        + "; ".join(f"{p}: {s['text']} (median {s['median']:.1f})" for p, s in per_projection.items()),
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-gowalla", action="store_true")
    args = parser.parse_args()
    import atlas

    rows = [measure("movielens demo", atlas.demo_movielens(), args.reps)]
    if not args.no_gowalla and GOWALLA.is_dir():
        rows.append(measure("gowalla", gowalla(), args.reps))
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = results / f"explain-{stamp}.json"
    path.write_text(json.dumps({"created": stamp, "reps": args.reps, "rows": rows}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
