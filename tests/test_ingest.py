import json

import numpy as np
import pandas as pd
import pytest

import atlas
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
