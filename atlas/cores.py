"""Threads for each stage: as many as cores are idle, where that cannot change the result.

torch (PyMDE), numba (the co-occurrence kernel, UMAP), openTSNE and the BLAS/OpenMP pools start
one thread per core by default, and their threads meet at a barrier on every step. When another
process keeps a core busy, the thread that shares that core holds all the others up: on the
2-core project machine with one busy neighbour, PyMDE on a 2.8k-item graph took 15–55 s with two
threads against 2.5 s with one (1.8 s idle), and t-SNE of the demo with two busy neighbours 24 s
with two threads against 6 s with one.

A thread count that follows the load must not change the map, though: a sum split into one piece
per thread adds its terms in another order with another count, and the last bits differ. So every
stage has a rule (``STAGE_RULES``):

* a stage whose arithmetic does not depend on its thread count (each thread computes whole
  results of its own, in a fixed order: the co-occurrence rows, the k-NN queries, openTSNE's
  per-point gradients, PaCMAP's seeded pairs) runs on the idle cores;
* a stage that splits sums by thread (torch's reductions in PyMDE, the mean in UMAP's fuzzy set)
  always runs with a fixed count, one thread, whatever the load;
* a stage without a rule runs with one thread too, until a test shows its result does not change
  with the count (``tests/test_determinism.py``).

The BLAS pools run one thread in every stage: no stage spends its time in BLAS, and LAPACK's
blocked factorisations may split sums by thread count.

``fitted_threads(stage)`` decides the count (``plan_threads``: the load of this process's CPUs
over a short sample, psutil; or ``ATLAS_THREADS``, which forces a count, e.g. to check that a
build gives the same bytes with 1 and with 2), applies it to torch, numba and threadpoolctl's
pools for the duration of the stage and restores their counts afterwards, also after an
exception. Libraries that take a thread count as an argument (openTSNE's ``n_jobs``) read it from
``fitted_thread_count()``. The pipeline records each stage's count in the manifest.

torch's and the OpenMP pools' counts are process-wide: fit them from one thread at a time (the
pipeline runs its stages in one thread). numba's count is per thread. The one exception is the
layouts, which run side by side once the neighbours are found (``Stages.compute_side_by_side``):
each in a thread of its own with its share of the cores (``Lanes``), none of them using torch,
each taking its count as an argument or from numba's per-thread count, the BLAS pools at one
thread throughout. ``ATLAS_THREADS`` then forces the count of them all together.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 0.1
"""How long the load is sampled before a stage: long enough for /proc's 10 ms ticks to tell a busy
core from an idle one, short beside the stages worth fitting."""

REUSE_SECONDS = 1.0
"""A load sample this recent is reused, so that short stages run back to back pay for one sample."""

LoadReader = Callable[[], Sequence[float]]
"""Returns the busy percentage (0–100) of every CPU of the machine, indexed by CPU number, the way
``psutil.cpu_percent(percpu=True)`` does."""


THREADS_ENV = "ATLAS_THREADS"
"""Environment variable that forces the thread count of every stage that may follow the load."""


@dataclass(frozen=True)
class ThreadPlan:
    """The threads a stage runs with, from the ``idle`` cores seen among this process's ``cores``
    (or ``forced`` by ``ATLAS_THREADS``); ``fixed``: the stage always runs with ``threads``, and why."""

    threads: int
    cores: int
    idle: float | None  # None: the load could not be read (or was not: forced or fixed)
    forced: bool = False
    fixed: str | None = None


@dataclass(frozen=True)
class StageRule:
    """How a stage's result depends on its thread count: ``threads`` None — not at all, so it runs on
    the idle cores; a number — it does, so it always runs with that many. ``why`` says which.
    ``imports``: libraries the stage imports itself, whose pools must be fitted from its first run."""

    threads: int | None
    why: str
    imports: tuple[str, ...] = ()


_TORCH_SUMS = "torch splits each sum into one piece per thread, so PyMDE's result changes with the thread count"

STAGE_RULES: dict[str, StageRule] = {
    "profiles": StageRule(None, "numpy and scipy in one thread"),
    "cooccurrence": StageRule(None, "each item's row is summed by one thread in a fixed order; threads only share out the items"),
    "graph": StageRule(None, "numpy and scipy in one thread"),
    "neighbors": StageRule(None, "each k-NN query is answered whole by one thread (also in the partition search above 50,000 items, whose centroids are fitted in one thread)"),
    "tsne": StageRule(None, "openTSNE's threads share out the points of each gradient; its FFT and normaliser run in one thread"),
    "pacmap": StageRule(None, "PaCMAP sums its gradient in one thread and samples each item's pairs from a seed of its own"),
    "regions": StageRule(None, "Leiden's communities (igraph) run in one thread from a fixed seed; the names' places come from k-d tree queries, each answered whole"),
    "metrics": StageRule(None, "each k-NN query is answered whole by one thread"),
    "embedding": StageRule(1, _TORCH_SUMS, ("torch",)),
    "pymde": StageRule(1, _TORCH_SUMS, ("torch",)),
    "umap": StageRule(None, "UMAP's fuzzy set runs in one thread (its numba sum of the neighbour distances depends on the count); its epochs move each item in one thread and sum the pulls on the others in integers (umap_epochs)"),
}

UNKNOWN_STAGE = StageRule(1, "not shown to give the same result at any thread count")


def stage_rule(stage: str | None) -> StageRule:
    """The rule of ``stage``; a stage without one runs with one thread."""
    return STAGE_RULES.get(stage or "", UNKNOWN_STAGE)


def fixed_stages() -> dict[str, str]:
    """The stages that always run with a fixed thread count, and why (for the manifest)."""
    return {name: f"{rule.threads} thread{'s' * (rule.threads != 1)}: {rule.why}" for name, rule in STAGE_RULES.items() if rule.threads is not None}


def forced_threads() -> int | None:
    """The count ``ATLAS_THREADS`` forces on the stages that may follow the load (None: unset)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        from .errors import AtlasError

        raise AtlasError(f"{THREADS_ENV} must be a whole number of threads, 1 or more, got {raw!r}; unset it to follow the idle cores.")
    return int(raw)


