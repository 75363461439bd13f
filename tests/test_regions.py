"""Regions: communities of the item graph found once, named by values both common and
over-represented in them (or by ranges, or best-known items), placed on every map."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.export import export_layout
from scipy import sparse

from atlas.naming import NameRule, item_values, name_group, range_label, title_years
from atlas.plan import build_params
from atlas.regions import RegionParams, find_regions, merge_small, place_regions

GENRES = ["Western", "Opera", "Noir", "Anime", "Polka", "Sumo"]


def planted_graph(seed: int = 0, per_block: int = 60):
    """An item graph of six blocks in two groups of three (a stochastic block model): dense within
    a block, sparser within a group, nearly nothing between the groups. Every item of block b is a
    GENRES[b] item (half of all items are also 'Drama'); group 0 is from the fifties, group 1 from
    the 2010s; a 2-D map puts each block around its own centre."""
    rng = np.random.default_rng(seed)
    block = np.repeat(np.arange(6), per_block)
    n = block.size
    same_block = block[:, None] == block[None, :]
    same_group = (block[:, None] // 3) == (block[None, :] // 3)
    p = np.where(same_block, 0.25, np.where(same_group, 0.01, 0.0005))
    upper = np.triu(rng.random((n, n)) < p, k=1)
    adjacency = sparse.csr_matrix((upper | upper.T).astype(np.float32))
    centres = np.array([[0, 0], [6, 0], [3, 5], [60, 0], [66, 0], [63, 5]], dtype=float)
    xy = centres[block] + rng.normal(0, 0.6, size=(n, 2))
    genres = [f"{GENRES[b]}|Drama" if k % 2 else GENRES[b] for k, b in enumerate(block)]
    year = np.where(block < 3, rng.integers(1950, 1960, n), rng.integers(2010, 2016, n))
    meta = pd.DataFrame({"genres": genres, "year": year, "title": [f"film {k}" for k in range(n)]})
    popularity = rng.integers(1, 100, n)
    return adjacency, xy, block, meta, popularity


def regions_of_graph(adjacency, xy, meta, popularity, levels=2, size=20, **kwargs):
    values = item_values(meta, skip=("title",))
    params = RegionParams(levels=levels, min_region_size=size)
    return find_regions(xy, params, values=values, names=meta["title"].to_numpy(), popularity=popularity, graph=adjacency, **kwargs)


@pytest.fixture(scope="module")
def planted_regions():
    adjacency, xy, block, meta, popularity = planted_graph()
    return regions_of_graph(adjacency, xy, meta, popularity), block, meta


def test_the_finest_level_finds_the_planted_blocks_and_names_them(planted_regions):
    regions, block, _ = planted_regions
    fine = regions.table[regions.table["level"] == 1]
    assert len(fine) == 6
    for row in fine.itertuples():
        members = regions.labels[:, 1] == row.region_id
        owners = np.bincount(block[members], minlength=6)
        assert owners.max() >= 0.95 * members.sum()  # one block per region
        planted = GENRES[int(owners.argmax())]
        assert row.top_value == planted and row.name.startswith(planted)
        # the measure: share of the region carrying its top value, against the whole map
        assert row.share == pytest.approx(1.0) and row.share_overall == pytest.approx(1 / 6)
        assert row.lift == pytest.approx(6.0)
    assert (regions.labels[:, 1] >= 0).all()


def test_the_coarse_level_finds_the_two_groups_named_by_the_range_of_their_years(planted_regions):
    regions, block, meta = planted_regions
    coarse = regions.table[regions.table["level"] == 0]
    assert len(coarse) == 2  # each group's blocks join: 60 items are fewer than a continent's 80
    for row in coarse.itertuples():
        members = regions.labels[:, 0] == row.region_id
        assert len(set(block[members] // 3)) == 1
        years = meta["year"].to_numpy()[members]
        middle = range_label("year", np.quantile(years, 0.25, method="lower"), np.quantile(years, 0.75, method="higher"), True)
        assert row.top_value == middle and re.fullmatch(r"(195\d–5\d|201\d–1\d)", middle)  # the middle half, "1952–57"
        assert row.lift == pytest.approx(row.share / row.share_overall) and row.lift >= 1.5
    fine = regions.table[regions.table["level"] == 1]
    for row in fine.itertuples():  # each region lies inside one continent, its parent
        members = regions.labels[:, 1] == row.region_id
        assert set(regions.labels[members, 0]) == {row.parent_id}


def test_the_same_graph_always_gives_the_same_regions():
    adjacency, xy, block, meta, popularity = planted_graph(seed=4)
    first = regions_of_graph(adjacency, xy, meta, popularity)
    again = regions_of_graph(adjacency, xy, meta, popularity)
    assert np.array_equal(first.labels, again.labels) and first.table.equals(again.table)


def test_a_rare_value_with_a_high_lift_does_not_name_a_region():
    """Like "Film-Noir" naming 175 films of which 6% are film-noir: the value is found only in
    this region (a lift of 6) but is rare in it, so it must not name the region."""
    adjacency, xy, block, meta, popularity = planted_graph(seed=5)
    genres = np.array(["Drama"] * len(block), dtype=object)
    genres[np.flatnonzero(block == 0)[:6]] = "Drama|Film-Noir"  # 10% of block 0, no item elsewhere
    genres[np.flatnonzero(block == 1)[:30]] = "Comedy"  # half of block 1: common and over-represented
    meta = meta.assign(genres=genres, year=2000)
    regions = regions_of_graph(adjacency, xy, meta, popularity, levels=1)
    rows = {int(np.bincount(block[regions.labels[:, 0] == r.region_id]).argmax()): r for r in regions.table.itertuples()}
    noir = rows[0]
    assert "Film-Noir" not in noir.name and noir.name.startswith("around film")  # named by its best-known items
    assert rows[1].name == "Comedy" and rows[1].share == pytest.approx(0.5) and rows[1].lift == pytest.approx(6.0)
    # the same value names the region once it is common there
    loose = NameRule(min_share=0.05, min_lift=1.5)
    assert regions_of_graph(adjacency, xy, meta, popularity, levels=1, rule=loose).table["name"].str.contains("Film-Noir").any()


@pytest.mark.parametrize(
    "inside, overall, n, named",
    [(30, 150, 1000, True), (20, 40, 1000, False), (60, 460, 1000, False), (25, 200, 1200, True)],
    ids=["common and over-represented", "rare (lift 5)", "common everywhere (lift 1.3)", "at both thresholds (0.25, 1.5)"],
)
def test_the_name_rule_needs_both_share_and_lift(inside, overall, n, named):
    group = 100  # the first 100 items; ``inside`` of them carry the value, ``overall`` of all ``n``
    tag = np.zeros(n, dtype=bool)
    tag[:inside] = True
    tag[group : group + overall - inside] = True
    meta = pd.DataFrame({"tag": np.where(tag, "noir", "plain")})
    result = name_group(item_values(meta), np.arange(group), np.array([f"film {i}" for i in range(n)]), np.ones(n))
    assert (result.top_value == "noir") is named
    if named:
        assert result.share == pytest.approx(inside / group) and result.lift == pytest.approx((inside / group) / (overall / n))


def test_multi_valued_fields_count_each_value():
    meta = pd.DataFrame({"genres": ["Action|Comedy", "Comedy", "Drama|Comedy", "Drama", "Horror", "Horror|Action"] * 5})
    values = item_values(meta)
    assert sorted(values.labels) == ["Action", "Comedy", "Drama", "Horror"]
    comedy = np.flatnonzero(meta["genres"].str.contains("Comedy").to_numpy())
    named = name_group(values, comedy, np.array(["x"] * 30), np.ones(30))
    assert named.top_value == "Comedy" and named.lift == pytest.approx(2.0)


def test_without_metadata_a_region_is_named_after_its_most_popular_items():
    adjacency, xy, block, meta, popularity = planted_graph(seed=1)
    names = meta["title"].to_numpy()
    regions = find_regions(xy, RegionParams(levels=1, min_region_size=20), values=item_values(None), names=names, popularity=popularity, graph=adjacency)
    assert regions.named_by == "popular items" and len(regions.table) == 6
    for row in regions.table.itertuples():
        members = np.flatnonzero(regions.labels[:, 0] == row.region_id)
        best = members[np.argsort(-popularity[members], kind="stable")][:2]
        assert row.name == f"around {names[best[0]]}, {names[best[1]]}"
        assert np.isnan(row.lift) and row.top_value is None


def test_regions_with_the_same_name_are_told_apart_by_their_best_known_item():
    adjacency, xy, block, meta, popularity = planted_graph(seed=2)
    meta = meta.assign(genres="Western")  # every item the same: nothing sets a region apart ...
    meta.loc[block < 2, "genres"] = "Opera"  # ... except in two blocks, which share their name
    regions = find_regions(
        xy, RegionParams(levels=1, min_region_size=20), values=item_values(meta, skip=("title", "year")), names=meta["title"].to_numpy(),
        popularity=popularity, graph=adjacency,
    )  # fmt: skip
    names = regions.table["name"].tolist()
    opera = [n for n in names if n.startswith("Opera")]
    assert len(opera) == 2 and len(set(opera)) == 2 and all("(film " in n for n in opera)


def test_small_communities_join_their_best_connected_neighbour():
    # a path 0-1-2-3-4-5 and an island 6-7: communities {0,1}, {2,3,4,5}, {6,7}
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (6, 7)]
    rows, cols = zip(*edges)
    a = sparse.coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(8, 8)).tocsr()
    a = a + a.T
    merged = merge_small(a, np.array([0, 0, 1, 1, 1, 1, 2, 2]), size=3)
    assert merged.tolist() == [0, 0, 0, 0, 0, 0, 1, 1]  # the island has no edge out: it stays, too small to be a region


def test_regions_of_bare_coordinates_use_their_neighbour_graph():
    adjacency, xy, block, meta, popularity = planted_graph(seed=7)
    regions = find_regions(xy, RegionParams(levels=1, min_region_size=20), values=item_values(meta, skip=("title",)), names=meta["title"].to_numpy(), popularity=popularity)
    for row in regions.table.itertuples():
        assert len(set(block[regions.labels[:, 0] == row.region_id])) == 1  # far-apart blobs are never one region


def test_numbers_are_named_by_the_middle_half_of_their_values():
    names, ones = np.array(["x"] * 50), np.ones(50)
    values = item_values(pd.DataFrame({"year": np.arange(1950, 2000)}))
    assert values.n_values == 0 and [c for c, _, _ in values.numbers] == ["year"]
    named = name_group(values, np.arange(40, 48), names, ones)
    # films of 1990–97: their middle half is 1991–96, 6 of the 8 films and 6 of all 50
    assert named.name == "1991–96" and named.top_column == "year" and named.lift == pytest.approx((6 / 8) / (6 / 50))
    score = item_values(pd.DataFrame({"score": np.linspace(0.0, 1.0, 50)}))
    assert name_group(score, np.arange(40, 48), names, ones).name == "score 0.837–0.939"
    assert name_group(score, np.arange(50), names, ones).name.startswith("around")  # the whole map: no lift


@pytest.mark.parametrize(
    "column, lo, hi, year, text",
    [("year", 1994, 1995, True, "1994–95"), ("year", 1998, 2003, True, "1998–2003"), ("year", 2003, 2003.9, True, "2003"),
     ("rating", 3.25, 3.8, False, "rating 3.25–3.8"), ("votes", 10, 40, False, "votes 10–40")],
)  # fmt: skip
def test_ranges_read_as_people_write_them(column, lo, hi, year, text):
    assert range_label(column, lo, hi, year) == text


def test_a_year_is_read_from_titles_and_names_regions():
    titles = ["Heat (1995)", "Toy Story (1995)", "Se7en [1995]", "Up (2009)", "Brazil (1985)", "Untitled"]
    years = title_years(titles)
    assert np.array_equal(years[:5], [1995, 1995, 1995, 2009, 1985]) and np.isnan(years[5])
    assert title_years(["Heat", "Up", "Brazil (1985)"]) is None  # too few carry a year
    assert title_years(["1995 Remastered", "Mambo No. 5"]) is None  # a year only in brackets
    adjacency, xy, block, meta, popularity = planted_graph(seed=6)
    year = np.where(block < 3, 1994 + (np.arange(block.size) % 2), 2007 + (np.arange(block.size) % 2))
    titles = np.array([f"film {k} ({y})" for k, y in enumerate(year)])
    values = item_values(meta[["genres"]], names=titles)
    assert [c for c, _, _ in values.numbers] == ["year"]
    params = RegionParams(levels=1, min_region_size=80)
    regions = find_regions(xy, params, values=values, names=titles, popularity=popularity, graph=adjacency)
    assert sorted(regions.table["name"]) == ["1994–95", "2007–08"]
    # the metadata's own year column wins over the titles
    assert [c for c, _, _ in item_values(meta, names=titles).numbers] == ["year"] and item_values(meta, names=titles).numbers[0][1][0] == meta["year"][0]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"levels": 4}, r"--region-levels must be between 0 and 3"), ({"min_region_size": 1}, r"--min-region-size must be at least 2")],
)
def test_bad_region_parameters_are_refused(kwargs, message):
    with pytest.raises(atlas.AtlasError, match=message):
        RegionParams(**kwargs)


def test_a_small_catalogue_still_has_more_than_one_continent():
    """Six blocks of 60 with a coarsest size of 240 (60 × 4): merging up to it would leave one
    region holding the whole map, so the coarsest level takes the next size instead."""
    adjacency, xy, block, meta, popularity = planted_graph()
    regions = regions_of_graph(adjacency, xy, meta, popularity, levels=2, size=60)
    coarse = regions.table[regions.table["level"] == 0]
    assert len(coarse) >= 2 and coarse["n_items"].sum() == block.size
    assert all(isinstance(name, str) and name for name in coarse["name"])


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
    assert again.table.equals(first.table) and np.array_equal(again.labels, first.labels) and pipe.cached["regions"]
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


def test_one_region_has_one_name_on_every_map(built):
    umap, tsne = built.regions["umap"], built.regions["tsne"]
    assert np.array_equal(umap.labels, tsne.labels)  # found once, in the item graph
    assert umap.table.drop(columns=["x", "y"]).equals(tsne.table.drop(columns=["x", "y"]))
    for name, found in built.regions.items():  # each name sits on a member of its region, on that map
        xy = built.layouts[name].xy
        for row in found.table.itertuples():
            members = found.labels[:, row.level] == row.region_id
            assert np.isclose(xy[members], [row.x, row.y]).all(axis=1).any()


def test_names_of_one_level_do_not_pile_up():
    adjacency, xy, block, meta, popularity = planted_graph(seed=8)
    xy = xy * 0.05  # six blocks squeezed together: the densest points would put names on top of each other
    regions = regions_of_graph(adjacency, xy, meta, popularity, levels=1)
    span = np.ptp(np.percentile(xy, [1, 99], axis=0), axis=0).max()
    boxes = [(r.x, r.y, len(r.name) * span / 90 / 2, span / 35 / 2) for r in regions.table.itertuples()]
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert abs(x - x2) >= w + w2 or abs(y - y2) >= h + h2
    again = place_regions(regions, xy)
    assert again.table[["x", "y"]].equals(regions.table[["x", "y"]])


def test_items_outside_every_region_are_called_so_in_legends():
    from atlas import widgets

    region = pd.Series(["Noir", None, "Opera", None, None] * 4, name="region")
    table = pd.DataFrame({"region": region})
    _, order, _ = atlas.columns.legend_categories(region, **widgets.tables.colour_context(table, "region"))
    assert order[-1] == "outside any region (12)" and not any("missing" in o or "no value" in o for o in order)
