"""The embedding's neighbour search: the partition search (above ``EXACT_ITEMS``), the exact tiled
search and pynndescent in one thread (the route above ``EXACT_ITEMS`` before), in one process,
taking turns, on the SVD embedding of ``bench_items``' planted catalogue.

    .venv/bin/python bench/bench_knn.py --items 300000 --save /tmp/space-300k.npy
    .venv/bin/python bench/bench_knn.py --space /tmp/space-300k.npy --methods partition pynndescent exact
    .venv/bin/python bench/bench_knn.py --space /tmp/space-300k.npy --enlarge 1000000 --methods partition

Reported per round, method and thread count: wall and CPU seconds and the load average before
it. Recall of the k nearest (k = 15 and 90 by default; the item itself not counted) is measured
against the exact search of a seeded sample of queries, whose time is also shown scaled to all
items (the exact search costs the same for every query). The partition search's results at one
and two threads are compared byte for byte. pynndescent's first call in a process includes its
compilation (about 40 s of CPU). ``--enlarge N`` makes N items from the embedding: the items
themselves and copies with Gaussian noise about as far from them as their 10th neighbour,
shuffled and renormalised — a denser catalogue of the same shape.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import ROOT, banner, machine_info

sys.path.insert(0, str(ROOT))


def embedding_space(items: int, seed: int) -> tuple[np.ndarray, str]:
    """The default embedding (48-D SVD, cosine) of a planted catalogue of about ``items`` items."""
    import atlas
    from atlas.build import Build
    from bench_items import task_generate

    with tempfile.TemporaryDirectory() as folder:
        task_generate({"items": items, "seed": seed, "folder": folder})
        data = atlas.load_dataset(Path(folder) / "interactions.parquet", items_path=Path(folder) / "items.csv", label_column="taste")
        embedding = Build(data, atlas.BuildParams()).embedding
    return embedding.space(), embedding.metric


def enlarge(x: np.ndarray, items: int, seed: int) -> np.ndarray:
    """``items`` unit rows: ``x`` and noisy copies of it (see the module's docstring)."""
    from atlas.projections import knn

    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(x.shape[0], min(2000, x.shape[0]), replace=False))
    _, dist = knn.exact_neighbors(x, 10, "cosine", queries=sample)
    sigma = np.sqrt(2 * np.median(dist[:, 10]) / x.shape[1])  # 1 − cos = ‖a − b‖² / 2 for unit rows
    copies = [x] + [x + rng.normal(scale=sigma, size=x.shape).astype(np.float32) for _ in range(-(-items // x.shape[0]) - 1)]
    y = np.concatenate(copies)[:items]
    y = y[rng.permutation(items)]
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def load() -> float:
    return os.getloadavg()[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=40_000, help="catalogue to generate (without --space)")
    ap.add_argument("--space", type=Path, help="a saved embedding (.npy of unit rows, cosine) instead of a new catalogue")
    ap.add_argument("--save", type=Path, help="save the generated embedding here")
    ap.add_argument("--enlarge", type=int, help="enlarge the embedding to this many items")
    ap.add_argument("--k", type=int, nargs="+", default=[15, 90])
    ap.add_argument("--methods", nargs="+", default=["partition", "pynndescent", "exact"], choices=["partition", "pynndescent", "exact"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts of the partition and exact searches")
    ap.add_argument("--sample", type=int, default=2000, help="queries whose exact neighbours measure recall")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import numba
    from threadpoolctl import threadpool_limits

    from atlas.projections import knn

    print(banner("neighbour search", machine_info()), flush=True)
    if args.space:
        x, metric = np.load(args.space), "cosine"
    else:
        x, metric = embedding_space(args.items, args.seed)
        if args.save:
            np.save(args.save, x)
    if args.enlarge:
        x = enlarge(x, args.enlarge, args.seed)
    n = x.shape[0]
    print(f"{n:,} items, {x.shape[1]}-D {metric}, k = {args.k}", flush=True)

    def pynndescent(k: int) -> np.ndarray:
        from pynndescent import NNDescent

        numba.set_num_threads(1)
        index = NNDescent(x, metric="cosine" if metric == "cosine" else "euclidean", n_neighbors=k + 1, random_state=0, n_jobs=1)
        return index.neighbor_graph[0]

    runs = {}
    for k in args.k:
        if "partition" in args.methods:
            for threads in args.threads:
                runs[f"partition, {threads} thread{'s' * (threads > 1)}", k] = lambda k=k, t=threads: knn.partition_neighbors(x, k, metric, threads=t)[0]
        if "pynndescent" in args.methods:
            runs["pynndescent, 1 thread", k] = lambda k=k: pynndescent(k)
        if "exact" in args.methods:
            for threads in args.threads:
                runs[f"exact tiled, {threads} thread{'s' * (threads > 1)}", k] = lambda k=k, t=threads: knn.exact_neighbors(x, k, metric, threads=t)[0]

    queries = np.sort(np.random.default_rng(args.seed).choice(n, min(args.sample, n), replace=False))
    truth = {}
    with threadpool_limits(1, "blas"):
        for k in args.k:
            before, wall = load(), time.perf_counter()
            truth[k] = knn.exact_neighbors(x, k, metric, threads=1, queries=queries)[0]
            seconds = time.perf_counter() - wall
            print(f"exact, {queries.size} queries, 1 thread, k = {k}: {seconds:.1f} s, all {n:,}: ~{seconds * n / queries.size:.0f} s (load {before:.2f})", flush=True)
        for round_ in range(1, args.rounds + 1):
            found = {}
            for (name, k), run in runs.items():
                before, wall, cpu = load(), time.perf_counter(), time.process_time()
                found[name, k] = run()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                recall = np.mean([np.intersect1d(a[1:], b[1:]).size / k for a, b in zip(found[name, k][queries], truth[k])])
                print(f"round {round_}: {name}, k = {k}: wall {wall:.1f} s, CPU {cpu:.1f} s, recall {recall:.5f} (load {before:.2f})", flush=True)
            for k in args.k:
                ones = [found[key] for key in found if key[1] == k and key[0].startswith("partition")]
                if len(ones) > 1:
                    print(f"round {round_}: partition, k = {k}: the same at every thread count: {all(np.array_equal(ones[0], o) for o in ones[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
