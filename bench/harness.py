"""What every benchmark here shares: measured child processes, memory and CPU readings,
medians, tables, provenance (machine, versions, code fingerprint) and the results file.

Child processes: ``Runner.run(task, args)`` starts ``python bench/harness.py FILE:FUNCTION ...``
in a new session; the child loads the function from its file, calls it with ``args`` and writes
its JSON result. The parent polls the resident memory of the child's whole process tree (pymde's
shortest paths use a worker pool) and kills the tree past a time limit or a memory cap. A task
calls ``start_measuring()`` once its input is loaded: from then on the peaks are those of the
measured work, with the input resident.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
GIB = 1024**3
MARKER_ENV = "ATLAS_BENCH_MEASURING_MARKER"  # a file whose existence tells the parent that loading is over
# Distributions whose versions a results file records (read from their metadata: importing torch
# to ask it would inflate every child's peak memory).
PACKAGES = ("numpy", "scipy", "pandas", "numba", "torch", "pymde", "umap-learn", "openTSNE", "marimo", "altair")


# --------------------------------------------------------------------------------------
# Inside a measured child
# --------------------------------------------------------------------------------------


def rss() -> int:
    """Resident memory of this process, in bytes."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def peak_self() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not carried over from the
    process that spawned it, and reset by ``start_measuring``)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def peak_children() -> int:
    """The largest peak resident memory of this process's reaped children (pool workers)."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024


def cpu_seconds(children: bool = True) -> float:
    """CPU seconds of this process (all its threads) and, with ``children``, of its reaped child
    processes (a child's time counts once it is reaped)."""
    import resource

    if not children:
        return time.process_time()
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def start_measuring() -> dict:
    """Call once the input is loaded: resets this process's peak-memory mark and tells the
    parent to restart its peak of the process tree. Returns the memory so far."""
    before = {"load_peak_rss": peak_self(), "base_rss": rss()}
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM
    except OSError:
        pass
    marker = os.environ.get(MARKER_ENV)
    if marker:
        Path(marker).touch()
    return before


def say(msg: str) -> None:
    """A progress line on stderr (the tables go to stdout)."""
    print(f"    [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def json_default(value):
    """numpy scalars and arrays as plain JSON; anything else as its text."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _load_task(spec: str):
    path, name = spec.rsplit(":", 1)
    module_name = Path(path).stem
    module = sys.modules.get(module_name)
    if module is None or getattr(module, "__file__", None) != path:
        loader = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        loader.loader.exec_module(module)
    return getattr(module, name)


def child_main(spec: str, args_path: str, out_path: str) -> None:
    """Run one task (``FILE:FUNCTION``) with the arguments in ``args_path``; write its result."""
    args = json.loads(Path(args_path).read_text())
    result = _load_task(spec)(args)
    Path(out_path).write_text(json.dumps(result, default=json_default))


# --------------------------------------------------------------------------------------
# The parent: child processes under a time limit and a memory cap
# --------------------------------------------------------------------------------------


class Runner:
    """Runs tasks in child processes and measures their process trees."""

    def __init__(self, workdir: Path, mem_cap: float, poll_seconds: float = 0.2) -> None:
        self.workdir = Path(workdir)
        self.mem_cap = mem_cap
        self.poll_seconds = poll_seconds
        self.count = 0

    def run(self, task, args: dict, *, timeout: float = 3600, env: dict | None = None) -> dict:
        """Run ``task`` (a module-level function taking a dict) in a child. Returns its result
        with ``status`` ("ok", "timeout", "memory cap" or "failed (exit N)"), ``wall``,
        ``load`` (1-min load average at the start), ``peak_rss_tree`` and ``peak_rss``."""
        import psutil

        self.count += 1
        stem = self.workdir / f"task{self.count}-{task.__name__}"
        args_path, out_path = Path(f"{stem}.args.json"), Path(f"{stem}.out.json")
        marker = Path(f"{stem}.measuring")
        args_path.write_text(json.dumps(args, default=json_default))
        spec = f"{Path(sys.modules[task.__module__].__file__).resolve()}:{task.__name__}"
        cmd = [sys.executable, str(Path(__file__).resolve()), spec, str(args_path), str(out_path)]
        load = load_average()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {}), MARKER_ENV: str(marker)}, start_new_session=True)
        peak, status, measuring = 0, "ok", False
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            if not measuring and marker.exists():  # input loaded: the peak of the work starts now
                measuring, peak = True, 0
            try:
                tree = [root, *root.children(recursive=True)]
                now = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                now = 0
            peak = max(peak, now)
            elapsed = time.perf_counter() - start
            if elapsed > timeout or now > self.mem_cap:
                status = "timeout" if elapsed > timeout else "memory cap"
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(self.poll_seconds)
        wall = time.perf_counter() - start
        result: dict = {}
        if status == "ok" and proc.returncode != 0:
            status = f"failed (exit {proc.returncode})"
        if status == "ok" and out_path.exists():
            result = json.loads(out_path.read_text())
        result.update(status=status, wall=wall, peak_rss_tree=peak, load=load)
        result["peak_rss"] = max(peak, result.get("peak_rss_self", 0))
        return result


# --------------------------------------------------------------------------------------
# Figures and tables
# --------------------------------------------------------------------------------------


def median(values) -> float | None:
    """The median of the values that are not None (or NaN); None when there are none."""
    kept = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(statistics.median(kept)) if kept else None


def secs(s) -> str:
    """A duration for a table: ms below a second, s with two decimals below 100 s."""
    if s is None or math.isnan(s):
        return "–"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def gib(n) -> str:
    """Bytes as GiB for a table; "–" when unknown."""
    return f"{n / GIB:.2f} GiB" if n else "–"


def cores(cpu, wall) -> str:
    """CPU time / wall time: how many cores a run kept busy."""
    return f"{cpu / wall:.2f}" if cpu is not None and wall else "–"


def format_table(header: list[str], rows: list[list]) -> list[str]:
    """Aligned lines: the first column to the left, the others to the right, a rule under the header."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    print("\n".join(format_table(header, rows)), flush=True)


# --------------------------------------------------------------------------------------
# Provenance and the results file
# --------------------------------------------------------------------------------------


def load_average() -> float:
    return os.getloadavg()[0]


def code_fingerprint(root: Path = ROOT, patterns: tuple[str, ...] = ("atlas/**/*.py",)) -> dict:
    """The commit (``-dirty`` when the tree has changes) and a hash of the sources the benchmark
    runs, as they are now: others may commit while it runs."""
    h = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(Path(root).glob(pattern)):
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, check=False)
    return {"commit": git.stdout.strip(), "code_sha256": h.hexdigest()[:16]}


def machine_info(root: Path = ROOT, patterns: tuple[str, ...] = ("atlas/**/*.py",)) -> dict:
    """Date, cores, CPU, memory, Python and package versions, load average, code fingerprint."""
    from importlib import metadata

    import psutil

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for dist in PACKAGES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cores": os.cpu_count(), "cpu": cpu,
        "memory_gb": round(psutil.virtual_memory().total / GIB, 1), "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(), **code_fingerprint(root, patterns), "versions": versions,
    }


def banner(title: str, info: dict) -> str:
    """One line naming the run: what, when, on what machine, at which commit."""
    return (f"{title} — {info['date']}, {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GiB, "
            f"load average {info['load_average_at_start'][0]:.1f}, commit {info['commit']} (code {info['code_sha256']})")


def results_path(kind: str, suffix: str = "") -> Path:
    """``bench/results/<kind>-<time><suffix>.json`` (the folder is git-ignored)."""
    return RESULTS_DIR / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}{suffix}.json"


def write_results(path: Path, results: dict) -> None:
    """Write (or rewrite, as parts finish) a results file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=json_default))


if __name__ == "__main__":  # a measured child: harness.py FILE:FUNCTION ARGS.json OUT.json
    sys.path.insert(0, str(ROOT))
    child_main(*sys.argv[1:4])
