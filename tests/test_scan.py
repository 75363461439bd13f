"""atlas.scan: profiles streamed from files equal build_profiles(load_interactions(...)) on the same data."""

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.ingest import IngestParams, load_interactions
from atlas.scan import interaction_files, scan_dataset, scan_profiles, should_stream

DROP = IngestParams(drop_missing_weights=True)  # the table has rows without a rating: left out, and said so

FILTERS = [
    atlas.FilterParams(min_item_users=3, min_user_items=2),
    atlas.FilterParams(min_item_users=5, min_user_items=4, min_weight=2.0),
    atlas.FilterParams(min_item_users=2, min_user_items=2, max_user_items=6, seed=11),
    atlas.FilterParams(min_item_users=4, min_user_items=3, min_weight=1.5, max_user_items=9, seed=2),
]


def assert_same_profiles(a: atlas.Profiles, b: atlas.Profiles) -> None:
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(a.matrix, name), getattr(b.matrix, name), err_msg=name)
    assert a.matrix.shape == b.matrix.shape
    np.testing.assert_array_equal(a.user_ids, b.user_ids)
    np.testing.assert_array_equal(a.item_ids, b.item_ids)
    np.testing.assert_array_equal(a.item_source, b.item_source)
    np.testing.assert_array_equal(a.item_users, b.item_users)
    assert a.n_input_interactions == b.n_input_interactions


@pytest.fixture(scope="module")
def table(planted) -> pd.DataFrame:
    """The planted interactions as a shuffled table with string ids, ratings, repeated pairs and a few missing values."""
    inter = planted.interactions
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "user": np.char.add("u", inter.user_ids[inter.user].astype(str)).astype(object),
            "item": np.char.add("item-", inter.item_ids[inter.item].astype(str)).astype(object),
            "rating": rng.integers(1, 6, len(inter)).astype(float) / 2 + 0.5,
        }
    )
    repeats = frame.sample(400, random_state=1).assign(rating=lambda f: f["rating"] + 1)
    frame = pd.concat([frame, repeats]).sample(frac=1.0, random_state=2).reset_index(drop=True)
    late = np.arange(len(frame) // 2, len(frame), 97)  # missing values, never an id's first row
    frame.loc[late[::3], "rating"] = np.nan
    frame.loc[late[1::3], "item"] = None
    frame.loc[late[2::3], "user"] = None
    return frame


def folder_of(frame: pd.DataFrame, path, parts: int = 3):
    path.mkdir()
    bounds = np.linspace(0, len(frame), parts + 1).astype(int)
    for k in range(parts):
        frame.iloc[bounds[k] : bounds[k + 1]].to_parquet(path / f"part-{k:04d}.parquet", index=False)
    return path


@pytest.mark.parametrize("params", FILTERS)
@pytest.mark.parametrize("kind", ["csv", "csv.gz", "tsv", "parquet"])
def test_streamed_profiles_equal_build_profiles(tmp_path, table, params, kind):
    path = tmp_path / f"plays.{kind}"
    if kind == "parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, sep="\t" if kind == "tsv" else ",", index=False)
    expected = atlas.build_profiles(load_interactions(path, DROP), params)
    assert_same_profiles(scan_profiles(interaction_files(path, DROP), params, batch_rows=1000), expected)


@pytest.mark.parametrize("params", FILTERS[::2])
def test_a_parquet_folder_streams_as_its_files_in_name_order(tmp_path, table, params):
    folder = folder_of(table, tmp_path / "lake", parts=4)
    (folder / "_SUCCESS").write_text("")  # markers and hidden files are not data
    whole = tmp_path / "whole.parquet"
    table.to_parquet(whole, index=False)
    expected = atlas.build_profiles(load_interactions(whole, DROP), params)
    assert_same_profiles(scan_profiles(interaction_files(folder, DROP), params, batch_rows=777), expected)


@pytest.mark.parametrize("aggregate", ["sum", "max"])
def test_named_columns_integer_ids_and_repeated_pairs(tmp_path, aggregate):
    rng = np.random.default_rng(3)
    n = 5000
    frame = pd.DataFrame({"ts": np.arange(n), "song": rng.integers(0, 80, n), "who": rng.integers(0, 300, n), "plays": rng.integers(0, 4, n)})
    path = tmp_path / "plays.parquet"
    frame.to_parquet(path, index=False)
    ingest = IngestParams(user_col="who", item_col="song", weight_col="plays", aggregate=aggregate)
    params = atlas.FilterParams(min_item_users=2, min_user_items=2, max_user_items=12)
    expected = atlas.build_profiles(load_interactions(path, ingest), params)
    assert_same_profiles(scan_profiles(interaction_files(path, ingest), params, batch_rows=600), expected)
    assert expected.matrix.data.min() == 0  # interactions of weight 0 are kept by both


def test_headerless_csv_takes_the_first_columns(tmp_path):
    path = tmp_path / "plain.csv"
    rows = [(u, i) for u in range(30) for i in range(u % 7, u % 7 + 6)]
    path.write_text("".join(f"{u},{i}\n" for u, i in rows), encoding="utf-8")
    params = atlas.FilterParams(min_item_users=2, min_user_items=2)
    assert_same_profiles(scan_profiles(path, params, batch_rows=50), atlas.build_profiles(load_interactions(path), params))


def test_the_fingerprint_of_a_file_is_the_one_load_interactions_records(tmp_path, table):
    path = tmp_path / "plays.csv"
    table.to_csv(path, index=False)
    assert interaction_files(path, DROP).fingerprint == load_interactions(path, DROP).fingerprint


def test_a_streamed_dataset_builds_through_the_pipeline(tmp_path, table, small_params):
    folder = folder_of(table, tmp_path / "lake")
    data = scan_dataset(folder, DROP)
    pipe = atlas.Pipeline()
    profiles = pipe.profiles(data, small_params.filter)
    whole = tmp_path / "whole.parquet"
    table.to_parquet(whole, index=False)
    assert_same_profiles(profiles, atlas.build_profiles(load_interactions(whole, DROP), small_params.filter))
    assert pipe.profiles(data, small_params.filter) is profiles and pipe.cached["profiles"]


def test_folders_and_large_files_are_streamed(tmp_path, monkeypatch):
    small = tmp_path / "x.csv"
    small.write_text("u,i\na,b\n", encoding="utf-8")
    assert should_stream(tmp_path) and not should_stream(small)
    monkeypatch.setenv("ATLAS_STREAM_MIN_BYTES", "4")
    assert should_stream(small)
    assert not should_stream(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda p: p.joinpath("x.csv").write_text("user,item\n,\n,\n", encoding="utf-8") and p / "x.csv", "holds no interactions"),
        (lambda p: p / "missing.csv", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no data files"),
        (lambda p: p.joinpath("x.json").write_text("{}", encoding="utf-8") and p / "x.json", "cannot stream 'x.json'"),
    ],
)
def test_bad_inputs_get_one_line(tmp_path, setup, message):
    with pytest.raises(atlas.AtlasError, match=message):
        scan_profiles(setup(tmp_path))


