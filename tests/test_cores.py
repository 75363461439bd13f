"""atlas.cores: threads fitted to the idle cores, applied to every pool for one stage and restored."""

from __future__ import annotations

import contextlib
import threading

import numba
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

import atlas
from atlas import cores


def load(*busy):
    """A fake load reading: the busy percentage of CPUs 0, 1, 2, …"""
    return lambda: list(busy)


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(cores, "allowed_cores", lambda: [0, 1, 2, 3])


@pytest.mark.parametrize(
    ("busy", "expected"),
    [
        ((0, 0, 0, 0), 4),  # idle machine: every core
        ((100, 0, 0, 0), 3),  # one busy neighbour: one thread fewer
        ((100, 100, 0, 0), 2),
        ((100, 100, 100, 100), 1),  # all busy: one thread, never zero
        ((100, 100, 100, 70), 1),  # less than one free core
        ((100, 100, 35, 35), 2),  # 1.3 idle cores: two
        ((10, 5, 0, 20), 4),  # background flicker does not cost a thread
        ((0, 0, 0, 0, 100, 100, 100, 100), 4),  # busy CPUs outside this process's affinity do not count
    ],
)
def test_threads_follow_the_idle_cores(four_cores, busy, expected):
    assert cores.plan_threads(read_load=load(*busy)).threads == expected


def test_unreadable_load_uses_every_core(four_cores):
    def broken():
        raise OSError("no /proc here")

    plan = cores.plan_threads(read_load=broken)
    assert (plan.threads, plan.idle) == (4, None)
    assert cores.plan_threads(read_load=load()).threads == 4  # no reading for our CPUs


def test_limit_caps_the_threads_but_never_below_one(four_cores):
    assert cores.plan_threads(read_load=load(0, 0, 0, 0), limit=2).threads == 2
    assert cores.plan_threads(read_load=load(0, 0, 0, 0), limit=0).threads == 1


def test_the_real_load_reading_covers_every_cpu():
    busy = cores.sample_cpu_load()
    assert len(busy) >= max(cores.allowed_cores()) + 1
    assert all(0.0 <= b <= 100.0 for b in busy)


def test_a_recent_load_sample_is_reused(monkeypatch):
    import psutil

    calls = []

    def fake_cpu_percent(interval=None, percpu=False):
        calls.append(interval)
        return [float(len(calls))] * 2

    monkeypatch.setattr(psutil, "cpu_percent", fake_cpu_percent)
    monkeypatch.setattr(cores, "_last_sample", None)
    assert cores.sample_cpu_load() == cores.sample_cpu_load() == [1.0, 1.0]
    assert calls == [cores.SAMPLE_SECONDS]
    monkeypatch.setattr(cores, "REUSE_SECONDS", 0.0)
    assert cores.sample_cpu_load() == [2.0, 2.0]


def test_outside_a_stage_the_count_is_fitted_to_the_load_now(monkeypatch):
    monkeypatch.setattr(cores, "allowed_cores", lambda: [0, 1])
    monkeypatch.setattr(cores, "sample_cpu_load", load(100, 0))
    assert cores.fitted_thread_count() == 1
    monkeypatch.setattr(cores, "sample_cpu_load", load(0, 0))
    assert cores.fitted_thread_count() == 2


def pools() -> dict[str, int]:
    return {
        "torch": torch.get_num_threads(),
        "numba": numba.get_num_threads(),
        **{f"{p['internal_api']} {p['filepath']}": p["num_threads"] for p in threadpool_info()},
    }


