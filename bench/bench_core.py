"""Benchmark the core stages: interactions → item graph, co-occurrence throughput, end to end.

    .venv/bin/python bench/bench_core.py                      # everything (takes about an hour)
    .venv/bin/python bench/bench_core.py --quick              # small sizes only, a smoke check
    .venv/bin/python bench/bench_core.py --only graph-movielens
    .venv/bin/python bench/bench_core.py --gowalla ../shared/datasets/gowalla

Parts (``--only`` takes one of these names, or ``graph`` for both graph parts):

``graph-movielens`` / ``graph-gowalla``
    The fast item graph (``build_profiles`` → ``cooccurrence_candidates`` →
    ``graph_from_candidates``) against the published recipe (``build_profiles`` → scipy XᵀX →
    1/log(1 + count) distances → ``pymde.Graph`` → ``pymde.preprocess.k_nearest_neighbors``,
    the k-NN step of ``pymde.preserve_neighbors``, which runs a Dijkstra search from every item)
    on the same filtered profiles and the same k. The recipe runs in its own process under a
    time limit; if it does not finish, the figure reported is the bound ``> limit``. The share of
    the recipe's neighbour pairs that the fast graph also holds is reported when it finishes.
``cooccurrence``
    Pair updates per second (Σ profile length², ``Profiles.pair_updates``) of the numba kernel
    (``cooccurrence_candidates``) against scipy's single-threaded ``X.T @ X`` on synthetic
    profiles of about 50M interactions, each in its own process so that each peak memory is
    its own.
``end-to-end``
    ``Pipeline().build`` on the same synthetic data: every stage's time and the peak memory.

Every measured step runs in a child process started by this script; the parent polls the
resident memory of the child's whole process tree (pymde's shortest paths use a worker pool)
and kills the tree past the time limit or the memory cap. Times are medians of the
repetitions; numba compilation is kept out of the timed calls (a warm-up call on a tiny input
comes first) and reported on its own. Results go to ``bench/results/core-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GIB = 1024**3
PARTS = ("graph-movielens", "graph-gowalla", "cooccurrence", "end-to-end")

# Synthetic data of parts 2 and 3: about 50M interactions after the default filters.
FULL_SYNTHETIC = {"n_users": 1_000_000, "n_items": 20_000, "mean_profile_length": 60.0}
QUICK_SYNTHETIC = {"n_users": 60_000, "n_items": 4_000, "mean_profile_length": 30.0}
# Part 1 in --quick mode: a small synthetic set instead of MovieLens and gowalla.
QUICK_GRAPH_SYNTHETIC = {"n_users": 3_000, "n_items": 600, "mean_profile_length": 25.0}


# ======================================================================================
# Child side: each task runs in a fresh process and writes its result as JSON.
# ======================================================================================


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _peak_self() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not carried over from the
    process that spawned it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _peak_children() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024


MEASURING_MARKER = ""  # set by child_main: a file whose existence tells the parent that loading is over


def _start_measuring() -> dict:
    """Call once the input is loaded: resets this process's peak-memory mark (so that the peak
    reported is that of the measured work, with the input resident) and tells the parent to
    restart its own peak of the process tree. Returns the resident and peak memory so far."""
    before = {"load_peak_rss": _peak_self(), "base_rss": _rss()}
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    if MEASURING_MARKER:
        Path(MEASURING_MARKER).touch()
    return before


def _cpu(children: bool = True) -> float:
    """CPU seconds of this process (all its threads) and, with ``children``, of its reaped child
    processes (pymde's pool workers; a child's time counts when it is reaped)."""
    import resource

    if not children:
        return time.process_time()
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def _say(msg: str) -> None:
    print(f"    [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _save_interactions(inter, path: str) -> dict:
    np.savez(path, user=inter.user, item=inter.item, weight=inter.weight, n=np.array([inter.n_users, inter.n_items]))
    return {"interactions": len(inter), "users": inter.n_users, "items": inter.n_items}


def _load_interactions(path: str):
    from atlas import Interactions

    z = np.load(path)
    n_users, n_items = (int(v) for v in z["n"])
    return Interactions(
        user=z["user"], item=z["item"], weight=z["weight"],
        user_ids=np.arange(n_users), item_ids=np.arange(n_items), fingerprint=Path(path).stem,
    )


def _load_profiles(path: str):
    import scipy.sparse as sp

    from atlas import Profiles

    z = np.load(path)
    shape = tuple(int(v) for v in z["shape"])
    matrix = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)
    item_users = np.bincount(matrix.indices, minlength=shape[1]).astype(np.int64)
    return Profiles(
        matrix=matrix, user_ids=np.arange(shape[0]), item_ids=np.arange(shape[1]),
        item_source=np.arange(shape[1]), item_users=item_users, n_input_interactions=int(matrix.nnz),
    )


def _filter(spec: dict):
    from atlas import FilterParams

    return FilterParams(**spec)


def _warm_numba() -> float:
    """First call of the co-occurrence and graph code on a tiny input (compile or cache load)."""
    from atlas import (
        CooccurrenceParams,
        FilterParams,
        build_profiles,
        cooccurrence_candidates,
        graph_from_candidates,
        synthetic_profiles,
    )

    tiny = build_profiles(synthetic_profiles(400, 60, mean_profile_length=12, seed=1), FilterParams(min_item_users=2, min_user_items=2))
    start = time.perf_counter()
    for weighting in ("count", "cosine"):
        cand = cooccurrence_candidates(tiny, CooccurrenceParams(weighting=weighting, n_candidates=16))
        graph_from_candidates(cand)
    return time.perf_counter() - start


def task_prepare_gowalla(args: dict) -> dict:
    from atlas import from_arrays, load_interactions

    start = time.perf_counter()
    users, items = [], []
    for name in ("train.txt", "valid.txt", "test.txt"):
        path = Path(args["dir"]) / name
        if path.exists():
            part = load_interactions(path)
            users.append(part.user_ids[part.user])
            items.append(part.item_ids[part.item])
    inter = from_arrays(np.concatenate(users), np.concatenate(items))
    return {**_save_interactions(inter, args["out"]), "read_seconds": time.perf_counter() - start}


def task_prepare_movielens(args: dict) -> dict:
    from atlas import demo_movielens

    return _save_interactions(demo_movielens().interactions, args["out"])


def task_prepare_synthetic(args: dict) -> dict:
    """Synthetic interactions (saved as interactions) and, optionally, their filtered profiles."""
    from atlas import FilterParams, build_profiles, synthetic_profiles

    start = time.perf_counter()
    data = synthetic_profiles(**args["synthetic"])
    gen = time.perf_counter() - start
    out = {"generate_seconds": gen, "generated_interactions": len(data.interactions)}
    if args.get("interactions_out"):
        _save_interactions(data.interactions, args["interactions_out"])
    if args.get("profiles_out"):
        profiles = build_profiles(data, FilterParams())
        m = profiles.matrix
        np.savez(args["profiles_out"], data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape))
        out.update(profiles.summary())
        out["pair_updates"] = profiles.pair_updates
    return out


def task_compile(args: dict) -> dict:
    """Numba compile time of the co-occurrence kernels in a process with an empty numba cache."""
    import numba

    return {"compile_seconds": _warm_numba(), "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"), "threads": numba.get_num_threads()}


def task_fast_graph(args: dict) -> dict:
    import numba

    from atlas import (
        CooccurrenceParams,
        GraphParams,
        build_profiles,
        cooccurrence_candidates,
        graph_from_candidates,
    )

    warm = _warm_numba()
    inter = _load_interactions(args["data"])
    fparams = _filter(args["filter"])
    cparams = CooccurrenceParams(weighting=args["weighting"], n_candidates=max(64, args["k"]))
    gparams = GraphParams(n_neighbors=args["k"])
    mem = _start_measuring()
    reps = []
    for r in range(args["reps"]):
        c0 = _cpu()
        t0 = time.perf_counter()
        profiles = build_profiles(inter, fparams)
        t1 = time.perf_counter()
        cand = cooccurrence_candidates(profiles, cparams)
        t2 = time.perf_counter()
        graph = graph_from_candidates(cand, gparams)
        t3 = time.perf_counter()
        reps.append({"profiles": t1 - t0, "cooccurrence": t2 - t1, "graph": t3 - t2, "total": t3 - t0, "cpu": _cpu() - c0})
        _say(f"fast {args['weighting']} rep {r + 1}: {t3 - t0:.3f}s")
        if r < args["reps"] - 1:
            del profiles, cand, graph
    np.save(args["edges_out"], graph.edges.astype(np.int64))
    return {
        "reps": reps, "warmup_seconds": warm, "threads": numba.get_num_threads(),
        "items": profiles.n_items, "users": profiles.n_users, "interactions": profiles.n_interactions,
        "pair_updates": profiles.pair_updates, "edges": graph.n_edges, "n_candidates": cparams.n_candidates,
        "fallback_items": graph.n_fallback_items, **mem, "peak_rss_self": _peak_self(),
    }


def task_recipe_graph(args: dict) -> dict:
    """The published recipe, stage by stage; progress goes to ``progress_out`` as it happens."""
    import logging

    t_import = time.perf_counter()
    import pymde
    import torch

    from atlas import build_profiles, cooccurrence_matrix

    import_seconds = time.perf_counter() - t_import
    progress_path = Path(args["progress_out"])
    state: dict = {"import_seconds": import_seconds, "reps": [], "current": {}, "knn_progress": []}

    def flush():
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, progress_path)

    class Progress(logging.Handler):
        def emit(self, record):  # "processed node i/n" from pymde's shortest paths
            msg = record.getMessage()
            if msg.startswith("processed node"):
                done, total = msg.split()[-1].split("/")
                state["knn_progress"].append([time.perf_counter() - state["_start"], int(done), int(total)])
                flush()

    logger = logging.getLogger("__pymde__")  # pymde's own logger (it prints to stderr too)
    logger.addHandler(Progress())
    logger.setLevel(logging.INFO)

    inter = _load_interactions(args["data"])
    fparams = _filter(args["filter"])
    state.update(_start_measuring())
    budget = args["budget_seconds"]
    t_all = time.perf_counter()
    knn = None
    for r in range(args["reps"]):
        times: dict = {}
        state["current"] = times
        state["knn_progress"] = []
        c0 = _cpu()
        t0 = state["_start"] = time.perf_counter()
        profiles = build_profiles(inter, fparams)
        times["profiles"] = time.perf_counter() - t0
        flush()
        t = time.perf_counter()
        counts = cooccurrence_matrix(profiles)  # scipy XᵀX, diagonal removed
        times["xtx"] = time.perf_counter() - t
        state["xtx_nnz"] = int(counts.nnz)
        flush()
        t = time.perf_counter()
        distances = counts.copy()
        distances.data = (1.0 / np.log1p(distances.data)).astype(np.float32)
        graph = pymde.Graph(distances)
        max_distance = (3 * torch.quantile(graph.distances, 0.75)).item()
        times["distances"] = time.perf_counter() - t
        state["max_distance"] = max_distance
        flush()
        _say(f"recipe rep {r + 1}: XᵀX {times['xtx']:.2f}s ({counts.nnz:,} non-zeros), now the k-NN step (shortest paths)")
        del counts
        t = time.perf_counter()
        knn = pymde.preprocess.k_nearest_neighbors(graph, k=args["k"], max_distance=max_distance, verbose=True)
        times["knn"] = time.perf_counter() - t
        times["total"] = time.perf_counter() - t0
        times["cpu"] = _cpu() - c0
        state["reps"].append(times)
        state["current"] = {}
        flush()
        _say(f"recipe rep {r + 1}: {times['total']:.1f}s (k-NN step {times['knn']:.1f}s)")
        elapsed = time.perf_counter() - t_all
        if r == args["reps"] - 1 or elapsed + times["total"] > budget:
            break
        graph = distances = knn = None  # free them before the next repetition
    edges = knn.edges.cpu().numpy().astype(np.int64)
    np.save(args["edges_out"], edges)
    state.update(items=profiles.n_items, edges=int(edges.shape[0]), peak_rss_self=_peak_self(), peak_rss_children=_peak_children())
    state.pop("_start", None)
    return state


def task_scipy_xtx(args: dict) -> dict:
    import scipy

    profiles = _load_profiles(args["profiles"])
    x = profiles.matrix.astype(np.float32)
    mem = _start_measuring()
    times = []
    nnz = 0
    cpu = []
    for r in range(args["reps"]):
        c = _cpu()
        t = time.perf_counter()
        product = x.T @ x
        times.append(time.perf_counter() - t)
        cpu.append(_cpu() - c)
        nnz = int(product.nnz)
        index_bytes = product.indices.dtype.itemsize
        del product
        _say(f"scipy X.T @ X rep {r + 1}: {times[-1]:.1f}s, {nnz:,} non-zeros")
    return {
        "times": times, "cpu": cpu, "nnz": nnz, "index_bytes": index_bytes, "pair_updates": profiles.pair_updates,
        **mem, "peak_rss_self": _peak_self(), "scipy": scipy.__version__,
    }


def task_kernel(args: dict) -> dict:
    import numba

    from atlas import CooccurrenceParams, cooccurrence_candidates

    warm = _warm_numba()
    if args.get("threads"):
        numba.set_num_threads(args["threads"])
    profiles = _load_profiles(args["profiles"])
    params = CooccurrenceParams(weighting=args["weighting"])
    mem = _start_measuring()
    times, cpu = [], []
    for r in range(args["reps"]):
        c = _cpu()
        t = time.perf_counter()
        cand = cooccurrence_candidates(profiles, params)
        times.append(time.perf_counter() - t)
        cpu.append(_cpu() - c)
        del cand
        _say(f"kernel {args['weighting']}: {times[-1]:.1f}s, {cpu[-1] / times[-1]:.2f} cores busy")
    return {
        "times": times, "warmup_seconds": warm, "threads": numba.get_num_threads(), "n_candidates": params.n_candidates,
        "pair_updates": profiles.pair_updates, **mem, "peak_rss_self": _peak_self(), "cpu": cpu,
    }


def task_end_to_end(args: dict) -> dict:
    from atlas import Pipeline, synthetic_profiles

    # warm-up: numba compilation (ours, UMAP's, pynndescent's) on a small build
    t = time.perf_counter()
    Pipeline().build(synthetic_profiles(2000, 300, mean_profile_length=15, seed=1))
    warm = time.perf_counter() - t
    _say(f"end-to-end warm-up build: {warm:.1f}s")
    t = time.perf_counter()
    data = synthetic_profiles(**args["synthetic"])
    gen = time.perf_counter() - t
    mem = _start_measuring()
    _say(f"generated {len(data.interactions):,} interactions in {gen:.1f}s")

    started: dict = {}
    stage_cpu: dict = {}  # stage -> [CPU seconds, wall seconds], summed over its calls

    def progress(stage, done, total):
        if done == 0:
            started[stage] = (_cpu(children=False), time.perf_counter())
            _say(f"stage {stage} …")
        elif done == total and stage in started:
            c0, t0 = started.pop(stage)
            acc = stage_cpu.setdefault(stage, [0.0, 0.0])
            acc[0] += _cpu(children=False) - c0
            acc[1] += time.perf_counter() - t0

    t = time.perf_counter()
    result = Pipeline().build(data, progress=progress)
    total = time.perf_counter() - t
    return {
        "warmup_seconds": warm, "generate_seconds": gen, "total_seconds": total, "timings": result.timings, "stage_cpu": stage_cpu,
        "profiles": result.profiles.summary(), "pair_updates": result.profiles.pair_updates,
        "graph": result.graph.summary(), "metrics": result.metrics, **mem, "peak_rss_self": _peak_self(),
    }


TASKS = {name[5:]: fn for name, fn in globals().items() if name.startswith("task_")}


def child_main(task: str, args_path: str, out_path: str) -> None:
    global MEASURING_MARKER
    MEASURING_MARKER = out_path + ".measuring"
    args = json.loads(Path(args_path).read_text())
    result = TASKS[task](args)
    Path(out_path).write_text(json.dumps(result, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ======================================================================================
# Parent side: run tasks in child processes under a time limit and a memory cap.
# ======================================================================================


class Runner:
    def __init__(self, workdir: Path, mem_cap: float) -> None:
        self.workdir = workdir
        self.mem_cap = mem_cap
        self.count = 0

    def run(self, task: str, args: dict, *, timeout: float = 3600, env: dict | None = None) -> dict:
        """Run ``task`` in a child; adds ``wall``, ``peak_rss_tree`` and ``status`` to its result."""
        import psutil

        self.count += 1
        args_path = self.workdir / f"task{self.count}-{task}.args.json"
        out_path = self.workdir / f"task{self.count}-{task}.out.json"
        args_path.write_text(json.dumps(args))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", task, str(args_path), str(out_path)]
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, start_new_session=True)
        peak, status = 0, "ok"
        marker, measuring = Path(str(out_path) + ".measuring"), False
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            if not measuring and marker.exists():  # input loaded: the peak of the work starts now
                measuring, peak = True, 0
            try:
                tree = [root, *root.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                rss = 0
            peak = max(peak, rss)
            elapsed = time.perf_counter() - start
            if elapsed > timeout or rss > self.mem_cap:
                status = "timeout" if elapsed > timeout else "memory cap"
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.2)
        wall = time.perf_counter() - start
        result: dict = {}
        if status == "ok" and proc.returncode != 0:
            status = f"failed (exit {proc.returncode})"
        if status == "ok" and out_path.exists():
            result = json.loads(out_path.read_text())
        result.update(status=status, wall=wall, peak_rss_tree=peak, load=load)
        if "peak_rss_self" in result:
            result["peak_rss"] = max(peak, result["peak_rss_self"])
        else:
            result["peak_rss"] = peak
        return result


def _median(values):
    return float(statistics.median(values)) if values else float("nan")


def _gb(n) -> str:
    return f"{n / GIB:.2f} GiB" if n else "–"


def _secs(s) -> str:
    if s is None or math.isnan(s):
        return "–"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def _table(title: str, header: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _edge_overlap(fast_path: Path, recipe_path: Path, n_items: int) -> dict:
    """How many of the recipe's neighbour pairs the fast graph also holds (both symmetrised)."""

    def keys(path):
        e = np.load(path)
        lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
        return np.unique(lo[lo != hi] * n_items + hi[lo != hi])

    fast, recipe = keys(fast_path), keys(recipe_path)
    shared = np.intersect1d(fast, recipe, assume_unique=True)
    # per item: share of the item's recipe neighbours that are also its fast-graph neighbours
    in_fast = np.isin(recipe, shared, assume_unique=True)
    a, b = recipe // n_items, recipe % n_items
    per_item_total = np.bincount(a, minlength=n_items) + np.bincount(b, minlength=n_items)
    per_item_shared = np.bincount(a[in_fast], minlength=n_items) + np.bincount(b[in_fast], minlength=n_items)
    has = per_item_total > 0
    return {
        "recipe_pairs": int(recipe.size), "fast_pairs": int(fast.size), "shared_pairs": int(shared.size),
        "share_of_recipe": float(shared.size / max(recipe.size, 1)),
        "mean_item_share": float(np.mean(per_item_shared[has] / per_item_total[has])) if has.any() else float("nan"),
    }


