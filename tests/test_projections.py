import dataclasses

import numpy as np
import pytest

import atlas
from atlas.projections import TsneParams, UmapParams, align_layout, procrustes


def test_both_projections_put_planted_communities_together(built):
    for name in ("umap", "tsne"):
        m = built.metrics[name]
        # 6 communities: chance is ~1/6; a broken pipeline lands near chance
        assert m["label_agreement"] > 0.6, (name, m)
        assert m["label_agreement"] > 3 * m["label_chance"], (name, m)
        assert m["trustworthiness"] > 0.85, (name, m)


def test_same_seed_same_layout(planted, small_params, built):
    again = atlas.Pipeline().build(planted, small_params)
    for name in ("umap", "tsne"):
        np.testing.assert_allclose(again.layouts[name].xy, built.layouts[name].xy, atol=1e-4)


def test_alignment_undoes_rotation_reflection_scale_and_shift():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(200, 2))
    theta = 1.1
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ np.diag([1, -1])
    moved = ref @ rot * 3.5 + np.array([10.0, -4.0])
    np.testing.assert_allclose(procrustes(moved, ref), ref, atol=1e-8)
    a = atlas.Layout(moved.astype(np.float32), "tsne", None)
    b = atlas.Layout(ref.astype(np.float32), "umap", None)
    np.testing.assert_allclose(align_layout(a, b).xy, ref, atol=1e-4)


def test_aligned_tsne_sits_near_umap(built):
    u, t = built.layouts["umap"].xy, built.layouts["tsne"].xy
    # after alignment the same item sits in a comparable place: much closer than a shuffle
    matched = np.linalg.norm(u - t, axis=1).mean()
    shuffled = np.linalg.norm(u - t[np.random.default_rng(0).permutation(len(t))], axis=1).mean()
    assert matched < 0.6 * shuffled


def test_impossible_projection_parameters_are_explained(built):
    with pytest.raises(atlas.AtlasError, match="perplexity 200 is too large for 240 items; use at most 79"):
        atlas.project(built.embedding, TsneParams(perplexity=200))
    with pytest.raises(atlas.AtlasError, match="UMAP n_neighbors=300 is too large for 240 items; use at most 239"):
        atlas.project(built.embedding, UmapParams(n_neighbors=300))
    with pytest.raises(atlas.AtlasError, match="min_dist .* must not exceed spread"):
        UmapParams(min_dist=2.0, spread=1.0)


def test_pacmap_puts_planted_communities_together(planted, small_params, built):
    params = small_params.with_projection(atlas.PacmapParams(n_neighbors=8, n_iter=300))
    result = atlas.Pipeline().build(planted, params)
    m = result.metrics["pacmap"]
    assert m["label_agreement"] > 0.6 and m["label_agreement"] > 3 * m["label_chance"], m
    assert m["trustworthiness"] > 0.85, m
    again = atlas.Pipeline().build(planted, params)
    np.testing.assert_allclose(again.layouts["pacmap"].xy, result.layouts["pacmap"].xy, atol=1e-4)  # seeded


def test_pacmap_near_pairs_are_the_ones_pacmap_would_choose(built):
    import pacmap.pacmap as impl

    from atlas.projections.pacmap import near_pairs

    neighbors = atlas.embedding_neighbors(built.embedding, 10 + 50)
    pairs = near_pairs(neighbors.indices, neighbors.distances, 10)
    # PaCMAP's own selection, fed the same exact neighbours (without the item itself)
    nbrs = neighbors.indices[:, 1:].astype(np.int32)
    dist = neighbors.distances[:, 1:].astype(np.float32)
    sig = np.maximum(np.mean(dist[:, 3:6], axis=1), 1e-10).astype(np.float32)
    theirs = impl.sample_neighbors_pair(built.embedding.coords.astype(np.float32), impl.scale_dist(dist, sig, nbrs), nbrs, 10)
    assert pairs.shape == theirs.shape
    same = [set(pairs[pairs[:, 0] == i, 1]) == set(theirs[theirs[:, 0] == i, 1]) for i in range(0, len(nbrs), 7)]
    assert np.mean(same) > 0.95  # ties in the scaled distance may be ordered differently


def test_the_registry_lists_every_method_with_its_options():
    from atlas import plan

    assert atlas.projections.names() == ("umap", "tsne", "pacmap", "pymde")
    assert atlas.projections.default_names() == ("umap", "tsne", "pacmap")
    fields = plan.projection_fields()
    assert [f.dest for f in fields["pacmap"]] == ["pacmap_n_neighbors", "mn_ratio", "fp_ratio", "pacmap_iter", "pacmap_landmarks"]
    assert fields["pymde"] == []  # PyMDE 2D reuses the embedding's parameters
    with pytest.raises(atlas.AtlasError, match="Unsupported projection 'pca'; the supported projections are 'umap', 'tsne', 'pacmap', 'pymde'"):
        atlas.projections.get("pca")


