"""How faithful are atlas's maps? Its routes against two practitioner scripts, same items, same run.

    .venv/bin/python bench/bench_quality.py                 # every labelled set, 2 seeds
    .venv/bin/python bench/bench_quality.py --seeds 1 --sets demo
    .venv/bin/python bench/bench_quality.py --gowalla       # speed of the default on gowalla (if present)
    .venv/bin/python bench/bench_quality.py --svd-grid      # the grid the svd default was chosen from

Routes: atlas's embedding methods (``svd``, ``als``, ``pymde``) each projected by UMAP and
t-SNE under a few settings, through ``atlas.Pipeline``; and the two scripts a practitioner
would write instead, each ending in ``umap.UMAP(n_neighbors=15, metric="cosine")``:

* ``ALS script``: ``implicit``'s BM25 weighting and ALS (64 factors) of the users × items matrix;
* ``SVD script``: a 64-D ``TruncatedSVD`` of the item × item PPMI matrix.

Per layout, on every labelled set of ``quality_data``: the share of each item's 10 nearest map
neighbours with its label (``label``) and sharing one of its labels (``shares``), the same with
labels shuffled (``shuffled``), the recall of its 10 nearest neighbours in the route's own vectors
(``recall``), trustworthiness against those vectors (``trust``, sampled above 2,000 items) and
the seconds of the embedding and of the projection. Results: bench/results/quality.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import atlas  # noqa: E402
from atlas.embed import EmbedParams, Embedding  # noqa: E402
from atlas.embeddings.als import AlsParams  # noqa: E402
from atlas.embeddings.svd import SvdParams  # noqa: E402
from atlas.metrics import _nearest, trustworthiness  # noqa: E402
from atlas.projections import TsneParams, UmapParams  # noqa: E402

import harness  # noqa: E402
import quality_data  # noqa: E402

GOWALLA = Path("/work/shared/datasets/gowalla/train.txt")
K = 10

EMBEDDINGS = {
    "svd": lambda seed: SvdParams(seed=seed),
    "svd ppmi": lambda seed: SvdParams(weighting="ppmi", dim=64, power=0.5, seed=seed),  # the default before bm25
    "als": lambda seed: AlsParams(seed=seed),
    "pymde": lambda seed: EmbedParams(seed=seed),
}
PROJECTIONS = {
    "umap 15/0.0": lambda seed: UmapParams(n_neighbors=15, min_dist=0.0, seed=seed),
    "umap 15/0.1": lambda seed: UmapParams(n_neighbors=15, min_dist=0.1, seed=seed),
    "umap 50/0.3": lambda seed: UmapParams(n_neighbors=50, min_dist=0.3, seed=seed),
    "tsne p20": lambda seed: TsneParams(perplexity=20, seed=seed),
    "tsne p30": lambda seed: TsneParams(perplexity=30, seed=seed),
}


# -- the practitioner's scripts ----------------------------------------------------------------


def als_script(matrix: sp.csr_matrix, seed: int) -> np.ndarray:
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import bm25_weight

    weighted = bm25_weight(matrix.T.tocoo(), K1=100, B=0.8).T.tocsr().astype(np.float32)
    model = AlternatingLeastSquares(factors=64, regularization=0.05, iterations=15, random_state=seed)
    model.fit(weighted, show_progress=False)
    factors = model.item_factors
    return np.asarray(factors.to_numpy() if hasattr(factors, "to_numpy") else factors, dtype=np.float32)


def svd_script(matrix: sp.csr_matrix, seed: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD

    x = matrix.copy()
    x.data[:] = 1.0
    c = (x.T @ x).tocoo()
    off = c.row != c.col
    r, col, v = c.row[off], c.col[off], c.data[off]
    totals = np.bincount(r, weights=v, minlength=x.shape[1])
    pmi = np.log(v * v.sum() / (totals[r] * totals[col]))
    ppmi = sp.csr_matrix((np.maximum(pmi, 0), (r, col)), shape=(x.shape[1],) * 2)
    return TruncatedSVD(64, random_state=seed).fit_transform(ppmi).astype(np.float32)


def umap_cosine(vectors: np.ndarray, seed: int) -> np.ndarray:
    import warnings

    import umap

    warnings.filterwarnings("ignore", message="n_jobs value")

    return umap.UMAP(n_neighbors=15, metric="cosine", random_state=seed).fit_transform(vectors)


# -- measures ---------------------------------------------------------------------------------


def scores(xy: np.ndarray, space: np.ndarray, label: np.ndarray, labels: list, seed: int) -> dict:
    near = _nearest(xy, K)
    high = _nearest(space, K)
    exact = float((label[near] == label[:, None]).mean())
    shares = float(np.mean([[bool(labels[i] & labels[j]) for j in row] for i, row in enumerate(near)]))
    shuffled = np.random.default_rng(seed).permutation(label)
    recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(near, high)]))
    return {"label": exact, "shares": shares, "shuffled": float((shuffled[near] == shuffled[:, None]).mean()),
            "recall": recall, "trust": trustworthiness(space, xy, n_neighbors=K)}


def run_set(data: quality_data.Labelled, seeds: list[int], log) -> list[dict]:
    pipe = atlas.Pipeline()
    profiles = pipe.profiles(data.data, data.filter)
    ids = profiles.item_ids.astype(str)
    known = np.array([i in data.label for i in ids])
    if not known.all():
        raise SystemExit(f"{data.name}: {int((~known).sum())} items without a label")
    label = np.array([data.label[i] for i in ids])
    labels = [data.labels[i] for i in ids]
    graph = pipe.graph(profiles, pipe.cooccurrence(profiles, atlas.CooccurrenceParams()), atlas.GraphParams())
    rows = []
    for seed in seeds:
        for name, make in EMBEDDINGS.items():
            embedding = pipe.embed(graph, make(seed), profiles=profiles)
            space = embedding.space()
            base = {"set": data.name, "seed": seed, "embedding": name, "embed_s": round(embedding.seconds, 2)}
            high = _nearest(space, K)
            rows.append({**base, "route": f"atlas {name}", "projection": "(vectors)", "label": float((label[high] == label[:, None]).mean())})
            for pname, pmake in PROJECTIONS.items():
                start = time.perf_counter()
                layout = pipe.project(embedding, pmake(seed), graph=graph)
                row = {**base, "route": f"atlas {name}", "projection": pname, "project_s": round(time.perf_counter() - start, 2),
                       **scores(layout.xy, space, label, labels, seed)}
                rows.append(row)
                log(row)
        for name, script in (("ALS script", als_script), ("SVD script", svd_script)):
            start = time.perf_counter()
            vectors = script(profiles.matrix, seed)
            embed_s = time.perf_counter() - start
            space = Embedding(vectors, float("nan"), 0, metric="cosine").space()
            start = time.perf_counter()
            xy = umap_cosine(vectors, seed)
            row = {"set": data.name, "seed": seed, "route": name, "embedding": name, "projection": "umap cosine 15", "embed_s": round(embed_s, 2),
                   "project_s": round(time.perf_counter() - start, 2), **scores(xy, space, label, labels, seed)}
            rows.append(row)
            log(row)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and range over seeds, per set, route and projection."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["projection"] != "(vectors)":
            groups.setdefault((r["set"], r["route"], r["projection"]), []).append(r)
    out = []
    for (name, route, projection), rs in groups.items():
        entry = {"set": name, "route": route, "projection": projection, "seeds": len(rs)}
        for m in ("label", "shares", "shuffled", "recall", "trust", "embed_s", "project_s"):
            values = [r[m] for r in rs]
            entry[m] = round(statistics.fmean(values), 4)
            entry[m + "_range"] = [round(min(values), 4), round(max(values), 4)]
        out.append(entry)
    return out


def verdict(summary: list[dict], default_route: str, default_umap: str, default_tsne: str) -> list[dict]:
    """Per set: the default's UMAP and t-SNE maps against the better script, as ratios of the mean."""
    found = []
    for name in dict.fromkeys(s["set"] for s in summary):
        of = {(s["route"], s["projection"]): s for s in summary if s["set"] == name}
        for measure in ("label", "shares"):
            best = max(of[("ALS script", "umap cosine 15")][measure], of[("SVD script", "umap cosine 15")][measure])
            for kind, projection in (("umap", default_umap), ("tsne", default_tsne)):
                mine = of[(default_route, projection)][measure]
                found.append({"set": name, "measure": measure, "map": kind, "default": mine, "best_script": best, "ratio": round(mine / best, 4)})
    return found


