"""The build object: lazy stages, sharing across parameter changes, one result for every face."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

import atlas
import atlas.app
from atlas.build import Build, stage_order
from atlas.web.pack import read_export


def test_stages_are_computed_only_when_read(planted, small_params):
    build = Build(planted, small_params)
    assert not build.has("profiles")
    graph = build.graph
    assert build.has("profiles") and build.has("candidates") and build.has("graph")
    assert not build.has("embedding") and not build.has("layout:umap")
    assert build.graph is graph  # read twice, computed once
    assert set(build.cached) == {"profiles", "cooccurrence", "graph"}


def test_with_params_shares_what_is_upstream_of_the_change(planted, small_params):
    build = Build(planted, small_params)
    build.layouts
    umap = dataclasses.replace(small_params.projection("umap"), min_dist=0.05)
    moved = build.with_params(projections=(umap, small_params.projection("tsne")))
    assert moved.embedding is build.embedding and moved.graph is build.graph
    assert moved.layout("tsne") is build.layout("tsne")
    assert not moved.has("layout:umap") and not moved.has("layouts")
    assert moved.layout("umap").params.min_dist == 0.05
    wider = build.with_params(projections=(dataclasses.replace(small_params.projection("umap"), n_neighbors=150), small_params.projection("tsne")))
    assert not wider.has("neighbors") and wider.layout("tsne") is build.layout("tsne")  # more neighbours for UMAP only

    regraphed = build.with_params(graph=atlas.GraphParams(n_neighbors=12))
    assert regraphed.profiles is build.profiles and regraphed.has("candidates")
    assert not regraphed.has("graph") and not regraphed.has("embedding")
    assert regraphed.graph.neighbors.shape[1] == 12

    refiltered = build.with_params(filter=atlas.FilterParams(min_item_users=4, min_user_items=2))
    assert not any(refiltered.has(name) for name in ("profiles", "graph", "embedding"))


def test_a_graph_change_keeps_an_embedding_made_from_the_profiles(planted, small_params):
    """SVD and ALS read the profiles, not the item graph: a graph change reuses their vectors
    (the same cache key ``Pipeline.embed`` gives them), while PyMDE's are made again."""
    svd = Build(planted, dataclasses.replace(small_params, embed=atlas.SvdParams(dim=8)))
    vectors = svd.embedding
    assert not svd.has("graph")  # nothing read the graph yet
    regraphed = svd.with_params(graph=atlas.GraphParams(n_neighbors=12))
    assert regraphed.embedding is vectors and regraphed.graph.neighbors.shape[1] == 12
    pymde = Build(planted, small_params)
    pymde.embedding
    assert not pymde.with_params(graph=atlas.GraphParams(n_neighbors=12)).has("embedding")


def test_a_build_says_which_stages_the_stage_cache_served(tmp_path, planted, small_params):
    first = Build(planted, small_params, cache=atlas.StageCache(tmp_path))
    assert first.from_cache("graph") is None  # not read yet
    first.embedding
    assert first.from_cache("profiles") is False and first.from_cache("candidates", "graph") is False
    again = Build(planted, small_params, cache=atlas.StageCache(tmp_path))  # a new session, the same folder
    again.embedding
    assert again.from_cache("profiles") and again.from_cache("candidates", "graph") and again.from_cache("embedding")
    assert again.embedding.seconds == first.embedding.seconds  # the time it took when computed comes along


def test_the_result_records_the_threads_of_the_stages_it_computed(planted, small_params, monkeypatch):
    monkeypatch.setenv("ATLAS_THREADS", "2")
    result = Build(planted, small_params).result()
    assert result.threads["cooccurrence"] == 2
    assert result.threads["tsne"] == 1  # beside UMAP, on the other of the two cores
    assert result.threads["embedding"] == 1 and result.threads["umap"] == 1  # fixed by their rule in atlas.cores
    again = Build(planted, small_params, cache=atlas.StageCache())
    assert set(again.result().threads) == set(result.threads)
    shared = Build(planted, small_params)
    shared.embedding
    assert Build(planted, small_params, cache=shared.cache).result().threads.keys().isdisjoint({"profiles", "graph", "embedding"})


