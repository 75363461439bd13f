"""Why items are neighbours (shared users, lift), per-item faithfulness, and ``atlas explain``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from atlas.cli import main
from atlas.cooccur import CooccurrenceParams, cooccurrence_candidates
from atlas.errors import AtlasError
from atlas.explain import faithfulness, find_item, graph_pairs, neighbor_reasons, pair_reasons, torn_summary
from atlas.export import export_layout
from atlas.graph import GraphParams, graph_from_candidates
from atlas.ingest import from_arrays
from atlas.profiles import FilterParams, build_profiles
from atlas.stagefile import ItemTable


@pytest.fixture(scope="module")
def rated():
    """Ratings 1-5 drawn over planted groups, so weights matter to the filters."""
    rng = np.random.default_rng(7)
    n_users, n_items = 300, 60
    rows = []
    for u in range(n_users):
        home = rng.integers(0, 4)
        items = rng.choice(n_items, size=rng.integers(3, 20), replace=False)
        items = np.where(rng.random(items.size) < 0.8, (items % 15) + 15 * home, items)
        for i in np.unique(items):
            rows.append((f"u{u}", f"i{i}", float(rng.integers(1, 6))))
    frame = pd.DataFrame(rows, columns=["user", "item", "rating"])
    return frame


def brute_force_filter(frame: pd.DataFrame, params: FilterParams) -> pd.DataFrame:
    """The filters as the docs describe them, with pandas: weights, then both minimums to a fixed point."""
    kept = frame[frame["rating"] >= params.min_weight]
    while True:
        items = kept.groupby("item")["user"].transform("nunique")
        kept = kept[items >= params.min_item_users]
        users = kept.groupby("user")["item"].transform("nunique")
        kept = kept[users >= params.min_user_items]
        if kept.groupby("item")["user"].nunique().min() >= params.min_item_users:
            return kept


def test_shared_users_and_lift_match_a_brute_force_count(rated):
    params = FilterParams(min_item_users=4, min_user_items=3, min_weight=3.0)
    profiles = build_profiles(from_arrays(rated["user"].to_numpy(), rated["item"].to_numpy(), rated["rating"].to_numpy()), params)
    graph = graph_from_candidates(cooccurrence_candidates(profiles, CooccurrenceParams(weighting="cosine")), GraphParams(n_neighbors=6))
    n, k = graph.neighbors.shape
    rows, cols = np.repeat(np.arange(n), k), graph.neighbors.ravel()
    ok = cols >= 0
    reasons = neighbor_reasons(profiles, None, rows[ok], cols[ok], np.tile(np.arange(k), n)[ok])

    kept = brute_force_filter(rated, params)
    people = kept.groupby("item")["user"].agg(set)
    n_users = kept["user"].nunique()
    assert n_users == reasons.n_users == profiles.n_users
    ids = profiles.item_ids.astype(str)
    for p, (a, b) in enumerate(zip(ids[rows[ok]], ids[cols[ok]])):
        shared = len(people[a] & people[b])
        assert reasons.shared_users[p] == shared
        assert (reasons.users_item[p], reasons.users_neighbor[p]) == (len(people[a]), len(people[b]))
        assert reasons.lift[p] == pytest.approx(shared * n_users / (len(people[a]) * len(people[b])))
    # low ratings were filtered out: counting them would give other numbers somewhere
    everyone = rated.groupby("item")["user"].agg(set)
    assert any(len(everyone[a] & everyone[b]) != s for a, b, s in zip(ids[rows[ok]], ids[cols[ok]], reasons.shared_users))


def test_candidate_counts_give_the_same_reasons_as_the_profiles(planted):
    """Where the profile matrix stays elsewhere (Spark, a candidates file) the counts come from
    the candidates; both routes must agree."""
    profiles = build_profiles(planted, FilterParams(min_item_users=3, min_user_items=2))
    candidates = cooccurrence_candidates(profiles, CooccurrenceParams(weighting="cosine"))
    graph = graph_from_candidates(candidates, GraphParams(n_neighbors=8))
    n, k = graph.neighbors.shape
    rows, cols, ranks = np.repeat(np.arange(n), k), graph.neighbors.ravel(), np.tile(np.arange(k), n)
    ok = cols >= 0
    direct = neighbor_reasons(profiles, candidates, rows[ok], cols[ok], ranks[ok])
    remote = neighbor_reasons(ItemTable.of(profiles), candidates, rows[ok], cols[ok], ranks[ok])
    np.testing.assert_array_equal(direct.shared_users, remote.shared_users)
    np.testing.assert_allclose(direct.lift, remote.lift)
    # weighted pair counts are not user counts: no reasons rather than wrong ones
    assert neighbor_reasons(ItemTable.of(profiles), candidates, rows[ok], cols[ok], ranks[ok], pair_weight="product") is None


def test_graph_pairs_list_each_items_neighbours_in_rank_order_without_pads():
    neighbors = np.array([[2, 1, -1], [0, -1, -1], [1, 0, 3], [-1, -1, -1]])
    rows, cols, ranks = graph_pairs(neighbors)
    assert list(zip(rows.tolist(), cols.tolist(), ranks.tolist())) == [(0, 2, 0), (0, 1, 1), (1, 0, 0), (2, 1, 0), (2, 0, 1), (2, 3, 2)]
    rows, cols, ranks = graph_pairs(neighbors, [2])
    assert (rows.tolist(), cols.tolist(), ranks.tolist()) == ([2, 2, 2], [1, 0, 3], [0, 1, 2])
    assert all(a.size == 0 for a in graph_pairs(neighbors, [3]))


def test_an_interaction_of_weight_zero_still_counts():
    inter = from_arrays(np.array(["a", "a", "b", "b", "c"]), np.array(["x", "y", "x", "y", "x"]), np.array([0.0, 1.0, 1.0, 1.0, 1.0]))
    profiles = build_profiles(inter, FilterParams(min_item_users=1, min_user_items=1))
    reasons = pair_reasons(profiles.matrix, np.array([0]), np.array([1]))
    assert reasons.shared_users.tolist() == [2] and reasons.users_item.tolist() == [3]
    assert reasons.lift[0] == pytest.approx(2 * 3 / (3 * 2))


def test_faithfulness_counts_the_graph_neighbours_the_map_keeps():
    # 12 items on a line; item 0's graph neighbours are its line neighbours, item 11's are far away
    xy = np.c_[np.arange(12.0), np.zeros(12)]
    neighbors = np.full((12, 3), -1)
    neighbors[0] = [1, 2, 3]
    neighbors[11] = [0, 1, 2]  # the 10 nearest to item 11 are 1..10: 1 and 2 are kept, 0 is not
    neighbors[5, :1] = [6]
    share = faithfulness(neighbors, xy)
    assert share[0] == 1.0 and share[11] == pytest.approx(2 / 3) and share[5] == 1.0
    assert np.isnan(share[1])  # no graph neighbours: nothing to keep
    # 30 items on a line: item 0's graph neighbours 20..22 lie behind ten other items: torn
    torn = np.full((30, 3), -1)
    torn[0] = [20, 21, 22]
    assert faithfulness(torn, np.c_[np.arange(30.0), np.zeros(30)])[0] == 0.0
    summary = torn_summary(np.array([0.0, 0.1, 0.5, 1.0, np.nan]))
    assert summary["torn_share"] == 0.5 and summary["text"] == "50% of items keep fewer than 2 of their 10 neighbours"


def test_export_writes_reasons_and_faithfulness(tmp_path, built, planted):
    export_layout(tmp_path, built, planted)
    neighbors = pd.read_parquet(tmp_path / "neighbors.parquet")
    layout = pd.read_parquet(tmp_path / "layout.parquet")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {"shared_users", "users_item", "users_neighbor", "lift"} <= set(neighbors.columns)
    users = dict(zip(layout["item_id"], layout["n_users"]))
    assert (neighbors["users_item"] == neighbors["item_id"].map(users)).all()
    assert (neighbors["users_neighbor"] == neighbors["neighbor_id"].map(users)).all()
    assert (neighbors["shared_users"] <= np.minimum(neighbors["users_item"], neighbors["users_neighbor"])).all()
    # planted communities: neighbours share far more people than chance
    assert neighbors["lift"].median() > 2
    share = layout["faithfulness"].to_numpy()
    assert np.all((share >= 0) & (share <= 1))
    expected = faithfulness(built.graph.neighbors, built.layouts["umap"].xy)
    np.testing.assert_allclose(share, expected)
    torn = manifest["faithfulness"]
    assert torn["torn_share"] == pytest.approx(np.mean(np.rint(share * 10) < 2))
    assert torn["text"].endswith("of items keep fewer than 2 of their 10 neighbours")


@pytest.fixture(scope="module")
def export(tmp_path_factory, built, planted):
    folder = tmp_path_factory.mktemp("explain")
    export_layout(folder, built, planted)
    return folder


def test_explain_by_name_in_any_case(export, capsys):
    layout = pd.read_parquet(export / "layout.parquet")
    name = layout["name"].iloc[3]
    assert main(["explain", str(export), name.upper(), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{name} (id {layout['item_id'].iloc[3]}")
    assert len(lines) == 4 and all("shared by" in line and "× chance" in line for line in lines[1:])


def test_explain_json_lists_neighbours_as_the_graph_ranks_them(export, capsys):
    item_id = pd.read_parquet(export / "layout.parquet")["item_id"].iloc[0]
    assert main(["explain", str(export), item_id, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    neighbors = pd.read_parquet(export / "neighbors.parquet")
    own = neighbors[neighbors["item_id"] == item_id].sort_values("rank")
    assert [n["neighbor_id"] for n in out["neighbors"]] == own["neighbor_id"].tolist()[:10]
    first = out["neighbors"][0]
    assert first["shared_users"] == own["shared_users"].iloc[0] and first["lift"] == pytest.approx(own["lift"].iloc[0])
    assert first["reason"] == f"shared by {first['shared_users']} of {first['users_item']} · {first['lift']:.1f}× chance"


@pytest.mark.parametrize(
    "args, message",
    [
        (["item 999 (c9)"], r"^error: no item has the id or name 'item 999 \(c9\)'; closest names: item 99"),
        (["zzzzqqq"], r"no name is close; check the spelling or give an item id"),
        (["x", "--top", "0"], r"--top must be at least 1"),
    ],
)
def test_explain_bad_items_are_one_line_errors(export, capsys, args, message):
    assert main(["explain", str(export), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and __import__("re").search(message, err)


def test_explain_of_a_folder_that_is_no_export(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["explain", str(tmp_path), "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "manifest.json is missing" in err and len(err.strip().splitlines()) == 1


def test_closest_names_hold_the_query_first_then_look_like_it():
    layout = pd.DataFrame({"item_id": list("abcd"), "title": ["Star Wars: Episode V", "Star Wars: Episode IV", "Fargo", "Heat"], "n_users": [10, 50, 40, 30]})
    with pytest.raises(AtlasError, match=r"'star wars'; closest names: Star Wars: Episode IV; Star Wars: Episode V\.$"):
        find_item(layout, "title", "star wars")
    with pytest.raises(AtlasError, match=r"'Fargoo'; closest names: Fargo\.$"):
        find_item(layout, "title", "Fargoo")


def test_an_ambiguous_name_asks_for_the_id():
    layout = pd.DataFrame({"item_id": ["1", "2", "3"], "title": ["Heat", "heat", "Alien"]})
    with pytest.raises(AtlasError, match=r"2 items are named 'HEAT' \(ids 1, 2\); give the item's id"):
        find_item(layout, "title", "HEAT")
    assert find_item(layout, "title", "3") == 2 and find_item(layout, "title", " alien ") == 2


def test_an_old_export_without_reasons_says_so(export, tmp_path, capsys):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(export, old)
    neighbors = pd.read_parquet(old / "neighbors.parquet")
    neighbors[["item_id", "neighbor_id", "rank", "weight"]].to_parquet(old / "neighbors.parquet")
    item_id = pd.read_parquet(old / "layout.parquet")["item_id"].iloc[0]
    assert main(["explain", str(old), item_id]) == 0
    assert "has no shared-user counts" in capsys.readouterr().out



# ---------------------------------------------------------------- in the web atlas, in Chromium


@pytest.fixture(scope="module")
def web_export(tmp_path_factory, built, planted):
    folder = tmp_path_factory.mktemp("explain_web")
    export_layout(folder, built, planted, page=True)
    return folder


@pytest.mark.browser
def test_the_item_panel_says_why_and_dashes_far_neighbours(web_export):
    from scipy.spatial import cKDTree

    from atlas.explain import reason_text
    from browser import chromium_page

    layout = pd.read_parquet(web_export / "layout.parquet")
    neighbors = pd.read_parquet(web_export / "neighbors.parquet")
    # the item whose neighbours the map tore apart most, so that dashed lines must appear
    item_id = layout.sort_values(["faithfulness", "item_id"])["item_id"].iloc[0]
    own = neighbors[neighbors["item_id"] == item_id].sort_values("rank")
    xy = layout[["x", "y"]].to_numpy()
    row = int(np.flatnonzero(layout["item_id"] == item_id)[0])
    _, near = cKDTree(xy).query(xy[row], k=11)
    near_ids = set(layout["item_id"].iloc[[j for j in near if j != row][:10]])
    far_ids = [n for n in own["neighbor_id"] if n not in near_ids]
    assert far_ids, "the least faithful item must have neighbours far away"

    with chromium_page() as (page, log):
        page.goto((web_export / "atlas.html").as_uri())
        page.wait_for_function("window.atlasMap && window.atlasMap.ready", timeout=30000)
        i = page.evaluate("id => atlasMap.indexOf(id)", item_id)
        page.evaluate("i => { atlasMap.select(i); return atlasMap.flyTo(i); }", i)
        page.locator("#atlas-details").wait_for(state="visible")
        names = page.locator("#atlas-neighbors .atlas-neighbor-name").all_text_contents()
        reasons = page.locator("#atlas-neighbors .atlas-neighbor-reason").all_text_contents()
        by_id = dict(zip(layout["item_id"], layout["name"]))
        assert names == [by_id[n] for n in own["neighbor_id"]]
        expected = [reason_text(int(r.shared_users), int(r.users_item), float(r.lift)) + (" · far on the map" if r.neighbor_id in far_ids else "")
                    for r in own.itertuples()]
        assert reasons == expected
        far = page.evaluate("atlasMap.state.far.map(j => atlasMap.item(j).id)")
        assert sorted(far) == sorted(far_ids)
        # the dashed amber lines are drawn on the overlay
        amber = page.evaluate("""() => {
          const c = document.getElementById('atlas-overlay'), px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let k = 0; k < px.length; k += 4) if (px[k] > 200 && px[k + 1] > 140 && px[k + 1] < 215 && px[k + 2] < 140 && px[k + 3] > 100) n++;
          return n;
        }""")
        assert amber > 20
        page.screenshot(path="/tmp/explain_panel.png")
        # faithfulness is a colour of the map, with a 0 to 1 ramp
        page.evaluate("atlasMap.setColor('faithfulness')")
        assert page.locator("#atlas-legend .atlas-ramp").count() == 1
        assert page.evaluate("atlasMap.state.colorField") == "faithfulness"
        assert "neighbours near it on the map" in page.locator("#atlas-item-fields").text_content()
        page.screenshot(path="/tmp/explain_faithfulness.png")
        assert log.errors() == []


def test_a_matrix_is_turned_into_columns_once_while_it_lives():
    import gc

    from scipy import sparse

    from atlas import explain

    matrix = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=np.float32))
    first = explain.pair_reasons(matrix, np.array([0, 1]), np.array([1, 2]))
    assert first.shared_users.tolist() == [2, 2]
    calls = []
    original = type(matrix).tocsc
    type(matrix).tocsc = lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    try:
        again = explain.pair_reasons(matrix, np.array([0]), np.array([2]))
    finally:
        type(matrix).tocsc = original
    assert again.shared_users.tolist() == [1] and calls == []  # the second search reads the columns kept
    key = id(matrix)
    del matrix
    gc.collect()
    assert key not in explain._BY_ITEM  # dropped with its matrix