def _recipe_bound(progress_path: Path) -> dict:
    """What a killed recipe run had done: its stages and how far the shortest paths got."""
    if not progress_path.exists():
        return {}
    state = json.loads(progress_path.read_text())
    out = {"stages": state.get("current", {}), "xtx_nnz": state.get("xtx_nnz"), "knn_progress": state.get("knn_progress", []),
           "import_seconds": state.get("import_seconds"), "base_rss": state.get("base_rss")}
    prog = out["knn_progress"]
    if len(prog) >= 2 and "distances" in out["stages"]:
        (t0, d0, n), (t1, d1, _) = prog[0], prog[-1]
        if d1 > d0:  # linear extrapolation of the shortest-path rate: an estimate, not a measurement
            out["knn_fraction_done"] = d1 / n
            out["extrapolated_total"] = t1 + (n - d1) * (t1 - t0) / (d1 - d0)
    return out


def _cores(cpu, wall) -> str:
    return f"{cpu / wall:.2f}" if cpu is not None and wall else "–"


def bench_graph(runner: Runner, name: str, data_path: Path, filt: dict, opts, results: dict) -> None:
    k = opts.k
    workdir = runner.workdir
    print(f"\n== Part 1 — interactions → item graph vs the published recipe: {name} (k={k}) ==", flush=True)
    out: dict = {"filter": filt, "k": k, "code": code_fingerprint()}
    for weighting in ("count", "cosine"):
        res = runner.run("fast_graph", {"data": str(data_path), "filter": filt, "weighting": weighting, "k": k, "reps": opts.reps,
                                        "edges_out": str(workdir / f"{name}-fast-{weighting}.npy")}, timeout=opts.recipe_timeout)
        if res["status"] != "ok":
            print(f"  fast path ({weighting}) {res['status']}")
        out[f"fast_{weighting}"] = res
    fast = out["fast_count"]
    if fast["status"] != "ok":
        results[name] = out
        return
    print(f"  profiles: {fast['items']:,} items, {fast['users']:,} users, {fast['interactions']:,} interactions, "
          f"Σ length² = {fast['pair_updates']:,}", flush=True)
    progress = workdir / f"{name}-recipe-progress.json"
    recipe = runner.run("recipe_graph", {"data": str(data_path), "filter": filt, "k": k, "reps": opts.recipe_reps,
                                         "budget_seconds": opts.recipe_budget, "progress_out": str(progress),
                                         "edges_out": str(workdir / f"{name}-recipe.npy")}, timeout=opts.recipe_timeout)
    out["recipe"] = recipe
    if recipe["status"] != "ok":
        recipe.update(_recipe_bound(progress))
        recipe["bound_seconds"] = recipe["wall"]
    for weighting in ("count", "cosine"):
        f = out[f"fast_{weighting}"]
        if f["status"] == "ok" and recipe["status"] == "ok":
            f["overlap"] = _edge_overlap(workdir / f"{name}-fast-{weighting}.npy", workdir / f"{name}-recipe.npy", fast["items"])

    rows = []
    recipe_total = _median([r["total"] for r in recipe.get("reps", [])]) if recipe["status"] == "ok" else None
    for weighting in ("count", "cosine"):
        f = out[f"fast_{weighting}"]
        if f["status"] != "ok":
            continue
        med = {s: _median([r[s] for r in f["reps"]]) for s in ("profiles", "cooccurrence", "graph", "total", "cpu")}
        f["median"] = med
        if recipe_total:
            f["speedup"] = recipe_total / med["total"]
            ratio_s = f"{f['speedup']:,.0f}×"
        else:
            f["speedup_lower_bound"] = recipe["bound_seconds"] / med["total"]
            ratio_s = f"> {f['speedup_lower_bound']:,.0f}×"
        ov = f.get("overlap")
        rows.append([f"fast ({weighting})", _secs(med["profiles"]), _secs(med["cooccurrence"]), _secs(med["graph"]),
                     _secs(med["total"]), len(f["reps"]), _cores(med["cpu"], med["total"]), _gb(f["peak_rss"]),
                     _gb(f["peak_rss"] - f["base_rss"]), ratio_s, f"{ov['share_of_recipe']:.1%}" if ov else "–"])
    if recipe["status"] == "ok":
        med = {s: _median([r[s] for r in recipe["reps"]]) for s in ("profiles", "xtx", "distances", "knn", "total", "cpu")}
        recipe["median"] = med
        rows.append(["recipe", _secs(med["profiles"]), _secs(med["xtx"]) + " (XᵀX)",
                     _secs(med["distances"] + med["knn"]) + " (k-NN)", _secs(med["total"]), len(recipe["reps"]),
                     _cores(med["cpu"], med["total"]), _gb(recipe["peak_rss"]), _gb(recipe["peak_rss"] - recipe["base_rss"]), "1×", "100%"])
    else:
        st = recipe.get("stages", {})
        note = f"{recipe['status']} after {recipe['wall']:.0f} s"
        if "knn_fraction_done" in recipe:
            note += (f"; the shortest paths had reached item {recipe['knn_progress'][-1][1]:,} of {recipe['knn_progress'][-1][2]:,} "
                     f"({recipe['knn_fraction_done']:.0%}); at that rate the whole run would take ≈ {recipe['extrapolated_total']:,.0f} s")
        above = _gb(recipe["peak_rss"] - recipe["base_rss"]) if recipe.get("base_rss") else "–"
        rows.append(["recipe", _secs(st.get("profiles")), _secs(st.get("xtx")) + " (XᵀX)", "not finished",
                     f"> {recipe['wall']:.0f} s", 0, "–", _gb(recipe["peak_rss"]), above, "1×", "–"])
        print(f"  recipe: {note}")
    _table(f"{name}: {fast['items']:,} items, k={k}; medians of the repetitions; cores = CPU time / wall time; "
           "peak RSS of the process tree",
           ["path", "profiles", "co-occurrence", "graph", "total", "reps", "cores", "peak RSS", "above data", "speed-up",
            "recipe pairs shared"], rows)
    print(f"  numba: first call on a tiny input (from the on-disk cache) {_secs(fast['warmup_seconds'])}, not timed; "
          f"{fast['threads']} threads. The recipe's pymde + torch import ({_secs(recipe.get('import_seconds'))}) is not timed either.")
    for weighting in ("count", "cosine"):
        ov = out[f"fast_{weighting}"].get("overlap")
        if ov:
            print(f"  {weighting}: the fast graph holds {ov['shared_pairs']:,} of the recipe's {ov['recipe_pairs']:,} neighbour pairs "
                  f"({ov['share_of_recipe']:.1%}; mean per item {ov['mean_item_share']:.1%}); it has {ov['fast_pairs']:,} pairs")
    results[name] = out