def test_a_new_anchor_keeps_the_embedding_and_starts_the_layouts_again(tmp_path, planted, small_params):
    build = Build(planted, small_params)
    build.export(tmp_path / "before")
    anchored = build.with_params(anchor=atlas.read_anchor(tmp_path / "before"))
    assert anchored.has("embedding") and not anchored.has("match") and not anchored.has("layout:umap")
    assert anchored.alignment["shared_items"] == len(build.profiles.item_ids)
    assert anchored.alignment["median_displacement"] < 0.05  # the same data rebuilt from its own map stays put
    assert build.alignment is None
    stricter = anchored.with_params(align=atlas.AlignParams(moved_share=0.5))
    assert stricter.has("layouts") and not stricter.has("alignment")
    assert stricter.alignment["moved_share"] == 0.5


def test_the_result_is_what_the_stages_give_one_by_one(planted, small_params):
    """The build against the stages run by hand through one Pipeline, in the documented order."""
    result = Build(planted, small_params).result()
    pipe = atlas.Pipeline()
    profiles = pipe.profiles(planted, small_params.filter)
    candidates = pipe.cooccurrence(profiles, small_params.cooccurrence)
    graph = pipe.graph(profiles, candidates, small_params.graph)
    embedding = pipe.embed(graph, small_params.embed)
    layouts = atlas.pipeline.aligned({atlas.projections.of(p).name: pipe.project(embedding, p, graph=graph) for p in small_params.projections})
    np.testing.assert_array_equal(result.graph.neighbors, graph.neighbors)
    np.testing.assert_array_equal(result.embedding.coords, embedding.coords)
    assert list(result.layouts) == ["umap", "tsne"]
    for name, layout in layouts.items():
        np.testing.assert_array_equal(result.layouts[name].xy, layout.xy)
    labels = atlas.item_labels(profiles, planted)
    assert result.metrics["umap"] == pipe.metrics(layouts["umap"], graph, embedding, labels)
    assert set(result.metrics) == {"umap", "tsne", "embedding"}
    assert set(result.regions) == {"umap", "tsne"} and result.alignment is None


def test_a_layout_refined_before_is_not_what_the_build_exports(planted, small_params):
    """A warm start (the app's slider move) is kept for the screen; the build's own layout, the
    one an export writes and a rebuild makes, still runs from PCA."""
    build = Build(planted, small_params)
    other = dataclasses.replace(small_params.projection("umap"), min_dist=0.6)
    on_screen = build.with_params(projections=(other,)).layout("umap")
    refined = build.project("umap", warm_from=on_screen)
    assert refined.warm_from == on_screen.key
    assert build.known_layout("umap").key == refined.key  # the map on screen comes back at once
    assert build.known_layout("umap", from_pca=True) is None and not build.has("layout:umap")
    fresh = atlas.Pipeline().project(build.embedding, small_params.projection("umap"), graph=build.graph, from_pca=True)
    np.testing.assert_array_equal(build.layout("umap").xy, fresh.xy)
    assert not build.layout("umap").warm_from


def test_the_stage_order_follows_what_each_stage_reads(small_params):
    order = stage_order(small_params)
    assert order[:5] == ("data", "profiles", "candidates", "graph", "embedding")
    assert order.index("layout:umap") < order.index("layouts") < order.index("regions")
    assert order.index("match") < order.index("start") < order.index("layout:tsne")
    with pytest.raises(atlas.AtlasError, match="projection 'pacmap' is not part of this build"):
        Build(None, small_params).layout("pacmap")


