"""Stable rebuilds on the MovieLens demo: how far do shared items move when the map is rebuilt?

    .venv/bin/python bench/bench_align.py                # one round, about 3 minutes
    .venv/bin/python bench/bench_align.py --repeats 3    # three different 10% of users removed

1. build the demo with seed 0 and export it (the old map);
2. remove 10% of the users (a seeded draw; a different one per repeat) and rebuild with seed 1
   twice in the same run: aligned to the old export (``anchor=``, what ``--align-to`` does) and
   not aligned;
3. measure the shared items' displacement as a share of the old map's diameter: for the aligned
   build as it is; for the unaligned one both as it comes out (centred) and after the best
   similarity transform onto the old map (Procrustes on the shared items, the fairest baseline);
4. compare map quality (kNN recall, trustworthiness) of the aligned build with the unaligned one.

Every figure comes from the same run; the aligned/unaligned quality is given as a ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile

import numpy as np

from harness import ROOT, banner, machine_info, median, results_path, table, write_results

sys.path.insert(0, str(ROOT))

import atlas  # noqa: E402
from atlas.align import align_onto, displacements, map_diameter, match, read_anchor  # noqa: E402
from atlas.plan import build_params  # noqa: E402


def without_users(data: atlas.Dataset, share: float, seed: int) -> atlas.Dataset:
    """The demo with ``share`` of its users (a seeded draw) and their ratings removed."""
    inter = data.interactions
    rng = np.random.default_rng(seed)
    dropped = rng.choice(inter.n_users, int(round(share * inter.n_users)), replace=False)
    keep = ~np.isin(inter.user, dropped)
    fewer = atlas.from_arrays(
        inter.user_ids[inter.user[keep]], inter.item_ids[inter.item[keep]], inter.weight[keep], fingerprint=f"{inter.fingerprint}-without-{share}-{seed}"
    )
    return dataclasses.replace(data, interactions=fewer)


def one_round(pipe: atlas.Pipeline, data: atlas.Dataset, old_dir: str, drop_seed: int, compare: str) -> dict:
    params = build_params({"seed": 1, "compare": compare}, demo=True)
    fewer = without_users(data, 0.10, drop_seed)
    anchor = read_anchor(old_dir)
    aligned = pipe.build(fewer, params, anchor=anchor)
    free = pipe.build(fewer, params)
    found = match(anchor, aligned.profiles.item_ids)
    diameter = map_diameter(anchor.xy)
    row = {"drop_seed": drop_seed, "shared": int(found.shared.sum()), "new": int((~found.shared).sum()), "dropped": aligned.alignment["dropped_items"]}
    for name in params.names:
        a_xy, f_xy = aligned.layouts[name].xy, free.layouts[name].xy
        # the free layout as it comes out (only centred, like every layout) and turned onto the old map
        row[f"{name}_aligned"] = float(np.median(displacements(a_xy, found)) / diameter)
        row[f"{name}_free_raw"] = float(np.median(displacements(f_xy - f_xy.mean(axis=0) + anchor.xy.mean(axis=0), found)) / diameter)
        row[f"{name}_free_procrustes"] = float(np.median(displacements(align_onto(f_xy, found), found)) / diameter)
        for metric in ("knn_recall", "trustworthiness"):
            row[f"{name}_{metric}_aligned"] = aligned.metrics[name][metric]
            row[f"{name}_{metric}_free"] = free.metrics[name][metric]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="rounds, each removing another 10%% of the users")
    parser.add_argument("--compare", default="umap,tsne", help="projections to measure (the first is the exported one)")
    parser.add_argument("--cache-dir", default=None, help="stage cache (default: a temporary folder)")
    args = parser.parse_args()
    info = machine_info()
    print(banner("stable rebuilds on the MovieLens demo", info))
    data = atlas.demo_movielens()
    with tempfile.TemporaryDirectory(prefix="atlas-align-") as scratch:
        pipe = atlas.Pipeline(cache_dir=args.cache_dir or f"{scratch}/cache")
        first = pipe.build(data, build_params({"seed": 0, "compare": args.compare}, demo=True))
        atlas.export_layout(f"{scratch}/old", first, data)
        rows = [one_round(pipe, data, f"{scratch}/old", seed, args.compare) for seed in range(args.repeats)]
    names = args.compare.split(",")
    header = ["layout", "aligned", "free, Procrustes", "free, raw", "kNN recall aligned/free", "trustworthiness aligned/free"]
    out = []
    for name in names:
        def mid(key):
            return median([r[key] for r in rows])

        out.append(
            [
                name,
                f"{mid(f'{name}_aligned'):.1%}",
                f"{mid(f'{name}_free_procrustes'):.1%}",
                f"{mid(f'{name}_free_raw'):.1%}",
                f"{mid(f'{name}_knn_recall_aligned') / mid(f'{name}_knn_recall_free'):.3f}",
                f"{mid(f'{name}_trustworthiness_aligned') / mid(f'{name}_trustworthiness_free'):.4f}",
            ]
        )
    counts = rows[0]
    table(
        f"median displacement of shared items, share of the old map's diameter (median of {len(rows)} round(s); "
        f"{counts['shared']} shared, {counts['new']} new, {counts['dropped']} gone in the first)",
        header,
        out,
    )
    path = results_path("align")
    write_results(path, {"machine": info, "rounds": rows})
    print(f"raw numbers: {path}")


if __name__ == "__main__":
    main()
