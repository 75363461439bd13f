"""Times of interactions: read with --time-col or found when a column is obviously a timestamp,
refused where a route does not carry them, recorded in the manifest and read again by a rebuild."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.cli import main
from atlas.errors import AtlasError
from atlas.ingest import NO_TIME, IngestParams, load_interactions
from atlas.paths import has_times, when


def times_of(inter: atlas.Interactions) -> dict:
    """(user, item) -> the time ingest kept for the pair."""
    return {(inter.user_ids[u], inter.item_ids[i]): int(t) for u, i, t in zip(inter.user, inter.item, inter.time)}


def write(tmp_path, text: str, name: str = "plays.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- reading times ------------------------------------------------------------------------------


def test_iso_dates_and_times_become_unix_seconds_in_utc(tmp_path):
    path = write(tmp_path, "user,item,rating,ts\n"
                 "ann,a,4,2024-03-01\n"                  # a date: midnight UTC
                 "ann,b,3,2024-03-01T12:30:00Z\n"
                 "bob,a,5,2024-03-01T12:30:00+02:00\n"  # an offset: 10:30 UTC
                 "bob,b,2, 2024-03-01 12:30:05 \n")     # naive: taken as UTC; spaces do not matter
    inter = load_interactions(path, IngestParams(time_col="ts"))
    assert times_of(inter) == {("ann", "a"): 1709251200, ("ann", "b"): 1709296200, ("bob", "a"): 1709289000, ("bob", "b"): 1709296205}
    assert inter.time.dtype == np.int64 and inter.time_column == "ts"
    assert "times from column 'ts', read as ISO dates and times" in inter.notes
    assert inter.weight.tolist() == [4, 3, 5, 2]  # the rating is still the weight


@pytest.mark.parametrize("scale,unit", [(1, "Unix seconds"), (1000, "Unix milliseconds")])
def test_unix_seconds_and_milliseconds_are_told_apart_by_their_size(tmp_path, scale, unit):
    seconds = [1_600_000_000, 1_600_000_060, 1_600_003_600]
    rows = "".join(f"u{k % 2},i{k},{s * scale}\n" for k, s in enumerate(seconds))
    inter = load_interactions(write(tmp_path, "user,item,when\n" + rows), IngestParams(time_col="when"))
    assert sorted(inter.time.tolist()) == seconds
    assert f"times from column 'when', read as {unit}" in inter.notes
    assert np.all(inter.weight == 1)  # a time column is never the weight


def test_parquet_datetimes_and_milliseconds_keep_their_types(tmp_path):
    path = tmp_path / "plays.parquet"
    stamps = pd.to_datetime(["2020-01-01T00:00:00", "2020-01-02T00:00:00", "2020-01-03T00:00:00"]).tz_localize("Europe/Paris")
    pd.DataFrame({"user": ["u", "u", "v"], "item": ["a", "b", "a"], "moment": stamps,
                  "played_ms": [1_577_836_800_000, 1_577_923_200_000, 1_578_009_600_000]}).to_parquet(path)
    found = load_interactions(path)  # a datetime column is a time whatever its name
    assert found.time_column == "moment" and sorted(found.time.tolist()) == [1577833200, 1577919600, 1578006000]
    named = load_interactions(path, IngestParams(time_col="played_ms"))
    assert sorted(named.time.tolist()) == [1577836800, 1577923200, 1578009600]


def test_a_pair_seen_several_times_keeps_its_first_time(tmp_path):
    path = write(tmp_path, "user,item,timestamp\nann,a,1600000900\nann,a,1600000100\nann,b,1600000500\nann,a,1600000700\n")
    inter = load_interactions(path)
    assert times_of(inter) == {("ann", "a"): 1600000100, ("ann", "b"): 1600000500}
    assert inter.weight.tolist() == [3, 1]  # the duplicates' weights still add up


def test_missing_times_are_kept_unknown_and_said(tmp_path):
    inter = load_interactions(write(tmp_path, "user,item,played_at\nu,a,2021-05-01\nu,b,\nv,a,2021-05-03\n"))
    assert times_of(inter)[("u", "b")] == NO_TIME and len(inter) == 3
    assert "1 interaction(s) have no time in column 'played_at'; they are left out of a user's path" in inter.notes


# -- finding a time column ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "column,values,unit",
    [
        ("timestamp", [1_260_759_144, 1_260_759_179, 1_260_759_182], "Unix seconds"),
        ("played_at", ["2019-07-01T08:00:00Z", "2019-07-01T09:00:00Z", "2019-07-02T10:00:00Z"], "ISO dates and times"),
        ("date", ["2019-07-01", "2019-07-02", "2019-07-03"], "ISO dates and times"),
        ("createdAt", [1_560_000_000_000, 1_560_000_001_000, 1_560_000_002_000], "Unix milliseconds"),
        ("datetime", ["2019-07-01 08:00", "2019-07-01 09:00", "2019-07-02 10:00"], "ISO dates and times"),
    ],
)
def test_a_column_that_is_obviously_a_timestamp_is_found_and_said(tmp_path, column, values, unit):
    frame = pd.DataFrame({"user": ["u", "u", "v"], "item": ["a", "b", "a"], "rating": [4, 5, 3], column: values})
    frame.to_csv(tmp_path / "r.csv", index=False)
    inter = load_interactions(tmp_path / "r.csv")
    assert inter.time_column == column and has_times(inter)
    assert inter.notes[-1] == f"times from column {column!r}, read as {unit} (it is obviously a time; choose another with --time-col)"
    assert inter.weight.tolist() == [4, 5, 3]


@pytest.mark.parametrize(
    "column,values,said",
    [
        ("time", [1, 2, 3, 4, 5], "holds values such as '1', which are not dates or Unix times from 1973 on"),  # steps, not times
        ("date", ["today", "2019-07-01", "2019-07-02", "2019-07-03", "2019-07-04"], "holds values such as 'today', which are not dates or Unix times from 1973 on"),
        ("year", [1999, 2004, 2010, 2011, 2012], None),  # a year is not a time of its own
        ("score", [1_600_000_000 + k for k in range(5)], None),  # Unix-like numbers, but a name that says nothing
        ("timestamp", [np.nan] * 5, "is empty"),
    ],
)
def test_a_column_that_is_not_obviously_a_timestamp_is_not_taken(tmp_path, column, values, said):
    frame = pd.DataFrame({"user": list("uuvvw"), "item": list("ababa"), "rating": [4, 5, 3, 1, 2], column: values})
    frame.to_csv(tmp_path / "r.csv", index=False)
    inter = load_interactions(tmp_path / "r.csv")
    assert inter.time is None and inter.time_column is None
    notes = [n for n in inter.notes if "time" in n]
    if said is None:
        assert notes == []
    else:
        assert notes == [f"column {column!r} is named like a time but {said}; it is not read as times (name it with --time-col to read it anyway)"]


def test_a_step_column_named_on_purpose_is_read_as_seconds(tmp_path):
    frame = pd.DataFrame({"user": list("uuv"), "item": list("aba"), "time": [3, 1, 2]})
    frame.to_csv(tmp_path / "r.csv", index=False)
    inter = load_interactions(tmp_path / "r.csv", IngestParams(time_col="time"))
    assert times_of(inter) == {("u", "a"): 3, ("u", "b"): 1, ("v", "a"): 2}
    assert inter.notes[0] == "column 'time' is the time column (--time-col), so it is not a weight; every interaction counts 1 (name a weight with --weight-col)"


def test_a_file_without_times_carries_none(tmp_path):
    inter = load_interactions(write(tmp_path, "user,item,plays\nu,a,3\nu,b,1\nv,a,2\n"))
    assert inter.time is None and not has_times(inter) and not any("time" in n for n in inter.notes)


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,where,value",
    [
        ("user,item,when\nu,a,2024-01-01\nu,b,soon\n", "line 3", "soon"),
        ("user,item,when\nu,a,2024-01-01\nu,b,17\nv,c,01/02/2024\n", "line 4", "01/02/2024"),  # not ISO: day or month first?
        ("user,item,when\nu,a,1600000000\nu,b,inf\n", "line 3", "inf"),
    ],
)
def test_a_value_that_is_no_time_is_a_one_line_error_naming_it(tmp_path, text, where, value):
    with pytest.raises(AtlasError) as caught:
        load_interactions(write(tmp_path, text), IngestParams(time_col="when"))
    message = str(caught.value)
    assert message == (
        f"time column 'when' holds a value that is not a date, a time or a Unix time: {value!r} (at {where}); "
        "write ISO dates or times (2024-03-01, 2024-03-01T12:30:00Z) or Unix seconds or milliseconds there, "
        "or choose another column with --time-col."
    )


def test_time_column_choices_that_cannot_be_right_are_refused(tmp_path):
    path = write(tmp_path, "user,item,ts\nu,a,1\n")
    with pytest.raises(AtlasError, match=r"column 'nope' \(times\) is not in the file; its columns are: user, item, ts. Fix --time-col."):
        load_interactions(path, IngestParams(time_col="nope"))
    with pytest.raises(AtlasError, match="the item and time columns are both 'item'"):
        load_interactions(path, IngestParams(time_col="item"))
    with pytest.raises(AtlasError, match="the weight and time columns are both 'ts'"):
        IngestParams(weight_col="ts", time_col="ts")
    profiles = write(tmp_path, '{"user": "u", "items": ["a", "b"]}\n', "p.jsonl")
    with pytest.raises(AtlasError, match=r"--time-col needs one interaction per row, and 'p.jsonl' is a profile file"):
        load_interactions(profiles, IngestParams(time_col="ts"))


def test_the_streamed_and_spark_routes_refuse_time_col_in_one_line(tmp_path, monkeypatch):
    from atlas.engines import EngineParams
    from atlas.sources import Source

    path = write(tmp_path, "user,item,ts\nu,a,1600000000\nv,a,1600000001\n")
    streamed = "--time-col is read by the in-memory route only; this input is streamed from disk"
    with pytest.raises(AtlasError, match=streamed):
        atlas.scan_dataset(path, IngestParams(time_col="ts"))
    monkeypatch.setenv("ATLAS_STREAM_MIN_BYTES", "1")
    with pytest.raises(AtlasError, match=streamed + r".*set ATLAS_STREAM_MIN_BYTES above the file's size"):
        Source(input=str(path), time_col="ts").load(stream=True)
    assert Source(input=str(path)).load(stream=True).interactions.params.time_col is None  # without it: streamed, no times
    with pytest.raises(AtlasError, match=r"--time-col is read by the in-memory route only; this input is read by Spark \(--engine spark\)"):
        Source(input=str(path), time_col="ts").load(EngineParams(name="spark"))
    with pytest.raises(AtlasError, match="--time-col names a column of INPUT, and the demo reads its own times"):
        Source(demo=True, time_col="ts").load()


def test_the_demo_carries_the_times_of_its_ratings():
    inter = atlas.demo_movielens().interactions
    assert inter.time_column == "timestamp" and inter.time.shape == inter.user.shape
    assert when(inter.time.min()).startswith("1995") and when(inter.time.max()).startswith("2016")


# -- the command line, the manifest and a rebuild -------------------------------------------------

FAST = ["--no-cache", "--quiet", "--min-item-users", "3", "--min-user-items", "2", "--n-neighbors", "8", "--max-iter", "100",
        "--umap-n-neighbors", "15", "--no-compare"]


@pytest.fixture(scope="module")
def timed_plays(tmp_path_factory, planted):
    folder = tmp_path_factory.mktemp("timed")
    inter = planted.interactions
    start = np.datetime64("2022-01-01T00:00:00")
    stamps = start + (np.arange(len(inter)) * 97 % 86400 * 30).astype("timedelta64[s]")
    frame = pd.DataFrame({"user": inter.user_ids[inter.user], "item": inter.item_ids[inter.item], "plays": inter.weight,
                          "played_at": np.datetime_as_string(stamps, unit="s")})
    frame.to_csv(folder / "plays.csv", index=False)
    return folder


def test_the_build_says_which_column_holds_times(timed_plays, tmp_path, capsys):
    assert main(["build", str(timed_plays / "plays.csv"), "--out", str(tmp_path / "out"), *FAST[:1], *FAST[2:]]) == 0
    said = "input: times from column 'played_at', read as ISO dates and times (it is obviously a time; choose another with --time-col)"
    assert said in capsys.readouterr().out.splitlines()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["input"]["source"]["plan"]["time_col"] is None  # found, not asked for: a rebuild finds it again
    assert "--time-col" not in manifest["command"]


def test_time_col_travels_in_the_manifest_and_atlas_rebuild(timed_plays, tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    argv = ["build", str(timed_plays / "plays.csv"), "--time-col", "played_at", *FAST]
    assert main([*argv, "--out", str(first)]) == 0
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["input"]["source"]["plan"]["time_col"] == "played_at"
    assert manifest["input"]["source"]["ingest"]["time_col"] == "played_at"
    assert "--time-col played_at" in manifest["command"]
    assert "times from column 'played_at', read as ISO dates and times" in manifest["input"]["notes"]
    assert main(["rebuild", str(first), "--out", str(second), "--no-cache", "--quiet"]) == 0
    again = json.loads((second / "manifest.json").read_text())
    assert again["input"]["source"]["plan"]["time_col"] == "played_at" and again["command"] == manifest["command"]
    assert again["input"]["notes"] == manifest["input"]["notes"]


def test_a_bad_time_on_the_command_line_is_one_line(tmp_path, capsys):
    path = write(tmp_path, "user,item,ts\nu,a,2024-01-01\nv,a,later\n")
    assert main(["build", str(path), "--time-col", "ts", "--out", str(tmp_path / "out"), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: time column 'ts' holds a value that is not a date, a time or a Unix time: 'later' (at line 3)")
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()
