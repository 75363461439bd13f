"""Part 1 — interactions → item graph: the fast path against the published recipe as atlas ships it.

*Fast path*: ``build_profiles`` → ``cooccurrence_candidates`` → ``graph_from_candidates``.
*Recipe*: ``build_profiles`` → ``recipe_graph(profiles, GraphParams(method="recipe"))``, what
``atlas build --graph-method recipe`` runs (XᵀX → 1/log(1 + count) → ``pymde.Graph`` →
pymde's shortest-path k-nearest neighbours). Both start from the same interactions, filters and k.

The recipe runs under a time limit. To say how far it got when it is stopped, the recipe's
child wraps pymde's ``shortest_paths`` (in that process only) so that it logs its progress
("processed node i/n", which ``recipe_graph`` leaves off) and reports when it starts: that
instant splits ``recipe_graph``'s time into "XᵀX → pymde.Graph" and "k-NN".
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from harness import Runner, code_fingerprint, cores, cpu_seconds, gib, median, peak_children, peak_self, say, secs, start_measuring, table
from inputs import QUICK_GRAPH_SYNTHETIC, load_interactions, task_compile, task_prepare_gowalla, task_prepare_movielens, task_prepare_synthetic, warm_numba

MOVIELENS_FILTER = {"min_item_users": 10}
GOWALLA_FILTER = {"min_item_users": 10, "min_user_items": 5}


# --------------------------------------------------------------------------------------
# Tasks (each in its own child process)
# --------------------------------------------------------------------------------------


def task_fast_graph(args: dict) -> dict:
    import numba

    from atlas import CooccurrenceParams, FilterParams, GraphParams, build_profiles, cooccurrence_candidates, graph_from_candidates

    warm = warm_numba()
    inter = load_interactions(args["data"])
    fparams = FilterParams(**args["filter"])
    cparams = CooccurrenceParams(weighting=args["weighting"], n_candidates=max(64, args["k"]))
    gparams = GraphParams(n_neighbors=args["k"])
    mem = start_measuring()
    reps = []
    for r in range(args["reps"]):
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        profiles = build_profiles(inter, fparams)
        t1 = time.perf_counter()
        cand = cooccurrence_candidates(profiles, cparams)
        t2 = time.perf_counter()
        graph = graph_from_candidates(cand, gparams)
        t3 = time.perf_counter()
        reps.append({"profiles": t1 - t0, "cooccurrence": t2 - t1, "graph": t3 - t2, "total": t3 - t0, "cpu": cpu_seconds() - c0})
        say(f"fast {args['weighting']} rep {r + 1}: {t3 - t0:.3f}s")
        if r < args["reps"] - 1:
            del profiles, cand, graph
    np.save(args["edges_out"], graph.edges.astype(np.int64))
    return {
        "reps": reps, "warmup_seconds": warm, "threads": numba.get_num_threads(),
        "items": profiles.n_items, "users": profiles.n_users, "interactions": profiles.n_interactions,
        "pair_updates": profiles.pair_updates, "edges": graph.n_edges, "n_candidates": cparams.n_candidates,
        "fallback_items": graph.n_fallback_items, **mem, "peak_rss_self": peak_self(),
    }


def trace_shortest_paths(on_start, on_end) -> bool:
    """Wrap pymde's shortest-path search (the k-NN step inside ``recipe_graph``) in this process:
    ``on_start(graph, max_length)`` and ``on_end()`` around it, and its progress logged as with
    ``verbose=True``. The search itself is unchanged. False if pymde has no such function."""
    import pymde.preprocess.graph as pymde_graph

    original = getattr(pymde_graph, "shortest_paths", None)
    if original is None:
        return False

    @functools.wraps(original)
    def traced(graph, *args, **kwargs):
        on_start(graph, kwargs.get("max_length"))
        if len(args) < 4:  # verbose is the fifth parameter
            kwargs["verbose"] = True
        try:
            return original(graph, *args, **kwargs)
        finally:
            on_end()

    pymde_graph.shortest_paths = traced
    return True


def task_recipe_graph(args: dict) -> dict:
    """``build_profiles`` → ``atlas.recipe_graph``; the state goes to ``progress_out`` as it changes,
    so that the parent can tell how far a run it stopped had got."""
    t_import = time.perf_counter()
    import pymde  # noqa: F401  (recipe_graph imports it on its first call: not timed)
    import torch  # noqa: F401

    from atlas import FilterParams, GraphParams, build_profiles, recipe_graph

    progress_path = Path(args["progress_out"])
    state: dict = {"import_seconds": time.perf_counter() - t_import, "reps": [], "current": {}, "knn_progress": []}
    clock: dict = {}  # start of the repetition, of recipe_graph, of its k-NN step

    def flush():
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, progress_path)

    def knn_started(graph, max_length):
        clock["knn"] = time.perf_counter()
        state["current"]["before_knn"] = clock["knn"] - clock["graph"]
        state["xtx_nnz"] = int(graph.A.nnz)
        state["max_distance"] = max_length
        flush()
        say(f"recipe: XᵀX → pymde.Graph {state['current']['before_knn']:.2f}s ({graph.A.nnz:,} non-zeros), now the k-NN step (shortest paths)")

    def knn_finished():
        state["current"]["shortest_paths"] = time.perf_counter() - clock["knn"]

    class Progress(logging.Handler):
        def emit(self, record):  # "processed node i/n" from pymde's shortest paths
            msg = record.getMessage()
            if msg.startswith("processed node"):
                done, total = msg.split()[-1].split("/")
                state["knn_progress"].append([time.perf_counter() - clock["rep"], int(done), int(total)])
                flush()

    state["traced"] = trace_shortest_paths(knn_started, knn_finished)
    logging.getLogger("__pymde__").addHandler(Progress())

    inter = load_interactions(args["data"])
    fparams = FilterParams(**args["filter"])
    params = GraphParams(n_neighbors=args["k"], method="recipe")
    state.update(start_measuring())
    t_all = time.perf_counter()
    for r in range(args["reps"]):
        times: dict = {}
        state["current"], state["knn_progress"] = times, []
        c0 = cpu_seconds()
        t0 = clock["rep"] = time.perf_counter()
        profiles = build_profiles(inter, fparams)
        times["profiles"] = time.perf_counter() - t0
        flush()
        clock["graph"] = time.perf_counter()
        graph = recipe_graph(profiles, params)
        end = time.perf_counter()
        times["recipe_graph"] = end - clock["graph"]
        if "before_knn" in times:
            times["knn"] = end - clock["knn"]
        times["total"] = end - t0
        times["cpu"] = cpu_seconds() - c0
        state["reps"].append(times)
        state["current"] = {}
        flush()
        say(f"recipe rep {r + 1}: {times['total']:.1f}s (recipe_graph {times['recipe_graph']:.1f}s)")
        if r == args["reps"] - 1 or time.perf_counter() - t_all + times["total"] > args["budget_seconds"]:
            break
        del graph  # free it before the next repetition
    np.save(args["edges_out"], graph.edges.astype(np.int64))
    state.update(items=profiles.n_items, edges=graph.n_edges, peak_rss_self=peak_self(), peak_rss_children=peak_children())
    return state


# --------------------------------------------------------------------------------------
# Reading the children's results
# --------------------------------------------------------------------------------------


def edge_overlap(fast: np.ndarray, recipe: np.ndarray, n_items: int) -> dict:
    """How many of the recipe's neighbour pairs the fast graph also holds (both symmetrised),
    overall and per item on average."""

    def keys(e):
        lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
        return np.unique(lo[lo != hi] * n_items + hi[lo != hi])

    fast, recipe = keys(fast), keys(recipe)
    shared = np.intersect1d(fast, recipe, assume_unique=True)
    in_fast = np.isin(recipe, shared, assume_unique=True)
    a, b = recipe // n_items, recipe % n_items
    per_item_total = np.bincount(a, minlength=n_items) + np.bincount(b, minlength=n_items)
    per_item_shared = np.bincount(a[in_fast], minlength=n_items) + np.bincount(b[in_fast], minlength=n_items)
    has = per_item_total > 0
    return {
        "recipe_pairs": int(recipe.size), "fast_pairs": int(fast.size), "shared_pairs": int(shared.size),
        "share_of_recipe": float(shared.size / max(recipe.size, 1)),
        "mean_item_share": float(np.mean(per_item_shared[has] / per_item_total[has])) if has.any() else None,
    }


def recipe_bound(state: dict) -> dict:
    """What a stopped recipe run had done: its stages so far and how far the shortest paths got,
    with the whole run's time extrapolated at the rate they had (an estimate, not a measurement)."""
    out = {"stages": state.get("current", {}), "xtx_nnz": state.get("xtx_nnz"), "knn_progress": state.get("knn_progress", []),
           "import_seconds": state.get("import_seconds"), "base_rss": state.get("base_rss")}
    prog = out["knn_progress"]
    if len(prog) >= 2 and "before_knn" in out["stages"]:
        (t0, d0, n), (t1, d1, _) = prog[0], prog[-1]
        if d1 > d0:
            out["knn_fraction_done"] = d1 / n
            out["extrapolated_total"] = t1 + (n - d1) * (t1 - t0) / (d1 - d0)
    return out