def test_a_new_projection_is_one_class(planted, small_params, tmp_path):
    """A method registered from outside the package shows up in the plan, the command line,
    the build and the export without touching anything else."""
    from dataclasses import dataclass

    from atlas import plan
    from atlas.options import option
    from atlas.projections import base

    @dataclass(frozen=True)
    class FirstAxesParams:
        flip: float = option(1.0, "--first-axes-flip", "multiply the second axis by this")
        seed: int = 0

    @base.register
    class FirstAxes(base.Projection):
        name, title, Params, order, compare_by_default = "first_axes", "First axes", FirstAxesParams, 90, False

        def fit(self, inputs, params, *, progress=None):
            return inputs.embedding.coords[:, :2] * np.array([1.0, params.flip])

    try:
        assert "first_axes" in atlas.projections.names() and "first_axes_flip" in plan.all_fields()
        params = plan.build_params({"compare": "umap,first_axes", "first_axes_flip": "-1", "min_item_users": 3, "min_user_items": 2})
        assert params.projection("first_axes").flip == -1.0
        from atlas.cli import make_parser

        assert "--first-axes-flip" in make_parser()._subparsers._group_actions[0].choices["build"].format_help()
        result = atlas.Pipeline().build(planted, dataclasses.replace(params, embed=small_params.embed, export="first_axes"))
        assert set(result.layouts) == {"umap", "first_axes"}
        atlas.export_layout(tmp_path, result, planted)
        manifest = __import__("json").loads((tmp_path / "manifest.json").read_text())
        assert manifest["projection"] == "first_axes" and manifest["params"]["projections"][1]["flip"] == -1.0
    finally:
        del base._REGISTRY["first_axes"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (TsneParams(perplexity=15, n_iter=300), TsneParams(perplexity=25, n_iter=300)),
        (UmapParams(n_neighbors=15, n_epochs=200), UmapParams(n_neighbors=15, min_dist=0.05, spread=1.5, n_epochs=200)),
    ],
)
def test_a_warm_start_is_as_good_as_a_cold_one(built, before, after):
    """A parameter change refines the layout on screen; by the layout metrics the result is as
    good as a run from PCA (within a few percent)."""
    pipe = atlas.Pipeline()
    shown = pipe.project(built.embedding, before)
    steps = []
    warm = pipe.project(built.embedding, after, warm_from=shown, progress=lambda step, total, xy: steps.append((step, total)))
    assert warm.warm_from == shown.key and warm.key != shown.key
    assert steps and steps[-1][0] == steps[-1][1] < (before.n_iter + before.exaggeration_iter if isinstance(before, TsneParams) else 200)
    cold = atlas.Pipeline().project(built.embedding, after)
    assert cold.warm_from == ""
    graph, coords = built.graph, built.embedding.coords
    warm_m, cold_m = atlas.layout_metrics(graph, warm.xy, coords), atlas.layout_metrics(graph, cold.xy, coords)
    for name in ("knn_recall", "trustworthiness"):
        assert warm_m[name] >= 0.95 * cold_m[name], (name, warm_m, cold_m)
    # the refined layout kept the geography of the one it started from
    moved = np.linalg.norm(atlas.align_layout(warm, shown).xy - shown.xy, axis=1).mean()
    assert moved < 0.5 * np.linalg.norm(shown.xy - shown.xy.mean(axis=0), axis=1).mean()
    # a setting seen before comes back as it was, refined or not
    assert pipe.project(built.embedding, after) is warm or np.array_equal(pipe.project(built.embedding, after).xy, warm.xy)


def test_a_warm_start_needs_a_layout_of_the_same_embedding(built):
    pipe = atlas.Pipeline()
    other = atlas.Layout(built.layouts["tsne"].xy, "tsne", None, key="elsewhere", embedding_key="another embedding")
    layout = pipe.project(built.embedding, TsneParams(perplexity=12, n_iter=250), warm_from=other)
    assert layout.warm_from == ""  # started from PCA


def test_progress_shows_intermediate_layouts(built):
    seen = []
    atlas.project(built.embedding, TsneParams(perplexity=15, n_iter=250), progress=lambda step, total, xy: seen.append((step, total, xy)))
    assert seen[-1][0] == seen[-1][1] == 500
    assert all(xy is not None and xy.shape == (built.embedding.coords.shape[0], 2) for _, _, xy in seen)


def test_the_tsne_fft_grid_is_capped_only_on_large_maps():
    from atlas.projections.tsne import fft_interval_width

    assert fft_interval_width(60.0, 100) == 1.0  # small maps keep openTSNE's own grid
    assert fft_interval_width(214.0, 100) == pytest.approx(2.14)  # a 25k-item map: 100 intervals, not 214
    assert fft_interval_width(214.0, 300) == 1.0
    with pytest.raises(atlas.AtlasError, match="max_intervals"):
        TsneParams(max_intervals=5)


