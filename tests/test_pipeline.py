import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.cache import StageCache, stage_key


def test_a_projection_change_recomputes_only_the_projection(planted, small_params):
    pipe = atlas.Pipeline()
    pipe.build(planted, small_params)
    changed = small_params.with_projection(dataclasses.replace(small_params.projection("umap"), min_dist=0.05))
    result = pipe.build(planted, changed)
    assert result.cached == {
        "profiles": True, "cooccurrence": True, "graph": True, "embedding": True, "neighbors": True, "umap": False, "tsne": True,
        "regions": True,  # found in the item graph, which did not change; only their names' places move
    }
    before = pipe.build(planted, small_params).regions["umap"]
    after = result.regions["umap"]
    assert np.array_equal(before.labels, after.labels) and not before.table[["x", "y"]].equals(after.table[["x", "y"]])



@pytest.mark.parametrize("perplexity", [25.0, 30.0, 32.0])
def test_a_perplexity_move_up_to_32_reads_the_neighbours_found_for_20(planted, small_params, perplexity):
    """t-SNE reads 3 × perplexity neighbours; the search for 20 keeps 96, enough up to 32."""
    pipe = atlas.Pipeline()
    pipe.build(planted, small_params.with_projection(dataclasses.replace(small_params.projection("tsne"), perplexity=20.0)))
    result = pipe.build(planted, small_params.with_projection(dataclasses.replace(small_params.projection("tsne"), perplexity=perplexity)))
    assert result.cached["neighbors"] and not result.cached["tsne"]

def test_a_graph_change_recomputes_downstream_but_not_upstream(planted, small_params):
    pipe = atlas.Pipeline()
    pipe.build(planted, small_params)
    changed = dataclasses.replace(small_params, graph=atlas.GraphParams(n_neighbors=12))
    result = pipe.build(planted, changed)
    assert result.cached["profiles"] and result.cached["cooccurrence"]
    assert not result.cached["graph"] and not result.cached["embedding"] and not result.cached["umap"]


@pytest.mark.parametrize("embed", [None, atlas.SvdParams(dim=16), atlas.AlsParams(factors=16, iterations=5)], ids=["pymde", "svd", "als"])
def test_the_same_build_twice_recomputes_nothing_even_across_processes(tmp_path, planted, small_params, embed):
    if embed is not None:  # every embedding method's results are kept on disk, not only PyMDE's
        small_params = dataclasses.replace(small_params, embed=embed)
    first = atlas.Pipeline(tmp_path / "cache").build(planted, small_params)
    fresh = atlas.Pipeline(tmp_path / "cache")  # a new process would start like this: empty memory
    second = fresh.build(planted, small_params)
    assert all(second.cached.values()) and set(second.cached) >= {"profiles", "embedding", "umap", "tsne"}
    assert sum(fresh.cache.misses.values()) == 0
    assert (second.layouts["umap"].xy == first.layouts["umap"].xy).all()


def test_damaged_cache_entries_are_recomputed(tmp_path, planted, small_params):
    atlas.Pipeline(tmp_path).build(planted, small_params)
    for entry in tmp_path.glob("atlas-embedding-*.npz"):
        entry.write_bytes(b"not an npz file")
    result = atlas.Pipeline(tmp_path).build(planted, small_params)
    assert result.cached["embedding"] is False and result.cached["profiles"] is True


def test_keys_change_with_parameters_and_inputs():
    a = stage_key("graph", atlas.GraphParams(n_neighbors=10), "up")
    assert a == stage_key("graph", atlas.GraphParams(n_neighbors=10), "up")
    assert a != stage_key("graph", atlas.GraphParams(n_neighbors=11), "up")
    assert a != stage_key("graph", atlas.GraphParams(n_neighbors=10), "other")


def test_memory_cache_is_bounded():
    cache = StageCache(memory_items=2)
    for i in range(4):
        cache.put(f"x-{i}", i)
    assert cache.get("x-0") is None and cache.get("x-3") == 3


