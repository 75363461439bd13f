"""Part — the co-occurrence stage on Spark, on this one machine: how much slower than the numba
kernel, and whether it scales with cores and partitions.

* ``engine``: the whole stage (read, filter, index, candidates) on a synthetic Parquet log —
  ``atlas.scan`` + the numba kernel against ``spark_stage`` in ``local[2]`` — each in its own
  child; and, inside one child on the same profiles, the kernel against ``spark_cooccurrence``
  (the candidates alone). Both routes' candidates are compared array for array.
* ``cores``: ``spark_stage`` in ``local[1]`` against ``local[2]`` on the same data (time ratio).
* ``partitions``: ``spark_cooccurrence`` with 2, 4, 8 … item blocks, one session.
* ``formulation``: the item-block kernel against the SQL self-join, one session.

Spark's session start (JVM, a few seconds to a minute on a busy machine) is timed apart from
the stage. The data is written first by ``part_scale.task_generate`` and not counted.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from harness import Runner, code_fingerprint, gib, say, secs, start_measuring, table

FILTER = {"min_item_users": 10, "min_user_items": 5}
LOCAL_CONF = ("spark.sql.shuffle.partitions=8", "spark.driver.memory=6g")


def digest(c) -> str:
    h = hashlib.sha256()
    for arr in (c.index, c.score, c.count):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _warm():
    from inputs import warm_numba

    return warm_numba()


def task_numba_stage(args: dict) -> dict:
    """``atlas.scan`` + the kernel (2 threads) on the Parquet log: the stage on this machine."""
    import atlas

    _warm()
    mem = start_measuring()
    start = time.perf_counter()
    profiles = atlas.scan_profiles(args["path"], atlas.FilterParams(**FILTER))
    middle = time.perf_counter()
    cands = atlas.cooccurrence_candidates(profiles, atlas.CooccurrenceParams(weighting=args["weighting"]))
    end = time.perf_counter()
    return {"profiles_seconds": middle - start, "cooccurrence_seconds": end - middle, "seconds": end - start, "digest": digest(cands),
            "summary": profiles.summary(), "pair_updates": profiles.pair_updates, **mem}


def _session(master: str, extra=()):
    from atlas.engines import EngineParams
    from atlas.engines.spark_session import spark_session

    engine = EngineParams(name="spark", master=master, conf=(*LOCAL_CONF, *extra))
    return engine, spark_session(engine)


def task_spark_stage(args: dict) -> dict:
    """``spark_stage`` (read, filter, index, candidates) on the Parquet log."""
    import dataclasses

    import atlas
    from atlas.engines.spark import spark_stage

    mem = start_measuring()
    start = time.perf_counter()
    engine, session = _session(args["master"], tuple(args.get("conf", ())))
    engine = dataclasses.replace(engine, formulation=args.get("formulation", "blocks"), partitions=args.get("partitions"))
    with session as spark:
        ready = time.perf_counter()
        items, cands = spark_stage(args["path"], atlas.FilterParams(**FILTER), atlas.CooccurrenceParams(weighting=args["weighting"]), engine, spark=spark)
        end = time.perf_counter()
    return {"session_seconds": ready - start, "seconds": end - ready, "digest": digest(cands), "summary": items.summary(), **mem}


def task_kernel_vs_spark(args: dict) -> dict:
    """On the same profiles in one process: the kernel, then ``spark_cooccurrence`` for each
    (formulation, partitions) asked; every result compared with the kernel's."""
    import dataclasses

    import atlas
    from atlas.engines.spark import spark_cooccurrence

    _warm()
    profiles = atlas.scan_profiles(args["path"], atlas.FilterParams(**FILTER))
    params = atlas.CooccurrenceParams(weighting=args["weighting"])
    mem = start_measuring()
    start = time.perf_counter()
    kernel = atlas.cooccurrence_candidates(profiles, params)
    out = {"kernel_seconds": time.perf_counter() - start, "summary": profiles.summary(), "pair_updates": profiles.pair_updates, "runs": []}
    engine, session = _session(args["master"])
    with session as spark:
        for formulation, partitions in args["configs"]:
            run_engine = dataclasses.replace(engine, formulation=formulation, partitions=partitions)
            t = time.perf_counter()
            cands = spark_cooccurrence(profiles, params, run_engine, spark=spark)
            seconds = time.perf_counter() - t
            same = digest(cands) == digest(kernel)
            say(f"spark {formulation} × {partitions}: {seconds:.1f}s, same as the kernel: {same}")
            out["runs"].append({"formulation": formulation, "partitions": partitions, "seconds": seconds, "same": same})
    return {**out, **mem}