# -- the grid the svd default was chosen from ----------------------------------------------------


def svd_grid(data: quality_data.Labelled) -> list[dict]:
    """Label agreement of the 10 nearest items in the svd vectors themselves (no projection), per
    weighting, context smoothing, dimension and singular-value power; the SVD script beside them."""
    import itertools

    from atlas.embeddings.svd import svd_vectors

    profiles = atlas.Pipeline().profiles(data.data, data.filter)
    label = np.array([data.label[i] for i in profiles.item_ids.astype(str)])

    def agreement(vectors: np.ndarray) -> float:
        near = _nearest(vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12), K)
        return round(float((label[near] == label[:, None]).mean()), 4)

    rows = [{"set": data.name, "route": "SVD script", "vectors_label": agreement(svd_script(profiles.matrix, 0))}]
    for weighting, cds, dim, power in itertools.product(("ppmi", "sppmi", "bm25"), (1.0, 0.75), (32, 48, 64, 128), (0.0, 0.5, 0.75, 1.0)):
        if weighting == "bm25" and cds != 1.0:
            continue  # context smoothing is a PMI setting
        params = SvdParams(weighting=weighting, cds=cds, dim=dim, power=power, shift=2.0)
        rows.append({"set": data.name, "route": f"svd {weighting} cds {cds} dim {dim} power {power}", "vectors_label": agreement(svd_vectors(profiles, params))})
        print(json.dumps(rows[-1]), flush=True)
    return rows


