"""Same command, same input, same bytes — whatever the load and however many threads a stage gets.

The stages that may follow the load (``atlas.cores.STAGE_RULES``) are checked here at one and at
two threads; whole builds of the demo run in fresh processes with ``ATLAS_THREADS`` (and every
library's own thread variable) at 1 and at 2, beside a busy process, and through ``atlas rebuild``,
and their exports are compared byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pytest

import atlas
from atlas import cores

ROOT = Path(__file__).resolve().parents[1]
EXPORTED = ("layout.csv", "layout.parquet", "neighbors.parquet", "regions.parquet")


def sha(*arrays: np.ndarray) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


@pytest.fixture
def two_threads_possible():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba runs a single thread here")


def at_threads(monkeypatch, stage: str, threads: int, compute):
    """``compute()`` inside ``stage``'s thread plan with ``threads`` forced, and the plan."""
    monkeypatch.setenv(cores.THREADS_ENV, str(threads))
    with cores.fitted_threads(stage) as plan:
        value = compute()
    return value, plan


# -- each stage that runs on the idle cores: the same bytes at 1 and at 2 threads ----------------


def test_cooccurrence_rows_do_not_depend_on_the_thread_count(monkeypatch, two_threads_possible):
    profiles = atlas.build_profiles(atlas.synthetic_profiles(3000, 900, mean_profile_length=30, seed=5), atlas.FilterParams(min_item_users=2, min_user_items=2))
    digests = {}
    for threads in (1, 2):
        found, plan = at_threads(monkeypatch, "cooccurrence", threads, lambda: atlas.cooccurrence_candidates(profiles))
        assert plan.threads == threads
        digests[threads] = sha(found.index, found.score, found.count)
    assert digests[1] == digests[2]


@pytest.mark.parametrize("params", [atlas.TsneParams(perplexity=15, n_iter=150, exaggeration_iter=50), atlas.PacmapParams(n_neighbors=8, n_iter=250)], ids=["tsne", "pacmap"])
def test_projections_on_the_idle_cores_do_not_depend_on_the_thread_count(monkeypatch, two_threads_possible, built, params):
    method = atlas.projections.of(params).name
    assert cores.stage_rule(method).threads is None  # it does follow the load
    digests, used = {}, {}
    for threads in (1, 2):
        layout, plan = at_threads(monkeypatch, method, threads, lambda: atlas.project(built.embedding, params))
        digests[threads], used[threads] = sha(layout.xy), plan.threads
    assert used == {1: 1, 2: 2}
    assert digests[1] == digests[2]


def test_neighbours_and_regions_do_not_depend_on_the_thread_count(monkeypatch, two_threads_possible, built, planted):
    layout = next(iter(built.layouts.values()))
    digests = {}
    for threads in (1, 2):
        near, _ = at_threads(monkeypatch, "neighbors", threads, lambda: atlas.embedding_neighbors(built.embedding, 40))
        regions, _ = at_threads(monkeypatch, "regions", threads, lambda: atlas.Pipeline().regions(layout, built.profiles, planted, atlas.RegionParams(min_region_size=8)))
        digests[threads] = (sha(near.indices, near.distances), sha(regions.labels), regions.table.to_csv(index=False))
    assert digests[1] == digests[2]


@pytest.mark.parametrize("stage", ["embedding", "pymde"])
def test_stages_whose_sums_depend_on_the_count_keep_one_thread_when_more_are_forced(monkeypatch, stage):
    _, plan = at_threads(monkeypatch, stage, 2, lambda: None)
    assert (plan.threads, plan.forced) == (1, False)
    assert plan.fixed and stage in cores.fixed_stages()


# -- whole builds in fresh processes --------------------------------------------------------------

#: The demo with every projection, shortened (fewer iterations change no thread's arithmetic).
BUILD = [
    "build", "--demo", "--compare", "umap,tsne,pacmap,pymde", "--max-iter", "100", "--umap-epochs", "150",
    "--tsne-iter", "150", "--tsne-exaggeration-iter", "50", "--pacmap-iter", "250", "--no-cache", "--quiet",
]  # fmt: skip


def run_atlas(args: list[str], out: Path, threads: int | None) -> dict:
    """``atlas ARGS`` in a fresh process, every pool at ``threads`` (None: as the load decides);
    returns the digests of every layout and region table it computed (``tests/build_digest.py``)."""
    env = {k: v for k, v in os.environ.items() if k != cores.THREADS_ENV}
    env["PYTHONPATH"] = str(ROOT)
    if threads is not None:
        env[cores.THREADS_ENV] = str(threads)
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            env[name] = str(threads)
    digests = out.parent / f"{out.name}-digests.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "build_digest.py"), str(digests), *args, "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(digests.read_text())


def exported_bytes(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in EXPORTED}


def differing(a: Path, b: Path) -> list[str]:
    left, right = exported_bytes(a), exported_bytes(b)
    return [name for name in EXPORTED if left[name] != right[name]]


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    """The demo built with every pool at one thread, and at two."""
    folder = tmp_path_factory.mktemp("threads")
    return {threads: (folder / f"t{threads}", run_atlas(BUILD, folder / f"t{threads}", threads)) for threads in (1, 2)}


@pytest.mark.slow
def test_one_and_two_threads_export_the_same_bytes(one_and_two, two_threads_possible):
    (out1, digests1), (out2, digests2) = one_and_two[1], one_and_two[2]
    # the two builds did run their load-following stages at different counts ...
    assert digests1["threads"]["cooccurrence"] == 1 and digests2["threads"]["cooccurrence"] == 2
    assert digests2["threads"]["embedding"] == 1  # its rule; the SVD's products took the two threads
    # the layouts ran one by one in the first build, side by side on the two threads in the second
    assert digests2["threads"]["tsne"] == 1 and digests2["threads"]["pacmap"] == 1
    # ... and gave the same files and the same layouts of every projection
    assert differing(out1, out2) == []
    assert {k: v for k, v in digests1.items() if k != "threads"} == {k: v for k, v in digests2.items() if k != "threads"}
    manifest = json.loads((out2 / "manifest.json").read_text())
    assert manifest["threads"]["forced"] == 2 and manifest["threads"]["stages"]["embedding"] == 1
    assert set(manifest["threads"]["fixed"]) == {"embedding", "pymde"}


@pytest.mark.slow
def test_a_build_beside_a_busy_process_exports_the_same_bytes(one_and_two, tmp_path):
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let the load reading see it
        digests = run_atlas(BUILD, tmp_path / "busy", None)
    finally:
        busy.kill()
        busy.wait()
    out1, digests1 = one_and_two[1]
    assert differing(out1, tmp_path / "busy") == []
    assert {k: v for k, v in digests.items() if k != "threads"} == {k: v for k, v in digests1.items() if k != "threads"}


@pytest.mark.slow
def test_a_rebuild_at_another_thread_count_exports_the_same_bytes(one_and_two, tmp_path):
    out2, _ = one_and_two[2]
    run_atlas(["rebuild", str(out2), "--no-cache", "--quiet"], tmp_path / "rebuilt", 1)
    assert differing(out2, tmp_path / "rebuilt") == []
