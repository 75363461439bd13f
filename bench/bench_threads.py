"""Threads on a busy machine: each parallel stage idle and beside one busy process, default vs fitted.

    .venv/bin/python bench/bench_threads.py                  # 4 stages × 4 variants × 3 reps
    .venv/bin/python bench/bench_threads.py --quick          # one rep, smaller inputs: a smoke check
    .venv/bin/python bench/bench_threads.py --reps 5 --stages pymde,tsne
    .venv/bin/python bench/bench_threads.py --gowalla        # adds gowalla train.txt (~25k items), if present
    .venv/bin/python bench/bench_threads.py --gowalla --gowalla-only --reps 2   # only the gowalla stages

Stages: ``cooccurrence`` (the numba kernel on synthetic profiles of a few million interactions),
``pymde`` (``embed_graph`` on a ~2.8k-item graph), ``umap`` and ``tsne`` (``project`` of that
embedding, its neighbours precomputed as the pipeline does). With ``--gowalla`` the same four
stages run again on gowalla's ``train.txt`` with the default filters.

Variants, for each stage:

- *idle, default*: the libraries' own thread counts (one thread per core; openTSNE's ``n_jobs``
  set to the core count), nothing else started;
- *idle, fitted*: the stage inside ``atlas.cores.fitted_threads`` (its load sample counted);
- *busy, default* / *busy, fitted*: the same with one busy neighbour (``python3 -c "while True:
  pass"``), started by this script before the child and killed by its pid after it.

Every measurement is its own child process (inputs prepared once, read from a temporary folder;
a tiny warm-up run first keeps numba compilation and first-call costs out of the timing). The
variants take turns in a rotating order and each figure is the median of the repetitions; the
1-minute load average and, for the fitted runs, the idle cores the stage saw are recorded with
each one. Ratios: *fitted/default* (idle and busy) and *busy/idle*, against idle default.
Raw numbers go to ``bench/results/threads-<time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ("cooccurrence", "pymde", "umap", "tsne")
VARIANTS = ("idle default", "idle fitted", "busy default", "busy fitted")
GOWALLA = Path("/work/shared/datasets/gowalla/train.txt")

# (cooccurrence profiles, graph profiles) as synthetic_profiles arguments
SIZES = {
    "full": ({"n_users": 120_000, "n_items": 8_000, "mean_profile_length": 40.0, "seed": 1},
             {"n_users": 30_000, "n_items": 2_800, "mean_profile_length": 30.0, "seed": 2}),
    "quick": ({"n_users": 40_000, "n_items": 4_000, "mean_profile_length": 30.0, "seed": 1},
              {"n_users": 12_000, "n_items": 1_200, "mean_profile_length": 25.0, "seed": 2}),
}


# ==========================================================================================
# Inputs, prepared once by the parent
# ==========================================================================================


def _graph_inputs(profiles, out: Path, prefix: str) -> dict:
    import atlas

    cands = atlas.cooccurrence_candidates(profiles)
    graph = atlas.graph_from_candidates(cands)
    embedding = atlas.embed_graph(graph)
    for name, value in (("profiles", profiles), ("graph", graph), ("embedding", embedding)):
        (out / f"{prefix}{name}.pkl").write_bytes(pickle.dumps(value))
    return {"items": graph.n_items, "edges": graph.n_edges, "interactions": profiles.n_interactions}


def prepare(out: Path, size: str, gowalla: Path | None) -> dict:
    import atlas
    from atlas.cores import fitted_threads

    with fitted_threads("bench inputs", imports=("torch",)):
        return _prepare(out, size, gowalla)


def _prepare(out: Path, size: str, gowalla: Path | None) -> dict:
    import atlas

    co_spec, graph_spec = SIZES[size]
    info = {}
    co = atlas.build_profiles(atlas.synthetic_profiles(**co_spec), atlas.FilterParams())
    (out / "cooc.pkl").write_bytes(pickle.dumps(co))
    info["cooccurrence"] = {"items": co.n_items, "interactions": co.n_interactions, "pair_updates": co.pair_updates}
    g = atlas.build_profiles(atlas.synthetic_profiles(**graph_spec), atlas.FilterParams())
    info["graph"] = _graph_inputs(g, out, "")
    if gowalla is not None:
        prof = atlas.build_profiles(atlas.load_dataset(gowalla), atlas.FilterParams())
        (out / "gowalla-cooc.pkl").write_bytes(pickle.dumps(prof))
        info["gowalla"] = _graph_inputs(prof, out, "gowalla-")
    return info


# ==========================================================================================
# Child: one stage, one variant, timed
# ==========================================================================================


def _stage_call(stage: str, data: Path):
    """The stage as a call without arguments, and a tiny version of it for the warm-up."""
    import atlas

    base = stage.removeprefix("gowalla-")
    prefix = "gowalla-" if stage.startswith("gowalla-") else ""

    def load(name):
        return pickle.loads((data / f"{prefix}{name}.pkl").read_bytes())

    tiny_profiles = atlas.build_profiles(atlas.synthetic_profiles(400, 120, mean_profile_length=12, seed=5),
                                         atlas.FilterParams(min_item_users=2, min_user_items=2))
    if base == "cooccurrence":
        profiles = load("cooc")
        return (lambda: atlas.cooccurrence_candidates(profiles)), (lambda: atlas.cooccurrence_candidates(tiny_profiles))
    tiny_graph = atlas.graph_from_candidates(atlas.cooccurrence_candidates(tiny_profiles, atlas.CooccurrenceParams(n_candidates=10)),
                                             atlas.GraphParams(n_neighbors=10))
    if base == "pymde":
        graph = load("graph")
        return (lambda: atlas.embed_graph(graph)), (lambda: atlas.embed_graph(tiny_graph, atlas.EmbedParams(max_iter=20)))
    embedding = load("embedding")
    tiny = atlas.embed_graph(tiny_graph, atlas.EmbedParams(max_iter=20))
    params = atlas.UmapParams() if base == "umap" else atlas.TsneParams()
    small = atlas.UmapParams(n_neighbors=10, n_epochs=20) if base == "umap" else atlas.TsneParams(perplexity=10, n_iter=20)
    neighbors = atlas.embedding_neighbors(embedding, atlas.projections.of(params).k_needed(params))
    return (lambda: atlas.project(embedding, params, neighbors)), (lambda: atlas.project(tiny, small))


def child(stage: str, variant: str, data: Path, ready: Path) -> dict:
    import numba
    import torch

    from atlas import cores

    run, warm = _stage_call(stage, data)
    warm()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # a UMAP warm-up leaves numba at 1
    defaults = {"torch": torch.get_num_threads(), "numba": numba.get_num_threads()}
    plan = None
    if variant.endswith("default"):
        every_core = len(cores.allowed_cores())
        for module in ("atlas.projections.base", "atlas.projections.tsne"):  # openTSNE at one thread per core
            sys.modules[module].fitted_thread_count = lambda: every_core

        def timed():
            return run()
    else:

        def timed():
            nonlocal plan
            with cores.fitted_threads(stage) as plan:
                return run()

    ready.touch()  # the parent's time limit starts now
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    timed()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds, "cpu_seconds": time.process_time() - cpu, "load_average": load,
        "threads": plan.threads if plan else None, "idle_cores_seen": plan.idle if plan else None,
        "default_threads": defaults,
    }


# ==========================================================================================
# Parent: the schedule, the busy neighbour, the table
# ==========================================================================================


def measure(stage: str, variant: str, data: Path, timeout: float, setup_timeout: float = 900.0) -> dict:
    """One child run; ``timeout`` counts from the end of its imports and warm-up."""
    out = data / f"result-{os.getpid()}-{time.monotonic_ns()}.json"
    ready = Path(f"{out}.ready")
    cmd = [sys.executable, __file__, "--child", stage, variant, str(data), str(out)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    neighbour = subprocess.Popen(["python3", "-c", "while True: pass"]) if variant.startswith("busy") else None
    launched = time.monotonic()
    started = None
    try:
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
            while proc.poll() is None:
                time.sleep(0.05)
                now = time.monotonic()
                if started is None and ready.exists():
                    started = now
                if (started is None and now - launched > setup_timeout) or (started is not None and now - started > timeout):
                    proc.kill()
                    proc.wait()
                    return {"seconds": None, "timeout": timeout, "load_average": os.getloadavg()[0]}
            if proc.returncode != 0:
                err.seek(0)
                return {"error": err.read().strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]}
        return {**json.loads(out.read_text()), "setup_seconds": (started or time.monotonic()) - launched}
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()


def _median(runs: list[dict]) -> float | None:
    times = [r["seconds"] for r in runs if r.get("seconds") is not None]
    return statistics.median(times) if times and len(times) == len(runs) else None


def _secs(runs: list[dict]) -> str:
    if not runs:
        return "–"
    med = _median(runs)
    if med is not None:
        return f"{med:.2f} s"
    if any("timeout" in r for r in runs):
        return f"> {runs[0].get('timeout', 0):.0f} s"
    return "error"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{a / b:.2f}×"


def report(results: dict) -> None:
    print("\nmedians; ratios against the same stage in the same run; target: busy fitted / idle default ≤ 2×")
    header = ["stage", *VARIANTS, "fitted/default idle", "fitted/default busy", "busy/idle default", "busy/idle fitted",
              "busy fitted/idle default", "threads fitted idle|busy", "load avg"]
    rows = []
    for stage, runs in results["runs"].items():
        med = {v: _median(runs[v]) for v in VARIANTS}
        threads = "|".join(",".join(str(r.get("threads")) for r in runs[v]) for v in ("idle fitted", "busy fitted"))
        loads = [r["load_average"] for v in VARIANTS for r in runs[v] if "load_average" in r]
        rows.append([
            stage, *(_secs(runs[v]) for v in VARIANTS),
            _ratio(med["idle fitted"], med["idle default"]), _ratio(med["busy fitted"], med["busy default"]),
            _ratio(med["busy default"], med["idle default"]), _ratio(med["busy fitted"], med["idle fitted"]),
            _ratio(med["busy fitted"], med["idle default"]), threads,
            f"{min(loads):.1f}–{max(loads):.1f}" if loads else "–",
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller inputs and one repetition")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    ap.add_argument("--gowalla", nargs="?", const=str(GOWALLA), help=f"also gowalla's train.txt (default {GOWALLA})")
    ap.add_argument("--gowalla-only", action="store_true", help="with --gowalla: only the gowalla stages")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before one measurement (after its warm-up) is given up")
    ap.add_argument("--out", help="JSON output (default bench/results/threads-<time>.json)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.child:
        stage, variant, data, out = opts.child
        Path(out).write_text(json.dumps(child(stage, variant, Path(data), Path(out + ".ready"))))
        return 0

    stages = [s for s in opts.stages.split(",") if s]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        ap.error(f"unknown stages {bad}; choose from {', '.join(STAGES)}")
    gowalla = Path(opts.gowalla) if opts.gowalla else None
    if gowalla is not None and not gowalla.exists():
        print(f"gowalla skipped: no file at {gowalla}")
        gowalla = None
    if gowalla is not None:
        stages = [f"gowalla-{s}" for s in stages] if opts.gowalla_only else stages + [f"gowalla-{s}" for s in stages]
    reps = 1 if opts.quick else opts.reps
    out_path = Path(opts.out) if opts.out else ROOT / "bench" / "results" / f"threads-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    results: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
                     "cores": len(os.sched_getaffinity(0)), "reps": reps, "quick": opts.quick,
                     "load_average_at_start": os.getloadavg(), "runs": {s: {v: [] for v in VARIANTS} for s in stages}}
    print(f"bench_threads — commit {commit}, {results['cores']} cores, load average {results['load_average_at_start'][0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="atlas-threads-") as tmp:
        data = Path(tmp)
        start = time.perf_counter()
        results["inputs"] = prepare(data, "quick" if opts.quick else "full", gowalla)
        print(f"inputs ready in {time.perf_counter() - start:.0f} s: {json.dumps(results['inputs'])}")
        for rep in range(reps):
            for stage in stages:
                order = VARIANTS[rep % 4:] + VARIANTS[: rep % 4]  # each variant takes each slot in turn
                for variant in order:
                    r = measure(stage, variant, data, opts.timeout)
                    results["runs"][stage][variant].append(r)
                    shown = "error: " + " ".join(r["error"]) if "error" in r else (
                        f"> {r['timeout']:.0f} s" if r.get("seconds") is None else f"{r['seconds']:.2f} s")
                    extra = "" if r.get("threads") is None else f", {r['threads']} threads ({r['idle_cores_seen']:.2f} idle cores seen)" \
                        if r.get("idle_cores_seen") is not None else f", {r['threads']} threads"
                    print(f"  rep {rep + 1} {stage:<22} {variant:<13} {shown}{extra}, load avg {r.get('load_average', float('nan')):.1f}", flush=True)
                    out_path.write_text(json.dumps(results, indent=1))
    report(results)
    print(f"\nraw numbers: {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
