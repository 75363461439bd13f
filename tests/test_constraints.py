"""constraints.txt: the exact versions make app and make test install agree with pyproject.toml's
ranges, and pin every dependency of the package and of its test and Spark extras."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            found[canonicalize_name(name)] = version
    return found


REQUIREMENTS = [Requirement(r) for r in PROJECT["dependencies"]] + [
    Requirement(r) for extra in ("test", "spark") for r in PROJECT["optional-dependencies"][extra]
]


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_every_dependency_is_pinned_inside_its_range(requirement):
    pinned = pins().get(canonicalize_name(requirement.name))
    assert pinned is not None, f"constraints.txt has no pin for {requirement.name}: run make lock"
    assert requirement.specifier.contains(pinned, prereleases=True), f"constraints.txt pins {requirement.name}=={pinned}, outside pyproject.toml's {requirement}"


def test_the_package_itself_is_not_pinned():
    assert canonicalize_name(PROJECT["name"]) not in pins()  # it is installed from the checkout
