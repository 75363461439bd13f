"""atlas.app.share: the app's settings in the page's address, and as an 'atlas build' command."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import atlas
import atlas.app
from atlas.app.access import Access
from atlas.app.share import address_changes, address_values, read_address
from atlas.cli_args import params_from_args
from atlas.plan import build_params
from atlas.sources import Source, source_from_args

DEFAULT_COMPARE = atlas.projections.default_names()


def test_an_address_sets_build_options_and_the_view():
    values, view, problems = read_address({"min_item_users": "20", "min_dist": "0.5", "seed": "3", "colour": "genres", "has": "Sci-Fi"})
    assert values == {"min_item_users": 20, "min_dist": 0.5, "seed": 3}
    assert view == {"colour": "genres", "has": "Sci-Fi"}
    assert problems == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"min_item_users": "lots"}, "“min_item_users=lots” was left out: “min users per item” (Filters) must be a whole number"),
        ({"data_root": "/"}, "the link's setting “data_root” is not one of atlas's options"),  # no file policy from a link
        ({"input": "/etc/passwd"}, "the link's setting “input” is not one of atlas's options"),
        ({"compare": "umap,nope"}, "Unsupported projection 'nope'"),
    ],
)
def test_an_address_never_sets_files_and_says_what_it_left_out(query, message):
    values, _, problems = read_address(query)
    assert values == {} and len(problems) == 1 and message in problems[0]


def test_app_settings_take_the_address_on_top_of_the_command_line():
    settings = atlas.app.app_settings({"input": "plays.csv", "min-item-users": "5", "perplexity": "20"})
    linked = settings.with_address({"min_item_users": "30", "compare": "umap,tsne,pymde", "colour": "genre", "bogus": "1"})
    fields = atlas.plan.all_fields()
    assert linked.initial(fields["min_item_users"]) == 30  # the link wins
    assert linked.initial(fields["perplexity"]) == 20  # the command line's stays
    assert linked.compares("pymde") and not settings.compares("pymde")
    assert linked.view == {"colour": "genre"} and linked.source.input == "plays.csv"
    assert len(linked.problems) == 1 and "bogus" in linked.problems[0]


def test_the_address_brings_the_same_parameters_back():
    params = build_params({"min_item_users": 20, "weighting": "pmi", "min_dist": 0.5, "perplexity": 40, "seed": 7, "compare": "umap,tsne,pacmap,pymde"})
    query = address_values(params, demo=False, default_compare=DEFAULT_COMPARE, view={"colour": "genres", "has": None})
    assert query["min_item_users"] == "20" and query["min_dist"] == "0.5" and query["colour"] == "genres"
    assert "has" not in query and "n_neighbors" not in query  # defaults and empty choices stay out
    values, view, problems = read_address(query)
    assert problems == [] and build_params(values) == params
    # the app's default projections are not written
    plain = build_params({"compare": ",".join(DEFAULT_COMPARE)})
    assert address_values(plain, demo=False, default_compare=DEFAULT_COMPARE) == {}


#: The whole view of a page: colour and its value, region names, search and the match picked,
#: a placed user with their top N, a pasted list of several lines.
FULL_VIEW = {
    "colour": "genres",
    "has": "Sci-Fi",
    "names": "continents",
    "find": "matrix",
    "pick": "2571",
    "user": "u17",
    "top": "20",
    "paste": "Alien (1979)\nmatrix, the (1960)\n318",
}


def test_the_address_brings_the_whole_view_back():
    params = build_params({"min_dist": 0.5})
    query = address_values(params, demo=True, default_compare=DEFAULT_COMPARE, view=FULL_VIEW)
    assert {key: query[key] for key in FULL_VIEW} == FULL_VIEW
    # through the address bar: quoted and read back as marimo reads a query string
    from urllib.parse import parse_qs, urlencode

    back = {key: values for key, values in parse_qs(urlencode(query)).items()}
    values, view, problems = read_address(back)
    assert problems == [] and view == FULL_VIEW and build_params(values) == params
    settings = atlas.app.app_settings({}).with_address(back)
    assert settings.view == FULL_VIEW and atlas.app.region_overlay_label(settings.view) == "continents (coarsest level)"


def test_an_empty_view_writes_nothing_and_the_switch_starts_off():
    empty = {"colour": None, "has": None, "names": None, "find": "", "pick": None, "user": None, "top": 0, "paste": ""}
    assert address_values(atlas.BuildParams(), demo=False, default_compare=DEFAULT_COMPARE, view=empty) == {}
    assert atlas.app.region_overlay_label({}) == "off"
    assert [word for word, _ in atlas.app.REGION_OVERLAY.values()] == [None, "continents", "regions"]
    assert [level for _, level in atlas.app.REGION_OVERLAY.values()] == [-1, 0, atlas.regions.MAX_LEVELS]


@pytest.mark.parametrize(
    ("query", "message"),
    [({"names": "everything"}, "“names=everything” was left out: region names are continents or regions"), ({"top": "-3"}, "“top=-3” was left out: the top N")],
)
def test_a_view_value_no_control_can_show_is_left_out(query, message):
    _, view, problems = read_address(query)
    assert view == {} and len(problems) == 1 and message in problems[0]


def test_keep_in_address_drops_the_view_values_that_were_cleared():
    query = FakeQuery(find="matrix", pick="2571", user="u17", top="20", other="x")
    atlas.app.keep_in_address(query, atlas.BuildParams(), demo=False, default_compare=DEFAULT_COMPARE, view={"find": "", "user": "u17", "top": 20})
    assert query == {"user": "u17", "top": "20", "other": "x"}


def test_address_changes_touch_only_what_differs_and_only_the_apps_keys():
    to_set, to_remove = address_changes({"min_dist": "0.5", "perplexity": "40", "utm_source": "mail"}, {"min_dist": "0.5", "seed": "2"})
    assert to_set == {"seed": "2"} and to_remove == ["perplexity"]


class FakeQuery(dict):
    def to_dict(self):
        return dict(self)

    def set(self, key, value):
        self[key] = value

    def remove(self, key):
        del self[key]


def test_keep_in_address_writes_the_current_settings():
    query = FakeQuery(perplexity="40", other="x")
    params = build_params({"min_dist": 0.7})
    atlas.app.keep_in_address(query, params, demo=False, default_compare=DEFAULT_COMPARE, view={"colour": "year"})
    assert query == {"min_dist": "0.7", "colour": "year", "other": "x"}


def test_current_build_is_none_while_a_setting_is_not_valid():
    stages = {"filter": atlas.FilterParams(), "cooccurrence": atlas.CooccurrenceParams(), "graph": atlas.GraphParams(), "embed": atlas.EmbedParams()}
    params = atlas.app.current_build(stages, {"umap": {"min_dist": 0.4}, "tsne": {}}, seed=3, export="tsne")
    assert params.names == ("umap", "tsne") and params.exported == "tsne" and params.projection("umap").min_dist == 0.4
    assert params.projection("tsne").seed == 3
    assert atlas.app.current_build({**stages, "graph": None}, {"umap": {}}, seed=0) is None
    regions = atlas.app.current_build({**stages, "regions": atlas.RegionParams(min_region_size=30)}, {"umap": {}}, seed=0)
    assert regions.regions.min_region_size == 30 and "--min-region-size 30" in atlas.app.build_command(regions, Source(input="plays.csv"))
    assert atlas.app.current_build(stages, {"umap": {"min_dist": -1.0}}, seed=0) is None


def test_the_command_rebuilds_the_same_parameters(tmp_path):
    from atlas.cli import make_parser

    params = build_params({"min_item_users": 3, "min_weight": 3.5, "n_neighbors": 12, "min_dist": 0.45, "seed": 2})
    source = Source(input=str(tmp_path / "my plays.csv"), items=str(tmp_path / "movies.csv"), weight_col="rating")
    line = atlas.app.build_command(params, source)
    assert line.startswith("atlas build ") and "--out atlas-out" in line
    args = make_parser().parse_args(shlex.split(line)[1:])
    assert params_from_args(args) == params and source_from_args(args) == source


def test_the_command_names_files_as_the_visitor_knows_them(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    uploads = tmp_path / "uploads"
    source = Source(input=str(root / "sub" / "plays.csv"), items=str(uploads / "my_items.csv"), align_to=str(root / "sub" / "atlas-out"))
    shown = atlas.app.shown_source(source, access=Access("root", root), upload_dir=uploads)
    assert (shown.input, shown.items, shown.align_to) == (str(Path("sub/plays.csv")), "my_items.csv", str(Path("sub/atlas-out")))
    local = atlas.app.shown_source(source, access=Access(), upload_dir=uploads)
    assert local.input == source.input  # one's own computer: as typed
    locked = atlas.app.shown_source(Source(input="/srv/data/plays.csv"), access=Access("locked"))
    assert locked.input == "plays.csv"  # a remote visitor never sees the server's folders
    assert atlas.app.shown_source(Source(demo=True), access=Access("locked")).argv() == ["--demo"]