def test_memory_cache_is_bounded_by_the_bytes_its_arrays_hold():
    cache = StageCache(memory_bytes=3_000_000)
    for i in range(5):
        cache.put(f"x-{i}", {"a": np.zeros(1_000_000 // 8), "b": (np.ones(125_000),)})  # 2 MB an entry
    assert cache.memory_held == 2_000_000
    assert cache.get("x-3") is None and cache.get("x-4") is not None
    huge = np.zeros(1_000_000)  # 8 MB, above the bound: the entry used last always stays
    cache.put("x-huge", huge)
    assert cache.get("x-huge") is huge and cache.get("x-4") is None


def test_value_bytes_counts_each_buffer_once():
    from scipy import sparse

    from atlas.cache import value_bytes

    a = np.zeros(1000)
    assert value_bytes((a, a[:10], a.reshape(10, 100))) == 8000  # views of one buffer
    m = sparse.random(50, 50, density=0.1, format="csr", random_state=0)
    assert value_bytes(m) == m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
    assert value_bytes(pd.DataFrame({"x": np.arange(100, dtype=np.int64)})) >= 800
    assert value_bytes("text") == 0


def test_memory_bound_from_the_environment(monkeypatch):
    from atlas.cache import memory_limit

    monkeypatch.setenv("ATLAS_CACHE_MEMORY_GB", "0.5")
    assert memory_limit() == 512 * 1024**2 and StageCache().memory_bytes == 512 * 1024**2
    monkeypatch.setenv("ATLAS_CACHE_MEMORY_GB", "lots")
    with pytest.raises(atlas.AtlasError, match="ATLAS_CACHE_MEMORY_GB must be a number of gigabytes, got 'lots'"):
        memory_limit()
    assert StageCache().memory_bytes == 2 * 1024**3  # a cache still works, warned


def test_build_params_widen_candidates_for_many_neighbours():
    params = atlas.BuildParams(graph=atlas.GraphParams(n_neighbors=100))
    assert params.cooccurrence.n_candidates == 100
    with pytest.raises(atlas.AtlasError, match="Unsupported projection 'pca'; the supported projections are 'umap', 'tsne'"):
        atlas.build_params({"compare": "umap,pca"})


def test_progress_reports_every_stage(planted, small_params):
    seen = []
    atlas.Pipeline().build(planted, small_params, progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = [s for s, d, t in seen if d == 0]
    assert stages[:4] == ["profiles", "cooccurrence", "graph", "embedding"] and "tsne" in stages and "metrics" in stages
    assert ("cooccurrence", 1, 1) in seen


def test_code_fingerprints_follow_the_code_a_stage_imports(tmp_path, monkeypatch):
    from atlas import cache

    package = tmp_path / "fakestage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "stage.py").write_text("from .helper import twice\nimport numpy\n\ndef run(x):\n    return twice(x)\n")
    (package / "helper.py").write_text("def twice(x):\n    return 2 * x\n")
    (package / "other.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def fingerprint():
        cache.code_fingerprint.cache_clear()
        cache._imports.cache_clear()
        return cache.code_fingerprint("fakestage.stage")

    before = fingerprint()
    assert fingerprint() == before
    (package / "other.py").write_text("X = 2\n")  # not imported by the stage
    assert fingerprint() == before
    (package / "helper.py").write_text("def twice(x):\n    return x + x\n")  # imported: a new key
    edited = fingerprint()
    assert edited != before
    monkeypatch.setattr(cache, "_library_version", lambda top: "99" if top == "numpy" else "1")  # an upgraded library
    assert fingerprint() != edited
    cache.code_fingerprint.cache_clear()
    cache._imports.cache_clear()


def test_stage_keys_name_the_code_that_computes_them():
    params = atlas.UmapParams()
    assert stage_key("layout", params, "up", code="atlas.projections.umap") != stage_key("layout", params, "up", code="atlas.projections.tsne")


def test_disk_cache_keeps_its_size_bound_dropping_the_least_recently_used(tmp_path):
    import os
    import time

    cache = StageCache(tmp_path, max_bytes=10**9)
    blob = np.arange(5_000, dtype=np.float32)
    for i in range(4):
        cache.put(f"layout-00000{i}", blob)
        os.utime(tmp_path / f"atlas-layout-00000{i}.npz", (time.time() - 100 + i, time.time() - 100 + i))
    size = (tmp_path / "atlas-layout-000000.npz").stat().st_size
    fresh = StageCache(tmp_path, max_bytes=int(3.5 * size))
    assert (fresh.get("layout-000000") == blob).all()  # read now: the most recently used
    fresh.put("layout-000004", blob)  # over the bound: the two least recently used go
    assert sorted(p.stem for p in tmp_path.glob("*.npz")) == ["atlas-layout-000000", "atlas-layout-000003", "atlas-layout-000004"]
    info = fresh.info()
    assert info["entries"] == 3 and info["stages"]["layout"]["entries"] == 3 and info["bytes"] <= fresh.max_bytes
    assert fresh.clear("profiles") == 0 and fresh.clear("layout") == 3 and fresh.info()["entries"] == 0


def test_cache_command_shows_and_clears_the_store(tmp_path, planted, small_params, capsys):
    from atlas.cli import main

    atlas.Pipeline(tmp_path).build(planted, small_params)
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "embedding:" in out and "entries" in out
    assert main(["cache", "clear", "--stage", "embedding", "--cache-dir", str(tmp_path)]) == 0
    assert "deleted 1 cache entry" in capsys.readouterr().out
    assert not list(tmp_path.glob("atlas-embedding-*.npz")) and list(tmp_path.glob("atlas-profiles-*.npz"))


def test_aligned_turns_every_layout_onto_the_first():
    import numpy as np

    rng = np.random.default_rng(0)
    xy = rng.normal(size=(50, 2)).astype(np.float32)
    turned = xy @ np.array([[0.0, 1.0], [-1.0, 0.0]], dtype=np.float32) * 3 + 5
    umap = atlas.Layout(xy, "umap", None, key="u")
    layouts = atlas.pipeline.aligned({"umap": umap, "tsne": atlas.Layout(turned, "tsne", None, key="t")})
    assert list(layouts) == ["umap", "tsne"] and layouts["umap"] is umap
    assert np.allclose(layouts["tsne"].xy, xy, atol=1e-4)
    assert atlas.pipeline.aligned({}) == {}


def test_readable_but_wrong_cache_entries_are_misses(tmp_path, planted, small_params):
    from atlas import stagecodec

    first = atlas.Pipeline(tmp_path).build(planted, small_params)
    for entry in tmp_path.glob("atlas-embedding-*.npz"):  # another type under the right key
        entry.write_bytes(stagecodec.dumps({"coords": "not an embedding"}, "embedding"))
    for entry in tmp_path.glob("atlas-graph-*.npz"):  # this class from a version with fewer fields
        arrays = dict(np.load(entry, allow_pickle=False))
        meta = json.loads(arrays["meta"].tobytes())
        del meta["tree"]["fields"]["n_fallback_items"]
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with open(entry, "wb") as f:
            np.savez(f, **arrays)
    for entry in tmp_path.glob("atlas-metrics-*.npz"):
        entry.write_bytes(stagecodec.dumps([1, 2, 3], "metrics"))
    result = atlas.Pipeline(tmp_path).build(planted, small_params)
    assert result.cached["graph"] is False and result.cached["embedding"] is False and result.cached["profiles"] is True
    assert (result.layouts["umap"].xy == first.layouts["umap"].xy).all() and result.metrics == first.metrics


def test_the_cache_checks_the_type_only_when_asked(tmp_path):
    cache = StageCache(tmp_path)
    cache.put("metrics-000001", {"a": 1})
    cache.clear_memory()
    assert StageCache(tmp_path).get("metrics-000001", list) is None
    assert StageCache(tmp_path).get("metrics-000001", dict) == {"a": 1} and StageCache(tmp_path).get("metrics-000001") == {"a": 1}
