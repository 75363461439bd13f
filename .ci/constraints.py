"""Write the exact versions the project's dependencies resolve to in this environment.

    .venv/bin/python .ci/constraints.py > constraints.txt     (or: make lock)

``pyproject.toml`` keeps ranges (what atlas works with); ``constraints.txt`` pins what was
installed and tested together, and ``make app`` / ``make test`` install with ``-c constraints.txt``.
Only the dependency closure of atlas-maps with its ``test`` and ``spark`` extras is written: other
packages in the environment are left out, and ``make app`` installs the part of it that the
package alone needs.
"""

from __future__ import annotations

import importlib.metadata as metadata
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("test", "spark")


def closure(requirements: list[Requirement]) -> dict[str, str]:
    """name -> installed version for every distribution ``requirements`` need, transitively."""
    found: dict[str, str] = {}
    todo = [(r, "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f"{req.name} is needed but not installed here: install the project first (make setup)")
        for wanted in sorted(req.extras):  # a dependency's own extras pull in more
            todo += [(Requirement(r), wanted) for r in dist.requires or ()]
        if name in found:
            continue
        found[name] = dist.version
        todo += [(Requirement(r), "") for r in dist.requires or ()]
    return found


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in EXTRAS:
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra]]
    pins = closure(wanted)
    pins.pop(canonicalize_name(project["name"]), None)
    py = sys.version_info
    print(f"# Exact versions of atlas-maps[{','.join(EXTRAS)}]'s dependencies, as installed and tested together")
    print(f"# (Python {py.major}.{py.minor}, {sys.platform}). Regenerate with: make lock")
    for name in sorted(pins):
        print(f"{name}=={pins[name]}")


if __name__ == "__main__":
    main()