# --------------------------------------------------------------------------------------
# The part
# --------------------------------------------------------------------------------------


def bench_compile(runner: Runner, results: dict) -> None:
    res = runner.run(task_compile, {}, env={"NUMBA_CACHE_DIR": str(runner.workdir / "numba-cache")}, timeout=600)
    results["compile"] = res
    print(f"\nnumba compile time of the co-occurrence and graph code (empty cache): {secs(res.get('compile_seconds'))}")


def bench_movielens(runner: Runner, opts, results: dict) -> None:
    """MovieLens (``demo_movielens``), or in --quick mode a small synthetic set."""
    path = runner.workdir / "graph-data.npz"
    if opts.quick:
        prep = runner.run(task_prepare_synthetic, {"synthetic": QUICK_GRAPH_SYNTHETIC, "interactions_out": str(path)})
        name = "synthetic-small"
    else:
        prep = runner.run(task_prepare_movielens, {"out": str(path)})
        name = "movielens"
    if prep["status"] == "ok":
        bench_graph(runner, name, path, MOVIELENS_FILTER, opts, results)
    else:
        print(f"  could not prepare {name}: {prep['status']}")


def bench_gowalla(runner: Runner, opts, results: dict) -> None:
    gdir = Path(opts.gowalla)
    if opts.quick:
        print("\n== Part 1 — gowalla: skipped in --quick mode ==")
        return
    if not (gdir / "train.txt").exists():
        print(f"\n== Part 1 — gowalla: skipped, no data at {gdir} (give the folder with --gowalla DIR) ==")
        results["gowalla"] = {"status": f"skipped: no data at {gdir}"}
        return
    path = runner.workdir / "gowalla.npz"
    prep = runner.run(task_prepare_gowalla, {"dir": str(gdir), "out": str(path)})
    if prep["status"] != "ok":
        print(f"  could not read gowalla: {prep['status']}")
        return
    print(f"\n  gowalla read: {prep['interactions']:,} interactions, {prep['users']:,} users, {prep['items']:,} items "
          f"({secs(prep['read_seconds'])})")
    bench_graph(runner, "gowalla", path, GOWALLA_FILTER, opts, results)


