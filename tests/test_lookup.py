"""atlas.widgets.lookup: pasted lists, search suggestions and a user's items."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas import widgets
from atlas.widgets.lookup import plain
from atlas.widgets.tables import rows_from_text


@pytest.fixture
def films() -> pd.DataFrame:
    items = pd.DataFrame(
        {
            "item_id": ["m1", "m2", "m3", "m4", "m5", "m6"],
            "n_users": [90, 40, 70, 10, 55, 5],
            "title": [
                "Matrix, The (1999)",
                "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
                "Alien (1979)",
                "Aliens (1986)",
                "Matrix Reloaded, The (2003)",
                "Heat (1995)",
            ],
        }
    )
    return widgets.map_table(items, {}, name_column="title")


def test_names_with_commas_match_whole_lines_in_any_case(films):
    found = widgets.match_list(films, "matrix, the (1999)\nALIEN (1979)\n\n  Heat (1995)  \n")
    assert found.rows.tolist() == [0, 2, 5]
    assert (found.entries, found.matched, found.failed) == (3, 3, ())


def test_a_line_naming_no_item_is_split_on_commas(films):
    found = widgets.match_list(films, "m3, Heat (1995), nothing here")
    assert found.rows.tolist() == [2, 5]
    assert found.entries == 3 and [line for line, _ in found.failed] == ["nothing here"]


def test_loose_names_match_like_the_web_atlas(films):
    assert widgets.match_list(films, "The Matrix (1999)").rows.tolist() == [0]  # article moved, year kept
    assert widgets.match_list(films, "the matrix").rows.tolist() == [0]  # no year


def test_failed_lines_come_back_with_the_closest_names(films):
    found = widgets.match_list(films, "Amelie\nMatrix Reloded\nzzzz qqqq")
    assert found.rows.tolist() == []
    failed = dict(found.failed)
    assert failed["Amelie"] == ("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",)
    assert failed["Matrix Reloded"][0] == "Matrix Reloaded, The (2003)"  # a typo
    assert failed["zzzz qqqq"] == ()
    # a line of commas that matches nothing is reported whole, not in pieces
    assert [line for line, _ in widgets.match_list(films, "Nowhere, The (2020)").failed] == ["Nowhere, The (2020)"]


def test_list_report_lists_the_failed_lines_and_the_suggestions(films):
    report = widgets.list_report(widgets.match_list(films, "Alien (1979)\nAmelie"))
    assert report.startswith("Pasted list: 1 of 2 entries found (1 items on the map).")
    shown = html.unescape(report)  # names are written as entities, shown as they are
    assert "not found: “Amelie” — did you mean “Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)”?" in shown
    assert widgets.list_report(widgets.match_list(films, "  \n")) == ""


def test_closest_names_put_the_popular_ones_first(films):
    index = widgets.NameIndex(films)
    assert index.closest("alien") == ["Alien (1979)", "Aliens (1986)"]  # 70 users, then 10
    assert index.closest("matrix")[:2] == ["Matrix, The (1999)", "Matrix Reloaded, The (2003)"]  # 90 users, then 55


def test_search_choices_label_every_hit(films):
    hits = widgets.find_items(films, "alien")
    labels = widgets.choice_labels(films, hits)
    assert list(labels.values()) == [2, 3]
    assert list(labels)[0] == "Alien (1979) · 70 users"


def test_user_items_count_only_what_the_filters_keep_heaviest_first():
    users = ["u1"] * 5 + ["u2"] * 3 + ["u3"] * 3
    items = ["a", "b", "c", "d", "e", "a", "b", "c", "a", "b", "d"]
    stars = [5.0, 2.0, 4.5, 4.0, 3.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    interactions = atlas.from_arrays(users, items, stars)
    profiles = atlas.build_profiles(interactions, atlas.FilterParams(min_item_users=1, min_user_items=1, min_weight=3.5))
    found = widgets.user_items(profiles, interactions, "u1")
    kept = [profiles.item_ids[r] for r in found.rows]
    assert kept == ["a", "c", "d"] and (found.kept, found.before) == (3, 5)  # b (2.0) and e (3.0) are below the threshold
    top = widgets.user_items(profiles, interactions, "u1", top=2)
    assert [profiles.item_ids[r] for r in top.rows] == ["a", "c"] and top.kept == 3
    assert widgets.user_items(profiles, interactions, "nobody").kept == 0
    assert "top 2 by weight" in widgets.user_note("u1", top, top=2)
    assert "3 of their 5 interactions are kept" in widgets.user_note("u1", found)


def test_a_user_the_filters_dropped_is_said_so():
    interactions = atlas.from_arrays(["u1", "u2", "u2", "u3", "u3"], ["a", "a", "b", "a", "b"])
    profiles = atlas.build_profiles(interactions, atlas.FilterParams(min_item_users=1, min_user_items=2))
    found = widgets.user_items(profiles, interactions, "u1")
    assert found.rows.tolist() == [] and (found.kept, found.before) == (0, 1)
    assert widgets.user_note("u1", found) == "User **u1**: none of their 1 interactions is kept by the filters."


def test_plain_and_loose_forms():
    from atlas.widgets.lookup import loose, plain

    assert plain("  Amélie   POULAIN ") == "amelie poulain"
    assert loose("Matrix, The (1999)") == loose("The Matrix") == "matrix"
    assert np.array_equal(rows_from_text(widgets.map_table(pd.DataFrame({"item_id": ["x", "y"]}), {}), "y\nx"), [0, 1])


# ---------------------------------------------------------------------------------------------
# Why a searched item's neighbours are its neighbours
# ---------------------------------------------------------------------------------------------


def test_a_searched_items_neighbours_come_in_the_graphs_order_with_the_users_behind_each(built):
    profiles, graph = built.profiles, built.graph
    row = int(np.argmax(profiles.item_users))
    names = [f"item {i}" for i in range(profiles.n_items)]
    found = widgets.neighbour_reasons(row, graph.neighbors, names, profiles, built.candidates, pair_weight=built.params.cooccurrence.pair_weight)
    expected = [int(j) for j in graph.neighbors[row, :10] if j >= 0]
    assert [n.row for n in found] == expected and [n.rank for n in found] == list(range(len(expected)))
    assert [n.name for n in found] == [names[j] for j in expected]
    users = (profiles.matrix.tocsc() != 0).astype(np.int64)  # every kept interaction counts, as the export counts it
    people = [set(users[:, j].nonzero()[0]) for j in range(profiles.n_items)]
    for n in found:  # by brute force: users holding both, users of the searched item, lift over independence
        shared = len(people[row] & people[n.row])
        lift = shared * profiles.n_users / (len(people[row]) * len(people[n.row]))
        assert n.reason == f"shared by {shared:,} of {len(people[row]):,} · {lift:.1f}× chance"


def test_without_user_counts_the_neighbours_are_listed_and_it_says_why_there_are_no_reasons(built):
    row = 0
    names = [f"item {i}" for i in range(built.profiles.n_items)]
    # a build whose profiles stay elsewhere, with a weighted pair weight: its counts are not of users
    found = widgets.neighbour_reasons(row, built.graph.neighbors, names, atlas.ItemTable.of(built.profiles), built.candidates, pair_weight="product")
    assert [n.row for n in found] == [int(j) for j in built.graph.neighbors[row, :10] if j >= 0]
    assert all(n.reason is None for n in found)
    assert "No shared-user counts for this graph" in widgets.neighbour_list("item 0", found)


def test_hostile_names_in_the_search_results_stay_text():
    import marimo as mo

    hostile = ["**bold** <b>tag</b>", "<script>alert(1)</script>", "$x^2$ \\(y\\) \\[z\\]", "[link](http://example.com) ![i](x.png)", "`code` # head &amp; _it_"]
    found = [widgets.lookup.NeighbourReason(k, k + 1, name, "shared by 3 of 9 · 2.0× chance") for k, name in enumerate(hostile[1:])]

    def rendered(markdown: str) -> tuple[list[str], str]:
        page = mo.md(markdown).text
        return re.findall(r"<([a-z][\w-]*)", page), html.unescape(re.sub(r"<[^>]+>", "", page))

    tags, shown = rendered(widgets.neighbour_list(hostile[0], found))
    assert set(tags) <= {"span", "ol", "li", "strong"} and tags.count("strong") == 1 and tags.count("li") == len(found)  # bold: the searched item only
    assert all(name in shown for name in hostile), shown  # every name as written, no tag, link, image, code or maths made of it
    tags, shown = rendered(widgets.no_match_note(hostile[2], hostile[3:]))
    assert set(tags) == {"span"} and all(name in shown for name in hostile[2:])


def test_plain_reads_ascii_and_other_scripts_alike():
    import unicodedata

    def slow(text):  # the general rule, without the ASCII shortcut
        folded = unicodedata.normalize("NFKD", str(text).casefold())
        return " ".join("".join(ch for ch in folded if not unicodedata.combining(ch)).split())

    samples = ["The  Matrix (1999)", "  AMELIE\t", "x\x1fy", "Ünïcödé Straße", "東京物語", "", "a\u00a0b", "ﬁlm"]
    rng = np.random.default_rng(5)
    samples += ["".join(chr(c) for c in rng.integers(0, 128, 20)) for _ in range(200)]
    for text in samples:
        assert plain(text) == slow(text), repr(text)


def test_the_name_index_makes_its_keys_on_the_first_lookup(films):
    index = widgets.NameIndex(films)
    assert index._keys is None  # made for every session; most are never searched
    assert index.lookup("matrix, the (1999)") == index.lookup("The Matrix")
    assert index._keys is not None
