"""atlas.widgets.emblaze_js: the fixes to Emblaze's bundled front end (their effect in a browser is
checked in test_app_browser.py)."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

from atlas.widgets import emblaze_js


@pytest.fixture(scope="module")
def bundle() -> str:
    import emblaze.viewer

    return (emblaze.viewer.BUNDLE_DIR / "widget-main.js").read_text()


def test_every_fix_replaces_its_piece(bundle):
    patched = emblaze_js.patch_bundle(bundle)
    assert patched.startswith(emblaze_js.MARKER)
    for fix in emblaze_js.FIXES:
        assert bundle.count(fix.old) == fix.count, fix.name
        assert patched.count(fix.new) >= fix.count, fix.name
        if fix.old not in fix.new:
            assert fix.old not in patched, fix.name
    assert "sharedTicker: true" not in patched  # each viewer has a ticker of its own to stop
    assert patched.count("__atlasIdle.timer(timer, ") == 4  # every sidebar timer sleeps when idle
    assert "return () => app.$destroy();" in patched  # the view's cleanup destroys the Svelte app
    assert emblaze_js.patch_bundle(patched) == patched  # patching twice changes nothing


@pytest.mark.parametrize("fix", emblaze_js.FIXES, ids=lambda fix: fix.name)
def test_a_bundle_without_a_piece_is_refused_by_name(bundle, fix):
    broken = bundle.replace(fix.old, "/* gone */")
    with pytest.raises(RuntimeError, match=f"'{fix.name}' fix \\(found 0 times, expected {fix.count}\\)"):
        emblaze_js.patch_bundle(broken)


def test_a_piece_found_twice_is_refused(bundle):
    fix = emblaze_js.FIXES[0]
    with pytest.raises(RuntimeError, match="found 2 times, expected 1"):
        emblaze_js.patch_bundle(bundle + "\n" + fix.old)


def test_quiet_traits_exist_in_emblaze():
    """The traits whose changes never wake the drawing are traits of the viewer."""
    import emblaze

    names = set(emblaze.Viewer.class_trait_names())
    assert set(emblaze_js.QUIET_TRAITS) <= names


def test_the_installed_emblaze_is_the_pinned_one_and_holds_every_patch_target(bundle):
    """pyproject.toml pins the release the fixes were written for, the environment has it, and
    its bundle holds every piece a fix replaces: a new Emblaze fails here, by fix and piece,
    before a browser shows a blank or busy viewer."""
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    pins = re.findall(r'"emblaze==([^"]+)"', pyproject)
    assert pins == [emblaze_js.EMBLAZE_VERSION], f"pyproject.toml must pin emblaze=={emblaze_js.EMBLAZE_VERSION}, the release emblaze_js patches (found {pins})"
    installed = importlib.metadata.version("emblaze")
    problems = emblaze_js.target_problems(bundle)
    assert not problems, (
        f"emblaze {installed}'s widget-main.js lacks pieces atlas.widgets.emblaze_js patches "
        f"(written for {emblaze_js.EMBLAZE_VERSION}):\n  " + "\n  ".join(problems)
    )
    assert installed == emblaze_js.EMBLAZE_VERSION, f"emblaze {installed} is installed; atlas patches {emblaze_js.EMBLAZE_VERSION}"


def test_target_problems_name_each_missing_piece(bundle):
    first, last = emblaze_js.FIXES[0], emblaze_js.FIXES[-1]
    broken = bundle.replace(first.old, "").replace(last.old, "")
    problems = emblaze_js.target_problems(broken)
    assert problems == [
        f"{first.name!r} fix (found 0 times, expected 1): {first.old.splitlines()[0][:70]!r}",
        f"{last.name!r} fix (found 0 times, expected 1): {last.old.splitlines()[0][:70]!r}",
    ]
    with pytest.raises(RuntimeError, match=r"atlas patches emblaze==0\.11\.0 \(pinned in pyproject.toml\)"):
        emblaze_js.patch_bundle(broken)
