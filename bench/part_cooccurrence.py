"""Part 2 — co-occurrence throughput: ``cooccurrence_candidates`` (numba, 2 threads) against
scipy's single-threaded ``X.T @ X`` on synthetic profiles, in pair updates per second
(Σ profile length², ``Profiles.pair_updates``, the work of any exact count).

Each repetition is its own child process and the methods take turns (kernel count, scipy,
kernel cosine; one round after another), so that a change in the machine's load falls on all
of them alike and each peak memory is the method's own.
"""

from __future__ import annotations

import time

import numpy as np

from harness import GIB, Runner, code_fingerprint, cores, cpu_seconds, gib, median, peak_self, say, secs, start_measuring, table
from inputs import load_profiles, task_prepare_synthetic, warm_numba

METHODS = ("kernel_count", "scipy", "kernel_cosine")  # the order of one round


def task_scipy_xtx(args: dict) -> dict:
    import scipy

    profiles = load_profiles(args["profiles"])
    x = profiles.matrix.astype(np.float32)
    mem = start_measuring()
    times, cpu, nnz, index_bytes = [], [], 0, 0
    for r in range(args["reps"]):
        c = cpu_seconds()
        t = time.perf_counter()
        product = x.T @ x
        times.append(time.perf_counter() - t)
        cpu.append(cpu_seconds() - c)
        nnz, index_bytes = int(product.nnz), product.indices.dtype.itemsize
        del product
        say(f"scipy X.T @ X rep {r + 1}: {times[-1]:.1f}s, {nnz:,} non-zeros")
    return {
        "times": times, "cpu": cpu, "nnz": nnz, "index_bytes": index_bytes, "pair_updates": profiles.pair_updates,
        **mem, "peak_rss_self": peak_self(), "scipy": scipy.__version__,
    }


def task_kernel(args: dict) -> dict:
    import numba

    from atlas import CooccurrenceParams, cooccurrence_candidates

    warm = warm_numba()
    if args.get("threads"):
        numba.set_num_threads(args["threads"])
    profiles = load_profiles(args["profiles"])
    params = CooccurrenceParams(weighting=args["weighting"])
    mem = start_measuring()
    times, cpu = [], []
    for _ in range(args["reps"]):
        c = cpu_seconds()
        t = time.perf_counter()
        cand = cooccurrence_candidates(profiles, params)
        times.append(time.perf_counter() - t)
        cpu.append(cpu_seconds() - c)
        del cand
        say(f"kernel {args['weighting']}: {times[-1]:.1f}s, {cpu[-1] / times[-1]:.2f} cores busy")
    return {
        "times": times, "warmup_seconds": warm, "threads": numba.get_num_threads(), "n_candidates": params.n_candidates,
        "pair_updates": profiles.pair_updates, **mem, "peak_rss_self": peak_self(), "cpu": cpu,
    }


def merge_runs(runs: list[dict]) -> dict:
    """One record from several single-repetition child runs of the same task."""
    ok = [r for r in runs if r["status"] == "ok"]
    if not ok:
        return runs[-1]
    merged = dict(ok[-1])
    merged["times"] = [t for r in ok for t in r["times"]]
    merged["cpu"] = [c for r in ok for c in r["cpu"]]
    merged["peak_rss"] = max(r["peak_rss"] for r in ok)
    merged["base_rss"] = max(r["base_rss"] for r in ok)
    merged["loads"] = [r["load"] for r in ok]
    merged["failed_runs"] = [r["status"] for r in runs if r["status"] != "ok"]
    return merged


