"""The Spark engine gives the numba kernel's answer: the same partners, the same tie-breaks, the
same scores — for every weighting and pair weight, from profiles in memory and from files Spark
reads and filters itself. Runs in ``local[2]``; skipped (with the reason) where PySpark or Java is
missing, unless ``ATLAS_REQUIRE_SPARK`` is set (CI), where that is a failure."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.engines import EngineParams
from atlas.stagefile import read_candidates, same_candidates


def _missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install 'atlas-maps[spark]')"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime (java on PATH or JAVA_HOME): Spark needs Java 17 or later"
    return None


if (_reason := _missing()) is not None:
    if os.environ.get("ATLAS_REQUIRE_SPARK"):
        raise RuntimeError(f"ATLAS_REQUIRE_SPARK is set but {_reason}")
    pytest.skip(_reason, allow_module_level=True)

from atlas.engines.spark import spark_cooccurrence, spark_stage  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOCAL = EngineParams(name="spark", master="local[2]", conf=("spark.sql.shuffle.partitions=4",))


@pytest.fixture(scope="module")
def spark():
    """One local[2] session for the module (starting one takes seconds), stopped at the end."""
    from atlas.engines.spark_session import spark_session

    with spark_session(LOCAL) as session:
        yield session


@pytest.fixture(scope="module")
def rated(planted) -> atlas.Profiles:
    """The planted profiles with whole-number ratings 1–5 (so product and min sums are exact)."""
    inter = planted.interactions
    rng = np.random.default_rng(8)
    data = atlas.from_arrays(inter.user_ids[inter.user], inter.item_ids[inter.item], rng.integers(1, 6, len(inter)).astype(float))
    return atlas.build_profiles(data, atlas.FilterParams(min_item_users=3, min_user_items=2))


def assert_same(spark_result: atlas.Candidates, kernel: atlas.Candidates) -> None:
    np.testing.assert_array_equal(spark_result.index, kernel.index)
    np.testing.assert_array_equal(spark_result.score, kernel.score)
    np.testing.assert_array_equal(spark_result.count, kernel.count)
    assert spark_result.weighting == kernel.weighting and spark_result.pair_updates == kernel.pair_updates


def ties(c: atlas.Candidates) -> int:
    """How many ranked neighbours have the same score as the one before them (where the tie rule decides)."""
    same = (c.score[:, 1:] == c.score[:, :-1]) & (c.index[:, 1:] >= 0)
    return int(same.sum())


@pytest.mark.parametrize("pair_weight", atlas.pairweights.pair_weight_names())
@pytest.mark.parametrize("weighting", atlas.WEIGHTINGS)
def test_blocks_give_the_kernels_candidates(spark, rated, weighting, pair_weight):
    params = atlas.CooccurrenceParams(weighting=weighting, pair_weight=pair_weight, n_candidates=12)
    kernel = atlas.cooccurrence_candidates(rated, params)
    assert_same(spark_cooccurrence(rated, params, LOCAL, spark=spark), kernel)


@pytest.mark.parametrize("weighting,pair_weight", [("count", "none"), ("cosine", "none"), ("jaccard", "min"), ("pmi", "product")])
def test_the_sql_join_gives_the_kernels_candidates(spark, rated, weighting, pair_weight):
    params = atlas.CooccurrenceParams(weighting=weighting, pair_weight=pair_weight, n_candidates=12, min_count=2)
    kernel = atlas.cooccurrence_candidates(rated, params)
    joined = EngineParams(name="spark", master="local[2]", formulation="join")
    assert_same(spark_cooccurrence(rated, params, joined, spark=spark), kernel)


@pytest.mark.parametrize("formulation", ["blocks", "join"])
def test_a_pair_weight_registered_by_a_test_runs_on_spark(spark, rated, max_pair_weight, formulation):
    """The worker receives the class (defined in a fixture, so no module of it to import)."""
    params = atlas.CooccurrenceParams(weighting="cosine", pair_weight="max", n_candidates=12)
    kernel = atlas.cooccurrence_candidates(rated, params)
    engine = EngineParams(name="spark", master="local[2]", formulation=formulation)
    assert_same(spark_cooccurrence(rated, params, engine, spark=spark), kernel)


def test_ties_are_broken_by_the_smaller_partner_index(spark, rated):
    params = atlas.CooccurrenceParams(weighting="count", n_candidates=20)
    kernel = atlas.cooccurrence_candidates(rated, params)
    assert ties(kernel) > 100  # whole-number counts: many neighbours share a score
    for engine in (LOCAL, EngineParams(name="spark", master="local[2]", formulation="join", partitions=3)):
        result = spark_cooccurrence(rated, params, engine, spark=spark)
        assert_same(result, kernel)
        tied = (result.score[:, 1:] == result.score[:, :-1]) & (result.index[:, 1:] >= 0)
        assert np.all(result.index[:, 1:][tied] > result.index[:, :-1][tied])


def table_of(data: atlas.Dataset, weights: bool) -> pd.DataFrame:
    inter = data.interactions
    frame = pd.DataFrame({"user": inter.user_ids[inter.user], "item": inter.item_ids[inter.item]})
    if weights:
        frame["rating"] = inter.weight
    return frame.sample(frac=1.0, random_state=4).reset_index(drop=True)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "ratings.parquet"
    table_of(atlas.demo_movielens(), weights=True).to_parquet(path, index=False)
    return path


def local_route(path, filter, params, ingest=atlas.IngestParams()):
    profiles = atlas.build_profiles(atlas.load_interactions(path, ingest), filter)
    return profiles, atlas.cooccurrence_candidates(profiles, params)


def assert_same_items(items, profiles: atlas.Profiles) -> None:
    np.testing.assert_array_equal(items.item_ids, profiles.item_ids)
    np.testing.assert_array_equal(items.item_source, profiles.item_source)
    np.testing.assert_array_equal(items.item_users, profiles.item_users)
    assert items.summary() == profiles.summary() and items.pair_updates == profiles.pair_updates


@pytest.mark.parametrize("weighting,pair_weight", [("cosine", "none"), ("pmi", "product")])
def test_the_demo_read_and_filtered_by_spark(spark, demo_file, weighting, pair_weight):
    filter = atlas.plan.demo_filter()  # ratings ≥ 3.5, items liked by 10 users
    params = atlas.CooccurrenceParams(weighting=weighting, pair_weight=pair_weight, n_candidates=16)
    profiles, kernel = local_route(demo_file, filter, params)
    items, candidates = spark_stage(str(demo_file), filter, params, LOCAL, spark=spark)
    assert_same_items(items, profiles)
    assert_same(candidates, kernel)


def test_filters_and_the_seeded_cap_on_a_csv_folder(spark, planted, tmp_path):
    frame = table_of(planted, weights=False)
    frame["rating"] = np.random.default_rng(2).integers(1, 11, len(frame)) / 2
    folder = tmp_path / "plays"
    folder.mkdir()
    cut = len(frame) // 3
    for k, part in enumerate((frame.iloc[:cut], frame.iloc[cut:])):
        part.to_csv(folder / f"part-{k}.csv", index=False)
    frame.to_csv(tmp_path / "whole.csv", index=False)
    filter = atlas.FilterParams(min_item_users=4, min_user_items=3, min_weight=1.5, max_user_items=7, seed=5)
    params = atlas.CooccurrenceParams(weighting="jaccard", n_candidates=10)
    profiles, kernel = local_route(tmp_path / "whole.csv", filter, params)
    assert profiles.user_lengths.max() == 7 and np.any(profiles.user_lengths < 7)  # the cap bites, and the weight filter too
    items, candidates = spark_stage(str(folder), filter, params, LOCAL, spark=spark)
    assert_same_items(items, profiles)
    assert_same(candidates, kernel)


def test_a_headerless_csv_numbers_its_columns_as_here(spark, planted, tmp_path):
    path = tmp_path / "plays.csv"
    table_of(planted, weights=False).to_csv(path, index=False, header=False)
    filter = atlas.FilterParams(min_item_users=3, min_user_items=2)
    params = atlas.CooccurrenceParams(n_candidates=8)
    profiles, kernel = local_route(path, filter, params)
    items, candidates = spark_stage(str(path), filter, params, LOCAL, spark=spark)
    assert_same_items(items, profiles)
    assert_same(candidates, kernel)


def test_a_build_on_spark_equals_the_build_here_and_shares_its_cache(spark, planted, tmp_path, small_params):
    path = tmp_path / "plays.parquet"
    table_of(planted, weights=False).to_parquet(path, index=False)
    source = atlas.Source(input=str(path))
    here = atlas.Pipeline().build(source.load(), small_params)
    params = atlas.BuildParams(**{**small_params.__dict__, "engine": LOCAL})
    pipe = atlas.Pipeline()
    there = pipe.build(source.load(params.engine), params)
    assert_same(there.candidates, here.candidates)
    np.testing.assert_array_equal(there.graph.neighbors, here.graph.neighbors)
    assert not pipe.cached["cooccurrence"]
    again = pipe.build(source.load(params.engine), params)
    assert pipe.cached["cooccurrence"] and again.candidates is there.candidates


def atlas_cli(*words: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "atlas.cli", *words], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=600,
    )


def test_candidates_file_from_spark_continues_on_a_laptop(spark, planted, tmp_path, capsys):
    from atlas.cli import main

    csv = tmp_path / "plays.csv"
    table_of(planted, weights=False).to_csv(csv, index=False)
    planted.items.to_csv(tmp_path / "items.csv")
    common = ["--min-item-users", "3", "--min-user-items", "2", "--weighting", "pmi"]
    assert main(["candidates", str(csv), *common, "--engine", "spark", "--spark-master", "local[2]", "--out", str(tmp_path / "cands.parquet"), "--no-cache"]) == 0
    assert main(["candidates", str(csv), *common, "--out", str(tmp_path / "here.parquet"), "--no-cache"]) == 0
    there, here = read_candidates(tmp_path / "cands.parquet"), read_candidates(tmp_path / "here.parquet")
    assert same_candidates(there.candidates, here.candidates) and there.record["key"] == here.record["key"]
    assert there.record["params"]["engine"]["name"] == "spark"
    out = tmp_path / "out"
    words = ["build", "--candidates", str(tmp_path / "cands.parquet"), "--items", str(tmp_path / "items.csv"), "--n-neighbors", "10",
             "--compare", "umap", "--umap-epochs", "50", "--max-iter", "100", "--no-cache", "--quiet"]
    assert main([*words, "--out", str(out)]) == 0
    layout, neighbors, manifest = atlas.read_layout(out)
    assert list(layout["item_id"]) == list(there.items.item_ids) and layout["name"].notna().all()
    assert manifest["params"]["cooccurrence"]["weighting"] == "pmi" and manifest["input"]["source"]["candidates"].endswith("cands.parquet")
    assert "--candidates" in manifest["argv"] and "--weighting" in manifest["argv"]  # the rebuild command continues from the file
    capsys.readouterr()
    assert main([*words, "--weighting", "cosine", "--out", str(tmp_path / "other")]) == 2
    assert "--weighting cosine differs from the candidates file's (pmi)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case,message",
    [
        ("column", "column 'listener' (users) is not in the file; its columns are: user, item"),
        ("empty", "holds no interactions"),
        ("filtered", "no interactions are left after filtering (min_item_users=100000"),
    ],
)
def test_bad_input_gets_the_local_paths_one_line(spark, tmp_path, case, message):
    path = tmp_path / "plays.parquet"
    frame = pd.DataFrame({"user": ["a", "a", "b"], "item": ["x", "y", "x"]})
    (frame.iloc[:0] if case == "empty" else frame).to_parquet(path, index=False)
    ingest = atlas.IngestParams(user_col="listener" if case == "column" else None)
    filter = atlas.FilterParams(min_item_users=100_000 if case == "filtered" else 1, min_user_items=1)
    from atlas.engines.spark_input import spark_input

    with pytest.raises(atlas.AtlasError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spark_stage(spark_input(str(path), ingest), filter, atlas.CooccurrenceParams(), LOCAL, spark=spark)


def test_no_java_and_an_unreachable_master_are_one_line_errors(tmp_path):
    csv = tmp_path / "plays.csv"
    csv.write_text("user,item\na,x\nb,x\n", encoding="utf-8")
    no_java = atlas_cli("candidates", str(csv), "--engine", "spark", "--out", str(tmp_path / "c.parquet"), env={"PATH": "/nonexistent", "JAVA_HOME": ""})
    assert no_java.returncode == 2
    assert no_java.stderr.strip().splitlines() == ["error: --engine spark needs Java 17 or later, and no 'java' is on PATH (JAVA_HOME is not set either); install a JDK or set JAVA_HOME."]
    master = atlas_cli("candidates", str(csv), "--engine", "spark", "--spark-master", "spark://127.0.0.1:9", "--out", str(tmp_path / "c.parquet"))
    assert master.returncode == 2 and len(master.stderr.strip().splitlines()) == 1
    assert master.stderr.startswith("error: cannot reach the Spark master spark://127.0.0.1:9 (127.0.0.1:9: Connection refused)")
    assert not (tmp_path / "c.parquet").exists()