def task_dimsum(args: dict) -> dict:
    """MLlib's DIMSUM (``RowMatrix.columnSimilarities``) for cosine on the same profiles, at each
    threshold asked: its time, and how many of the kernel's top partners it finds with the same
    cosine (it samples pairs above the threshold, so it is an estimate, not the kernel's answer)."""
    import atlas
    from pyspark.mllib.linalg import Vectors
    from pyspark.mllib.linalg.distributed import RowMatrix
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _warm()
    profiles = atlas.scan_profiles(args["path"], atlas.FilterParams(**FILTER))
    k = args.get("k", 15)
    kernel = atlas.cooccurrence_candidates(profiles, atlas.CooccurrenceParams(weighting="cosine", n_candidates=k))
    mem = start_measuring()
    matrix = profiles.matrix
    n_items = profiles.n_items
    rows_py = [(matrix.indices[lo:hi].tolist()) for lo, hi in zip(matrix.indptr[:-1], matrix.indptr[1:])]
    out = {"summary": profiles.summary(), "runs": []}
    engine, session = _session(args["master"])
    with session as spark:
        for threshold in args["thresholds"]:
            t = time.perf_counter()
            vectors = spark.sparkContext.parallelize(rows_py, 8).map(lambda cols: Vectors.sparse(n_items, sorted(cols), [1.0] * len(cols)))
            sims = RowMatrix(vectors).columnSimilarities(threshold).entries.map(lambda e: (int(e.i), int(e.j), float(e.value)))
            pairs = spark.createDataFrame(sims, "i int, j int, v double")
            both = pairs.union(pairs.select(F.col("j").alias("i"), F.col("i").alias("j"), "v"))
            top = both.withColumn("r", F.row_number().over(Window.partitionBy("i").orderBy(F.desc("v"), "j"))).where(F.col("r") <= k).toPandas()
            seconds = time.perf_counter() - t
            found = set(zip(top["i"], top["j"]))
            truth = {(i, int(j)) for i in range(n_items) for j in kernel.index[i] if j >= 0}
            share = len(found & truth) / max(1, len(truth))
            say(f"DIMSUM threshold {threshold}: {seconds:.1f}s, {share:.1%} of the kernel's top-{k} cosine partners")
            out["runs"].append({"threshold": threshold, "seconds": seconds, "found_share": share, "pairs": len(top)})
    return {**out, **mem}


def bench_spark(runner: Runner, opts, results: dict) -> None:
    from part_scale import SIZES, task_generate

    print("\n== Co-occurrence on Spark, one machine ==", flush=True)
    out = results.setdefault("spark", {"code": code_fingerprint()})
    paths = {}
    for name in {opts.engine_size, opts.cores_size, opts.partitions_size, opts.formulation_size}:
        folder = runner.workdir / f"lake-{name}"
        if not folder.exists():
            gen = runner.run(task_generate, {"folder": str(folder), "rows": SIZES[name]}, timeout=opts.scale_timeout)
            say(f"{name}: {gen['status']}, {gen.get('rows', 0):,} rows")
        paths[name] = str(folder)
    weighting = "cosine"
    if "engine" in opts.spark_parts:
        path = paths[opts.engine_size]
        here = runner.run(task_numba_stage, {"path": path, "weighting": weighting}, timeout=opts.spark_timeout)
        there = runner.run(task_spark_stage, {"path": path, "weighting": weighting, "master": "local[2]"}, timeout=opts.spark_timeout)
        pair = runner.run(task_kernel_vs_spark, {"path": path, "weighting": weighting, "master": "local[2]", "configs": [["blocks", None]]},
                          timeout=opts.spark_timeout)
        out["engine"] = {"size": opts.engine_size, "numba": here, "spark": there, "pair": pair}
        _report_engine(out["engine"])
    if "cores" in opts.spark_parts:
        path = paths[opts.cores_size]
        runs = {1: [], 2: []}
        for _ in range(opts.spark_reps):
            for cores in (1, 2):
                runs[cores].append(runner.run(task_spark_stage, {"path": path, "weighting": weighting, "master": f"local[{cores}]"}, timeout=opts.spark_timeout))
        out["cores"] = {"size": opts.cores_size, "runs": runs}
        _report_cores(out["cores"])
    if "partitions" in opts.spark_parts:
        configs = [["blocks", b] for b in (2, 4, 8, 16)]
        res = runner.run(task_kernel_vs_spark, {"path": paths[opts.partitions_size], "weighting": weighting, "master": "local[2]", "configs": configs},
                         timeout=opts.spark_timeout)
        out["partitions"] = {"size": opts.partitions_size, **res}
        _report_runs("item blocks", out["partitions"])
    if "dimsum" in opts.spark_parts:
        res = runner.run(task_dimsum, {"path": paths[opts.formulation_size], "master": "local[2]", "thresholds": [0.0, 0.1]}, timeout=opts.spark_timeout)
        out["dimsum"] = {"size": opts.formulation_size, **res}
        if res["status"] == "ok":
            table(f"MLlib DIMSUM on {opts.formulation_size} (cosine; share of the kernel's top-15 partners found)", ["threshold", "time", "found"],
                  [[r["threshold"], secs(r["seconds"]), f"{r['found_share']:.1%}"] for r in res["runs"]])
        else:
            print(f"  dimsum: {res['status']}")
    if "formulation" in opts.spark_parts:
        configs = [["blocks", None], ["join", 8], ["blocks", None], ["join", 8]]
        res = runner.run(task_kernel_vs_spark, {"path": paths[opts.formulation_size], "weighting": weighting, "master": "local[2]", "configs": configs},
                         timeout=opts.spark_timeout)
        out["formulation"] = {"size": opts.formulation_size, **res}
        _report_runs("formulation", out["formulation"])