def test_every_projection_declares_the_libraries_it_runs():
    versions = atlas.export.library_versions()
    for name, method in atlas.projections.projections().items():
        assert method.libraries, f"{name} declares no libraries"
        assert all(lib in versions for lib in method.libraries)
    assert versions["pacmap"] is not None
    for name, method in atlas.embeddings.methods().items():
        assert method.libraries and all(versions[lib] for lib in method.libraries), name


@pytest.mark.parametrize("embedding", [[], ["--embedding", "pymde"]], ids=["svd (default, reads the profiles)", "pymde (reads the graph)"])
def test_an_app_export_has_the_manifest_of_the_cli_build_of_its_settings(tmp_path, planted, embedding):
    """The app's cells (settings → each stage's parameters → one build, read stage by stage)
    export what ``atlas build`` with the same options writes: the same manifest, apart from the
    time it was made, how long the stages took and the threads of those computed (which follow
    the load, and leave out what came from the cache)."""
    import json

    import pandas as pd

    from atlas import cli, widgets

    ints = planted.interactions
    pd.DataFrame({"user": ints.user_ids[ints.user], "item": ints.item_ids[ints.item]}).to_csv(tmp_path / "plays.csv", index=False)
    words = ["--min-item-users", "3", "--min-user-items", "2", "--n-neighbors", "10", "--max-iter", "200", "--umap-epochs", "200", "--perplexity", "15", "--seed", "2", *embedding]
    assert cli.main(["build", str(tmp_path / "plays.csv"), *words, "--compare", "umap,tsne", "--projection", "tsne", "--out", str(tmp_path / "cli"), "--no-cache", "--quiet"]) == 0

    # what notebooks/app.py does with `-- --input plays.csv <words>`, cell by cell
    settings = atlas.app.app_settings({w.lstrip("-"): v for w, v in zip(words[::2], words[1::2])} | {"input": str(tmp_path / "plays.csv")})
    fields = atlas.plan.stage_fields()
    defaults = {stage: widgets.form_defaults(fields[stage], settings) for stage in fields}
    graph_values = {**defaults["cooccurrence"], **defaults["graph"]}
    source = atlas.Source(input=settings.source.input)
    data = source.load()
    loaded = atlas.Build(data, cache=atlas.StageCache())
    filtered = loaded.with_params(filter=atlas.plan.stage_params("filter", defaults["filter"], seed=settings.seed))
    graphed = filtered.with_params(
        cooccurrence=atlas.plan.stage_params("cooccurrence", graph_values, seed=settings.seed),
        graph=atlas.plan.stage_params("graph", graph_values, seed=settings.seed),
    )
    embedded = graphed.with_params(embed=atlas.plan.stage_params("embed", defaults["embed"], seed=settings.seed))
    controls = {name: widgets.form_defaults(atlas.options.fields_of(atlas.projections.get(name).Params), settings) for name in ("umap", "tsne")}
    layouts = tuple(atlas.plan.projection_params(name, values, seed=settings.seed) for name, values in controls.items())
    built = embedded.with_params(anchor=None).with_params(projections=layouts)
    built.project("tsne", warm_from=built.with_params(projections=(dataclasses.replace(layouts[1], perplexity=20.0),)).layout("tsne"))  # a slider moved and back
    region_params = atlas.plan.stage_params("regions", widgets.form_defaults(fields["regions"], settings))
    atlas.app.export_with_page(tmp_path / "app", built.with_params(regions=region_params, export="tsne").reading(None), projection="tsne")

    def manifest(folder):
        plain = json.loads((tmp_path / folder / "manifest.json").read_text())
        for key in ("created", "timings"):
            plain.pop(key)
        plain["threads"].pop("stages")
        plain["input"]["source"]["plan"].pop("input")  # the same file, named as each face was given it
        return plain

    cli_manifest, app_manifest = manifest("cli"), manifest("app")
    assert set(cli_manifest["metrics"]) == {"umap", "tsne", "embedding"}
    assert cli_manifest["params"]["embed"]["method"] == (embedding[1] if embedding else atlas.embeddings.DEFAULT)
    assert app_manifest == cli_manifest
    for name in ("layout.parquet", "neighbors.parquet", "regions.parquet"):
        assert (tmp_path / "app" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


def brute_force_faithfulness(neighbors: np.ndarray, xy: np.ndarray, k: int = 10) -> np.ndarray:
    """Per item, how many of its first k graph neighbours are among its k nearest points (by every
    distance), over how many it has."""
    distance = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    np.fill_diagonal(distance, np.inf)
    out = np.full(len(xy), np.nan)
    for i in range(len(xy)):
        own = [j for j in neighbors[i, :k] if j >= 0]
        near = set(np.argsort(distance[i], kind="stable")[:k].tolist())
        if own:
            out[i] = sum(j in near for j in own) / len(own)
    return out


def test_the_maps_faithfulness_is_measured_once_per_layout_and_the_export_reads_it(tmp_path, planted, small_params):
    build = Build(planted, small_params)
    layouts = build.layouts
    first = build.faithfulness_of(layouts)
    for name, layout in layouts.items():
        np.testing.assert_allclose(first[name], brute_force_faithfulness(build.graph.neighbors, layout.xy.astype(np.float64)))
    # a map on screen is measured once: the same layout again, or another build of it, is served
    other = build.with_params(regions=atlas.RegionParams(levels=1))
    again = other.faithfulness_of({"umap": layouts["umap"]})
    assert again["umap"] is first["umap"]
    misses = build.cache.misses["faithfulness"]
    build.export(tmp_path / "out", projection="tsne")
    assert build.cache.misses["faithfulness"] == misses  # the export's column is the maps' own
    written = read_export(tmp_path / "out").layout["faithfulness"].to_numpy()
    np.testing.assert_allclose(written, first["tsne"])


def test_the_layouts_run_side_by_side_on_the_idle_cores_and_give_what_they_give_alone(planted, small_params, monkeypatch):
    """On two cores UMAP runs on one while t-SNE takes the other: each layout in a thread of its
    own, with its share of the cores, the same bytes as one by one."""
    original = atlas.projections.project
    seen = {}
    meet = threading.Barrier(2, timeout=60)

    def project(embedding, params, *args, **kwargs):
        name = atlas.projections.of(params).name
        seen[name] = (threading.current_thread().name, atlas.cores.fitted_thread_count())
        meet.wait()  # passed only by two layouts running at the same time
        return original(embedding, params, *args, **kwargs)

    monkeypatch.setattr(atlas.projections, "project", project)
    monkeypatch.setenv("ATLAS_THREADS", "2")
    side_by_side = Build(planted, small_params).layouts
    assert seen["umap"][0] != seen["tsne"][0] and threading.main_thread().name not in (seen["umap"][0], seen["tsne"][0])
    assert seen["umap"][1] == 1 and seen["tsne"][1] == 1  # two cores shared by two layouts

    monkeypatch.setattr(atlas.projections, "project", original)
    monkeypatch.setenv("ATLAS_THREADS", "1")
    one_by_one = Build(planted, small_params).layouts
    for name in ("umap", "tsne"):
        assert side_by_side[name].xy.tobytes() == one_by_one[name].xy.tobytes()


def test_a_layout_that_fails_beside_another_stops_the_build_with_its_own_error(planted, small_params, monkeypatch):
    original = atlas.projections.project

    def project(embedding, params, *args, **kwargs):
        if atlas.projections.of(params).name == "tsne":
            raise atlas.AtlasError("t-SNE perplexity too large for 3 items; use at most 1.")
        return original(embedding, params, *args, **kwargs)

    monkeypatch.setattr(atlas.projections, "project", project)
    monkeypatch.setenv("ATLAS_THREADS", "2")
    build = Build(planted, small_params)
    with pytest.raises(atlas.AtlasError, match="perplexity too large"):
        build.layouts
    assert build.has("layout:umap") and not build.has("layout:tsne")  # what finished is kept