def allowed_cores() -> list[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


_last_sample: tuple[float, list[float]] | None = None


def sample_cpu_load() -> list[float]:
    """Busy percentage of every CPU over ``SAMPLE_SECONDS`` (one reused for ``REUSE_SECONDS``).

    The sample is taken while this thread sleeps, so it sees the other processes' load, and the
    other threads of this one (a notebook's server), not the stage about to run.
    """
    import psutil

    global _last_sample
    now = time.monotonic()
    if _last_sample is not None and now - _last_sample[0] < REUSE_SECONDS:
        return _last_sample[1]
    busy = psutil.cpu_percent(interval=SAMPLE_SECONDS, percpu=True)
    _last_sample = (time.monotonic(), busy)
    return busy


def idle_cores(cpus: Sequence[int], read_load: LoadReader) -> float | None:
    """How many of ``cpus`` are idle by ``read_load`` (None where the load cannot be read)."""
    try:
        busy = read_load()
    except Exception as exc:  # noqa: BLE001 — an unreadable load only means: use every core
        log.debug("cpu load unreadable (%s); using every core", exc)
        return None
    seen = [min(max(float(busy[c]), 0.0), 100.0) for c in cpus if 0 <= c < len(busy)]
    if not seen:
        return None
    return len(cpus) * (1.0 - sum(seen) / (100.0 * len(seen)))


def fit_threads(idle: float | None, cores: int, limit: int | None = None) -> int:
    """Threads worth starting: the idle cores (rounded, at least one), at most ``cores`` and ``limit``.

    A core counts as idle from three quarters idle on (1.3 idle cores: two threads; 1.2: one),
    so that a background flicker on an idle machine does not halve the threads, while one busy
    neighbour on two cores does. Where the load is unknown, every core is used.
    """
    threads = cores if idle is None else round(idle + 0.25)
    if limit is not None:
        threads = min(threads, limit)
    return max(1, min(threads, cores))


def side_by_side_cores() -> int:
    """The cores that stages computed side by side share (``Stages.compute_side_by_side``, the
    app's layout threads): those this process may run on, or ``ATLAS_THREADS`` where it is set;
    1 where numba's thread pool is its ``workqueue`` layer, which aborts the process when two
    threads launch parallel kernels at once (the ``omp`` and ``tbb`` layers, used wherever they
    are installed, are safe).

    Not the idle cores of the moment: the stages side by side are independent, so one on a busy
    core is slowed, not made to wait for the others as the threads of one stage are. In the app
    the browser drawing the stages before kept a core busy just as the layouts started, and they
    then ran one after the other for minutes (at 100k items t-SNE began only once UMAP was done).
    The threads inside each stage still follow the idle cores (``sharing`` caps them)."""
    forced = forced_threads()
    threads = forced if forced is not None else len(allowed_cores())
    if threads > 1 and _numba_layer() == "workqueue":
        log.debug("numba's workqueue threading layer cannot run two parallel kernels at once: the layouts run one after the other")
        return 1
    return threads


def _numba_layer() -> str:
    """numba's threading layer, its pool started with a tiny kernel where none has run yet."""
    import numba
    import numpy as np

    try:
        return numba.threading_layer()
    except ValueError:
        _start_numba_pool(np.ones(2))
        return numba.threading_layer()


def _start_numba_pool(values) -> float:
    import numba

    @numba.njit(parallel=True)
    def total(x):  # pragma: no cover - compiled
        s = 0.0
        for i in numba.prange(x.shape[0]):
            s += x[i]
        return s

    return total(values)


class Lanes:
    """Threads computing stages side by side (``Stages.compute_side_by_side``, the app's layout
    threads), ``lanes`` of them on ``cores``: a stage inside one (``lane``) has an equal share of
    the cores among the lanes still running. When a lane runs out of stages its share passes to
    the others: a stage that re-counts its threads as it runs (``FreeCores``: UMAP's epochs,
    t-SNE's final phase) takes it up; a stage's plan at its start keeps its count."""

    def __init__(self, cores: int, lanes: int) -> None:
        self.cores = max(1, cores)
        self.running = max(1, lanes)
        self._lock = threading.Lock()

    def share(self) -> int:
        """Threads for a stage of a running lane now."""
        with self._lock:
            return max(1, self.cores // self.running)

    @contextlib.contextmanager
    def lane(self) -> Iterator[None]:
        """The body of one lane's thread; its share goes to the others when it ends."""
        token = _share.set(self)
        try:
            yield
        finally:
            _share.reset(token)
            with self._lock:
                self.running = max(1, self.running - 1)


_share: ContextVar[int | Lanes | None] = ContextVar("atlas_core_share", default=None)


def current_share(share: int | Lanes | None = None) -> int | None:
    """The most threads a stage may take now (``sharing``, ``Lanes``; by default this context's);
    None: every core."""
    share = _share.get() if share is None else share
    return share.share() if isinstance(share, Lanes) else share


@contextlib.contextmanager
def sharing(threads: int) -> Iterator[None]:
    """Stages planned inside run with at most ``threads`` threads. A stage whose result depends on
    its count keeps its fixed count."""
    token = _share.set(max(1, threads))
    try:
        yield
    finally:
        _share.reset(token)


def plan_threads(*, read_load: LoadReader | None = None, limit: int | None = None) -> ThreadPlan:
    """The thread plan for a stage starting now: ``ATLAS_THREADS`` when set, else one fitted to the
    current load of this process's CPUs; either at most the share of ``sharing``."""
    cpus = allowed_cores()
    share = current_share()
    if share is not None:
        limit = share if limit is None else min(limit, share)
    forced = forced_threads()
    if forced is not None:
        return ThreadPlan(forced if limit is None else min(forced, limit), len(cpus), None, forced=True)
    idle = idle_cores(cpus, read_load or sample_cpu_load)
    return ThreadPlan(fit_threads(idle, len(cpus), limit), len(cpus), idle)


def plan_stage(stage: str | None, *, read_load: LoadReader | None = None, limit: int | None = None) -> ThreadPlan:
    """The thread plan of ``stage``: its fixed count where its rule has one, else ``plan_threads``."""
    rule = stage_rule(stage)
    if rule.threads is not None:
        return ThreadPlan(rule.threads, len(allowed_cores()), None, fixed=rule.why)
    return plan_threads(read_load=read_load, limit=limit)


_active: ContextVar[ThreadPlan | None] = ContextVar("atlas_thread_plan", default=None)


def fitted_thread_count() -> int:
    """Threads for a library that takes a count (openTSNE's ``n_jobs``): the running stage's plan,
    or, outside ``fitted_threads``, ``ATLAS_THREADS`` or one fitted to the load now."""
    plan = _active.get()
    return (plan or plan_threads()).threads


@contextlib.contextmanager
def fitted_threads(
    stage: str | None = None,
    *,
    read_load: LoadReader | None = None,
    limit: int | None = None,
    imports: Sequence[str] = (),
) -> Iterator[ThreadPlan]:
    """Run ``stage`` with every thread pool set by its plan (``plan_stage``: the idle cores, or the
    stage's fixed count); restore them on the way out.

    torch and numba are set only where they are imported already (or named in ``imports`` or the
    stage's rule: a stage that imports torch itself lists it, so that its pool is set from the
    first run on); the OpenMP pools through threadpoolctl, and the BLAS pools to one thread.
    Inside a fitted stage, a nested call keeps the outer plan rather than planning again.
    """
    outer = _active.get()
    if outer is not None:
        yield outer
        return
    for name in (*imports, *stage_rule(stage).imports):
        importlib.import_module(name)
    plan = plan_stage(stage, read_load=read_load, limit=limit)
    log.debug("%s: %d of %d threads (%s)", stage or "stage", plan.threads, plan.cores,
              "fixed" if plan.fixed else "forced" if plan.forced else "unknown load" if plan.idle is None else f"{plan.idle:.1f} idle cores")
    with contextlib.ExitStack() as stack:
        _fit_torch(plan.threads, stack)
        _fit_numba(plan.threads, stack)
        _fit_pools(plan.threads, stack)
        token = _active.set(plan)
        stack.callback(_active.reset, token)
        yield plan


def _fit_torch(threads: int, stack: contextlib.ExitStack) -> None:
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "set_num_threads"):  # not imported (or half-imported)
        return
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
        stack.callback(torch.set_num_threads, before)


def _fit_numba(threads: int, stack: contextlib.ExitStack) -> None:
    numba = sys.modules.get("numba")
    if numba is None or not hasattr(numba, "set_num_threads"):
        return
    # the count is a run-time mask over the pool numba started (NUMBA_NUM_THREADS threads), so it
    # also applies to kernels compiled before; it cannot exceed that pool
    threads = min(threads, numba.config.NUMBA_NUM_THREADS)
    before = numba.get_num_threads()
    # restored even when it already matches: a stage may set it and not set it back (UMAP sets
    # numba's count to its own n_jobs, 1 when seeded, for good)
    stack.callback(numba.set_num_threads, before)
    if before != threads:
        numba.set_num_threads(threads)


def _fit_pools(threads: int, stack: contextlib.ExitStack) -> None:
    from threadpoolctl import threadpool_limits

    # OpenMP first, BLAS second: an OpenBLAS built on OpenMP (faiss ships one) reads its count from
    # the OpenMP pool, so a later OpenMP limit would undo its single thread
    stack.enter_context(threadpool_limits(limits={"openmp": threads}))
    stack.enter_context(threadpool_limits(limits={"blas": 1}))


class FreeCores:
    """Threads for the next steps of a long stage whose result does not depend on its count (UMAP's
    epochs, t-SNE's final phase): the cores the other processes left free over the last ``window``
    seconds, at most the stage's share (``sharing``, ``Lanes``) of the cores this process may use;
    ``ATLAS_THREADS``, where set, fixes it. Read without sleeping: the machine's busy time less this
    process's own CPU time, so the stage's own threads never count as a neighbour. A stage planned while the browser drew a
    change (one core busy for a second) thus takes the second core back once it is free."""

    def __init__(self, window: float = 0.5, *, read_busy: Callable[[], float] | None = None, read_own: Callable[[], float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.cores = len(allowed_cores())
        self.share = _share.get()
        self.forced = forced_threads()
        self.window, self.clock = window, clock
        self.read_busy, self.read_own = read_busy or _busy_seconds, read_own or time.process_time
        self._mark = (clock(), self.read_busy(), self.read_own())
        self._threads: int | None = None

    def threads(self, now: int) -> int:
        """The count for the next step, ``now`` being the current one (kept until a window has passed)."""
        if self.forced is not None:
            return min(self.forced, self.cap)
        at = self.clock()
        if at - self._mark[0] < self.window:
            return self._threads or now
        busy, own = self.read_busy(), self.read_own()
        others = max(0.0, (busy - self._mark[1]) - (own - self._mark[2])) / max(at - self._mark[0], 1e-9)
        self._mark = (at, busy, own)
        self._threads = fit_threads(self.cores - others, self.cores, self.cap)
        return self._threads

    @property
    def cap(self) -> int:
        """The stage's share of the cores now (it grows when a lane beside it ends)."""
        share = current_share(self.share) if self.share is not None else None
        return self.cores if share is None else min(share, self.cores)


def _busy_seconds() -> float:
    """CPU seconds spent by every process on this process's cores since boot (not idle, not waiting on I/O)."""
    import psutil

    cpus = set(allowed_cores())
    times = psutil.cpu_times(percpu=True)
    return sum(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0) for c, t in enumerate(times) if c in cpus)
