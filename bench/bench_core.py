"""Benchmark the core stages: interactions → item graph, co-occurrence throughput, end to end.

    .venv/bin/python bench/bench_core.py                      # everything (takes about an hour)
    .venv/bin/python bench/bench_core.py --quick              # small sizes only, a smoke check
    .venv/bin/python bench/bench_core.py --only graph-movielens
    .venv/bin/python bench/bench_core.py --gowalla ../shared/datasets/gowalla

Parts (``--only`` takes one of these names, or ``graph`` for both graph parts):

``graph-movielens`` / ``graph-gowalla`` (``part_graph.py``)
    The fast item graph (``build_profiles`` → ``cooccurrence_candidates`` →
    ``graph_from_candidates``) against the published recipe as atlas ships it
    (``build_profiles`` → ``recipe_graph``, what ``atlas build --graph-method recipe`` runs) on
    the same filtered profiles and the same k. The recipe runs under a time limit; if it does
    not finish, the figure reported is the bound ``> limit``. The share of the recipe's
    neighbour pairs that the fast graph also holds is reported when it finishes.
``cooccurrence`` (``part_cooccurrence.py``)
    Pair updates per second (Σ profile length², ``Profiles.pair_updates``) of the numba kernel
    (``cooccurrence_candidates``) against scipy's single-threaded ``X.T @ X`` on synthetic
    profiles of about 50M interactions, each repetition in its own process.
``end-to-end`` (``part_end_to_end.py``)
    ``Pipeline().build`` on the same synthetic data: every stage's time and the peak memory.

Every measured step runs in a child process (``harness.Runner``): the parent polls the resident
memory of the child's whole process tree and kills the tree past the time limit or the memory
cap. Times are medians of the repetitions; numba compilation is kept out of the timed calls (a
warm-up call on a tiny input comes first) and reported on its own. Results go to
``bench/results/core-<time>.json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from harness import GIB, ROOT, Runner, banner, code_fingerprint, machine_info, results_path, write_results
from inputs import FULL_SYNTHETIC, QUICK_SYNTHETIC
from part_cooccurrence import bench_cooccurrence
from part_end_to_end import bench_end_to_end
from part_graph import bench_compile, bench_gowalla, bench_movielens

PARTS = ("graph-movielens", "graph-gowalla", "cooccurrence", "end-to-end")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes only (a minute or two), as a smoke check")
    ap.add_argument("--only", choices=(*PARTS, "graph"), help="run one part")
    ap.add_argument("--gowalla", default=str(ROOT.parent / "shared" / "datasets" / "gowalla"), help="gowalla folder (train/valid/test.txt)")
    ap.add_argument("--k", type=int, default=15, help="neighbours per item in the graph (pymde's default for this size: 15)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of the fast graph path")
    ap.add_argument("--recipe-reps", type=int, default=3, help="repetitions of the recipe, while they fit --recipe-budget")
    ap.add_argument("--recipe-budget", type=float, default=600, help="start another recipe repetition only within this many seconds")
    ap.add_argument("--recipe-timeout", type=float, default=1200, help="time limit of one recipe run in seconds (then: > limit)")
    ap.add_argument("--reps-cooccurrence", type=int, default=3, help="rounds of part 2 (each: kernel count, scipy, kernel cosine)")
    ap.add_argument("--scipy-timeout", type=float, default=1800)
    ap.add_argument("--e2e-timeout", type=float, default=3600)
    ap.add_argument("--mem-cap-gb", type=float, default=16, help="kill a measured process tree above this resident memory")
    ap.add_argument("--out", help="JSON output (default bench/results/core-<time>.json)")
    ap.add_argument("--keep-temp", action="store_true", help="keep the temporary data and edge files")
    opts = ap.parse_args(argv)
    if opts.quick:
        opts.reps, opts.recipe_reps, opts.reps_cooccurrence = 3, 3, 3
        opts.recipe_budget = min(opts.recipe_budget, 60)
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    parts = PARTS if opts.only is None else (("graph-movielens", "graph-gowalla") if opts.only == "graph" else (opts.only,))
    synthetic = QUICK_SYNTHETIC if opts.quick else FULL_SYNTHETIC
    workdir = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    runner = Runner(workdir, opts.mem_cap_gb * GIB)
    info = machine_info()
    results: dict = {"machine": info, "quick": opts.quick, "options": vars(opts)}
    print(banner("atlas core benchmark", info) + (" — QUICK" if opts.quick else ""), flush=True)
    out_path = Path(opts.out) if opts.out else results_path("core", "-quick" if opts.quick else "")
    steps = {
        "graph-movielens": lambda: bench_movielens(runner, opts, results),
        "graph-gowalla": lambda: bench_gowalla(runner, opts, results),
        "cooccurrence": lambda: bench_cooccurrence(runner, synthetic, opts, results),
        "end-to-end": lambda: bench_end_to_end(runner, synthetic, opts, results),
    }
    try:
        if any(p.startswith("graph") for p in parts):
            bench_compile(runner, results)
        for part in parts:
            steps[part]()
            write_results(out_path, results)  # each part's figures are kept as soon as it ends
    finally:
        write_results(out_path, results)
        if not opts.keep_temp:
            shutil.rmtree(workdir, ignore_errors=True)
    end = results["machine"]["code_at_end"] = code_fingerprint()
    write_results(out_path, results)
    if end["code_sha256"] != info["code_sha256"]:
        print(f"\nWARNING: the atlas package changed during the run ({info['commit']} → {end['commit']}); each part records the code it ran "
              "against under 'code' in the JSON — rerun the parts that matter.")
    print(f"\nresults: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