def _merge_runs(runs: list[dict]) -> dict:
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


def bench_cooccurrence(runner: Runner, profiles_path: Path, prep: dict, opts, results: dict) -> None:
    print("\n== Part 2 — co-occurrence throughput: numba kernel vs scipy X.T @ X ==", flush=True)
    print(f"  data: {prep['users']:,} users, {prep['items']:,} items, {prep['interactions']:,} interactions, "
          f"Σ length² = {prep['pair_updates']:,}", flush=True)
    out: dict = {"data": prep, "code": code_fingerprint()}
    runs: dict[str, list] = {"kernel_count": [], "scipy": [], "kernel_cosine": []}
    # one repetition per child, the methods taking turns, so that a change in the machine's load
    # falls on all of them alike
    for _ in range(opts.reps_cooccurrence):
        for key, bucket in runs.items():
            if key == "scipy" and any(r["status"] == "timeout" for r in bucket):
                continue
            if key == "scipy":
                res = runner.run("scipy_xtx", {"profiles": str(profiles_path), "reps": 1}, timeout=opts.scipy_timeout)
            else:
                res = runner.run("kernel", {"profiles": str(profiles_path), "weighting": key.split("_")[1], "reps": 1, "threads": 2},
                                 timeout=opts.scipy_timeout)
            bucket.append(res)
    out.update({key: _merge_runs(value) for key, value in runs.items()})
    pu = prep["pair_updates"]
    rows = []
    sc = out["scipy"]
    sc_med = _median(sc["times"]) if sc["status"] == "ok" else None
    if sc_med:
        sc["median"] = sc_med
        sc["pair_updates_per_second"] = pu / sc_med
    for key, label in (("kernel_count", "numba kernel, count"), ("kernel_cosine", "numba kernel, cosine")):
        r = out[key]
        if r["status"] != "ok":
            rows.append([label, r["status"], "", "", "", "", "", ""])
            continue
        med = _median(r["times"])
        r["median"] = med
        r["pair_updates_per_second"] = pu / med
        if sc_med:
            r["speedup_vs_scipy"] = sc_med / med
            # per round: the kernel's time against scipy's in the same round
            r["speedup_per_round"] = [s / t for s, t in zip(sc["times"], r["times"])]
            ratio = f"{sc_med / med:.1f}×"
        else:
            ratio = f"> {sc['wall'] / med:.1f}×" if sc["status"] == "timeout" else "–"
        rows.append([f"{label} ({r['threads']} threads)", _secs(med), len(r["times"]), _cores(_median(r["cpu"]), med),
                     f"{pu / med / 1e9:.2f} G/s", _gb(r["peak_rss"]), _gb(r["peak_rss"] - r["base_rss"]), ratio])
    if sc["status"] == "ok":
        rows.append(["scipy X.T @ X (1 thread)", _secs(sc_med), len(sc["times"]), _cores(_median(sc["cpu"]), sc_med),
                     f"{pu / sc_med / 1e9:.2f} G/s", _gb(sc["peak_rss"]), _gb(sc["peak_rss"] - sc["base_rss"]), "1×"])
    else:
        rows.append(["scipy X.T @ X (1 thread)", f"{sc['status']} after {sc['wall']:.0f} s", 0, "–", "–", _gb(sc["peak_rss"]), "–", "1×"])
    _table("co-occurrence: medians; pair updates per second = Σ length² / time; cores = CPU time / wall time; peak RSS",
           ["method", "time", "reps", "cores", "pair updates/s", "peak RSS", "above data", "speed-up"], rows)
    for key in ("kernel_count", "kernel_cosine"):
        r = out[key]
        if r.get("speedup_per_round"):
            print(f"  {key.split('_')[1]}: speed-up round by round " + ", ".join(f"{x:.1f}×" for x in r["speedup_per_round"])
                  + "; 1-min load average at each kernel run " + ", ".join(f"{x:.1f}" for x in r["loads"]))
    if sc["status"] == "ok":
        print(f"  scipy's product has {sc['nnz']:,} non-zeros ({sc['nnz'] * (4 + sc['index_bytes']) / GIB:.2f} GiB of values + indices); "
              f"the kernel keeps {out['kernel_count'].get('n_candidates', '?')} candidates per item")
    results["cooccurrence"] = out


