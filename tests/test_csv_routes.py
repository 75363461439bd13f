"""One meaning for a CSV: the whole-file route (``load_interactions``) and the streamed route
(``atlas.scan``) accept and refuse the same generated files, with the same messages."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import atlas
from atlas import scan
from atlas.errors import AtlasError
from atlas.ingest import IngestParams, load_interactions
from atlas.scan import interaction_files, scan_profiles

FILTER = atlas.FilterParams(min_item_users=1, min_user_items=1)
IDS = st.sampled_from(["u1", "u2", "NA", "null", "NaN", "None", "#N/A", "007", "7", "a,b", 'say "hi"', "x y", "é", "line\nbreak"])
WEIGHTS = st.one_of(st.none(), st.integers(0, 9).map(str), st.floats(0.1, 5.0, allow_nan=False).map(lambda v: f"{v:.2f}"))


@st.composite
def csv_files(draw):
    """(text of a CSV, whether it has a weight column); every kind of trouble may be drawn in."""
    weighted = draw(st.booleans())
    header = ["user", "item", "rating"] if weighted else ["user", "item"]
    if draw(st.integers(0, 9)) == 0:
        header[1] = "user"  # a column named twice
    rows = [[draw(IDS), draw(IDS)] + ([draw(WEIGHTS) or ""] if weighted else []) for _ in range(draw(st.integers(1, 40)))]
    rows[0] = ["first", "one"] + (["1"] if weighted else [])  # ids and a weight in the first row, so the columns read alike
    trouble = draw(st.sampled_from(["none", "none", "ragged", "repeated header", "blank lines"]))
    at = draw(st.integers(1, len(rows)))
    if trouble == "ragged":
        rows.insert(at, rows[at - 1][:-1] if draw(st.booleans()) else [*rows[at - 1], "extra"])
    elif trouble == "repeated header":
        rows.insert(at, list(header))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for k, row in enumerate(rows):
        writer.writerow(row)
        if trouble == "blank lines" and k % 7 == 3:
            out.write("\n")
    return out.getvalue()


def _outcome(read):
    try:
        return "ok", read()
    except AtlasError as exc:
        return "error", str(exc)


def _same(a, b) -> bool:
    return (
        all(np.array_equal(getattr(a.matrix, n), getattr(b.matrix, n)) for n in ("indptr", "indices", "data"))
        and np.array_equal(a.user_ids, b.user_ids)
        and np.array_equal(a.item_ids, b.item_ids)
        and a.n_input_interactions == b.n_input_interactions
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_files(), drop=st.booleans())
def test_whole_and_streamed_reading_agree(tmp_path, monkeypatch, text, drop):
    monkeypatch.setattr(scan, "CSV_BLOCK_BYTES", 64)  # many small batches: trouble lands across their edges
    path = tmp_path / "plays.csv"
    path.write_text(text, encoding="utf-8")
    params = IngestParams(header=True, drop_missing_weights=drop)
    whole = _outcome(lambda: atlas.build_profiles(load_interactions(path, params), FILTER))
    streamed = _outcome(lambda: scan_profiles(interaction_files(path, params), FILTER, batch_rows=7))
    assert whole[0] == streamed[0], (whole, streamed)
    event(whole[0] if whole[0] == "ok" else whole[1].split(";")[0].split("'plays.csv' ")[-1][:30])
    if whole[0] == "error":
        assert whole[1] == streamed[1]
    else:
        assert _same(whole[1], streamed[1])


ROUTES = {
    "whole": lambda path, params: load_interactions(path, params),
    "streamed": lambda path, params: scan_profiles(interaction_files(path, params), FILTER, batch_rows=3),
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "text, message",
    [
        ("user,item,w\nu,a,1\nu,b\nv,a,2\n", r"line 3 has 2 field\(s\) where the header has 3"),
        ("user,item,w\nu,a,1\nu,b,1,9\n", r"line 3 has 4 field\(s\) where the header has 3"),
        ('user,item,w\nu,"a\nb",1\nv,a,2\nv,b\n', r"line 5 has 2 field\(s\)"),
        ("user,item,w\nu,a,1\nu,b,\nv,a,\nv,b,2\n", r"has 2 row\(s\) with ids but no weight in column 'w' \(the first on line 3\)"),
        ("user,user,w\nu,a,1\n", "names the column 'user' twice in its header"),
        ("user,item,w\nu,a,1\n\nuser,item,w\nv,a,2\n", "line 4 repeats the header row"),
    ],
)
def test_each_route_refuses_with_the_same_line(tmp_path, route, text, message):
    path = tmp_path / "plays.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AtlasError, match=message):
        ROUTES[route](path, IngestParams(header=True))


@pytest.mark.parametrize("route", ROUTES)
def test_missing_weights_are_left_out_and_reported_only_when_asked(tmp_path, route, caplog):
    path = tmp_path / "plays.csv"
    path.write_text("user,item,w\nu,a,1\nu,b,\nv,a,\nv,b,2\nw,a,1\n", encoding="utf-8")
    ROUTES[route](path, IngestParams(header=True, drop_missing_weights=True))
    assert "left out 2 row(s) with no weight in column 'w' (--drop-missing-weights; the first on line 3)" in caplog.text
