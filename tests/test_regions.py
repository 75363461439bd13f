"""Regions of a map: found at each level by HDBSCAN, named by what sets them apart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.export import export_layout
from atlas.naming import item_values, name_group
from atlas.plan import build_params
from atlas.regions import RegionParams, find_regions

GENRES = ["Western", "Opera", "Noir", "Anime", "Polka", "Sumo"]


def planted_map(seed: int = 0, per_blob: int = 60):
    """Six tight blobs in two far-apart groups of three; every item of blob b is a GENRES[b]
    item (plus a 'Drama' on half of all items), and its year tells the group."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [3, 5], [60, 0], [66, 0], [63, 5]], dtype=float)
    blob = np.repeat(np.arange(6), per_blob)
    xy = centres[blob] + rng.normal(0, 0.6, size=(blob.size, 2))
    genres = [f"{GENRES[b]}|Drama" if k % 2 else GENRES[b] for k, b in enumerate(blob)]
    year = np.where(blob < 3, 1955, 2015)
    meta = pd.DataFrame({"genres": genres, "year": year, "title": [f"film {k}" for k in range(blob.size)]})
    popularity = rng.integers(1, 100, blob.size)
    return xy, blob, meta, popularity


@pytest.fixture(scope="module")
def planted_regions():
    xy, blob, meta, popularity = planted_map()
    values = item_values(meta, skip=("title",))
    regions = find_regions(xy, RegionParams(levels=2, min_region_size=20), values=values, names=meta["title"].to_numpy(), popularity=popularity)
    return regions, blob, meta


def test_the_finest_level_finds_the_planted_blobs_and_names_them(planted_regions):
    regions, blob, _ = planted_regions
    fine = regions.table[regions.table["level"] == 1]
    assert len(fine) == 6
    for row in fine.itertuples():
        members = regions.labels[:, 1] == row.region_id
        owners = np.bincount(blob[members], minlength=6)
        assert owners.max() >= 0.95 * members.sum()  # one blob per region
        planted = GENRES[int(owners.argmax())]
        assert row.top_value == planted and row.name.startswith(planted)
        # the measure: share of the region carrying its top value, against the whole map
        assert row.share == pytest.approx(1.0) and row.share_overall == pytest.approx(1 / 6)
        assert row.lift == pytest.approx(6.0)
    assert (regions.labels[:, 1] >= 0).mean() > 0.85


def test_the_coarse_level_finds_the_two_groups_named_by_their_years(planted_regions):
    regions, blob, _ = planted_regions
    coarse = regions.table[regions.table["level"] == 0]
    assert len(coarse) == 2
    for row in coarse.itertuples():
        members = regions.labels[:, 0] == row.region_id
        group = set(blob[members] // 3)
        assert len(group) == 1
        assert row.top_value == ("year 1955" if group == {0} else "year 2015")  # few distinct numbers: categories
    fine = regions.table[regions.table["level"] == 1]
    for row in fine.itertuples():  # each region lies inside one continent, its parent
        members = regions.labels[:, 1] == row.region_id
        assert set(regions.labels[members, 0]) == {row.parent_id}


def test_large_maps_are_clustered_on_a_sample_and_every_item_joins_its_nearest(monkeypatch):
    import atlas.regions as regions_module

    xy, blob, meta, popularity = planted_map(seed=3, per_blob=100)
    whole = regions_module.cluster_level(xy, 40)
    monkeypatch.setattr(regions_module, "CLUSTER_SAMPLE", 200)  # a third of the 600 items
    sampled = regions_module.cluster_level(xy, 40)
    assert sampled.max() + 1 == whole.max() + 1 == 6
    for c in range(6):  # the same six blobs, whole
        assert np.bincount(blob[sampled == c], minlength=6).max() >= 0.95 * (sampled == c).sum()
    assert (sampled >= 0).mean() > 0.85


def test_multi_valued_fields_count_each_value():
    meta = pd.DataFrame({"genres": ["Action|Comedy", "Comedy", "Drama|Comedy", "Drama", "Horror", "Horror|Action"] * 5})
    values = item_values(meta)
    assert sorted(values.labels) == ["Action", "Comedy", "Drama", "Horror"]
    comedy = np.flatnonzero(meta["genres"].str.contains("Comedy").to_numpy())
    named = name_group(values, comedy, np.array(["x"] * 30), np.ones(30))
    assert named.top_value == "Comedy" and named.lift == pytest.approx(2.0)


def test_without_metadata_a_region_is_named_after_its_most_popular_items():
    xy, blob, meta, popularity = planted_map(seed=1)
    names = meta["title"].to_numpy()
    regions = find_regions(xy, RegionParams(levels=1, min_region_size=20), values=item_values(None), names=names, popularity=popularity)
    assert regions.named_by == "popular items" and len(regions.table) == 6
    for row in regions.table.itertuples():
        members = np.flatnonzero(regions.labels[:, 0] == row.region_id)
        best = members[np.argsort(-popularity[members], kind="stable")][:2]
        assert row.name == f"around {names[best[0]]}, {names[best[1]]}"
        assert np.isnan(row.lift) and row.top_value is None


def test_regions_with_the_same_name_are_told_apart_by_their_best_known_item():
    xy, blob, meta, popularity = planted_map(seed=2)
    meta = meta.assign(genres="Western")  # every item the same: nothing sets a region apart ...
    meta.loc[blob < 2, "genres"] = "Opera"  # ... except in two blobs, which share their name
    regions = find_regions(xy, RegionParams(levels=1, min_region_size=20), values=item_values(meta, skip=("title", "year")), names=meta["title"].to_numpy(), popularity=popularity)
    names = regions.table["name"].tolist()
    opera = [n for n in names if n.startswith("Opera")]
    assert len(opera) == 2 and len(set(opera)) == 2 and all("(film " in n for n in opera)


def test_numbers_are_named_by_their_range():
    meta = pd.DataFrame({"score": np.linspace(0.0, 1.0, 50)})
    values = item_values(meta)
    assert len(values.labels) == 5 and values.labels[0] == "score 0–0.2"
    named = name_group(values, np.arange(40, 50), np.array(["x"] * 50), np.ones(50))
    assert named.top_value == "score 0.8–1" and named.lift == pytest.approx(5.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"levels": 4}, r"--region-levels must be between 0 and 3"), ({"min_region_size": 1}, r"--min-region-size must be at least 2")],
)
def test_bad_region_parameters_are_refused(kwargs, message):
    with pytest.raises(atlas.AtlasError, match=message):
        RegionParams(**kwargs)