def test_the_same_errors_as_the_in_memory_route(tmp_path, table):
    path = tmp_path / "plays.csv"
    table.to_csv(path, index=False)
    for ingest, params in [
        (IngestParams(user_col="listener"), atlas.FilterParams()),
        (IngestParams(), atlas.FilterParams(min_weight=100.0)),
        (IngestParams(), atlas.FilterParams(min_item_users=10_000)),
        (IngestParams(), atlas.FilterParams(min_item_users=1, min_user_items=1, max_user_items=2)),
    ]:
        try:
            atlas.build_profiles(load_interactions(path, ingest), params)
        except atlas.AtlasError as exc:
            expected = str(exc)
        else:
            continue
        with pytest.raises(atlas.AtlasError) as got:
            scan_profiles(interaction_files(path, ingest), params)
        assert str(got.value) == expected


def test_a_single_column_gets_the_in_memory_routes_error(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("user\na\nb\n", encoding="utf-8")
    with pytest.raises(atlas.AtlasError) as local:
        load_interactions(path)
    with pytest.raises(atlas.AtlasError) as streamed:
        scan_profiles(path)
    assert str(streamed.value) == str(local.value)


def test_synthetic_parquet_writes_the_model_of_synthetic_profiles_in_files(tmp_path):
    from atlas.demo import synthetic_parquet

    written = synthetic_parquet(tmp_path / "lake", 3000, 120, n_communities=4, mean_profile_length=12, in_community=0.9, users_per_file=1000, seed=3)
    assert written["files"] == 3 and len(list((tmp_path / "lake").glob("part-*.parquet"))) == 3
    profiles = scan_profiles(tmp_path / "lake", atlas.FilterParams(min_item_users=2, min_user_items=2))
    assert profiles.n_users > 2500 and written["rows"] > profiles.n_interactions
    # the planted communities: most of a user's items share one community (90% drawn from home)
    community = written["items"].loc[profiles.item_ids, "community"].to_numpy()
    rows = np.split(profiles.matrix.indices, profiles.matrix.indptr[1:-1])
    shares = [pd.Series(community[r]).value_counts(normalize=True).iloc[0] for r in rows if len(r) >= 8]
    assert np.median(shares) > 0.8
    # the same items as synthetic_profiles with the seed
    same_seed = atlas.synthetic_profiles(300, 120, n_communities=4, seed=3).items
    assert len(same_seed) > 60
    assert (same_seed["community"] == written["items"].loc[same_seed.index, "community"]).all()


def test_atlas_build_streams_a_folder_into_the_same_layout(tmp_path, table):
    from atlas.cli import main

    folder = folder_of(table, tmp_path / "lake")
    whole = tmp_path / "whole.parquet"
    table.to_parquet(whole, index=False)
    fast = ["--min-item-users", "3", "--min-user-items", "2", "--n-neighbors", "10", "--compare", "umap", "--umap-epochs", "50",
            "--max-iter", "100", "--no-cache", "--quiet", "--drop-missing-weights"]
    assert main(["build", str(folder), *fast, "--out", str(tmp_path / "streamed")]) == 0
    assert main(["build", str(whole), *fast, "--out", str(tmp_path / "in_memory")]) == 0
    streamed, _, manifest = atlas.read_layout(tmp_path / "streamed")
    in_memory, _, _ = atlas.read_layout(tmp_path / "in_memory")
    pd.testing.assert_frame_equal(streamed, in_memory)
    assert manifest["argv"][0] == str(folder) and manifest["input"]["source"]["streamed"]