@pytest.fixture
def two_cores(monkeypatch):
    """Two allowed cores, every pool starting at two threads (as on an idle 2-core machine)."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba runs a single thread here")
    monkeypatch.setattr(cores, "allowed_cores", lambda: [0, 1])
    before = (torch.get_num_threads(), numba.get_num_threads())
    torch.set_num_threads(2)
    numba.set_num_threads(2)
    yield
    torch.set_num_threads(before[0])
    numba.set_num_threads(before[1])


def test_a_busy_core_fits_every_pool_to_one_thread_and_restores_them(two_cores):
    start = pools()
    with cores.fitted_threads("cooccurrence", read_load=load(100, 0)) as plan:
        inside = pools()
        assert cores.fitted_thread_count() == 1
    assert plan.threads == 1
    assert set(inside.values()) == {1}, inside  # torch, numba and every BLAS/OpenMP pool
    assert len(inside) >= 3  # numpy's BLAS at least, beside torch and numba
    assert pools() == start


def test_idle_cores_keep_every_thread_but_blas(two_cores):
    with contextlib.suppress(ImportError):
        import faiss  # noqa: F401  -- loads an OpenBLAS that takes its thread count from OpenMP
    with cores.fitted_threads("cooccurrence", read_load=load(0, 0)):
        assert (torch.get_num_threads(), numba.get_num_threads(), cores.fitted_thread_count()) == (2, 2, 2)
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and set(blas) == {1}  # LAPACK may split sums by thread count: always one


@pytest.mark.parametrize("stage", ["embedding", "pymde", "a stage without a rule", None])
def test_stages_whose_sums_follow_the_thread_count_run_one_thread_on_idle_cores(two_cores, monkeypatch, stage):
    monkeypatch.setenv(cores.THREADS_ENV, "2")
    with cores.fitted_threads(stage, read_load=load(0, 0)) as plan:
        assert (torch.get_num_threads(), numba.get_num_threads(), cores.fitted_thread_count()) == (1, 1, 1)
    assert plan.threads == 1 and plan.fixed
    assert (torch.get_num_threads(), numba.get_num_threads()) == (2, 2)


def test_forced_threads_replace_the_load(four_cores, monkeypatch):
    def must_not_be_read():
        raise AssertionError("the load was read although ATLAS_THREADS is set")

    monkeypatch.setenv(cores.THREADS_ENV, "3")
    plan = cores.plan_stage("tsne", read_load=must_not_be_read)
    assert (plan.threads, plan.forced, plan.fixed) == (3, True, None)
    assert cores.plan_stage("embedding", read_load=must_not_be_read).threads == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_forced_count_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv(cores.THREADS_ENV, value)
    with pytest.raises(atlas.AtlasError, match="ATLAS_THREADS must be a whole number of threads, 1 or more"):
        cores.plan_threads()


def test_every_fixed_stage_says_why():
    fixed = cores.fixed_stages()
    assert set(fixed) == {"embedding", "pymde"}
    assert all(why.startswith("1 thread: ") and len(why) > 30 for why in fixed.values())


def test_thread_counts_are_restored_after_an_exception(two_cores):
    start = pools()
    with pytest.raises(ValueError, match="stage failed"):
        with cores.fitted_threads("cooccurrence", read_load=load(100, 0)):
            assert torch.get_num_threads() == 1
            raise ValueError("stage failed")
    assert pools() == start


def test_a_stage_that_sets_numba_itself_does_not_leak_it(two_cores):
    # UMAP sets numba's thread count to its n_jobs (1 when seeded) and leaves it there
    with cores.fitted_threads("cooccurrence", read_load=load(0, 0)):
        numba.set_num_threads(1)
    assert numba.get_num_threads() == 2


def test_nested_stages_keep_the_outer_plan(two_cores):
    def must_not_be_read():
        raise AssertionError("the load was sampled again")

    with cores.fitted_threads("cooccurrence", read_load=load(100, 0)):
        with cores.fitted_threads("cooccurrence", read_load=must_not_be_read) as inner:
            assert inner.threads == 1
        assert torch.get_num_threads() == 1  # the inner exit restored nothing of the outer's


@numba.njit(parallel=True)
def _thread_ids(n):
    out = np.empty(n, dtype=np.int64)
    for i in numba.prange(n):
        out[i] = numba.get_thread_id()
    return out


def test_numba_thread_count_applies_to_a_kernel_compiled_with_more_threads(two_cores):
    # compiled and run with two threads first: the count is a mask over the running pool
    assert _thread_ids(10_000).max() <= 1
    with cores.fitted_threads("cooccurrence", read_load=load(100, 0)):
        assert set(_thread_ids(10_000)) == {0}
    assert numba.get_num_threads() == 2


def test_pipeline_stages_run_under_the_fitted_threads(two_cores, monkeypatch, planted):
    import atlas.pipeline as pipeline_module

    seen = []
    real = pipeline_module.cooccurrence_candidates

    def recording(*args, **kwargs):
        seen.append((numba.get_num_threads(), torch.get_num_threads()))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "cooccurrence_candidates", recording)
    monkeypatch.setattr(cores, "sample_cpu_load", load(100, 0))
    p = atlas.Pipeline()
    profiles = p.profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))
    p.cooccurrence(profiles, atlas.CooccurrenceParams(n_candidates=5))
    assert seen == [(1, 1)]
    assert (numba.get_num_threads(), torch.get_num_threads()) == (2, 2)


def test_tsne_takes_its_n_jobs_from_the_fitted_count(two_cores, monkeypatch, built):
    import openTSNE

    seen = []

    class Recording(openTSNE.TSNE):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs["n_jobs"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(openTSNE, "TSNE", Recording)
    params = atlas.TsneParams(perplexity=10, n_iter=50)
    with cores.fitted_threads("tsne", read_load=load(100, 0)):
        atlas.project(built.embedding, params)
    with cores.fitted_threads("tsne", read_load=load(0, 0)):
        atlas.project(built.embedding, params)
    assert seen == [1, 2]


def test_a_share_of_the_cores_caps_the_threads_of_the_stages_planned_inside(four_cores, monkeypatch):
    """Two stages side by side on four idle cores get two threads each; a stage with a fixed count keeps it."""
    with cores.sharing(2):
        assert cores.plan_threads(read_load=load(0, 0, 0, 0)).threads == 2
        assert cores.plan_threads(read_load=load(100, 100, 100, 0)).threads == 1  # fewer idle than the share
        assert cores.plan_stage("pymde", read_load=load(0, 0, 0, 0)).threads == 1
        assert cores.plan_stage("umap", read_load=load(0, 0, 0, 0)).threads == 2  # its epochs are the same at any count
        monkeypatch.setenv("ATLAS_THREADS", "4")
        assert cores.plan_threads().threads == 2
    assert cores.plan_threads().threads == 4  # outside, the forced count again


def test_layouts_run_one_after_the_other_where_numbas_pool_cannot_take_two_threads(monkeypatch):
    """numba's workqueue layer aborts the process when two threads launch parallel kernels at once."""
    monkeypatch.setenv("ATLAS_THREADS", "2")
    monkeypatch.setattr(cores, "_numba_layer", lambda: "workqueue")
    assert cores.side_by_side_cores() == 1
    monkeypatch.setattr(cores, "_numba_layer", lambda: "omp")
    assert cores.side_by_side_cores() == 2
    monkeypatch.undo()
    assert cores._numba_layer() in ("omp", "tbb", "workqueue")  # the real one, the pool started if need be