def bench_graph(runner: Runner, name: str, data_path: Path, filt: dict, opts, results: dict) -> None:
    k, workdir = opts.k, runner.workdir
    print(f"\n== Part 1 — interactions → item graph vs the published recipe: {name} (k={k}) ==", flush=True)
    out: dict = {"filter": filt, "k": k, "code": code_fingerprint()}
    results[name] = out
    edges = {w: workdir / f"{name}-{w}.npy" for w in ("count", "cosine", "recipe")}
    for weighting in ("count", "cosine"):
        res = runner.run(task_fast_graph, {"data": str(data_path), "filter": filt, "weighting": weighting, "k": k, "reps": opts.reps,
                                           "edges_out": str(edges[weighting])}, timeout=opts.recipe_timeout)
        if res["status"] != "ok":
            print(f"  fast path ({weighting}) {res['status']}")
        out[f"fast_{weighting}"] = res
    fast = out["fast_count"]
    if fast["status"] != "ok":
        return
    print(f"  profiles: {fast['items']:,} items, {fast['users']:,} users, {fast['interactions']:,} interactions, "
          f"Σ length² = {fast['pair_updates']:,}", flush=True)
    progress = workdir / f"{name}-recipe-progress.json"
    recipe = runner.run(task_recipe_graph, {"data": str(data_path), "filter": filt, "k": k, "reps": opts.recipe_reps,
                                            "budget_seconds": opts.recipe_budget, "progress_out": str(progress),
                                            "edges_out": str(edges["recipe"])}, timeout=opts.recipe_timeout)
    out["recipe"] = recipe
    if recipe["status"] != "ok":
        recipe.update(recipe_bound(json.loads(progress.read_text())) if progress.exists() else {})
        recipe["bound_seconds"] = recipe["wall"]
    recipe_total = median(r["total"] for r in recipe.get("reps", [])) if recipe["status"] == "ok" else None

    rows = []
    for weighting in ("count", "cosine"):
        f = out[f"fast_{weighting}"]
        if f["status"] != "ok":
            continue
        if recipe["status"] == "ok":
            f["overlap"] = edge_overlap(np.load(edges[weighting]), np.load(edges["recipe"]), fast["items"])
        med = f["median"] = {s: median(r[s] for r in f["reps"]) for s in ("profiles", "cooccurrence", "graph", "total", "cpu")}
        if recipe_total:
            f["speedup"] = recipe_total / med["total"]
            ratio = f"{f['speedup']:,.0f}×"
        else:
            f["speedup_lower_bound"] = recipe["bound_seconds"] / med["total"]
            ratio = f"> {f['speedup_lower_bound']:,.0f}×"
        ov = f.get("overlap")
        rows.append([f"fast ({weighting})", secs(med["profiles"]), secs(med["cooccurrence"]), secs(med["graph"]),
                     secs(med["total"]), len(f["reps"]), cores(med["cpu"], med["total"]), gib(f["peak_rss"]),
                     gib(f["peak_rss"] - f["base_rss"]), ratio, f"{ov['share_of_recipe']:.1%}" if ov else "–"])
    rows.append(_recipe_row(recipe))
    table(f"{name}: {fast['items']:,} items, k={k}; medians of the repetitions; cores = CPU time / wall time; "
          "peak RSS of the process tree; recipe = build_profiles → atlas.recipe_graph",
          ["path", "profiles", "co-occurrence", "graph", "total", "reps", "cores", "peak RSS", "above data", "speed-up",
           "recipe pairs shared"], rows)
    print(f"  numba: first call on a tiny input (from the on-disk cache) {secs(fast['warmup_seconds'])}, not timed; "
          f"{fast['threads']} threads. The recipe's pymde + torch import ({secs(recipe.get('import_seconds'))}) is not timed either.")
    if not recipe.get("traced", True):
        print("  pymde has no shortest_paths to trace: no split of recipe_graph's time, no progress")
    for weighting in ("count", "cosine"):
        ov = out[f"fast_{weighting}"].get("overlap")
        if ov:
            print(f"  {weighting}: the fast graph holds {ov['shared_pairs']:,} of the recipe's {ov['recipe_pairs']:,} neighbour pairs "
                  f"({ov['share_of_recipe']:.1%}; mean per item {ov['mean_item_share']:.1%}); it has {ov['fast_pairs']:,} pairs")


