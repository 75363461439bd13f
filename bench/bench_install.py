"""Time a fresh install, as ``make test`` and ``make app`` do it, before and after a change.

    python3 bench/bench_install.py --before main --rounds 2

Each round exports the given commit (``--before``) and the working tree into fresh folders under
/tmp, and runs the install target there in a fresh virtual environment: ``make setup`` (the
package with its test and Spark extras) in both, and ``make setup-app`` (the package alone) where
the Makefile has it. Reports the wall time, the packages installed and the environment's size.
The pip cache and the machine's local wheel store are used as they are (say whether they were
warm); runs alternate so that a change in the machine's load falls on both.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import ROOT, load_average, machine_info, median, results_path, table, write_results


def export(ref: str | None, into: Path) -> None:
    """The commit ``ref`` (or the working tree, tracked and new files, when None) into ``into``."""
    into.mkdir(parents=True)
    if ref is None:
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
        for name in files:
            if (ROOT / name).is_file():
                (into / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, into / name)
    else:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def install(checkout: Path, target: str) -> dict:
    venv = checkout / ".venv"
    start = time.perf_counter()
    run = subprocess.run(["make", target, "PYTHON=python3"], cwd=checkout, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"make {target} failed in {checkout}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=True).stdout
    packages = sorted(line.split("==")[0].lower() for line in freeze.splitlines() if "==" in line)
    size = subprocess.run(["du", "-sb", str(venv)], capture_output=True, text=True, check=True).stdout.split()[0]
    return {"target": target, "wall_s": wall, "packages": len(packages), "venv_bytes": int(size),
            "has_pytest": "pytest" in packages, "has_pyspark": "pyspark" in packages, "has_playwright": "playwright" in packages}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="the commit to compare against (default: main)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", choices=["warm", "cold"], default="warm", help="what pip's cache held (recorded, not changed)")
    args = parser.parse_args()
    info = machine_info()
    report = {"machine": info, "before": args.before, "pip_cache": args.cache, "load": [load_average()], "runs": []}
    out = results_path("install")
    for r in range(args.rounds):
        for name, ref, targets in (("before", args.before, ["setup"]), ("after", None, ["setup", "setup-app"])):
            for target in targets:
                with tempfile.TemporaryDirectory(prefix=f"atlas-install-{name}-") as tmp:
                    checkout = Path(tmp) / "atlas"
                    export(ref, checkout)
                    row = {"round": r, "version": name, **install(checkout, target), "load": load_average()}
                print(f"  round {r} {name} make {target}: {row['wall_s']:.0f} s, {row['packages']} packages", flush=True)
                report["runs"].append(row)
                write_results(out, report)
    rows = []
    for name, target in (("before", "setup"), ("after", "setup"), ("after", "setup-app")):
        runs = [x for x in report["runs"] if x["version"] == name and x["target"] == target]
        rows.append([f"{name} make {target}", f"{median(x['wall_s'] for x in runs):.0f}", f"{runs[0]['packages']}",
                     f"{runs[0]['venv_bytes'] / 2**30:.1f}", "yes" if runs[0]["has_pytest"] or runs[0]["has_pyspark"] else "no"])  # fmt: skip
    table(f"fresh installs, median of {args.rounds}, pip cache {args.cache}", ["install", "wall (s)", "packages", "venv (GiB)", "test/Spark extras"], rows)
    print(f"raw: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
