"""Co-occurrence alone on the catalogue of ``bench_items.py`` (``atlas.demo``'s planted model) at
a few sizes: this checkout's ``cooccurrence_candidates`` against scipy's single-threaded
``X.T @ X`` and, with ``--baseline DIR``, against the same function of another checkout (say
``git worktree add --detach /tmp/base <commit>``), all taking turns in one process, so that a
change in the machine's load falls on every method alike.

    .venv/bin/python bench/bench_cooc_sizes.py --sizes 25k 100k --baseline /tmp/base
    .venv/bin/python bench/bench_cooc_sizes.py --sizes synthetic --baseline /tmp/base   # part 2's data

``synthetic`` is the data of ``bench_core.py``'s part 2 (``inputs.FULL_SYNTHETIC``: 49M
interactions of 20k items; generating it takes about 30 s and 7 GiB).

Per size and method: the median wall time of ``--reps`` calls (after one untimed call that
compiles or loads numba's cache), the median CPU time, pair updates per second (Σ profile
length², ``Profiles.pair_updates``) and the ratio to scipy in the same run; whether the baseline's
candidates are identical (index, score and count, ``np.array_equal``); the 1-minute load average
before and after. The data generation is not timed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import types
from pathlib import Path

import numpy as np

from bench_items import MEAN_LENGTH, N_TASTES, SIZES, USERS_PER_ITEM
from inputs import FULL_SYNTHETIC


def planted_profiles(n_items: int, seed: int = 0):
    """bench_items' catalogue of ``n_items`` items, filtered with the default filters."""
    from atlas import FilterParams, build_profiles, from_arrays
    from atlas.demo import _ItemModel

    rng = np.random.default_rng(seed)
    model = _ItemModel.draw(rng, n_items, N_TASTES, 0.8)
    users, items = model.profiles(rng, USERS_PER_ITEM * n_items, MEAN_LENGTH, 2.5, 1000, 0.85)
    return build_profiles(from_arrays(users, items), FilterParams())


def profiles_of(size: str):
    if size == "synthetic":
        from atlas import FilterParams, build_profiles, synthetic_profiles

        return build_profiles(synthetic_profiles(**FULL_SYNTHETIC), FilterParams())
    return planted_profiles(SIZES[size])


def baseline_module(folder: str):
    """``atlas.cooccur`` of the checkout in ``folder``, as the package ``atlas_baseline`` (its
    ``__init__`` is not run: the module's relative imports load what it needs from there)."""
    package = types.ModuleType("atlas_baseline")
    package.__path__ = [str(Path(folder) / "atlas")]
    sys.modules["atlas_baseline"] = package
    return importlib.import_module("atlas_baseline.cooccur")


def timed(fn) -> tuple[float, float, object]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def measure(profiles, methods: dict, reps: int) -> dict:
    for name, fn in methods.items():
        if name != "scipy":
            fn()  # numba: compile or load the cache
    walls: dict = {k: [] for k in methods}
    cpus: dict = {k: [] for k in methods}
    results: dict = {}
    for _ in range(reps):
        for name, fn in methods.items():
            wall, cpu, results[name] = timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {"wall": walls, "cpu": cpus, "results": results}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["25k", "100k"], choices=[*SIZES, "synthetic"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--weighting", default="cosine")
    ap.add_argument("--baseline", help="another checkout whose kernel to time alongside")
    opts = ap.parse_args(argv)

    import numba

    from atlas import CooccurrenceParams, cooccurrence_candidates

    params = CooccurrenceParams(weighting=opts.weighting)
    base = baseline_module(opts.baseline) if opts.baseline else None
    print(f"{numba.get_num_threads()} numba threads; {opts.weighting}; medians of {opts.reps}", flush=True)
    for size in opts.sizes:
        profiles = profiles_of(size)
        x = profiles.matrix.astype(np.float32)
        methods = {"kernel": lambda: cooccurrence_candidates(profiles, params)}
        if base is not None:
            methods["baseline"] = lambda: base.cooccurrence_candidates(profiles, base.CooccurrenceParams(weighting=opts.weighting))
        methods["scipy"] = lambda: (x.T @ x).nnz
        load = os.getloadavg()[0]
        out = measure(profiles, methods, opts.reps)
        pu = profiles.pair_updates
        print(f"{size}: {profiles.n_items:,} items, {profiles.matrix.nnz:,} interactions, {pu / 1e6:,.0f}M pair updates; "
              f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
        scipy = float(np.median(out["wall"]["scipy"]))
        for name in methods:
            wall, cpu = float(np.median(out["wall"][name])), float(np.median(out["cpu"][name]))
            print(f"  {name:9s} {wall:7.2f} s (CPU {cpu:6.2f} s)  {pu / wall / 1e9:5.3f} G pair updates/s  {scipy / wall:5.2f}× scipy", flush=True)
        if base is not None:
            a, b = out["results"]["kernel"], out["results"]["baseline"]
            same = all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("index", "score", "count"))
            print(f"  kernel / baseline: {np.median(out['wall']['baseline']) / np.median(out['wall']['kernel']):.2f}× faster; "
                  f"identical candidates: {same}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