def test_levels_grow_from_the_smallest_region():
    assert RegionParams(levels=3, min_region_size=10).sizes(5000) == [160, 40, 10]
    assert RegionParams(levels=2).sizes(5000) == [200, 50]  # 1% of the items
    assert RegionParams(levels=2).sizes(300) == [40, 10]  # never below 10
    assert build_params({"region_levels": "3", "min_region_size": "12"}).regions == RegionParams(3, 12)


def test_region_columns_choose_what_names_regions(built, planted):
    pipe = atlas.Pipeline()
    layout = built.layouts["umap"]
    by_community = pipe.regions(layout, built.profiles, planted, RegionParams(levels=1, name_columns=" community "))
    assert by_community.table["top_value"].str.match(r"c\d").all()
    bare = atlas.Dataset(planted.interactions, planted.items.assign(colour="red"), name_column="name", label_column="community")
    by_colour = pipe.regions(layout, built.profiles, bare, RegionParams(levels=1, name_columns="colour"))
    assert by_colour.table["name"].str.startswith("around item").all()  # one colour sets no region apart
    with pytest.raises(atlas.AtlasError, match=r"--region-columns names 'genre', not a metadata column; choose from: community."):
        pipe.regions(layout, built.profiles, planted, RegionParams(levels=1, name_columns="genre"))


def test_a_build_names_the_regions_of_every_layout_and_exports_them(tmp_path, built, planted):
    assert set(built.regions) == set(built.layouts)
    regions = built.regions["umap"]
    coarse = regions.table[regions.table["level"] == 0]
    fine = regions.table[regions.table["level"] == regions.levels - 1]
    # six planted communities: the continents are the communities, named after them
    assert sorted(coarse["name"]) == [f"c{k}" for k in range(6)] and coarse["lift"].tolist() == pytest.approx([6.0] * 6)
    # finer regions split a community: nothing else sets them apart, so their best-known items name them
    assert fine["name"].str.startswith("around item").any()
    export_layout(tmp_path, built, planted, projection="umap")
    table = pd.read_parquet(tmp_path / "regions.parquet")
    layout = pd.read_parquet(tmp_path / "layout.parquet")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert list(table.columns[:7]) == ["region_id", "level", "name", "x", "y", "n_items", "parent_id"]
    assert table["name"].tolist() == regions.table["name"].tolist()
    assert list(layout.columns[:5]) == ["item_id", "x", "y", "n_users", "region"]
    named = layout["region"].dropna()
    assert named.isin(fine["name"]).all() and len(named) == (regions.labels[:, -1] >= 0).sum()
    summary = manifest["regions"]
    assert [level["regions"] for level in summary["levels"]] == [int((table["level"] == lv).sum()) for lv in range(regions.levels)]
    assert summary["levels"][-1]["median_lift"] == pytest.approx(fine["lift"].median())
    assert {r["name"] for r in summary["regions"]} == set(table["name"])


def test_regions_are_cached_and_follow_their_parameters(built, planted):
    pipe = atlas.Pipeline()
    layout = built.layouts["umap"]
    first = pipe.regions(layout, built.profiles, planted, RegionParams(levels=1))
    again = pipe.regions(layout, built.profiles, planted, RegionParams(levels=1))
    assert again is first and pipe.cached["regions"]
    three = pipe.regions(layout, built.profiles, planted, RegionParams(levels=3, min_region_size=5))
    assert three.levels == 3 and not pipe.cached["regions"]
    none = pipe.regions(layout, built.profiles, planted, RegionParams(levels=0))
    assert none.levels == 0 and none.table.empty


def test_a_build_without_regions_writes_an_empty_table_and_no_region_column(tmp_path, built, planted):
    import dataclasses

    bare = dataclasses.replace(built, regions={}, params=dataclasses.replace(built.params, regions=RegionParams(levels=0)))
    export_layout(tmp_path, bare, planted)
    assert pd.read_parquet(tmp_path / "regions.parquet").empty
    assert "region" not in pd.read_parquet(tmp_path / "layout.parquet").columns
