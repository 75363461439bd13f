"""Part 3 — end to end: ``Pipeline().build`` with the default parameters on synthetic data:
each stage's time and CPU use (from the build's progress callback) and the peak memory.

A small build runs first in the same process, so that the numba compilation of atlas, UMAP and
pynndescent is not counted; generating the data is not counted either.
"""

from __future__ import annotations

import time

from harness import Runner, code_fingerprint, cores, cpu_seconds, gib, peak_self, say, secs, start_measuring, table


def task_end_to_end(args: dict) -> dict:
    from atlas import Pipeline, synthetic_profiles

    t = time.perf_counter()
    Pipeline().build(synthetic_profiles(2000, 300, mean_profile_length=15, seed=1))
    warm = time.perf_counter() - t
    say(f"end-to-end warm-up build: {warm:.1f}s")
    t = time.perf_counter()
    data = synthetic_profiles(**args["synthetic"])
    gen = time.perf_counter() - t
    mem = start_measuring()
    say(f"generated {len(data.interactions):,} interactions in {gen:.1f}s")

    started: dict = {}
    stage_cpu: dict = {}  # stage -> [CPU seconds, wall seconds], summed over its calls

    def progress(stage, done, total):
        if done == 0:
            started[stage] = (cpu_seconds(children=False), time.perf_counter())
            say(f"stage {stage} …")
        elif done == total and stage in started:
            c0, t0 = started.pop(stage)
            acc = stage_cpu.setdefault(stage, [0.0, 0.0])
            acc[0] += cpu_seconds(children=False) - c0
            acc[1] += time.perf_counter() - t0

    t = time.perf_counter()
    result = Pipeline().build(data, progress=progress)
    total = time.perf_counter() - t
    return {
        "warmup_seconds": warm, "generate_seconds": gen, "total_seconds": total, "timings": result.timings, "stage_cpu": stage_cpu,
        "profiles": result.profiles.summary(), "pair_updates": result.profiles.pair_updates,
        "graph": result.graph.summary(), "metrics": result.metrics, **mem, "peak_rss_self": peak_self(),
    }


def bench_end_to_end(runner: Runner, synthetic: dict, opts, results: dict) -> None:
    print(f"\n== Part 3 — end to end: Pipeline().build on synthetic data {synthetic} ==", flush=True)
    res = runner.run(task_end_to_end, {"synthetic": synthetic}, timeout=opts.e2e_timeout)
    res["code"] = code_fingerprint()
    results["end-to-end"] = res
    if res["status"] != "ok":
        print(f"  {res['status']} after {res['wall']:.0f} s (peak RSS {gib(res['peak_rss'])})")
        return
    p = res["profiles"]
    print(f"  data: {p['users']:,} users, {p['items']:,} items, {p['interactions']:,} interactions, Σ length² = {res['pair_updates']:,}; "
          f"generated in {secs(res['generate_seconds'])} (not part of the build)")
    cpu = res.get("stage_cpu", {})
    rows = [[stage, secs(sec), cores(*cpu[stage]) if stage in cpu else "–"] for stage, sec in res["timings"].items()]
    rows.append(["total (build)", secs(res["total_seconds"]), ""])
    table("end to end: Pipeline().build stage times (one run, after a warm-up build); cores = CPU time / wall time",
          ["stage", "time", "cores"], rows)
    print(f"  peak RSS during the build {gib(res['peak_rss'])} (the generated data alone {gib(res['base_rss'])}; "
          f"peak while generating it {gib(res['load_peak_rss'])}); warm-up build {secs(res['warmup_seconds'])}; "
          f"graph {res['graph']['edges']:,} edges, {res['graph']['components']} component(s); load average {res['load']:.1f}")
