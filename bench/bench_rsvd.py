"""The SVD embedding's randomized SVD: scikit-learn's against atlas's shared-out sparse products.

Both run in one process, taking turns, on a users × items matrix shaped like the catalogue
benchmark's (``bench_items.py``: skewed item popularity, about 50 interactions per item, BM25
weights), and must give the same bytes:

    .venv/bin/python bench/bench_rsvd.py --items 300000              # about 15 M non-zeros
    .venv/bin/python bench/bench_rsvd.py --items 1000000 --rounds 1  # about 49 M: 4 GiB of memory

Reported: wall seconds of each (the median of the rounds), the ratio to scikit-learn's, and the
load average; raw numbers go to ``bench/results/rsvd-<time>.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from harness import ROOT, banner, load_average, machine_info, median, results_path, table, write_results

sys.path.insert(0, str(ROOT))


def catalogue_matrix(items: int, seed: int = 0) -> sp.csr_matrix:
    """Users × items with BM25 weights: 1.6 users per item, Zipf-like popularity, ~50 per item."""
    from atlas.embeddings.svd import document_weighted

    rng = np.random.default_rng(seed)
    users = int(items * 1.6)
    nnz = items * 50
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    popularity /= popularity.sum()
    item = rng.choice(items, size=nnz, p=popularity)
    user = rng.integers(0, users, size=nnz)
    m = sp.csr_matrix((np.ones(nnz), (user, item)), shape=(users, items))
    m.sum_duplicates()
    m.data[:] = 1.0
    return document_weighted(m, "bm25")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--dim", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from sklearn.utils.extmath import randomized_svd
    from threadpoolctl import threadpool_limits

    from atlas.embeddings import rsvd

    info = machine_info()
    print(banner("randomized SVD benchmark", info), flush=True)
    m = catalogue_matrix(args.items)
    print(f"matrix {m.shape[0]:,} × {m.shape[1]:,}, {m.nnz:,} non-zeros", flush=True)
    runs = {"scikit-learn": [], "atlas, 1 thread": [], "atlas, 2 threads": []}
    loads = [load_average()]
    with threadpool_limits(1, "blas"):  # as in the embedding stage
        for _ in range(args.rounds):
            start = time.perf_counter()
            want = randomized_svd(m, args.dim, n_iter=7, random_state=0)
            runs["scikit-learn"].append(time.perf_counter() - start)
            for threads in (1, 2):
                start = time.perf_counter()
                got = rsvd.randomized_svd(m, args.dim, n_iter=7, seed=0, threads=threads)
                runs[f"atlas, {threads} thread{'s' * (threads > 1)}"].append(time.perf_counter() - start)
                if any(a.tobytes() != b.tobytes() for a, b in zip(got, want)):
                    raise SystemExit(f"atlas's SVD with {threads} threads differs from scikit-learn's")
            loads.append(load_average())
    base = median(runs["scikit-learn"])
    rows = [[name, f"{median(v):.1f}", f"{base / median(v):.2f}×"] for name, v in runs.items()]
    table(f"{m.shape[0]:,} users × {m.shape[1]:,} items, {m.nnz:,} non-zeros, {args.dim} components; load average {min(loads):.1f}–{max(loads):.1f}; identical bytes",
          ["SVD", "wall (s)", "speed-up"], rows)  # fmt: skip
    out = results_path("rsvd")
    write_results(out, {"machine": info, "argv": sys.argv[1:], "shape": list(m.shape), "nnz": int(m.nnz), "runs": runs, "load": loads})
    print(f"raw: {Path(out).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
