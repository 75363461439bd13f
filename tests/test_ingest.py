import bz2
import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas.errors import AtlasError
from atlas.ingest import IngestParams, load_dataset, load_interactions, load_items


def pairs(inter: atlas.Interactions) -> dict:
    return {(inter.user_ids[u], inter.item_ids[i]): float(w) for u, i, w in zip(inter.user, inter.item, inter.weight)}


ROWS = [("ann", "Héloïse, \"the\" film", 4.0), ("ann", "b", 2.0), ("bob", "b", 5.0), ("bob", "c", 1.0), ("cy", "c", 3.0)]


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t"), (".dat", "\t")])
def test_long_text_formats_with_header_and_tricky_ids(tmp_path, suffix, sep):
    path = tmp_path / f"ratings{suffix}"
    pd.DataFrame(ROWS, columns=["user", "item", "rating"]).to_csv(path, sep=sep, index=False)
    inter = load_interactions(path)
    assert pairs(inter) == {(u, i): w for u, i, w in ROWS}


def test_headerless_csv_takes_first_columns(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("1,10\n1,11\n2,10\n\n2,12\n", encoding="utf-8")
    inter = load_interactions(path)
    assert set(pairs(inter)) == {("1", "10"), ("1", "11"), ("2", "10"), ("2", "12")}
    assert np.all(inter.weight == 1)


def test_parquet_with_named_columns_and_integer_ids(tmp_path):
    path = tmp_path / "x.parquet"
    pd.DataFrame({"ts": [1, 2, 3], "item": [7, 8, 7], "who": [1, 1, 2], "plays": [3, 1, 2]}).to_parquet(path)
    inter = load_interactions(path, IngestParams(user_col="who", item_col="item", weight_col="plays"))
    assert pairs(inter) == {("1", "7"): 3.0, ("1", "8"): 1.0, ("2", "7"): 2.0}


def test_jsonl_profiles_and_text_profile_lines(tmp_path):
    jl = tmp_path / "p.jsonl"
    jl.write_text(
        "\n".join(json.dumps(r) for r in [{"user": "u1", "items": ["a", "b"]}, {"user": "u2", "items": ["b", "ç"]}]) + "\n\n",
        encoding="utf-8",
    )
    assert set(pairs(load_interactions(jl))) == {("u1", "a"), ("u1", "b"), ("u2", "b"), ("u2", "ç")}
    txt = tmp_path / "p.txt"
    txt.write_text("0 5 6 7\n1 6\n", encoding="utf-8")
    assert set(pairs(load_interactions(txt))) == {("0", "5"), ("0", "6"), ("0", "7"), ("1", "6")}


@pytest.mark.parametrize("aggregate,expected", [("sum", 5.0), ("max", 3.0)])
def test_duplicate_pairs_collapse(tmp_path, aggregate, expected):
    path = tmp_path / "d.csv"
    path.write_text("user,item,w\nu,i,2\nu,i,3\nu,j,1\n", encoding="utf-8")
    inter = load_interactions(path, IngestParams(aggregate=aggregate))
    assert len(inter) == 2
    assert pairs(inter)[("u", "i")] == expected


def test_metadata_joins_by_string_id(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item\n1,10\n1,11\n2,10\n", encoding="utf-8")
    items = tmp_path / "items.csv"
    items.write_text("id,title,year\n10,Ten,1999\n11,Eleven,2001\n99,Unused,1\n", encoding="utf-8")
    data = load_dataset(path, items_path=items)
    assert data.name_column == "title"
    assert data.items.loc["11", "title"] == "Eleven"
    assert data.items["year"].dtype.kind in "if"


def err(path, **kw):
    with pytest.raises(atlas.AtlasError) as info:
        load_interactions(path, IngestParams(**kw))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_inputs_give_one_line_errors(tmp_path):
    assert "does not exist" in err(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    assert "is empty" in err(tmp_path / "empty.csv")
    (tmp_path / "x.xlsx").write_text("a")
    assert "unsupported file type .xlsx" in err(tmp_path / "x.xlsx")
    good = tmp_path / "g.csv"
    good.write_text("user,item,rating\nu,i,5\n", encoding="utf-8")
    assert "column 'usr'" in err(good, user_col="usr") and "user, item, rating" in err(good, user_col="usr")
    bad_w = tmp_path / "w.csv"
    bad_w.write_text("user,item,rating\nu,i,five\nv,i,4\n", encoding="utf-8")
    assert "non-numeric" in err(bad_w, weight_col="rating") and "'five'" in err(bad_w, weight_col="rating")
    bad_json = tmp_path / "b.jsonl"
    bad_json.write_text('{"user": 1, "items": [1]}\n{oops\n', encoding="utf-8")
    assert "line 2 is not valid JSON" in err(bad_json)
    latin = tmp_path / "l.csv"
    latin.write_bytes("user,item\nu,caf\xe9\n".encode("latin-1"))
    assert "UTF-8" in err(latin)


def test_metadata_without_matching_ids_is_an_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item\n1,10\n", encoding="utf-8")
    items = tmp_path / "items.csv"
    items.write_text("id,title\nA,x\n", encoding="utf-8")
    with pytest.raises(atlas.AtlasError, match="no item id of the interactions occurs"):
        load_dataset(path, items_path=items)


def test_load_items_reads_first_column_as_id(tmp_path):
    items = tmp_path / "items.tsv"
    items.write_text("movie\tname\n1\tA\n1\tdup\n2\tB\n", encoding="utf-8")
    frame = load_items(items)
    assert list(frame.index) == ["1", "2"] and frame.loc["1", "name"] == "A"


# -- odd but legitimate input keeps working ----------------------------------------------------

ODD = [
    ("ann", "a, with \"quotes\", and commas", 2.0),
    ("ann", "line\nbreak", 1.0),
    ("b\u00f8b \U0001f3b8", "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627", 3.0),  # emoji, Hebrew and Arabic (RTL)
    ("b\u00f8b \U0001f3b8", "caf\u00e9", 4.0),
    ("cy", "caf\u00e9", 5.0),
]


def _compress(path: Path, data: bytes) -> None:
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix)
    if opener is None:
        path.write_bytes(data)
    else:
        with opener(path, "wb") as f:
            f.write(data)


@pytest.mark.parametrize("compression", ["", ".gz", ".bz2", ".xz"])
@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_odd_but_legitimate_csv_reads_the_same(tmp_path, compression, bom, newline):
    text = pd.DataFrame(ODD, columns=["user", "item", "rating"]).to_csv(index=False, lineterminator=newline)
    path = tmp_path / f"plays.csv{compression}"
    _compress(path, (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    inter = load_interactions(path)
    assert pairs(inter) == {(u, i): w for u, i, w in ODD}
    assert inter.notes == ("weights from column 'rating' (numeric third column)",)


@pytest.mark.parametrize("compression", ["", ".gz", ".bz2"])
def test_odd_but_legitimate_profiles_read_the_same(tmp_path, compression):
    by_user: dict = {}
    for u, i, w in ODD:
        by_user.setdefault(u, []).append([i, w])
    lines = "\r\n".join(json.dumps({"user": u, "items": items}, ensure_ascii=False) for u, items in by_user.items())
    path = tmp_path / f"p.jsonl{compression}"
    _compress(path, b"\xef\xbb\xbf" + lines.encode("utf-8"))
    assert pairs(load_interactions(path)) == {(u, i): w for u, i, w in ODD}
    txt = tmp_path / f"p.txt{compression}"
    _compress(txt, "\ufeff\u05e9\u05dc\u05d5\u05dd \U0001f3b8 caf\u00e9\r\nb x\r\n".encode("utf-8"))
    assert set(pairs(load_interactions(txt))) == {("\u05e9\u05dc\u05d5\u05dd", "\U0001f3b8"), ("\u05e9\u05dc\u05d5\u05dd", "caf\u00e9"), ("b", "x")}


@pytest.mark.parametrize("sep,suffix", [(",", ".csv"), ("\t", ".tsv")])
def test_headerless_files_with_weights_and_quoted_ids(tmp_path, sep, suffix):
    path = tmp_path / f"plain{suffix}"
    path.write_text(f'1{sep}"a{sep}b"{sep}2\n1{sep}c{sep}1\n2{sep}c{sep}3\n', encoding="utf-8")
    assert pairs(load_interactions(path)) == {("1", f"a{sep}b"): 2.0, ("1", "c"): 1.0, ("2", "c"): 3.0}


# -- one rule for each kind of missing or wrong value ------------------------------------------

def test_a_json_null_is_left_out_and_counted_not_made_an_item(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"user": "u1", "items": ["a", None, "b", ""]}, {"user": None, "items": ["a"]}, {"user": 7, "items": [1, 2.0, ["c", None]]}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    inter = load_interactions(path)
    assert set(pairs(inter)) == {("u1", "a"), ("u1", "b"), ("7", "1"), ("7", "2")}
    assert "None" not in set(inter.item_ids) and inter.dropped == 4
    assert inter.notes == ("left out 4 of 8 rows with a missing user id, item id or weight",)


def test_missing_csv_fields_are_left_out_and_counted(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,w\nu,a,1\n,b,1\nu,,1\nv,a,\nv,b,2\n", encoding="utf-8")
    with pytest.raises(AtlasError, match=r"has 1 row\(s\) with ids but no weight in column 'w' \(the first on line 5\); .* --drop-missing-weights"):
        load_interactions(path)
    inter = load_interactions(path, IngestParams(drop_missing_weights=True))
    assert pairs(inter) == {("u", "a"): 1.0, ("v", "b"): 2.0} and inter.dropped == 3
    assert any("left out 1 row(s) with no weight in column 'w' (--drop-missing-weights; the first on line 5)" in n for n in inter.notes)


def _third_column(tmp_path, name, values, rows=1500):
    """Interactions from a file whose third column is ``name`` (None: a file without a header)."""
    path = tmp_path / "w.csv"
    frame = pd.DataFrame({"user": [f"u{i % 40}" for i in range(rows)], "item": [f"i{i % 97}" for i in range(rows)], name or 2: values})
    frame.to_csv(path, index=False, header=name is not None)
    return load_interactions(path)


@pytest.mark.parametrize("row", [3, 1200])
def test_a_non_numeric_third_column_is_never_a_weight_wherever_the_text_is(tmp_path, row):
    values = np.full(1500, "2", dtype=object)
    values[row] = "lots"
    inter = _third_column(tmp_path, "plays", values)
    assert np.all(inter.weight == 1)
    assert inter.notes[0].startswith("column 'plays' holds non-numeric values such as 'lots', so it is not a weight")
    assert len(_third_column(tmp_path, "plays", np.full(1500, "2")).notes) == 1  # all numeric: taken as the weight
    assert _third_column(tmp_path, "plays", np.full(1500, "2")).notes[0] == "weights from column 'plays' (numeric third column)"


@pytest.mark.parametrize(
    "name,values,reason",
    [
        ("timestamp", np.arange(1500) + 5, "its name says it is a time"),
        ("createdAt", np.arange(1500) + 5, "its name says it is a time"),
        (None, 1_600_000_000 + np.arange(1500) * 37, "its values are Unix times"),
        ("when_ms", 1_600_000_000_000 + np.arange(1500), "its name says it is a time"),
    ],
)
def test_a_timestamp_third_column_is_not_taken_as_the_weight(tmp_path, name, values, reason):
    inter = _third_column(tmp_path, name, values)
    shown = repr(name or "2")
    assert inter.notes[0] == f"column {shown} is not taken as a weight: {reason}; every interaction counts 1 (name a weight with --weight-col)"
    assert np.all(inter.weight == 1) and len(inter) == len(pairs(inter))
    if name is not None:  # named on purpose, it is a weight like any other number
        named = load_interactions(tmp_path / "w.csv", IngestParams(weight_col=name))
        assert named.notes == (f"weights from column {name!r}",) and named.weight.max() > 1


def test_infinite_weights_are_an_error_that_says_where(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("user,item,w\nu,a,1\nu,b,-inf\nv,a,1e40\n", encoding="utf-8")
    with pytest.raises(atlas.AtlasError, match=r"weight column 'w' holds 2 infinite or too large values \(the first, '-inf', in data row 2\)"):
        load_interactions(path)
    with pytest.raises(atlas.AtlasError, match="infinite"):
        atlas.from_arrays(["u"], ["a"], [float("inf")])


def test_metadata_with_the_layouts_own_column_names_keeps_them_renamed(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item\n1,10\n1,11\n2,10\n", encoding="utf-8")
    items = tmp_path / "items.csv"
    items.write_text("item,item_id,x,y,x_meta,n_users,title\n10,A,1,2,3,4,Ten\n11,B,5,6,7,8,Eleven\n", encoding="utf-8")
    data = load_dataset(path, items_path=items, label_column="x")
    assert list(data.items.columns) == ["item_id_meta", "x_meta_meta", "y_meta", "x_meta", "n_users_meta", "title"]
    assert data.items.loc["11", "x_meta_meta"] == 5 and data.items.loc["10", "x_meta"] == 3
    assert data.label_column == "x_meta_meta" and data.name_column == "title"
    assert "item metadata column 'x' is kept as 'x_meta_meta' (the layout has its own)" in data.all_notes


def test_a_list_column_in_metadata_is_kept(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item\n1,10\n1,11\n2,10\n", encoding="utf-8")
    items = tmp_path / "items.parquet"
    pd.DataFrame({"id": [10, 11], "genres": [["drama", "war"], []], "title": ["Ten", "Eleven"]}).to_parquet(items)
    data = load_dataset(path, items_path=items)
    assert list(data.items.loc["10", "genres"]) == ["drama", "war"] and data.name_column == "title"
    assert data.fingerprint  # lists hash too
    with pytest.raises(atlas.AtlasError, match="label column 'genres' holds lists"):
        load_dataset(path, items_path=items, label_column="genres")


@pytest.mark.parametrize("unique", [True, False])
def test_ids_in_agrees_with_numpys_isin(unique):
    from atlas.ingest import ids_in

    rng = np.random.default_rng(3)
    ids = np.array([f"i{v}" for v in rng.integers(0, 500, 2000)] + ["", "1", "01"], dtype=object)
    known = [f"i{v}" for v in rng.permutation(700)[:300]] + ["1"]
    if not unique:
        known = known + known[:50]
    found = ids_in(ids, pd.Index(known))
    assert found.dtype == bool and 0 < found.sum() < len(ids)
    np.testing.assert_array_equal(found, np.isin(ids, np.array(known, dtype=object)))


def test_metadata_join_of_a_large_catalogue_is_linear(tmp_path):
    """100k string ids used to take minutes to match (np.isin on object arrays); hashing takes well
    under a second, so this stays fast even on a busy machine."""
    import time

    n = 100_000
    ids = np.arange(n).astype(str)
    pd.DataFrame({"user": np.arange(2 * n) % 7, "item": np.r_[ids, ids]}).to_csv(tmp_path / "r.csv", index=False)
    pd.DataFrame({"item_id": ids[: n // 2], "title": ids[: n // 2]}).to_csv(tmp_path / "m.csv", index=False)
    start = time.perf_counter()
    data = load_dataset(tmp_path / "r.csv", items_path=tmp_path / "m.csv")
    assert time.perf_counter() - start < 30
    assert data.items.shape[0] == n // 2
