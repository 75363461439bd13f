"""atlas.plan: one way from what a person asked for to BuildParams, and back to a command."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas import cli_args, plan, sources
from atlas.cli import main, make_parser


def parsed(*words: str) -> atlas.BuildParams:
    return cli_args.params_from_args(make_parser().parse_args(["build", *words]))


def test_every_option_has_one_flag_and_the_cli_offers_them_all():
    fields = plan.all_fields()
    help_text = make_parser()._subparsers._group_actions[0].choices["build"].format_help()
    for dest, f in fields.items():
        assert f.option.flag in help_text, f.option.flag
        assert f.dest == dest
    # a projection's options come from its own parameter class
    assert {"perplexity", "min_dist", "mn_ratio"} <= set(fields)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"min_item_users": 3, "min_weight": 3.5, "weighting": "pmi", "pair_weight": "product", "n_neighbors": 100},
        {"embedding_dim": 4, "init": "spectral", "min_dist": 0.1, "spread": 2.0, "perplexity": 12.0, "dof": 0.5, "seed": 9},
        {"projection": "tsne", "compare": "umap,tsne,pymde", "mn_ratio": 1.0, "umap_epochs": 50},
        {"compare": "pacmap", "pacmap_n_neighbors": 5, "tsne_iter": 250},
    ],
)
@pytest.mark.parametrize("demo", [False, True])
def test_options_and_parameters_round_trip(values, demo):
    params = plan.build_params(values, demo=demo)
    again = plan.build_params(plan.options_of(params, demo=demo), demo=demo)
    assert again == params
    # and through the command line's words
    words = plan.argv_of(params, sources.Source(demo=True) if demo else sources.Source(input="plays.csv"))
    assert parsed(*words) == params


def test_a_demo_build_can_drop_the_demos_weight_threshold():
    params = plan.build_params({"min_weight": None}, demo=True)
    assert params.filter.min_weight is None
    words = plan.argv_of(params, sources.Source(demo=True))
    assert words[words.index("--min-weight") + 1] == "none"
    assert parsed(*words).filter.min_weight is None


def test_the_exported_layout_is_aligned_to_the_first_compared():
    params = plan.build_params({"projection": "tsne"})
    assert params.names == ("tsne", "umap", "pacmap") and params.exported == "tsne"  # the old CLI rule: export first
    params = plan.build_params({"projection": "tsne", "compare": "umap,pacmap"})
    assert params.names == ("umap", "pacmap", "tsne") and params.exported == "tsne"
    assert parsed("x.csv", "--no-compare", "--projection", "pacmap").names == ("pacmap",)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_dist": 2.0, "spread": 1.0}, r"min_dist \(2.0\) must not exceed spread"),
        ({"min_dist": "nan"}, "--min-dist must be a finite number"),
        ({"perplexity": "lots"}, "--perplexity must be a number, got 'lots'"),
        ({"n_neighbors": 2.5}, "--n-neighbors must be a whole number"),
        ({"weighting": "tfidf"}, "Unsupported value 'tfidf' for --weighting"),
        ({"compare": "umap,pca"}, "Unsupported projection 'pca'"),
        ({"projection": "pymde", "compare": ""}, None),
        ({"seed": -1}, "seed must be a whole number from 0 to 4294967295"),
        ({"colour": "x"}, "unknown option"),
    ],
)
def test_bad_values_are_refused_with_the_flag_named(values, message):
    if message is None:  # an empty --compare means the default list, with the exported layout first
        assert plan.build_params(values).names[0] == "pymde"
        return
    with pytest.raises(atlas.AtlasError, match=message):
        plan.build_params(values)


def test_the_command_line_refuses_what_the_app_refuses(capsys):
    assert main(["build", "--demo", "--out", "/tmp/never-written", "--min-dist", "nan"]) == 2
    assert "--min-dist must be a finite number" in capsys.readouterr().err
    assert main(["build", "--demo", "--out", "/tmp/never-written", "--min-dist", "2", "--spread", "1"]) == 2
    assert "must not exceed spread" in capsys.readouterr().err


def test_parameters_rebuild_from_their_dict():
    params = plan.build_params({"projection": "pymde", "compare": "umap,pymde", "pair_weight": "min", "seed": 4})
    assert atlas.BuildParams.from_dict(json.loads(json.dumps(params.to_dict()))) == params
    with pytest.raises(atlas.AtlasError, match="do not describe a build"):
        atlas.BuildParams.from_dict({"filter": {}})


def test_a_source_loads_its_file_and_says_how(tmp_path):
    csv = tmp_path / "plays.csv"
    csv.write_text("who,what,stars\nann,x,5\nbob,x,3\nann,y,4\n")
    source = sources.Source(input=str(csv), user_col="who", item_col=" what ", weight_col="stars")
    data = source.load()
    assert data.interactions.n_users == 2 and data.interactions.n_items == 2
    assert sources.source_of(data) == source and source.item_col == "what"
    assert source.argv() == [str(csv), "--user-col", "who", "--item-col", "what", "--weight-col", "stars"]
    assert sources.Source().is_demo and sources.Source().argv() == ["--demo"]
    with pytest.raises(atlas.AtlasError, match="either INPUT or --demo"):
        sources.Source(input="x.csv", demo=True)


SMALL = ["--min-item-users", "3", "--min-user-items", "2", "--n-neighbors", "8", "--max-iter", "100", "--umap-n-neighbors", "15",
         "--perplexity", "10", "--pacmap-iter", "250", "--tsne-iter", "250", "--umap-epochs", "100"]


@pytest.fixture(scope="module")
def plays(tmp_path_factory):
    data = atlas.synthetic_profiles(300, 120, n_communities=4, mean_profile_length=12, seed=5)
    inter = data.interactions
    folder = tmp_path_factory.mktemp("plays")
    pd.DataFrame({"user": inter.user_ids[inter.user], "item": inter.item_ids[inter.item]}).to_csv(folder / "plays.csv", index=False)
    data.items.reset_index().to_csv(folder / "items.csv", index=False)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("projection", ["tsne", "pymde"])
def test_atlas_rebuild_makes_the_same_layout_again(plays, tmp_path, projection):
    first, second = tmp_path / "first", tmp_path / "second"
    compare = "umap,tsne,pymde" if projection == "pymde" else "tsne,umap"
    args = ["build", str(plays / "plays.csv"), "--items", str(plays / "items.csv"), *SMALL, "--seed", "3",
            "--projection", projection, "--compare", compare, "--no-cache", "--quiet"]
    assert main([*args, "--out", str(first)]) == 0
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["command"].startswith("atlas build ") and "--seed 3" in manifest["command"]
    assert manifest["projection"] == projection and manifest["aligned_to"] == compare.split(",")[0]
    assert main(["rebuild", str(first), "--out", str(second), "--no-cache", "--quiet"]) == 0
    a, b = pd.read_parquet(first / "layout.parquet"), pd.read_parquet(second / "layout.parquet")
    assert (a["item_id"] == b["item_id"]).all()
    extent = np.ptp(a[["x", "y"]].to_numpy(), axis=0).max()
    np.testing.assert_allclose(b[["x", "y"]].to_numpy(), a[["x", "y"]].to_numpy(), atol=1e-3 * extent)
    assert json.loads((second / "manifest.json").read_text())["params"] == manifest["params"]


def test_rebuild_explains_a_manifest_without_a_command(tmp_path, capsys):
    manifest = {"atlas_manifest_version": 1, "params": atlas.BuildParams().to_dict(), "input": {"source": {}},
                "argv": None, "argv_note": "the data was made in Python, not read from a file"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert main(["rebuild", str(tmp_path), "--out", str(tmp_path / "new")]) == 2
    assert "records no file the build read (its data was made in Python)" in capsys.readouterr().err


def test_an_alignment_and_region_options_travel_in_the_rebuild_command():
    from atlas.plan import argv_of
    from atlas.sources import Source

    params = atlas.build_params({"region_levels": 3, "region_columns": "genres", "moved_share": 0.1}, demo=True)
    words = argv_of(params, Source(demo=True, align_to="/maps/old"))
    assert words[:3] == ["--demo", "--align-to", "/maps/old"]
    assert words[words.index("--region-levels") + 1] == "3" and words[words.index("--region-columns") + 1] == "genres"
    args = make_parser().parse_args(["build", *words])
    assert cli_args.params_from_args(args) == params and sources.source_from_args(args).align_to == "/maps/old"


def test_a_manifest_from_before_regions_still_rebuilds():
    plain = atlas.BuildParams().to_dict()
    del plain["regions"], plain["align"]
    assert atlas.BuildParams.from_dict(plain) == atlas.BuildParams()
