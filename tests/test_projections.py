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
