"""Choosing the rule that lets a value name a region (atlas/naming.py: share ≥ S and lift ≥ L).

Generated truth: a block graph of 12 blocks of 80 items; in two blocks of three every item
carries its block's genre with probability 0.6 (the truth; the third block has none), a decoy genre found only in block b on 6% of its
items (a high lift, rare: what named "Film-Noir" regions), and a common genre everywhere. For each
rule: the share of regions named by their true genre, and by a decoy. On the MovieLens demo: how
many regions a value names, and the median and lowest share of that value in its region.

    python bench/bench_regions.py        # writes bench/results/regions.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atlas.naming import NameRule, item_values  # noqa: E402
from atlas.regions import RegionParams, name_regions  # noqa: E402

RULES = [(0.0, 1.0), (0.0, 1.5), (0.1, 1.5), (0.25, 1.2), (0.25, 1.5), (0.25, 2.0), (0.4, 1.5)]


def generated(seed: int, blocks: int = 12, per: int = 80):
    rng = np.random.default_rng(seed)
    block = np.repeat(np.arange(blocks), per)
    n = block.size
    p = np.where(block[:, None] == block[None, :], 0.15, 0.004)
    upper = np.triu(rng.random((n, n)) < p, k=1)
    adjacency = sparse.csr_matrix((upper | upper.T).astype(np.float32))
    genres = []
    for b in block:
        shared = b % 3 != 0  # a third of the blocks share no genre: nothing true names them
        held = ["Drama"] + ([f"true{b}"] if shared and rng.random() < 0.6 else []) + ([f"decoy{b}"] if rng.random() < 0.06 else [])
        genres.append("|".join(held))
    return adjacency, block, pd.DataFrame({"genres": genres})


def score_generated(rule: NameRule, seeds=(0, 1, 2)) -> dict:
    true = decoy = total = 0
    truthless = truthless_decoy = 0
    for seed in seeds:
        adjacency, block, meta = generated(seed)
        names = np.array([f"item {i}" for i in range(len(block))])
        found = name_regions(adjacency, RegionParams(levels=1, min_region_size=40), values=item_values(meta), names=names, popularity=np.ones(len(block)), rule=rule)
        for row in found.table.itertuples():
            b = int(np.bincount(block[found.labels[:, 0] == row.region_id]).argmax())
            total += 1
            true += f"true{b}" in row.name
            decoy += "decoy" in row.name
            truthless += b % 3 == 0
            truthless_decoy += b % 3 == 0 and "decoy" in row.name
    named_right = (true + truthless - truthless_decoy) / total
    return {"regions": total, "named_true": true / total, "named_by_decoy": decoy / total, "right": named_right}


def score_demo(rules) -> dict:
    import atlas
    from atlas.demo import demo_movielens
    from atlas.plan import build_params
    from atlas.profiles import item_frame, item_names

    data = demo_movielens()
    params = build_params({}, demo=True)
    build = atlas.Build(data, params, cache_dir=Path.home() / ".cache" / "atlas-bench-regions")
    profiles, graph = build.profiles, build.graph
    names = item_names(profiles, data)
    values = params.regions.values(item_frame(profiles, data), names, ("item_id", "n_users", data.name_column))
    out = {}
    for s, lift in rules:
        found = name_regions(graph.adjacency(), params.regions, values=values, names=names, popularity=profiles.item_users, rule=NameRule(s, lift))
        t = found.table
        named = t["share"].notna()
        out[f"share>={s},lift>={lift}"] = {
            "regions": int(len(t)), "named_by_a_value": float(named.mean()),
            "median_share": float(t.loc[named, "share"].median()), "lowest_share": float(t.loc[named, "share"].min()),
            "items_in_regions": float((found.labels[:, -1] >= 0).mean()),
        }  # fmt: skip
    return out


def main() -> None:
    generated_scores = {f"share>={s},lift>={lift}": score_generated(NameRule(s, lift)) for s, lift in RULES}
    result = {"generated": generated_scores, "demo": score_demo(RULES)}
    out = Path(__file__).parent / "results" / "regions.json"
    out.write_text(json.dumps(result, indent=1))
    for part, rows in result.items():
        print(part)
        for rule, row in rows.items():
            print(f"  {rule:24s} " + "  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
