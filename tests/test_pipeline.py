import dataclasses
import pickle

import pytest

import atlas
from atlas.cache import StageCache, stage_key


def test_a_projection_change_recomputes_only_the_projection(planted, small_params):
    pipe = atlas.Pipeline()
    pipe.build(planted, small_params)
    changed = dataclasses.replace(small_params, umap=dataclasses.replace(small_params.umap, min_dist=0.05))
    result = pipe.build(planted, changed)
    assert result.cached == {
        "profiles": True, "cooccurrence": True, "graph": True, "embedding": True, "neighbors": True, "umap": False, "tsne": True,
    }


def test_a_graph_change_recomputes_downstream_but_not_upstream(planted, small_params):
    pipe = atlas.Pipeline()
    pipe.build(planted, small_params)
    changed = dataclasses.replace(small_params, graph=atlas.GraphParams(n_neighbors=12))
    result = pipe.build(planted, changed)
    assert result.cached["profiles"] and result.cached["cooccurrence"]
    assert not result.cached["graph"] and not result.cached["embedding"] and not result.cached["umap"]


def test_the_same_build_twice_recomputes_nothing_even_across_processes(tmp_path, planted, small_params):
    first = atlas.Pipeline(tmp_path / "cache").build(planted, small_params)
    fresh = atlas.Pipeline(tmp_path / "cache")  # a new process would start like this: empty memory
    second = fresh.build(planted, small_params)
    assert all(second.cached.values()) and set(second.cached) >= {"profiles", "embedding", "umap", "tsne"}
    assert sum(fresh.cache.misses.values()) == 0
    assert (second.layouts["umap"].xy == first.layouts["umap"].xy).all()


def test_damaged_cache_entries_are_recomputed(tmp_path, planted, small_params):
    atlas.Pipeline(tmp_path).build(planted, small_params)
    for entry in tmp_path.glob("embedding-*.pkl"):
        entry.write_bytes(b"not a pickle")
    result = atlas.Pipeline(tmp_path).build(planted, small_params)
    assert result.cached["embedding"] is False and result.cached["profiles"] is True


def test_keys_change_with_parameters_inputs_and_code_version(monkeypatch):
    a = stage_key("graph", atlas.GraphParams(n_neighbors=10), "up")
    assert a == stage_key("graph", atlas.GraphParams(n_neighbors=10), "up")
    assert a != stage_key("graph", atlas.GraphParams(n_neighbors=11), "up")
    assert a != stage_key("graph", atlas.GraphParams(n_neighbors=10), "other")
    monkeypatch.setitem(atlas.cache.STAGE_VERSIONS, "graph", 99)
    assert a != stage_key("graph", atlas.GraphParams(n_neighbors=10), "up")


def test_memory_cache_is_bounded():
    cache = StageCache(memory_items=2)
    for i in range(4):
        cache.put(f"x-{i}", i)
    assert cache.get("x-0") is None and cache.get("x-3") == 3


def test_build_params_widen_candidates_for_many_neighbours():
    params = atlas.BuildParams(graph=atlas.GraphParams(n_neighbors=100))
    assert params.cooccurrence.n_candidates == 100
    with pytest.raises(atlas.AtlasError, match="Unsupported projections"):
        atlas.BuildParams(projections=("pca",))


def test_progress_reports_every_stage(planted, small_params):
    seen = []
    atlas.Pipeline().build(planted, small_params, progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = [s for s, d, t in seen if d == 0]
    assert stages[:4] == ["profiles", "cooccurrence", "graph", "embedding"] and "tsne" in stages and "metrics" in stages
    assert ("cooccurrence", 1, 1) in seen


def test_readable_but_wrong_cache_entries_are_misses(tmp_path, planted, small_params):
    first = atlas.Pipeline(tmp_path).build(planted, small_params)
    for entry in tmp_path.glob("embedding-*.pkl"):  # another type under the right key
        entry.write_bytes(pickle.dumps({"coords": "not an embedding"}))
    for entry in tmp_path.glob("graph-*.pkl"):  # this class from a version with fewer fields
        older = object.__new__(atlas.ItemGraph)
        older.__dict__.update({"n_items": 3, "edges": None})
        entry.write_bytes(pickle.dumps(older))
    for entry in tmp_path.glob("metrics-*.pkl"):
        entry.write_bytes(pickle.dumps([1, 2, 3]))
    result = atlas.Pipeline(tmp_path).build(planted, small_params)
    assert result.cached["graph"] is False and result.cached["embedding"] is False and result.cached["profiles"] is True
    assert (result.layouts["umap"].xy == first.layouts["umap"].xy).all() and result.metrics == first.metrics


def test_the_cache_checks_the_type_only_when_asked(tmp_path):
    cache = StageCache(tmp_path)
    cache.put("x-1", {"a": 1})
    cache.clear_memory()
    assert StageCache(tmp_path).get("x-1", list) is None
    assert StageCache(tmp_path).get("x-1", dict) == {"a": 1} and StageCache(tmp_path).get("x-1") == {"a": 1}