def bench_end_to_end(runner: Runner, synthetic: dict, opts, results: dict) -> None:
    print(f"\n== Part 3 — end to end: Pipeline().build on synthetic data {synthetic} ==", flush=True)
    res = runner.run("end_to_end", {"synthetic": synthetic}, timeout=opts.e2e_timeout)
    res["code"] = code_fingerprint()
    results["end-to-end"] = res
    if res["status"] != "ok":
        print(f"  {res['status']} after {res['wall']:.0f} s (peak RSS {_gb(res['peak_rss'])})")
        return
    p = res["profiles"]
    print(f"  data: {p['users']:,} users, {p['items']:,} items, {p['interactions']:,} interactions, Σ length² = {res['pair_updates']:,}; "
          f"generated in {_secs(res['generate_seconds'])} (not part of the build)")
    cpu = res.get("stage_cpu", {})
    rows = [[stage, _secs(sec), _cores(*cpu[stage]) if stage in cpu else "–"] for stage, sec in res["timings"].items()]
    rows.append(["total (build)", _secs(res["total_seconds"]), ""])
    _table("end to end: Pipeline().build stage times (one run, after a warm-up build); cores = CPU time / wall time",
           ["stage", "time", "cores"], rows)
    print(f"  peak RSS during the build {_gb(res['peak_rss'])} (the generated data alone {_gb(res['base_rss'])}; "
          f"peak while generating it {_gb(res['load_peak_rss'])}); warm-up build {_secs(res['warmup_seconds'])}; "
          f"graph {res['graph']['edges']:,} edges, {res['graph']['components']} component(s); load average {res['load']:.1f}")


