"""How many threads a parallel stage should start, given what else the machine is doing.

openTSNE's worker threads meet at a barrier on every gradient step. When other processes keep
the cores busy, a thread that is descheduled holds all the others up, and more threads than free
cores is many times slower than one thread: on the 2-core project machine with two other busy
processes, t-SNE of the demo took 24 s with two threads and 6 s with one (2.3 s with two threads
on the idle machine). So such stages ask for the cores that are idle right now.
"""

from __future__ import annotations

import os
import time


def allowed_cores() -> list[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def _cpu_times(cpus: list[int]) -> tuple[float, float] | None:
    """(idle, total) jiffies summed over ``cpus`` from /proc/stat, or None where it is absent."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{i}" for i in cpus}
    idle = total = 0.0
    found = 0
    for line in lines:
        name, *fields = line.split()
        if name in wanted:
            values = [float(v) for v in fields[:8]]
            idle += values[3] + values[4]  # idle + iowait
            total += sum(values)
            found += 1
    return (idle, total) if found else None


def idle_cores(sample_seconds: float = 0.1) -> float | None:
    """How many of this process's CPUs were idle over a short sample (None where unknown)."""
    cpus = allowed_cores()
    before = _cpu_times(cpus)
    if before is None:
        return None
    time.sleep(sample_seconds)
    after = _cpu_times(cpus)
    if after is None or after[1] <= before[1]:
        return None
    return len(cpus) * (after[0] - before[0]) / (after[1] - before[1])


def threads_for_now(limit: int | None = None, sample_seconds: float = 0.1) -> int:
    """Threads worth starting now: the idle cores (rounded, at least one), at most ``limit``.

    Where the idle time cannot be read, every allowed core is used.
    """
    cores = len(allowed_cores())
    idle = idle_cores(sample_seconds)
    threads = cores if idle is None else max(1, min(cores, round(idle + 0.25)))
    return threads if limit is None else max(1, min(threads, limit))
