"""Stable rebuilds: a rebuild aligned to an earlier export keeps its geography."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.align import AlignParams, Anchor, AnchorMatch, displacements, map_diameter, match, read_anchor, start_positions
from atlas.cli import main
from atlas.projections import fit_similarity


def without_users(data: atlas.Dataset, share: float, seed: int) -> atlas.Dataset:
    inter = data.interactions
    dropped = np.random.default_rng(seed).choice(inter.n_users, int(round(share * inter.n_users)), replace=False)
    keep = ~np.isin(inter.user, dropped)
    fewer = atlas.from_arrays(inter.user_ids[inter.user[keep]], inter.item_ids[inter.item[keep]], inter.weight[keep], fingerprint=f"fewer-{seed}")
    return dataclasses.replace(data, interactions=fewer)


def without_items(data: atlas.Dataset, items: list[str]) -> atlas.Dataset:
    inter = data.interactions
    keep = ~np.isin(inter.item_ids[inter.item], items)
    fewer = atlas.from_arrays(inter.user_ids[inter.user[keep]], inter.item_ids[inter.item[keep]], inter.weight[keep], fingerprint="fewer-items")
    return dataclasses.replace(data, interactions=fewer)


def reseeded(params: atlas.BuildParams, seed: int) -> atlas.BuildParams:
    return dataclasses.replace(
        params,
        embed=dataclasses.replace(params.embed, seed=seed),
        projections=tuple(dataclasses.replace(p, seed=seed) for p in params.projections),
    )


@pytest.fixture(scope="module")
def old_export(tmp_path_factory, built, planted):
    folder = tmp_path_factory.mktemp("old")
    atlas.export_layout(folder, built, planted)
    return folder


@pytest.fixture(scope="module")
def rebuilds(old_export, planted, small_params):
    """The planted data without 10% of its users, with another seed: aligned, and not."""
    fewer = without_users(planted, 0.10, seed=0)
    params = reseeded(small_params, 1)
    pipe = atlas.Pipeline()
    return pipe.build(fewer, params, anchor=read_anchor(old_export)), pipe.build(fewer, params)


def communities(result: atlas.BuildResult, data: atlas.Dataset) -> np.ndarray:
    return data.items["community"].reindex(result.profiles.item_ids.astype(str)).astype(str).to_numpy()


def test_an_aligned_rebuild_keeps_items_and_communities_where_they_were(rebuilds, old_export, planted):
    aligned, free = rebuilds
    anchor = read_anchor(old_export)
    found = match(anchor, aligned.profiles.item_ids)
    diameter = map_diameter(anchor.xy)
    moved = np.median(displacements(aligned.layouts["umap"].xy, found)) / diameter
    # the free rebuild, turned onto the old map as well as a similarity transform can
    onto = fit_similarity(free.layouts["umap"].xy[found.shared], found.old_xy)
    moved_free = np.median(displacements(onto(free.layouts["umap"].xy), found)) / diameter
    assert moved <= 0.08 and moved <= 0.5 * moved_free
    old = anchor.xy[found.rows]
    labels = communities(aligned, planted)
    for c in np.unique(labels):  # every planted community stays in its place
        shift = np.linalg.norm(aligned.layouts["umap"].xy[labels == c].mean(axis=0) - old[labels == c].mean(axis=0))
        assert shift <= 0.1 * diameter
    assert aligned.alignment["median_displacement"] == pytest.approx(moved)


def test_an_aligned_rebuild_is_as_good_a_map(rebuilds):
    aligned, free = rebuilds
    for name in ("umap", "tsne"):
        assert aligned.metrics[name]["knn_recall"] >= 0.95 * free.metrics[name]["knn_recall"]
        assert aligned.metrics[name]["trustworthiness"] >= 0.98 * free.metrics[name]["trustworthiness"]


def test_new_items_find_their_place_among_their_neighbours(tmp_path, planted, small_params):
    ids = planted.interactions.item_ids
    new = [str(i) for i in ids[::24]]  # ten items, from every community
    pipe = atlas.Pipeline()
    old = pipe.build(without_items(planted, new), small_params)
    atlas.export_layout(tmp_path, old, planted)
    rebuilt = pipe.build(planted, reseeded(small_params, 1), anchor=read_anchor(tmp_path))
    report = rebuilt.alignment
    assert report["new_items"] == 10 and report["shared_items"] == old.profiles.n_items
    xy, labels = rebuilt.layouts["umap"].xy, communities(rebuilt, planted)
    item_ids = rebuilt.profiles.item_ids.astype(str)
    old_labels = communities(old, planted)
    centres = {c: read_anchor(tmp_path).xy[old_labels == c].mean(axis=0) for c in np.unique(old_labels)}
    for item in new:
        i = int(np.flatnonzero(item_ids == item)[0])
        nearest = min(centres, key=lambda c: np.linalg.norm(xy[i] - centres[c]))
        assert nearest == labels[i]  # among its own community on the old map


def test_start_positions_place_new_items_from_their_neighbours():
    ids = np.array(["a", "b", "c", "d", "e", "f"])
    anchor = Anchor("/old", np.array(["a", "b", "f", "x"]), np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [9.0, 9.0]]), {})
    found = match(anchor, ids)
    assert found.rows.tolist() == [0, 1, -1, -1, -1, 2]
    neighbors = np.array([[1, -1], [0, -1], [0, 1], [2, -1], [-1, -1], [-1, -1]])  # c next to a and b; d next to c; e alone
    coords = np.array([[0.0, 0, 0], [2, 0, 0], [1, 0, 0], [1, 1, 0], [5, 5, 5], [0, 2, 0]])
    start = start_positions(found, neighbors, coords)
    np.testing.assert_allclose(start[[0, 1, 2, 3, 5]], [[0, 0], [2, 0], [1, 0], [1, 0], [0, 2]])
    assert np.all(np.isfinite(start[4])) and not np.allclose(start[4], 0)  # placed by the embedding's principal components


def test_fit_similarity_undoes_a_transform_fitted_on_some_points():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    b = 2.5 * a @ rotation + [3.0, -1.0]
    onto = fit_similarity(a[:10], b[:10])
    np.testing.assert_allclose(onto(a), b, atol=1e-9)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing", r"--align-to '.*missing' is not a folder"),
        (lambda d: d, r"holds no layout.parquet or layout.csv"),
        (lambda d: (pd.DataFrame({"item_id": ["a"], "x": [1.0]}).to_csv(d / "layout.csv", index=False), d)[1], r"lacks the column\(s\) y"),
        (lambda d: (pd.DataFrame({"item_id": ["a", "a"], "x": [1.0, 2], "y": [0.0, 1]}).to_csv(d / "layout.csv", index=False), d)[1], r"more than once"),
        (lambda d: (pd.DataFrame({"item_id": ["a"], "x": ["left"], "y": [0.0]}).to_csv(d / "layout.csv", index=False), d)[1], r"not numbers"),
    ],
)
def test_a_folder_that_is_not_an_export_is_refused(tmp_path, make, message):
    with pytest.raises(atlas.AtlasError, match=message):
        read_anchor(make(tmp_path))


def test_a_map_without_shared_items_cannot_be_aligned_to():
    anchor = Anchor("/old", np.array(["x", "y", "z"]), np.zeros((3, 2)), {})
    with pytest.raises(atlas.AtlasError, match=r"shares 0 item\(s\) with this build, too few to align to"):
        match(anchor, np.array(["a", "b", "c"]))


def test_a_layout_from_a_start_is_cached_under_its_positions(built):
    pipe = atlas.Pipeline()
    params = built.params.projection("umap")
    start = built.layouts["umap"].xy.astype(np.float64)
    first = pipe.project(built.embedding, params, start=start)
    again = pipe.project(built.embedding, params, start=start.copy())
    assert again is first and first.started_from
    other = pipe.project(built.embedding, params, start=start[::-1].copy())
    assert other.key != first.key and not pipe.cached["umap"]
    with pytest.raises(atlas.AtlasError, match=r"not both"):
        pipe.project(built.embedding, params, start=start, warm_from=built.layouts["umap"])


@pytest.mark.parametrize("name", ["tsne", "pacmap", "pymde"])
def test_every_projection_runs_from_a_start(built, name):
    params = atlas.projections.get(name).Params()
    if name == "tsne":
        params = dataclasses.replace(params, perplexity=15, n_iter=250)
    start = built.layouts["umap"].xy.astype(np.float64)
    layout = atlas.project(built.embedding, params, graph=built.graph, init=start)
    found = AnchorMatch(Anchor("/old", built.profiles.item_ids.astype(str), start, {}), np.arange(len(start)))
    onto = fit_similarity(layout.xy, start)
    # much nearer the start than a shuffle of it would be
    assert np.median(displacements(onto(layout.xy), found)) < 0.5 * np.median(np.linalg.norm(start - start[::-1], axis=1))


def test_the_manifest_and_the_command_line_record_the_alignment(tmp_path, old_export, capsys):
    rng = np.random.default_rng(0)
    plays = tmp_path / "plays.csv"
    layout = pd.read_parquet(old_export / "layout.parquet")
    users = np.repeat(np.arange(300), 8)
    items = rng.choice(layout["item_id"].to_numpy()[:80], users.size)
    pd.DataFrame({"user": users, "item": items}).drop_duplicates().to_csv(plays, index=False)
    first = tmp_path / "first"
    assert main(["build", str(plays), "--out", str(first), "--no-cache", "--quiet", "--min-item-users", "2", "--compare", "umap", "--umap-epochs", "50"]) == 0
    out = tmp_path / "again"
    code = main(["build", str(plays), "--out", str(out), "--no-cache", "--align-to", str(first), "--seed", "1", "--min-item-users", "2",
                 "--compare", "umap", "--umap-epochs", "50", "--moved-share", "0.1"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert f"aligned to {first.resolve()}" in printed and "moved more than 10% of the map's width" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    report = manifest["alignment"]
    assert report["directory"] == str(first.resolve()) and report["shared_items"] == 80 and report["new_items"] == 0
    assert report["moved_share"] == 0.1 and len(report["most_moved"]) == 10
    assert report["created"] == json.loads((first / "manifest.json").read_text())["created"]
    words = manifest["argv"]
    assert words[words.index("--align-to") + 1] == str(first.resolve())
    assert manifest["params"]["align"] == dataclasses.asdict(AlignParams(moved_share=0.1))


def test_a_bad_align_to_stops_the_build_before_anything_is_written(tmp_path, capsys):
    code = main(["build", "--demo", "--out", str(tmp_path / "out"), "--align-to", str(tmp_path / "nowhere")])
    assert code == 2
    assert "error: --align-to" in capsys.readouterr().err and not (tmp_path / "out").exists()