# -- speed on gowalla -------------------------------------------------------------------------


def gowalla_speed(path: Path) -> dict:
    """First map (graph, embedding, UMAP, t-SNE) of the old default (PyMDE 3-D, UMAP 50/0.3,
    t-SNE 30) and of the new default on gowalla, then one projection-parameter change each."""
    data = atlas.load_dataset(path)
    result = {}
    for name, params in (
        ("new default", atlas.BuildParams(projections=(UmapParams(), TsneParams()))),
        ("old default (pymde)", atlas.BuildParams(embed=EmbedParams(), projections=(UmapParams(n_neighbors=50, min_dist=0.3), TsneParams(perplexity=30)))),
    ):
        pipe = atlas.Pipeline()
        start = time.perf_counter()
        profiles = pipe.profiles(data, params.filter)
        graph = pipe.graph(profiles, pipe.cooccurrence(profiles, params.cooccurrence), params.graph)
        embedding = pipe.embed(graph, params.embed, profiles=profiles)
        layouts = {atlas.projections.of(p).name: pipe.project(embedding, p, graph=graph) for p in params.projections}
        first = time.perf_counter() - start
        stages = dict(pipe.timings)
        changes = {}
        for p in params.projections:
            method = atlas.projections.of(p).name
            changed = dataclasses.replace(p, **({"min_dist": p.min_dist + 0.1} if method == "umap" else {"perplexity": p.perplexity + 5}))
            t = time.perf_counter()
            pipe.project(embedding, changed, graph=graph, warm_from=layouts[method])
            changes[method] = round(time.perf_counter() - t, 2)
        result[name] = {"items": profiles.n_items, "first_map_s": round(first, 2), "stages_s": {k: round(v, 2) for k, v in stages.items()}, "change_s": changes}
        print(name, result[name], flush=True)
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--sets", default="demo,ml100k,planted")
    ap.add_argument("--gowalla", nargs="?", const=str(GOWALLA), help="measure the default's speed on gowalla instead")
    ap.add_argument("--svd-grid", action="store_true", help="the svd settings' own label agreement, per set, into the results file")
    ap.add_argument("--out", default=str(harness.RESULTS_DIR / "quality.json"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    loaders = {"demo": quality_data.demo, "ml100k": quality_data.ml100k, "planted": quality_data.planted}
    if args.svd_grid:
        found = [svd_grid(data) for data in (loaders[name]() for name in args.sets.split(",")) if data is not None]
        previous["svd_grid"] = [row for rows in found for row in rows]
        harness.write_results(out, previous)
        return 0
    if args.gowalla:
        previous["gowalla_speed"] = {"machine": harness.machine_info(), "load_average": harness.load_average(), **gowalla_speed(Path(args.gowalla))}
        harness.write_results(out, previous)
        return 0
    wanted = args.sets.split(",")
    rows = []
    for name in wanted:
        data = loaders[name]()
        if data is None:
            print(f"{name}: not available here, skipped", flush=True)
            continue
        rows += run_set(data, list(range(args.seeds)), lambda r: print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}), flush=True))
    summary = summarise(rows)
    default = atlas.BuildParams()
    default_route = "atlas " + atlas.embeddings.of(default.embed).name
    umap_p, tsne_p = default.projection("umap"), default.projection("tsne")
    results = {
        **{k: v for k, v in previous.items() if k in ("gowalla_speed", "svd_grid")},
        "machine": harness.machine_info(),
        "default": {"route": default_route, "umap": [umap_p.n_neighbors, umap_p.min_dist], "tsne_perplexity": tsne_p.perplexity},
        "summary": summary,
        "verdict": verdict(summary, default_route, f"umap {umap_p.n_neighbors}/{umap_p.min_dist}", f"tsne p{tsne_p.perplexity:g}"),
        "rows": rows,
    }
    harness.write_results(out, results)
    header = ["set", "route", "projection", "label@10", "shares@10", "shuffled", "recall@10", "trust", "embed s", "project s"]
    table = [[s["set"], s["route"], s["projection"], f"{s['label']:.3f} ({s['label_range'][0]:.3f}–{s['label_range'][1]:.3f})", f"{s['shares']:.3f}",
              f"{s['shuffled']:.3f}", f"{s['recall']:.3f}", f"{s['trust']:.3f}", f"{s['embed_s']:.1f}", f"{s['project_s']:.1f}"] for s in summary]
    print("\n".join(harness.format_table(header, table)))
    for v in results["verdict"]:
        print(v)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