def test_umap_refines_in_fewer_epochs_on_large_maps():
    assert UmapParams().refine_epochs(1_400) == 100 and UmapParams().refine_epochs(25_000) == 60
    assert UmapParams(warm_epochs=150).refine_epochs(25_000) == 150  # a given number wins
    with pytest.raises(atlas.AtlasError, match="warm_epochs"):
        UmapParams(warm_epochs=0)


def test_tsne_runs_its_final_phase_in_pieces_only_where_that_keeps_the_bytes():
    from atlas.projections.tsne import PIECE_ITERATIONS, phase_pieces

    assert phase_pieces(500, 1.0) == [PIECE_ITERATIONS] * (500 // PIECE_ITERATIONS)
    assert phase_pieces(PIECE_ITERATIONS * 2 + 5, 1.0) == [PIECE_ITERATIONS, PIECE_ITERATIONS, 5]
    assert phase_pieces(250, 12.0) == [250]  # the exaggerated phase: one call
    assert phase_pieces(0, 1.0) == []


def test_tsne_gives_the_same_bytes_in_one_call_or_in_pieces_on_changing_thread_counts(built, monkeypatch):
    """openTSNE keeps its momentum and gains between calls, and its result does not depend on its
    thread count: the pieces, each on the count of free cores at the time, draw the same map."""
    from atlas.projections import tsne

    params = TsneParams(perplexity=12, n_iter=90, exaggeration_iter=30)
    monkeypatch.setattr(tsne, "PIECE_ITERATIONS", 10_000)
    whole = atlas.project(built.embedding, params).xy
    counts = []

    class Alternating:  # 2, 1, 2, 1, … threads, piece after piece
        def threads(self, now):
            counts.append(3 - now)
            return 3 - now

    monkeypatch.setattr(tsne, "PIECE_ITERATIONS", 20)
    monkeypatch.setattr(tsne, "FreeCores", Alternating)
    pieces = atlas.project(built.embedding, params).xy
    assert len(counts) == 5  # 30 exaggerated in one call, then 90 in 5 pieces: re-counted before each of those
    assert set(counts) == {1, 2}
    assert pieces.tobytes() == whole.tobytes()


def test_umap_reuses_its_graph_for_the_same_neighbours_with_the_same_bytes(built, monkeypatch):
    """A new min_dist refines on the graph built last for the same neighbours: the layout is the
    one a graph built afresh gives, and the graph is built once."""
    from atlas.projections import umap as umap_module

    shown = atlas.Pipeline().project(built.embedding, UmapParams(n_neighbors=15, n_epochs=200))
    after = UmapParams(n_neighbors=15, min_dist=0.2, n_epochs=200)
    made = []
    real = umap_module.one_thread_fuzzy_set
    monkeypatch.setattr(umap_module, "one_thread_fuzzy_set", lambda *args: made.append(1) or real(*args))
    umap_module._kept_graph.clear()
    fresh = atlas.Pipeline().project(built.embedding, after, warm_from=shown)
    kept = atlas.Pipeline().project(built.embedding, after, warm_from=shown)
    assert len(made) == 1
    assert fresh.xy.tobytes() == kept.xy.tobytes()
    other = atlas.Pipeline().project(built.embedding, UmapParams(n_neighbors=10, min_dist=0.2, n_epochs=200), warm_from=shown)
    assert len(made) == 2 and other.xy.shape == fresh.xy.shape  # other neighbours: a graph of their own


def test_umaps_fuzzy_graph_from_the_cached_kernels_is_umaps_own_bit_for_bit():
    """atlas compiles umap-learn's fuzzy-graph kernels with numba's disk cache and sums the fuzzy
    union itself: the graph is the one ``umap.umap_.fuzzy_simplicial_set`` gives."""
    import umap.umap_ as core

    from atlas.projections import umap as umap_module

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(loc, 1.0, size=(150, 6)) for loc in (0.0, 5.0, 9.0)]).astype(np.float32)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    idx = np.argsort(d, axis=1, kind="stable")[:, :12].astype(np.int32)
    dist = np.take_along_axis(d, idx, axis=1).astype(np.float32)
    ours = umap_module.one_thread_fuzzy_set(core, x, 12, idx, dist).tocoo()
    theirs = core.fuzzy_simplicial_set(x, 12, np.random.RandomState(0), "euclidean", knn_indices=idx, knn_dists=dist)[0].tocoo()
    ours.sum_duplicates()
    theirs.sum_duplicates()
    assert ours.nnz == theirs.nnz > 450 * 12
    assert np.array_equal(ours.row, theirs.row) and np.array_equal(ours.col, theirs.col)
    assert ours.data.tobytes() == theirs.data.tobytes()
    for name in ("smooth_knn_dist", "compute_membership_strengths"):  # compiled once per machine, not per process
        assert umap_module._kernel(core, name)._cache.__class__.__name__ != "NullCache"
