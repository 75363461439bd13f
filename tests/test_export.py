import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.export import FILES, OWNED_FILES, export_layout, read_layout


def test_export_round_trips(tmp_path, built, planted):
    paths = export_layout(tmp_path / "out", built, planted, projection="tsne")
    assert sorted(p.name for p in paths.values()) == sorted(FILES)
    layout, neighbors, manifest = read_layout(tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "layout.csv", dtype={"item_id": str})
    assert list(layout.columns[:4]) == ["item_id", "x", "y", "n_users"] and "community" in layout.columns
    np.testing.assert_allclose(layout[["x", "y"]].to_numpy(), built.layouts["tsne"].xy, rtol=1e-6)
    np.testing.assert_allclose(csv[["x", "y"]].to_numpy(), layout[["x", "y"]].to_numpy(), rtol=1e-6)
    assert (csv["item_id"] == layout["item_id"]).all()
    assert manifest["projection"] == "tsne" and manifest["name_column"] == "name"
    assert manifest["params"]["graph"]["n_neighbors"] == built.params.graph.n_neighbors
    assert manifest["params"]["projections"][0] == {"method": "umap", **dataclasses.asdict(built.params.projection("umap"))}
    assert manifest["versions"]["pymde"]
    # planted data is made in Python: there is no command that reads it again, and the manifest says why
    assert manifest["argv"] is None and "made in Python" in manifest["argv_note"]
    assert manifest["input"]["interactions_fingerprint"] == planted.interactions.fingerprint
    assert set(manifest["metrics"]) >= {"umap", "tsne", "embedding"}
    # neighbours point at real items, best first
    assert neighbors["neighbor_id"].isin(layout["item_id"]).all()
    first = neighbors[neighbors["item_id"] == layout["item_id"][0]]
    assert list(first["rank"]) == list(range(len(first))) and first["weight"].is_monotonic_decreasing


def test_manifest_rebuilds_the_same_layout(tmp_path, built, planted):
    export_layout(tmp_path, built, planted)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    params = atlas.BuildParams.from_dict(manifest["params"])
    assert params == built.params
    rebuilt = atlas.Pipeline().build(planted, params)
    np.testing.assert_allclose(rebuilt.layouts["umap"].xy, pd.read_parquet(tmp_path / "layout.parquet")[["x", "y"]].to_numpy(), atol=1e-4)


def test_a_failed_export_leaves_no_file_behind(tmp_path, built, planted, monkeypatch):
    def broken(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(atlas.AtlasError, match=r"cannot write the export .*\(No space left on device\)"):
        export_layout(tmp_path / "out", built, planted)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_existing_export_is_replaced_whole(tmp_path, built, planted):
    export_layout(tmp_path, built, planted, projection="umap")
    export_layout(tmp_path, built, planted, projection="tsne")
    assert json.loads((tmp_path / "manifest.json").read_text())["projection"] == "tsne"


def test_unknown_projection_and_bad_folders(tmp_path, built, planted):
    with pytest.raises(atlas.AtlasError, match="projection 'pca' was not computed"):
        export_layout(tmp_path, built, planted, projection="pca")
    (tmp_path / "file").write_text("x")
    with pytest.raises(atlas.AtlasError, match="exists and is not a folder"):
        export_layout(tmp_path / "file", built, planted)
    with pytest.raises(atlas.AtlasError, match="is not an atlas export"):
        read_layout(tmp_path)


def test_list_and_record_metadata_is_kept_in_parquet_and_readable_in_csv(tmp_path, built, planted):
    items = planted.items.copy()
    items["genres"] = [["drama", f"c{c}"] if k % 3 else [] for k, c in enumerate(items["community"])]
    items["credits"] = [{"director": f"d{k}"} for k in range(len(items))]
    data = dataclasses.replace(planted, items=items)
    paths = export_layout(tmp_path / "out", built, data, page=True)
    assert set(paths) == set(OWNED_FILES)
    layout = pd.read_parquet(tmp_path / "out" / "layout.parquet")
    csv = pd.read_csv(tmp_path / "out" / "layout.csv", dtype={"item_id": str}, keep_default_na=False)
    first = items.loc[layout["item_id"][0]]
    assert list(layout["genres"][0]) == first["genres"] and layout["credits"][0] == first["credits"]
    assert csv["genres"][0] == "|".join(first["genres"]) and json.loads(csv["credits"][0]) == first["credits"]
    assert "drama|c" in (tmp_path / "out" / "layout.csv").read_text(encoding="utf-8")
    assert (tmp_path / "out" / "atlas.html").stat().st_size > 1000


def test_an_export_into_nested_new_folders_creates_them(tmp_path, built, planted):
    export_layout(tmp_path / "a" / "b" / "out", built, planted)
    assert sorted(p.name for p in (tmp_path / "a" / "b" / "out").iterdir()) == sorted(FILES)
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["out"]


def test_a_rebuild_without_the_page_removes_the_old_page_only(tmp_path, built, planted):
    export_layout(tmp_path, built, planted, page=True)
    (tmp_path / "README.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "atlas-old.html").write_text("mine too", encoding="utf-8")
    export_layout(tmp_path, built, planted)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*FILES, "README.txt", "atlas-old.html"])