def test_stages_side_by_side_take_every_core_even_when_one_is_busy_at_the_start(four_cores, monkeypatch):
    """Independent stages on a core that is busy now are slowed, not held up: the browser drawing
    the app's page must not make the layouts run one after the other for minutes."""
    monkeypatch.delenv("ATLAS_THREADS", raising=False)
    monkeypatch.setattr(cores, "_numba_layer", lambda: "omp")
    monkeypatch.setattr(cores, "sample_cpu_load", lambda: [100.0, 100.0, 100.0, 0.0])  # one idle core of four
    assert cores.plan_threads().threads == 1  # one stage alone: the idle core
    assert cores.side_by_side_cores() == 4  # stages side by side: every core
    with cores.sharing(4 // 3):  # three layouts on four cores: one thread each, whatever the load
        assert cores.plan_threads(read_load=load(0, 0, 0, 0)).threads == 1
    monkeypatch.setenv("ATLAS_THREADS", "1")
    assert cores.side_by_side_cores() == 1  # a forced single thread: one after the other


def test_free_cores_follow_what_the_other_processes_leave(two_cores, monkeypatch):
    """A long stage planned while a neighbour was busy takes the second core once it is free; its
    own threads never count as a neighbour; the share of ``sharing`` and ATLAS_THREADS bound it."""
    monkeypatch.delenv(cores.THREADS_ENV, raising=False)
    clock, busy, own = [0.0], [0.0], [0.0]

    def free_cores():
        return cores.FreeCores(0.5, read_busy=lambda: busy[0], read_own=lambda: own[0], clock=lambda: clock[0])

    def tick(seconds, busy_cores, own_cores):
        clock[0] += seconds
        busy[0] += seconds * busy_cores
        own[0] += seconds * own_cores

    free = free_cores()
    tick(1.0, 2.0, 1.0)  # this stage on one core, a neighbour on the other
    assert free.threads(1) == 1
    tick(1.0, 1.0, 1.0)  # the neighbour is gone: only this stage's own thread is busy
    assert free.threads(1) == 2
    tick(0.2, 2.0, 2.0)  # within the window the count stays
    assert free.threads(2) == 2
    tick(1.0, 2.0, 2.0)  # both cores busy with this stage's own threads: still no neighbour
    assert free.threads(2) == 2
    with cores.sharing(1):
        capped = free_cores()
    tick(1.0, 0.0, 0.0)
    assert capped.threads(1) == 1
    monkeypatch.setenv(cores.THREADS_ENV, "1")
    assert free_cores().threads(2) == 1


def test_a_lane_that_runs_out_of_stages_leaves_its_share_to_the_others(two_cores, monkeypatch):
    """Two layouts side by side on two cores: one thread each while both run; when one lane has
    nothing left, a stage still running in the other (UMAP's epochs, t-SNE's final phase) may take
    both cores at its next re-count."""
    monkeypatch.delenv(cores.THREADS_ENV, raising=False)
    lanes = cores.Lanes(2, 2)
    seen = {}

    def first_lane(started, first_done):
        with lanes.lane():
            free = cores.FreeCores(0.0, read_busy=lambda: 0.0, read_own=lambda: 0.0, clock=iter(range(100)).__next__)
            seen["both running"] = (cores.plan_threads(read_load=load(0, 0)).threads, free.threads(1))
            started.set()
            first_done.wait(5)
            seen["alone"] = (cores.plan_threads(read_load=load(0, 0)).threads, free.threads(1))

    started, first_done = threading.Event(), threading.Event()
    thread = threading.Thread(target=first_lane, args=(started, first_done))
    thread.start()
    started.wait(5)
    with lanes.lane():  # the other lane: its one stage, then nothing left
        assert cores.plan_threads(read_load=load(0, 0)).threads == 1
    first_done.set()
    thread.join(5)
    assert seen == {"both running": (1, 1), "alone": (2, 2)}