def bench_cooccurrence(runner: Runner, synthetic: dict, opts, results: dict) -> None:
    path = runner.workdir / "synthetic-profiles.npz"
    prep = runner.run(task_prepare_synthetic, {"synthetic": synthetic, "profiles_out": str(path)})
    if prep["status"] != "ok":
        print(f"  could not generate the synthetic data: {prep['status']}")
        return
    print("\n== Part 2 — co-occurrence throughput: numba kernel vs scipy X.T @ X ==", flush=True)
    print(f"  data: {prep['users']:,} users, {prep['items']:,} items, {prep['interactions']:,} interactions, "
          f"Σ length² = {prep['pair_updates']:,}", flush=True)
    out: dict = {"data": prep, "code": code_fingerprint()}
    results["cooccurrence"] = out
    runs: dict[str, list] = {key: [] for key in METHODS}
    for _ in range(opts.reps_cooccurrence):
        for key, bucket in runs.items():
            if key == "scipy":
                if any(r["status"] == "timeout" for r in bucket):
                    continue
                res = runner.run(task_scipy_xtx, {"profiles": str(path), "reps": 1}, timeout=opts.scipy_timeout)
            else:
                res = runner.run(task_kernel, {"profiles": str(path), "weighting": key.split("_")[1], "reps": 1, "threads": 2},
                                 timeout=opts.scipy_timeout)
            bucket.append(res)
    out.update({key: merge_runs(value) for key, value in runs.items()})
    _report(out, prep["pair_updates"])


def _report(out: dict, pu: int) -> None:
    sc = out["scipy"]
    sc_med = median(sc["times"]) if sc["status"] == "ok" else None
    if sc_med:
        sc["median"], sc["pair_updates_per_second"] = sc_med, pu / sc_med
    rows = []
    for key, label in (("kernel_count", "numba kernel, count"), ("kernel_cosine", "numba kernel, cosine")):
        r = out[key]
        if r["status"] != "ok":
            rows.append([label, r["status"], "", "", "", "", "", ""])
            continue
        med = r["median"] = median(r["times"])
        r["pair_updates_per_second"] = pu / med
        if sc_med:
            r["speedup_vs_scipy"] = sc_med / med
            r["speedup_per_round"] = [s / t for s, t in zip(sc["times"], r["times"])]  # against scipy in the same round
            ratio = f"{sc_med / med:.1f}×"
        else:
            ratio = f"> {sc['wall'] / med:.1f}×" if sc["status"] == "timeout" else "–"
        rows.append([f"{label} ({r['threads']} threads)", secs(med), len(r["times"]), cores(median(r["cpu"]), med),
                     f"{pu / med / 1e9:.2f} G/s", gib(r["peak_rss"]), gib(r["peak_rss"] - r["base_rss"]), ratio])
    if sc["status"] == "ok":
        rows.append(["scipy X.T @ X (1 thread)", secs(sc_med), len(sc["times"]), cores(median(sc["cpu"]), sc_med),
                     f"{pu / sc_med / 1e9:.2f} G/s", gib(sc["peak_rss"]), gib(sc["peak_rss"] - sc["base_rss"]), "1×"])
    else:
        rows.append(["scipy X.T @ X (1 thread)", f"{sc['status']} after {sc['wall']:.0f} s", 0, "–", "–", gib(sc["peak_rss"]), "–", "1×"])
    table("co-occurrence: medians; pair updates per second = Σ length² / time; cores = CPU time / wall time; peak RSS",
          ["method", "time", "reps", "cores", "pair updates/s", "peak RSS", "above data", "speed-up"], rows)
    for key in ("kernel_count", "kernel_cosine"):
        r = out[key]
        if r.get("speedup_per_round"):
            print(f"  {key.split('_')[1]}: speed-up round by round " + ", ".join(f"{x:.1f}×" for x in r["speedup_per_round"])
                  + "; 1-min load average at each kernel run " + ", ".join(f"{x:.1f}" for x in r["loads"]))
    if sc["status"] == "ok":
        print(f"  scipy's product has {sc['nnz']:,} non-zeros ({sc['nnz'] * (4 + sc['index_bytes']) / GIB:.2f} GiB of values + indices); "
              f"the kernel keeps {out['kernel_count'].get('n_candidates', '?')} candidates per item")
