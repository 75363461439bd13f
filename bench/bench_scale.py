"""Benchmark the data-lake paths: streamed builds larger than memory, and co-occurrence on Spark.

    .venv/bin/python bench/bench_scale.py                       # everything (hours on 2 cores)
    .venv/bin/python bench/bench_scale.py --quick               # 1M interactions only, a smoke check
    .venv/bin/python bench/bench_scale.py --only scale --sizes 1M 10M 50M 200M
    .venv/bin/python bench/bench_scale.py --only spark --spark-parts engine cores

Parts: ``scale`` (``part_scale.py``: whole builds streamed from Parquet, time and peak memory per
stage) and ``spark`` (``part_spark.py``: the stage on Spark against the numba kernel, ``local[1]``
against ``local[2]``, item blocks, formulations). Every measured step runs in a child process
under a memory cap (``harness.Runner``). Results go to ``bench/results/scale-<time>.json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from harness import GIB, Runner, banner, code_fingerprint, machine_info, results_path, write_results
from part_scale import SIZES, bench_scale
from part_spark import bench_spark

PARTS = ("scale", "spark")
SPARK_PARTS = ("engine", "cores", "partitions", "formulation", "dimsum")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1M interactions everywhere, one repetition")
    ap.add_argument("--only", choices=PARTS, help="run one part")
    ap.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=list(SIZES), help="sizes of the scale part")
    ap.add_argument("--stream-only", action="store_true", help="skip the in-memory route of the scale part")
    ap.add_argument("--spark-parts", nargs="+", choices=SPARK_PARTS, default=list(SPARK_PARTS[:-1]), help="dimsum (MLlib's, for comparison) only when named")
    ap.add_argument("--engine-size", choices=tuple(SIZES), default="50M")
    ap.add_argument("--cores-size", choices=tuple(SIZES), default="10M")
    ap.add_argument("--partitions-size", choices=tuple(SIZES), default="10M")
    ap.add_argument("--formulation-size", choices=tuple(SIZES), default="1M")
    ap.add_argument("--spark-reps", type=int, default=1, help="repetitions of each master in the cores comparison")
    ap.add_argument("--scale-timeout", type=float, default=3 * 3600)
    ap.add_argument("--spark-timeout", type=float, default=2 * 3600)
    ap.add_argument("--mem-cap-gb", type=float, default=18, help="kill a measured process tree above this resident memory")
    ap.add_argument("--workdir", help="where the generated logs go (default: a temporary folder, deleted at the end)")
    ap.add_argument("--out", help="JSON output (default bench/results/scale-<time>.json)")
    opts = ap.parse_args(argv)
    if opts.quick:
        opts.sizes = ["1M"]
        opts.engine_size = opts.cores_size = opts.partitions_size = opts.formulation_size = "1M"
        opts.spark_reps = 1
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    parts = PARTS if opts.only is None else (opts.only,)
    workdir = Path(opts.workdir) if opts.workdir else Path(tempfile.mkdtemp(prefix="atlas-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runner = Runner(workdir, opts.mem_cap_gb * GIB)
    info = machine_info()
    results: dict = {"machine": info, "quick": opts.quick, "options": vars(opts)}
    print(banner("atlas scale benchmark", info) + (" — QUICK" if opts.quick else ""), flush=True)
    out_path = Path(opts.out) if opts.out else results_path("scale", "-quick" if opts.quick else "")
    try:
        for part in parts:
            (bench_scale if part == "scale" else bench_spark)(runner, opts, results)
            write_results(out_path, results)
    finally:
        write_results(out_path, results)
        if not opts.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results["machine"]["code_at_end"] = code_fingerprint()
    write_results(out_path, results)
    print(f"\nresults: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
