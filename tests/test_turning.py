"""atlas.widgets.turning: maps turned to match the first map, or each its own previous map."""

from __future__ import annotations

import numpy as np

import atlas
from atlas import widgets


def layout(xy, method: str, key: str, embedding: str = "e") -> atlas.Layout:
    return atlas.Layout(np.asarray(xy, dtype=np.float32), method, None, key=key, embedding_key=embedding)


def planted(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(40, 2))


def turn(xy: np.ndarray, degrees: float, mirror: bool = False) -> np.ndarray:
    a = np.radians(degrees)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return (xy * [1, -1] if mirror else xy) @ r.T


def test_each_map_can_stay_where_it_was_when_only_another_method_changes():
    tsne = layout(planted(1), "tsne", "t1")
    turns = widgets.MapTurns()
    raw = {"umap": layout(planted(0), "umap", "u1"), "tsne": tsne}
    first = turns.show(raw, atlas.pipeline.aligned(raw), previous=True)  # nothing shown before: as aligned to UMAP
    np.testing.assert_allclose(first["tsne"].xy, atlas.pipeline.aligned(raw)["tsne"].xy)

    # UMAP changes (another seed, turned and mirrored); t-SNE is the same layout
    raw = {"umap": layout(turn(planted(2), 120, mirror=True), "umap", "u2"), "tsne": tsne}
    to_first = atlas.pipeline.aligned(raw)
    assert np.abs(to_first["tsne"].xy - first["tsne"].xy).max() > 0.1  # turned to match UMAP: it moves
    kept = turns.show(raw, to_first, previous=True)
    assert kept["tsne"] is first["tsne"]  # turned to match its own previous map: it stays
    assert kept["umap"].key.startswith("u2:after:")  # the new UMAP, turned to match the UMAP before it

    # t-SNE recomputed as the same map turned by 90°: drawn where the previous one was
    raw = {"umap": raw["umap"], "tsne": layout(turn(planted(1), 90), "tsne", "t2")}
    again = turns.show(raw, atlas.pipeline.aligned(raw), previous=True)
    np.testing.assert_allclose(again["tsne"].xy, first["tsne"].xy, atol=1e-4)
    assert again["tsne"].key.startswith("t2:after:")  # a new key: memos of the old drawing are not reused
    assert turns.show(raw, atlas.pipeline.aligned(raw), previous=True)["tsne"] is again["tsne"]  # and kept while unchanged


def test_by_default_and_across_items_the_maps_turn_to_match_the_first():
    turns = widgets.MapTurns()
    raw = {"umap": layout(planted(0), "umap", "u1"), "tsne": layout(planted(1), "tsne", "t1")}
    turns.show(raw, atlas.pipeline.aligned(raw), previous=False)
    raw = {"umap": layout(planted(2), "umap", "u2"), "tsne": raw["tsne"]}
    aligned = atlas.pipeline.aligned(raw)
    assert turns.show(raw, aligned, previous=False)["tsne"] is aligned["tsne"]
    other = {"umap": layout(planted(3)[:30], "umap", "u3", "f"), "tsne": layout(planted(4)[:30], "tsne", "t3", "f")}  # other items
    aligned = atlas.pipeline.aligned(other)
    assert turns.show(other, aligned, previous=True)["tsne"] is aligned["tsne"]


def test_the_wording_says_what_each_map_is_turned_to_match():
    titles, note = widgets.turn_wording(["umap", "tsne", "pacmap"], previous=False)
    assert titles == {"umap": "UMAP", "tsne": "t-SNE (turned to match UMAP)", "pacmap": "PaCMAP (turned to match UMAP)"}
    assert "they turn when only UMAP changes" in note and "its own previous map" in note
    titles, note = widgets.turn_wording(["umap", "tsne"], previous=True)
    assert titles["tsne"] == "t-SNE (turned to match its previous map)" and "stays where it was" in note
    titles, note = widgets.turn_wording(["umap", "tsne"], previous=True, onto="old-atlas")
    assert titles == {"umap": "UMAP (turned to match the earlier export)", "tsne": "t-SNE (turned to match UMAP)"}
    assert note == "UMAP is turned to match the earlier export in old-atlas; t-SNE to match UMAP."
    assert widgets.turn_wording(["umap"], previous=False) == ({"umap": "UMAP"}, "")
