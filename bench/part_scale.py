"""Part — larger than memory: whole builds of synthetic logs of 1M, 10M, 50M and 200M
interactions (22,000 items, profile lengths of the same law at every size, users in proportion:
1.4M at 200M), each read from Parquet and streamed (``atlas.scan``), with each stage's time and
peak memory. At the sizes where the in-memory route still fits, it runs too, on the same file and
in the same run, for the ratio of their peaks.

The data is written first (``atlas.demo.synthetic_parquet``, a folder of files; plus one file for
the in-memory route), in its own child process, and is not counted. A build runs in its own child:
a small warm-up build first (numba compilation), then the measured ``Pipeline().build`` with the
default parameters and one projection (UMAP: the stages after the graph depend on the number of
items, 22,000 at every size, not on the interactions; part 3 of ``bench_core.py`` times them all).
PyMDE runs with one torch thread: with other jobs on the two cores, its two threads meet at a
barrier every iteration and the embedding of 22,000 items took 8 minutes instead of seconds.
Per stage: wall time, and the process's peak resident memory during that
stage (``VmHWM`` reset when the stage starts); the whole child's peak (its process tree, polled)
is the build's peak.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import GIB, Runner, code_fingerprint, gib, say, secs, table

N_ITEMS = 22_000
MEAN_LENGTH = 155.0  # about 143 interactions a user after the law's cap: 200M rows for 1.4M users
USERS_PER_200M = 1_400_000
SIZES = {"1M": 1_000_000, "10M": 10_000_000, "50M": 50_000_000, "200M": 200_000_000}
MEMORY_ROUTE_UP_TO = 50_000_000  # the in-memory route also runs at these sizes


def users_for(rows: int) -> int:
    return max(1000, round(USERS_PER_200M * rows / 200_000_000))


def task_generate(args: dict) -> dict:
    """Write the synthetic log as a Parquet folder (and, if asked, as one Parquet file)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from atlas.demo import synthetic_parquet

    start = time.perf_counter()
    written = synthetic_parquet(args["folder"], users_for(args["rows"]), N_ITEMS, mean_profile_length=MEAN_LENGTH, users_per_file=50_000, seed=7)
    out = {"rows": written["rows"], "files": written["files"], "generate_seconds": time.perf_counter() - start}
    if args.get("single"):
        dataset = ds.dataset(args["folder"], format="parquet")
        with pq.ParquetWriter(args["single"], dataset.schema) as writer:
            for path in sorted(Path(args["folder"]).glob("part-*.parquet")):
                writer.write_table(pq.read_table(path))
    return out


def _vmhwm() -> int:
    from harness import peak_self

    return peak_self()


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def task_build(args: dict) -> dict:
    """A whole build of ``args['path']`` by ``args['route']`` (stream or memory), stage by stage."""
    import atlas
    from atlas.scan import scan_dataset, scan_profiles
    from harness import start_measuring

    warm = atlas.Pipeline().build(atlas.synthetic_profiles(2000, 300, mean_profile_length=15, seed=1))
    tiny = Path(args["path"]).parent / "warm.parquet"
    import pandas as pd

    pd.DataFrame({"user": [1, 1, 2, 2, 3, 3], "item": [1, 2, 1, 2, 1, 2]}).to_parquet(tiny)
    scan_profiles(tiny, atlas.FilterParams(min_item_users=1, min_user_items=1))  # compile the streaming code
    del warm
    import torch

    torch.set_num_threads(1)  # PyMDE: on this shared machine two threads wait for each other at every step (see the docstring)
    mem = start_measuring()
    stages: dict = {}
    started: dict = {}

    def progress(stage, done, total):
        if done == 0:
            _reset_peak()
            started[stage] = time.perf_counter()
            say(f"stage {stage} …")
        elif done == total and stage in started:
            stages[stage] = {"seconds": time.perf_counter() - started.pop(stage), "peak": _vmhwm()}

    start = time.perf_counter()
    _reset_peak()
    if args["route"] == "stream":
        data = scan_dataset(args["path"])
    else:
        data = atlas.load_dataset(args["path"])
    stages["load"] = {"seconds": time.perf_counter() - start, "peak": _vmhwm()}
    params = atlas.BuildParams(projections=(atlas.UmapParams(),))  # the defaults, one projection (see the docstring)
    result = atlas.Pipeline().build(data, params, progress=progress)
    total = time.perf_counter() - start
    return {"total_seconds": total, "stages": stages, "profiles": result.profiles.summary(), "pair_updates": result.profiles.pair_updates,
            "graph": result.graph.summary(), **mem}


def bench_scale(runner: Runner, opts, results: dict) -> None:
    print("\n== Larger than memory: streamed builds (Parquet → atlas.scan → Pipeline.build) ==", flush=True)
    out = results.setdefault("scale", {"code": code_fingerprint(), "runs": {}})
    for name in opts.sizes:
        rows = SIZES[name]
        folder = runner.workdir / f"lake-{name}"
        single = runner.workdir / f"log-{name}.parquet" if rows <= MEMORY_ROUTE_UP_TO and not opts.stream_only else None
        gen = runner.run(task_generate, {"folder": str(folder), "rows": rows, "single": str(single) if single else None}, timeout=opts.scale_timeout)
        if gen["status"] != "ok":
            print(f"  {name}: could not write the data ({gen['status']})")
            continue
        say(f"{name}: wrote {gen['rows']:,} rows in {gen['files']} files ({gen['generate_seconds']:.0f}s)")
        runs = {"generated": gen}
        runs["stream"] = runner.run(task_build, {"path": str(folder), "route": "stream"}, timeout=opts.scale_timeout)
        if single is not None:
            runs["memory"] = runner.run(task_build, {"path": str(single), "route": "memory"}, timeout=opts.scale_timeout)
        out["runs"][name] = runs
        _report(name, runs)


def _report(name: str, runs: dict) -> None:
    gen = runs["generated"]
    for route in ("stream", "memory"):
        r = runs.get(route)
        if r is None:
            continue
        if r["status"] != "ok":
            print(f"  {name} ({route}): {r['status']} after {r['wall']:.0f}s, peak {gib(r['peak_rss'])}")
            continue
        p = r["profiles"]
        rows = [[stage, secs(v["seconds"]), gib(v["peak"])] for stage, v in r["stages"].items()]
        rows.append(["total", secs(r["total_seconds"]), gib(r["peak_rss"])])
        table(f"{name} ({route}): {gen['rows']:,} rows → {p['users']:,} users × {p['items']:,} items, {p['interactions']:,} interactions; "
              f"load average {r['load']:.1f}", ["stage", "time", "peak RSS"], rows)
    if runs.get("memory", {}).get("status") == "ok" and runs["stream"]["status"] == "ok":
        s, m = runs["stream"], runs["memory"]
        print(f"  {name}: peak {gib(s['peak_rss'])} streamed vs {gib(m['peak_rss'])} in memory ({s['peak_rss'] / m['peak_rss']:.2f}×); "
              f"total {secs(s['total_seconds'])} vs {secs(m['total_seconds'])} ({s['total_seconds'] / m['total_seconds']:.2f}×)")
    _ = GIB