CORE_MODULES = ("__init__", "errors", "ingest", "profiles", "cooccur", "graph", "embed", "project", "metrics", "cache", "pipeline", "demo")


def code_fingerprint() -> dict:
    """The commit and a hash of the atlas modules this benchmark runs, as they are now (others may
    commit while it runs)."""
    import hashlib

    h = hashlib.sha256()
    for name in CORE_MODULES:
        path = ROOT / "atlas" / f"{name}.py"
        if path.exists():
            h.update(name.encode())
            h.update(path.read_bytes())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    return {"commit": commit, "atlas_core_sha256": h.hexdigest()[:16]}


def machine_info() -> dict:
    import psutil

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from importlib import metadata

    versions = {}
    for dist in ("numpy", "scipy", "numba", "torch", "pymde", "umap-learn", "openTSNE"):
        try:  # read from the metadata: importing torch here would inflate every child's ru_maxrss
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cores": os.cpu_count(), "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / GIB, 1), "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(), **code_fingerprint(), "versions": versions,
    }


def main(argv=None) -> int:
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
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.child:
        child_main(*opts.child)
        return 0

    parts = PARTS if opts.only is None else (("graph-movielens", "graph-gowalla") if opts.only == "graph" else (opts.only,))
    if opts.quick:
        opts.reps, opts.recipe_reps, opts.reps_cooccurrence = 3, 3, 3
        opts.recipe_budget = min(opts.recipe_budget, 60)
    synthetic = QUICK_SYNTHETIC if opts.quick else FULL_SYNTHETIC
    workdir = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    runner = Runner(workdir, opts.mem_cap_gb * GIB)
    info = machine_info()
    results: dict = {"machine": info, "quick": opts.quick, "options": {k: v for k, v in vars(opts).items() if k != "child"}}
    print(f"atlas core benchmark — {info['date']}, {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GiB, "
          f"load average {info['load_average_at_start'][0]:.1f}, commit {info['commit']} (atlas core {info['atlas_core_sha256']}){' — QUICK' if opts.quick else ''}", flush=True)
    out_path = Path(opts.out) if opts.out else ROOT / "bench" / "results" / f"core-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if opts.quick else ''}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def save():
        out_path.write_text(json.dumps(results, indent=1, default=_json_default))

    try:
        if any(p.startswith("graph") for p in parts):
            results["compile"] = runner.run("compile", {}, env={"NUMBA_CACHE_DIR": str(workdir / "numba-cache")}, timeout=600)
            print(f"\nnumba compile time of the co-occurrence and graph code (empty cache): {_secs(results['compile'].get('compile_seconds'))}")
        if "graph-movielens" in parts:
            path = workdir / "graph-data.npz"
            if opts.quick:
                prep = runner.run("prepare_synthetic", {"synthetic": QUICK_GRAPH_SYNTHETIC, "interactions_out": str(path)})
                name, filt = "synthetic-small", {"min_item_users": 10}
            else:
                prep = runner.run("prepare_movielens", {"out": str(path)})
                name, filt = "movielens", {"min_item_users": 10}
            if prep["status"] == "ok":
                bench_graph(runner, name, path, filt, opts, results)
            else:
                print(f"  could not prepare {name}: {prep['status']}")
            save()
        if "graph-gowalla" in parts:
            gdir = Path(opts.gowalla)
            if opts.quick:
                print("\n== Part 1 — gowalla: skipped in --quick mode ==")
            elif not (gdir / "train.txt").exists():
                print(f"\n== Part 1 — gowalla: skipped, no data at {gdir} (give the folder with --gowalla DIR) ==")
                results["gowalla"] = {"status": f"skipped: no data at {gdir}"}
            else:
                path = workdir / "gowalla.npz"
                prep = runner.run("prepare_gowalla", {"dir": str(gdir), "out": str(path)})
                if prep["status"] == "ok":
                    print(f"\n  gowalla read: {prep['interactions']:,} interactions, {prep['users']:,} users, {prep['items']:,} items "
                          f"({_secs(prep['read_seconds'])})")
                    bench_graph(runner, "gowalla", path, {"min_item_users": 10, "min_user_items": 5}, opts, results)
                else:
                    print(f"  could not read gowalla: {prep['status']}")
            save()
        if "cooccurrence" in parts:
            path = workdir / "synthetic-profiles.npz"
            prep = runner.run("prepare_synthetic", {"synthetic": synthetic, "profiles_out": str(path)})
            if prep["status"] == "ok":
                bench_cooccurrence(runner, path, prep, opts, results)
            else:
                print(f"  could not generate the synthetic data: {prep['status']}")
            save()
        if "end-to-end" in parts:
            bench_end_to_end(runner, synthetic, opts, results)
            save()
    finally:
        save()
        if not opts.keep_temp:
            shutil.rmtree(workdir, ignore_errors=True)
    end = code_fingerprint()
    results["machine"]["code_at_end"] = end
    save()
    if end["atlas_core_sha256"] != info["atlas_core_sha256"]:
        print(f"\nWARNING: the atlas core modules changed during the run ({info['commit']} → {end['commit']}); each part records the code it ran "
              "against under 'code' in the JSON — rerun the parts that matter.")
    print(f"\nresults: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
