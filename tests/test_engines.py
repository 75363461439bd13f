"""Engine settings: offered as options, recorded (secrets redacted), never part of a cache key.
These tests need no Spark: tests/test_spark.py runs the engine itself."""

import re

import pytest

import atlas
from atlas import cli_args, plan, sources
from atlas.cli import make_parser
from atlas.engines import EngineParams
from atlas.engines.spark_session import check_java, check_master


def parsed(*words: str) -> atlas.BuildParams:
    return cli_args.params_from_args(make_parser().parse_args(["build", *words]))


def test_engine_options_come_from_the_command_line_and_round_trip():
    params = parsed("x.csv", "--engine", "spark", "--spark-master", "spark://head:7077", "--spark-conf", "spark.executor.memory=8g",
                    "--spark-conf", "spark.sql.shuffle.partitions=400", "--spark-formulation", "join", "--spark-partitions", "64")
    assert params.engine == EngineParams("spark", "spark://head:7077", ("spark.executor.memory=8g", "spark.sql.shuffle.partitions=400"), "join", 64)
    words = plan.argv_of(params, sources.Source(input="x.csv"))
    assert words.count("--spark-conf") == 2
    assert parsed(*words) == params
    assert atlas.BuildParams.from_dict(params.to_dict()) == params


def test_secret_settings_are_redacted_in_the_manifest_and_the_rebuild_command():
    engine = EngineParams("spark", conf=("spark.hadoop.fs.s3a.secret.key=hunter2", "spark.hadoop.fs.s3a.access.key=AKIA", "spark.executor.memory=8g"))
    params = atlas.BuildParams(engine=engine)
    recorded = params.to_dict()["engine"]["conf"]
    assert recorded == ["spark.hadoop.fs.s3a.secret.key=<redacted>", "spark.hadoop.fs.s3a.access.key=<redacted>", "spark.executor.memory=8g"]
    words = " ".join(plan.argv_of(params, sources.Source(input="x.csv")))
    assert "hunter2" not in words and "AKIA" not in words and "spark.executor.memory=8g" in words


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--spark-master", "spark://h:7077"], "the --spark-\\* options need --engine spark"),
        (["--engine", "spark", "--spark-conf", "memory"], "--spark-conf takes key=value, got 'memory'"),
        (["--engine", "spark", "--spark-partitions", "0"], "spark_partitions must be between 1 and 1000000"),
    ],
)
def test_bad_engine_options_are_refused_in_one_line(words, message, capsys):
    from atlas.cli import main

    assert main(["build", "x.csv", "--out", "o", *words]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_the_engine_is_not_part_of_the_cache_key(planted):
    """A result computed on this machine serves a request for Spark (and would the other way):
    Spark is never started here, although its master does not exist."""
    profiles = atlas.build_profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))
    pipe = atlas.Pipeline()
    params = atlas.CooccurrenceParams(n_candidates=8)
    here = pipe.cooccurrence(profiles, params)
    there = pipe.cooccurrence(profiles, params, engine=EngineParams("spark", master="spark://nowhere.invalid:7077", conf=("a=b",)))
    assert there is here and pipe.cached["cooccurrence"]


def test_java_and_master_checks_say_what_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(atlas.AtlasError, match="JAVA_HOME is .* but holds no bin/java"):
        check_java()
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(atlas.AtlasError, match="needs Java 17 or later, and no 'java' is on PATH"):
        check_java()
    with pytest.raises(atlas.AtlasError, match="unsupported Spark master 'mesos://x'"):
        check_master("mesos://x")
    with pytest.raises(atlas.AtlasError, match="cannot reach the Spark master spark://127.0.0.1:9,127.0.0.1:19"):
        check_master("spark://127.0.0.1:9,127.0.0.1:19", timeout=1)
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    monkeypatch.delenv("YARN_CONF_DIR", raising=False)
    with pytest.raises(atlas.AtlasError, match="yarn needs HADOOP_CONF_DIR"):
        check_master("yarn")
    check_master("local[4]")


def test_a_candidates_file_round_trips_and_refuses_what_it_is_not(planted, tmp_path):
    from atlas.stagefile import ItemTable, read_candidates, same_candidates, write_candidates

    profiles = atlas.build_profiles(planted, atlas.FilterParams(min_item_users=3, min_user_items=2))
    cands = atlas.cooccurrence_candidates(profiles, atlas.CooccurrenceParams(weighting="jaccard", n_candidates=9))
    record = {"params": {"filter": atlas.FilterParams(min_item_users=3, min_user_items=2).__dict__, "cooccurrence": atlas.CooccurrenceParams(weighting="jaccard", n_candidates=9).__dict__}}
    path = write_candidates(tmp_path / "c.parquet", ItemTable.of(profiles), cands, record)
    back = read_candidates(path)
    assert same_candidates(back.candidates, cands) and list(back.items.item_ids) == list(profiles.item_ids)
    assert back.items.summary() == profiles.summary() and back.filter.min_item_users == 3 and back.cooccurrence.weighting == "jaccard"
    assert back.candidates.key == back.fingerprint and back.fingerprint.startswith("candidates-")
    import pandas as pd

    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(atlas.AtlasError, match="'other.parquet' is not a candidates file"):
        read_candidates(tmp_path / "other.parquet")
    with pytest.raises(atlas.AtlasError, match="does not exist; write it with 'atlas candidates"):
        read_candidates(tmp_path / "missing.parquet")
    too_few = ["--candidates", str(path), "--n-neighbors", "20"]
    with pytest.raises(atlas.AtlasError, match="holds 9 candidates per item, fewer than --n-neighbors 20"):
        parsed(*too_few)
    with pytest.raises(atlas.AtlasError, match="leave out --engine"):
        parsed("--candidates", str(path), "--n-neighbors", "5", "--engine", "spark")
    with pytest.raises(atlas.AtlasError, match="give either INPUT \\(or --demo\\) or --candidates"):
        sources.Source(input="x.csv", candidates=str(path))
