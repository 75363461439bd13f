"""The embedding's neighbour search: the exact tiled search against pynndescent, in one process,
taking turns, on the SVD embedding of ``bench_items``' planted catalogue.

    .venv/bin/python bench/bench_knn.py --items 40000 --k 90 --rounds 2

Reported per round and method: wall and CPU seconds, and the recall of pynndescent's neighbours
against the exact ones. pynndescent's first call in the process includes its compilation.
"""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=40_000)
    ap.add_argument("--k", type=int, default=90)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import numba
    from pynndescent import NNDescent
    from threadpoolctl import threadpool_limits

    from atlas.projections import knn

    print(banner("neighbour search", machine_info()), flush=True)
    x, metric = embedding_space(args.items, args.seed)
    print(f"{x.shape[0]:,} items, {x.shape[1]}-D {metric}, k = {args.k}", flush=True)

    def pynndescent(threads: int) -> np.ndarray:
        numba.set_num_threads(threads)
        index = NNDescent(x, metric="cosine" if metric == "cosine" else "euclidean", n_neighbors=args.k + 1, random_state=0, n_jobs=threads)
        return index.neighbor_graph[0]

    methods = {
        "exact tiled, 2 threads": lambda: knn.exact_neighbors(x, args.k, metric, threads=2)[0],
        "pynndescent, 2 threads": lambda: pynndescent(2),
        "pynndescent, 1 thread": lambda: pynndescent(1),
    }
    found = {}
    with threadpool_limits(1, "blas"):
        for round_ in range(1, args.rounds + 1):
            for name, run in methods.items():
                wall, cpu = time.perf_counter(), time.process_time()
                found[name] = run()
                print(f"round {round_}: {name}: wall {time.perf_counter() - wall:.1f} s, CPU {time.process_time() - cpu:.1f} s", flush=True)
    exact = found["exact tiled, 2 threads"]
    for name in list(methods)[1:]:
        recall = np.mean([np.intersect1d(a, b).size / (args.k + 1) for a, b in zip(found[name][::7], exact[::7])])
        print(f"{name}: recall against exact {recall:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
