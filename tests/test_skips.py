"""tests/skips.py: in CI a skip fails unless ALLOWED_SKIPS lists its reason; elsewhere it is a
skip, shown with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import skips

HERE = Path(__file__).resolve().parent

SUITE = """
import pytest

def test_runs():
    assert True

def test_skipped_inside():
    pytest.skip("no frobnicator here")

@pytest.mark.skipif(True, reason="listed reason")
def test_skipped_by_mark():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False
"""

CONFTEST = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
import pytest
import skips

skips.ALLOWED_SKIPS["listed reason"] = "the test says why"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    skips.police(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    skips.police(outcome.get_result())
"""


def run_suite(tmp_path, env: dict, module: str = SUITE) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(module))
    clean = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("ATLAS_REQUIRE_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_outside_ci_a_skip_is_shown_with_its_reason(tmp_path):
    run = run_suite(tmp_path, {})
    assert run.returncode == 0, run.stdout
    assert "SKIPPED" in run.stdout and "no frobnicator here" in run.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in run.stdout


@pytest.mark.parametrize("variable", ["CI", "ATLAS_REQUIRE_BROWSER"])
def test_in_ci_an_unlisted_skip_fails_and_names_the_table(tmp_path, variable):
    run = run_suite(tmp_path, {variable: "1"})
    assert run.returncode == 1, run.stdout
    assert f"skipped in CI, and its reason is not listed in {skips.WHERE}: no frobnicator here" in run.stdout
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in run.stdout  # the listed skip stays a skip


def test_in_ci_a_module_skipped_whole_fails_too(tmp_path):
    run = run_suite(tmp_path, {"CI": "true"}, module='import pytest\npytest.skip("no engine", allow_module_level=True)\n')
    assert run.returncode == 2, run.stdout  # a collection error: the run stops there
    assert "not listed in tests/skips.py ALLOWED_SKIPS: no engine" in run.stdout


def test_every_listed_skip_says_why():
    assert all(reason.strip() and why.strip() for reason, why in skips.ALLOWED_SKIPS.items())