def _report_engine(e: dict) -> None:
    here, there, pair = e["numba"], e["spark"], e["pair"]
    if here["status"] != "ok" or there["status"] != "ok":
        print(f"  engine: numba {here['status']}, spark {there['status']}")
        return
    s = here["summary"]
    rows = [
        ["numba: atlas.scan + kernel (2 threads)", secs(here["seconds"]), f"{secs(here['profiles_seconds'])} + {secs(here['cooccurrence_seconds'])}", gib(here["peak_rss"]), "1×"],
        ["spark_stage, local[2], blocks", secs(there["seconds"]), f"session start {secs(there['session_seconds'])}", gib(there["peak_rss"]),
         f"{there['seconds'] / here['seconds']:.1f}×"],
    ]
    table(f"the stage on {e['size']}: {s['users']:,} users × {s['items']:,} items, {s['interactions']:,} interactions; same candidates: "
          f"{here['digest'] == there['digest']}; load average {here['load']:.1f} / {there['load']:.1f}", ["route", "time", "split", "peak RSS", "vs numba"], rows)
    if pair["status"] == "ok" and pair["runs"]:
        r = pair["runs"][0]
        print(f"  candidates alone, same process and profiles: kernel {secs(pair['kernel_seconds'])}, spark blocks {secs(r['seconds'])} "
              f"({r['seconds'] / pair['kernel_seconds']:.1f}×), same: {r['same']}")


def _report_cores(c: dict) -> None:
    ok = {k: [r for r in v if r["status"] == "ok"] for k, v in c["runs"].items()}
    if not ok[1] or not ok[2]:
        print("  cores: a run failed", [r["status"] for v in c["runs"].values() for r in v])
        return
    one, two = (float(np.median([r["seconds"] for r in ok[k]])) for k in (1, 2))
    rows = [[f"local[{k}]", secs(float(np.median([r["seconds"] for r in ok[k]]))), len(ok[k]), gib(max(r["peak_rss"] for r in ok[k])),
             ", ".join(f"{r['load']:.1f}" for r in ok[k])] for k in (1, 2)]
    table(f"spark_stage on {c['size']}: local[1] vs local[2] (median); local[1] / local[2] = {one / two:.2f}×", ["master", "time", "runs", "peak RSS", "load averages"], rows)


def _report_runs(title: str, res: dict) -> None:
    if res["status"] != "ok":
        print(f"  {title}: {res['status']}")
        return
    rows = [[r["formulation"], r["partitions"] or "default", secs(r["seconds"]), f"{r['seconds'] / res['kernel_seconds']:.1f}×", r["same"]] for r in res["runs"]]
    table(f"{title} on {res['size']} ({res['summary']['interactions']:,} interactions; kernel {secs(res['kernel_seconds'])}; load {res['load']:.1f})",
          ["formulation", "partitions", "time", "vs kernel", "same answer"], rows)