def _recipe_row(recipe: dict) -> list:
    """The recipe's table row: recipe_graph's time split at the start of its k-NN step."""
    if recipe["status"] == "ok":
        med = recipe["median"] = {s: median(r.get(s) for r in recipe["reps"])
                                  for s in ("profiles", "before_knn", "knn", "recipe_graph", "total", "cpu")}
        split = med["before_knn"] is not None
        return ["recipe", secs(med["profiles"]), secs(med["before_knn"]) + " (XᵀX…)" if split else "–",
                secs(med["knn"] if split else med["recipe_graph"]) + (" (k-NN)" if split else " (recipe_graph)"),
                secs(med["total"]), len(recipe["reps"]), cores(med["cpu"], med["total"]), gib(recipe["peak_rss"]),
                gib(recipe["peak_rss"] - recipe["base_rss"]), "1×", "100%"]
    st = recipe.get("stages", {})
    note = f"{recipe['status']} after {recipe['wall']:.0f} s"
    if "knn_fraction_done" in recipe:
        done, total = recipe["knn_progress"][-1][1:]
        note += (f"; the shortest paths had reached item {done:,} of {total:,} ({recipe['knn_fraction_done']:.0%}); "
                 f"at that rate the whole run would take ≈ {recipe['extrapolated_total']:,.0f} s (extrapolated)")
    print(f"  recipe: {note}")
    above = gib(recipe["peak_rss"] - recipe["base_rss"]) if recipe.get("base_rss") else "–"
    return ["recipe", secs(st.get("profiles")), secs(st.get("before_knn")) + " (XᵀX…)", "not finished",
            f"> {recipe['wall']:.0f} s", 0, "–", gib(recipe["peak_rss"]), above, "1×", "–"]
