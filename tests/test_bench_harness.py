"""The benchmark harness: its figures, tables and fingerprints, the measured child processes, and
the graph part's reading of a recipe run (pairs shared, extrapolation, the trace of pymde)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import harness  # noqa: E402
import part_graph  # noqa: E402

MIB = 2**20


# Tasks run in child processes by the Runner tests (loaded from this file there).


def task_echo(args: dict) -> dict:
    return {"doubled": [2 * v for v in args["values"]], "array": np.arange(3)}


def task_fail(args: dict) -> dict:
    raise RuntimeError("planned failure")


def task_sleep(args: dict) -> dict:
    time.sleep(args["seconds"])
    return {}


def task_allocate(args: dict) -> dict:
    block = np.ones(args["mib"] * MIB, dtype=np.uint8)
    time.sleep(args.get("hold", 0))
    return {"sum": int(block[:10].sum())}


def task_load_then_measure(args: dict) -> dict:
    """A large temporary while "loading", freed before the measured work starts."""
    block = np.ones(args["mib"] * MIB, dtype=np.uint8)
    block[::4096] = 2
    del block
    mem = harness.start_measuring()
    time.sleep(0.5)
    return {**mem, "peak_rss_self": harness.peak_self()}


# Figures and tables


def test_median_skips_missing_values():
    assert harness.median([3.0, None, 1.0, float("nan"), 2.0]) == 2.0
    assert harness.median(v for v in (4, 1)) == 2.5
    assert harness.median([None]) is None
    assert harness.median([]) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0123, "12 ms"), (2.345, "2.35 s"), (250.4, "250 s"), (None, "–"), (float("nan"), "–")],
)
def test_secs(seconds, text):
    assert harness.secs(seconds) == text


def test_gib_and_cores():
    assert harness.gib(3 * harness.GIB / 2) == "1.50 GiB"
    assert harness.gib(0) == "–"
    assert harness.cores(3.0, 2.0) == "1.50"
    assert harness.cores(None, 2.0) == "–"


def test_table_aligns_columns():
    lines = harness.format_table(["name", "time"], [["a", "1 ms"], ["longer name", "12.50 s"]])
    assert len({len(line) for line in lines}) == 1
    assert lines[1].split() == ["-" * len("longer name"), "-" * len("12.50 s")]
    assert lines[2].startswith("  a ")  # the first column to the left
    assert lines[2].endswith(" 1 ms")  # the others to the right


def test_table_prints_title_and_rows(capsys):
    harness.table("the title", ["x", "y"], [[1, 2]])
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "the title"
    assert out[-1].split() == ["1", "2"]


# Provenance and results


def test_code_fingerprint_follows_the_measured_sources(tmp_path):
    (tmp_path / "atlas" / "sub").mkdir(parents=True)
    (tmp_path / "atlas" / "graph.py").write_text("x = 1\n")
    (tmp_path / "atlas" / "sub" / "kernel.py").write_text("y = 1\n")
    (tmp_path / "notes.md").write_text("text")
    first = harness.code_fingerprint(tmp_path)["code_sha256"]
    (tmp_path / "notes.md").write_text("other text")
    assert harness.code_fingerprint(tmp_path)["code_sha256"] == first
    (tmp_path / "atlas" / "sub" / "kernel.py").write_text("y = 2\n")
    assert harness.code_fingerprint(tmp_path)["code_sha256"] != first
    (tmp_path / "atlas" / "sub" / "kernel.py").write_text("y = 1\n")
    assert harness.code_fingerprint(tmp_path)["code_sha256"] == first


def test_write_results_writes_numpy_values(tmp_path):
    import json

    path = tmp_path / "deep" / "core.json"
    harness.write_results(path, {"a": np.float32(1.5), "b": np.arange(2)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1]}


def test_results_path_names_the_kind():
    path = harness.results_path("core", "-quick")
    assert path.parent == harness.RESULTS_DIR
    assert path.name.startswith("core-") and path.name.endswith("-quick.json")


# The Runner


@pytest.fixture
def runner(tmp_path):
    return harness.Runner(tmp_path, mem_cap=4 * harness.GIB, poll_seconds=0.05)


def test_runner_returns_the_child_result(runner):
    res = runner.run(task_echo, {"values": [1, 2]}, timeout=120)
    assert res["status"] == "ok"
    assert res["doubled"] == [2, 4]
    assert res["array"] == [0, 1, 2]
    assert res["peak_rss"] > 0 and res["wall"] > 0


def test_runner_reports_a_failed_child(runner):
    res = runner.run(task_fail, {}, timeout=120)
    assert res["status"] == "failed (exit 1)"
    assert "doubled" not in res


def test_runner_stops_a_child_past_its_time_limit(runner):
    res = runner.run(task_sleep, {"seconds": 120}, timeout=1)
    assert res["status"] == "timeout"
    assert res["wall"] < 60


def test_runner_stops_a_child_past_the_memory_cap(tmp_path):
    capped = harness.Runner(tmp_path, mem_cap=300 * MIB, poll_seconds=0.05)
    res = capped.run(task_allocate, {"mib": 600, "hold": 60}, timeout=120)
    assert res["status"] == "memory cap"
    assert res["peak_rss_tree"] > 300 * MIB


def test_peak_of_the_measured_work_leaves_out_loading(runner):
    res = runner.run(task_load_then_measure, {"mib": 400}, timeout=120)
    assert res["status"] == "ok"
    assert res["load_peak_rss"] > 400 * MIB
    assert res["peak_rss_self"] < res["load_peak_rss"] - 300 * MIB


# The graph part's reading of the recipe


def test_edge_overlap_counts_shared_pairs_overall_and_per_item():
    recipe = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    fast = np.array([[1, 0], [2, 1], [0, 2]])  # two of the recipe's pairs, either orientation, and another
    ov = part_graph.edge_overlap(fast, recipe, 4)
    assert (ov["recipe_pairs"], ov["fast_pairs"], ov["shared_pairs"]) == (4, 3, 2)
    assert ov["share_of_recipe"] == 0.5
    # items 0 and 2 keep one of their two recipe pairs, item 1 both, item 3 none
    assert ov["mean_item_share"] == pytest.approx((0.5 + 1 + 0.5 + 0) / 4)


def test_recipe_bound_extrapolates_from_the_shortest_path_progress():
    state = {"current": {"profiles": 0.1, "before_knn": 2.0}, "knn_progress": [[3.0, 1, 100], [13.0, 11, 100]], "base_rss": 5}
    bound = part_graph.recipe_bound(state)
    assert bound["knn_fraction_done"] == pytest.approx(0.11)
    assert bound["extrapolated_total"] == pytest.approx(13.0 + 89 * 1.0)
    assert bound["stages"]["before_knn"] == 2.0


def test_recipe_bound_does_not_extrapolate_without_progress():
    assert "extrapolated_total" not in part_graph.recipe_bound({"current": {"profiles": 0.1}, "knn_progress": [[1.0, 1, 100]]})
    assert "extrapolated_total" not in part_graph.recipe_bound({"current": {}, "knn_progress": [[1.0, 1, 9], [2.0, 5, 9]]})


def test_trace_sees_the_k_nn_step_of_the_shipped_recipe(monkeypatch):
    import pymde.preprocess.graph as pymde_graph

    from atlas import FilterParams, GraphParams, build_profiles, recipe_graph, synthetic_profiles

    monkeypatch.setattr(pymde_graph, "shortest_paths", pymde_graph.shortest_paths)  # restored afterwards
    profiles = build_profiles(synthetic_profiles(300, 60, mean_profile_length=10, seed=3), FilterParams(min_item_users=2, min_user_items=2))
    untraced = recipe_graph(profiles, GraphParams(n_neighbors=5, method="recipe"))
    calls, messages = [], []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Collect()
    logging.getLogger("__pymde__").addHandler(handler)
    try:
        assert part_graph.trace_shortest_paths(lambda graph, max_length: calls.append((graph.n_items, max_length)), lambda: calls.append("end"))
        traced = recipe_graph(profiles, GraphParams(n_neighbors=5, method="recipe"))
    finally:
        logging.getLogger("__pymde__").removeHandler(handler)
    assert calls[0][0] == profiles.n_items and calls[0][1] > 0
    assert calls[-1] == "end"
    assert any(m.startswith(f"processed node 1/{profiles.n_items}") for m in messages)
    np.testing.assert_array_equal(traced.edges, untraced.edges)  # the trace changes nothing in the result


# The app benchmark's "first changed frame": a refinement's first preview is the old map.


def _old_map(n: int = 3000, seed: int = 1) -> list:
    return (np.random.default_rng(seed).normal(size=(n, 2)) * 50 + 200).tolist()


def _preview_of(old: list, points: int = 1500, move: float = 0.0, seed: int = 2) -> list:
    import bench_app

    xy = np.array([old[r] for r in bench_app.preview_rows(len(old), points)])
    xy = xy @ np.array([[0.0, -1.2], [0.9, 0.0]]) + [8.0, 400.0]  # the preview's own box, a turned map
    return (xy + np.random.default_rng(seed).normal(scale=move, size=xy.shape)).tolist()


def test_a_preview_of_the_old_map_is_not_a_changed_frame():
    import bench_app

    old = _old_map()
    assert bench_app.frame_residual(old, _preview_of(old)) < 1e-6
    assert bench_app.frame_residual(old, _preview_of(old, move=5.0)) > bench_app.CHANGED_PX


def test_the_first_changed_frame_skips_the_old_map_and_falls_back_to_the_final_map():
    import bench_app

    old = _old_map()
    result = {"ms": 900.0, "frames": [{"ms": 100.0, "dots": {"xy": _preview_of(old)}}, {"ms": 300.0, "dots": {"xy": _preview_of(old, move=5.0)}}]}
    bench_app.first_changed(result, old)
    assert result["first_changed_ms"] == 300.0 and "frames" not in result
    assert [ms for ms, _ in result["preview_frames"]] == [100, 300]
    unmoved = {"ms": 900.0, "frames": [{"ms": 100.0, "dots": {"xy": _preview_of(old)}}]}
    bench_app.first_changed(unmoved, old)
    assert unmoved["first_changed_ms"] == 900.0  # only the final map differs
    unmatched = {"ms": 900.0, "frames": [{"ms": 100.0, "dots": {"xy": _preview_of(_old_map(4000), points=4000)}}]}
    bench_app.first_changed(unmatched, old)
    assert unmatched["first_changed_ms"] == 900.0  # a frame it cannot match never shortens the figure
