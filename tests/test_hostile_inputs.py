"""Files from others, II: candidates files, interaction files (CSV, Parquet folders) and earlier
maps read back (``--align-to``, ``atlas html``, ``atlas explain``).

The harness and the checks every case passes are in ``hostile.py``; manifests and stage caches
are in ``test_hostile.py``.
"""

from __future__ import annotations

import collections
import gzip
import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hostile import FLAGS, OUT, case, make_origin, run_case, set_at

from atlas.cli import main


@pytest.fixture(scope="module")
def origin(tmp_path_factory, planted):
    return make_origin(tmp_path_factory.mktemp("origin"), planted)


# -- 3. candidates files: checked like any input before anything uses them ------------------------------


def cands(table=None, meta=None, raw=None):
    """An edit of cands.parquet: ``table(table) -> table``, ``meta(metadata)`` in place, or
    ``raw``, bytes to store as its metadata."""

    def edit(world):
        path = world / "cands.parquet"
        t = pq.read_table(path)
        m = json.loads(t.schema.metadata[b"atlas"])
        if table is not None:
            t = table(t)
        if meta is not None:
            meta(m)
        pq.write_table(t.replace_schema_metadata({b"atlas": raw if raw is not None else json.dumps(m).encode()}), path)

    return edit


def column(name, change, kind=None):
    """A table edit: ``change(values)`` on the column as Python lists, stored as ``kind`` (default: as it was)."""

    def edit(t):
        values = t.column(name).to_pylist()
        change(values)
        at = t.schema.get_field_index(name)
        return t.set_column(at, name, pa.array(values, type=kind or t.schema.field(name).type))

    return edit


def cell(name, row, slot, value):
    def change(values):
        values[row][slot] = value(values) if callable(value) else value

    return column(name, change)


def setting(*keys, value=None, delete=False):
    def change(m):
        set_at(m, keys, value, delete)

    return change


def row(name, r, value):
    def change(values):
        values[r] = value(values) if callable(value) else value

    return column(name, change)


C = "error: candidates file 'cands.parquet'"
FROM = ("build", "--candidates", "{w}/cands.parquet", *FLAGS)
CANDIDATES = [
    case("candidates", "the file as written", FROM, 0),
    case("candidates", "negative partner", FROM, 2, C + " has the partner index -5 in row 1, outside 0..", cands(cell("partners", 0, 0, -5))),
    case("candidates", "partner past the end", FROM, 2, C + " has the partner index 2147483647 in row 2, outside 0..", cands(cell("partners", 1, 3, 2**31 - 1))),
    case("candidates", "64-bit partner", FROM, 2, C + " has the partner index 1099511627776 in row 3",
         cands(lambda t: cell("partners", 2, 0, 2**40)(t.set_column(3, "partners", t.column("partners").cast(pa.list_(pa.int64())))))),
    case("candidates", "own partner", FROM, 2, C + " makes item 'item ", cands(cell("partners", 0, 0, 0))),
    case("candidates", "partner after a gap", FROM, 2, C + " has a partner after an empty slot (-1) in row 1", cands(cell("partners", 0, 0, -1))),
    case("candidates", "partner twice", FROM, 2, C + " lists one partner twice in row 1", cands(cell("partners", 0, 1, lambda v: v[0][0]))),
    case("candidates", "unknown weighting", FROM, 2, C + " uses the weighting 'pickle', which this atlas does not know", cands(meta=setting("weighting", value="pickle"))),
    case("candidates", "weighting against its parameters", FROM, 2, C + " says its weighting is 'jaccard' but its parameters say 'cosine'",
         cands(meta=setting("weighting", value="jaccard"))),
    case("candidates", "null item_id", FROM, 2, C + " has no item_id in row 3", cands(row("item_id", 2, None))),
    case("candidates", "duplicate ids", FROM, 2, C + " lists the item 'item ", cands(row("item_id", 1, lambda v: v[0]))),
    case("candidates", "ragged list", FROM, 2, C + " has 15 partners in row 1, where its metadata says 16 per item", cands(row("partners", 0, lambda v: v[0][:-1]))),
    case("candidates", "missing list", FROM, 2, C + " has no scores in row 5", cands(row("scores", 4, None))),
    case("candidates", "null in a list", FROM, 2, C + " has missing values inside the counts lists", cands(cell("counts", 0, 3, None))),
    case("candidates", "wrong n_candidates", FROM, 2, C + " records 10 candidates per item, but its parameters say 16", cands(meta=setting("n_candidates", value=10))),
    case("candidates", "n_candidates as text", FROM, 2, C + " records '16' candidates per item", cands(meta=setting("n_candidates", value="16"))),
    case("candidates", "metadata without params", FROM, 2, C + " records no filter and co-occurrence parameters", cands(meta=setting("params", delete=True))),
    case("candidates", "unknown filter key", FROM, 2, C + " has unknown key(s) 'exec' in params.filter", cands(meta=setting("params", "filter", "exec", value="x"))),
    case("candidates", "filter value as text", FROM, 2, C + ' has params.filter.min_item_users = "3", not a int',
         cands(meta=setting("params", "filter", "min_item_users", value="3"))),
    case("candidates", "NaN score", FROM, 2, C + " has a score that is not a finite number in row 1", cands(cell("scores", 0, 0, float("nan")))),
    case("candidates", "infinite count", FROM, 2, C + " has a count that is not a finite number in row 2", cands(cell("counts", 1, 0, float("inf")))),
    case("candidates", "negative score", FROM, 2, C + " has a negative score in row 1", cands(cell("scores", 0, 0, -0.5))),
    case("candidates", "negative n_users", FROM, 2, C + " has a negative item_source or n_users", cands(row("n_users", 0, -1))),
    case("candidates", "score edited, key kept", FROM, 2, C + " was changed after it was written", cands(cell("scores", 0, 0, lambda v: v[0][0] / 2))),
    case("candidates", "key edited", FROM, 2, C + " was changed after it was written", cands(meta=setting("key", value="candidates-00000000000000000000"))),
    case("candidates", "key as a path", FROM, 2, C + " was changed after it was written", cands(meta=setting("key", value="../../profiles-0123456789abcdef0123"))),
    case("candidates", "item_id as numbers", FROM, 2, C + " has column 'item_id' of type int64, not string", cands(column("item_id", lambda v: v.__setitem__(slice(None), range(len(v))), pa.int64()))),
    case("candidates", "no counts column", FROM, 2, C + " has no column 'counts'", cands(lambda t: t.drop_columns(["counts"]))),
    case("candidates", "items against the counts", FROM, 2, C + " holds ", cands(meta=lambda m: m["counts"].update(items=m["counts"]["items"] + 1))),
    case("candidates", "pair_updates negative", FROM, 2, C + " records pair_updates = -1, not a count", cands(meta=setting("pair_updates", value=-1))),
    case("candidates", "newer format", FROM, 2, "error: 'cands.parquet' is a candidates file of format version 2", cands(meta=setting("version", value=2))),
    case("candidates", "metadata not JSON", FROM, 2, "error: cannot read 'cands.parquet' as a candidates file", cands(raw=b"{not json")),
    case("candidates", "metadata nested deep", FROM, 2, "error: cannot read 'cands.parquet' as a candidates file", cands(raw=b"[" * 100_000 + b"]" * 100_000)),
]


# -- 4. interaction files: one reader, one line naming the place -----------------------------------------


def lines_of(world):
    return (world / "inputs" / "good.csv").read_text(encoding="utf-8").splitlines()


def text_input(name, change, binary=None):
    """inputs/NAME: good.csv's lines after ``change(lines)`` (or ``binary(text) -> bytes``)."""

    def edit(world):
        lines = lines_of(world)
        change(lines)
        text = "\n".join(lines) + "\n"
        data = binary(text) if binary else text.encode("utf-8")
        (world / "inputs" / name).write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)

    return edit


def put(k, value):
    def change(lines):
        lines[k] = value(lines[k]) if callable(value) else value

    return change


def no_weight(*rows):
    def change(lines):
        for k in rows:
            lines[k] = lines[k].rsplit(",", 1)[0] + ","

    return change


def parquet_folder(second):
    """inputs/parts/: good.csv's rows in two Parquet files, the second changed by ``second(frame)``."""

    def edit(world):
        frame = pd.read_csv(world / "inputs" / "good.csv")
        frame["item"] = frame["item"].str.removeprefix("item ").astype(np.int64)
        half = len(frame) // 2
        folder = world / "inputs" / "parts"
        folder.mkdir()
        pq.write_table(pa.Table.from_pandas(frame.iloc[:half], preserve_index=False), folder / "part-0.parquet")
        made = second(frame.iloc[half:].copy(), folder)
        if made is not None:
            pq.write_table(pa.Table.from_pandas(made, preserve_index=False), folder / "part-1.parquet")

    return edit


def dropped_two(world, out, err):
    notes = json.loads((world / OUT / "manifest.json").read_text())["input"]["notes"]
    assert "left out 2 row(s) with no weight in column 'plays' (--drop-missing-weights; the first on line 3)" in notes, notes


I = "error: input file 'bad.csv'"
BAD = ("build", "{w}/inputs/bad.csv", *FLAGS)
WEIGHTED = (*BAD, "--weight-col", "plays")
PARTS = ("build", "{w}/inputs/parts", *FLAGS)
FOLDER = "write every file of the folder with the same column types."
INPUTS = [
    case("input", "a short row", BAD, 2, I + " line 5 has 2 field(s) where the header has 3", text_input("bad.csv", put(4, "user 1,item 2"))),
    case("input", "a long row", BAD, 2, I + " line 7 has 4 field(s) where the header has 3", text_input("bad.csv", put(6, lambda s: s + ",9"))),
    case("input", "an unclosed quote", BAD, 2, I + " line 4 has 2 field(s) where the header has 3", text_input("bad.csv", put(3, lambda s: s.replace("item", '"item', 1)))),
    case("input", "missing weights", WEIGHTED, 2, I + " has 2 row(s) with ids but no weight in column 'plays' (the first on line 3)", text_input("bad.csv", no_weight(2, 8))),
    case("input", "missing weights, weight column guessed", BAD, 2, I + " has 2 row(s) with ids but no weight in column 'plays'", text_input("bad.csv", no_weight(2, 8))),
    case("input", "missing weights dropped", (*WEIGHTED, "--drop-missing-weights"), 0, "", text_input("bad.csv", no_weight(2, 8)), check=dropped_two),
    case("input", "a column named twice", BAD, 2, I + " names the column 'user' twice in its header", text_input("bad.csv", put(0, "user,user,plays"))),
    case("input", "the header again", BAD, 2, I + " line 100 repeats the header row", text_input("bad.csv", lambda ls: ls.insert(99, ls[0]))),
    case("input", "the header again, gzipped", ("build", "{w}/inputs/bad.csv.gz", *FLAGS), 2, "error: input file 'bad.csv.gz' line 1001 repeats the header row",
         text_input("bad.csv.gz", lambda ls: ls.insert(1000, ls[0]))),
    case("input", "Latin-1 on line 500", BAD, 2, I + " is not UTF-8 text (it holds the byte 0xe9)",
         text_input("bad.csv", put(499, lambda s: s + "\u00e9"), binary=lambda t: t.encode("latin-1"))),
    case("input", "UTF-16", BAD, 2, I + " is UTF-16 text, not UTF-8; re-save it as UTF-8.", text_input("bad.csv", lambda ls: None, binary=lambda t: t.encode("utf-16"))),
    case("input", "Parquet parts: numbers, then text", PARTS, 2, "error: column 'item' holds whole numbers in one part of the input and text in another; " + FOLDER,
         parquet_folder(lambda f, d: f.astype({"item": str}))),
    case("input", "Parquet parts: whole numbers, then fractions", PARTS, 2, "error: column 'item' holds whole numbers in one part of the input and numbers in another",
         parquet_folder(lambda f, d: f.astype({"item": float}))),
    case("input", "Parquet parts: a column missing", PARTS, 2, "error: column 'plays' is missing from part of the input", parquet_folder(lambda f, d: f.drop(columns="plays"))),
    case("input", "Parquet parts: a stray text file", PARTS, 2, "error: input folder '{w}/inputs/parts' mixes file types (.parquet, .txt)",
         parquet_folder(lambda f, d: (d / "notes.txt").write_text("mine\n") and f)),
    case("input", "Parquet parts: a damaged part", PARTS, 2, "error: cannot read 'part-1.parquet' as .parquet",
         parquet_folder(lambda f, d: (d / "part-1.parquet").write_bytes(b"PAR1" + bytes(64) + b"PAR1") and None)),
    case("input", "a JSON line nested deep", ("build", "{w}/inputs/deep.jsonl", *FLAGS), 2, "error: 'deep.jsonl' line 2 nests arrays or objects too deep",
         lambda w: (w / "inputs" / "deep.jsonl").write_text('{"user": "u", "items": ["a"]}\n' + "[" * 100_000 + "]" * 100_000 + "\n")),
]


# -- 5. earlier maps read back: ids as written, and enough of them shared ----------------------------------

ODD = ["NA", "null", "NaN", "None", "#N/A", "n/a", "007", "7", "a,b", 'say "hi"', "line\nbreak", " padded ", "=cmd()"]


def renamed(names, layout="csv"):
    """inputs/odd.csv: good.csv with its most common items renamed to ``names``; old_odd/: its
    export, keeping only layout.csv (``layout="csv"``) or both layouts."""

    def edit(world):
        frame = pd.read_csv(world / "inputs" / "good.csv")
        common = frame["item"].value_counts().index[: len(names)]
        frame["item"] = frame["item"].replace(dict(zip(common, names)))
        frame.to_csv(world / "inputs" / "odd.csv", index=False)
        assert main(["build", str(world / "inputs" / "odd.csv"), *FLAGS, "--no-cache", "--out", str(world / "old_odd")]) == 0
        if layout == "csv":
            (world / "old_odd" / "layout.parquet").unlink()

    return edit


def all_shared(world, out, err):
    report = json.loads((world / OUT / "manifest.json").read_text())["alignment"]
    assert report["new_items"] == 0 and report["shared_items"] == len(pd.read_parquet(world / OUT / "layout.parquet")), report
    assert set(ODD) <= set(pd.read_parquet(world / OUT / "layout.parquet")["item_id"])


def layout_of(change, keep=("parquet", "csv")):
    """The old export's layout files, both edited by ``change(frame) -> frame`` (or one removed)."""

    def edit(world):
        frame = change(pd.read_parquet(world / "old" / "layout.parquet"))
        for kind in ("parquet", "csv"):
            path = world / "old" / f"layout.{kind}"
            if kind not in keep:
                path.unlink()
            elif kind == "parquet":
                frame.to_parquet(path, index=False)
            else:
                frame.to_csv(path, index=False)

    return edit


def renamed_share(share):
    def change(frame):
        cut = int(len(frame) * (1 - share))
        frame.loc[: cut - 1, "item_id"] = ["elsewhere " + str(k) for k in range(cut)]
        return frame

    return change


def deep_manifest(world):
    (world / "old" / "manifest.json").write_text('{"created": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")


ALIGN = ("build", "{w}/inputs/good.csv", *FLAGS, "--align-to", "{w}/old")
ODD_ALIGN = ("build", "{w}/inputs/odd.csv", *FLAGS, "--align-to", "{w}/old_odd")
L = "error: {w}/old/layout.parquet"
ROUNDS = [
    case("align", "NA and null ids from layout.csv", ODD_ALIGN, 0, "", renamed(ODD), check=all_shared),
    case("align", "the same ids from layout.parquet", ODD_ALIGN, 0, "", renamed(ODD, layout="both"), check=all_shared),
    case("align", "40% shared", ALIGN, 2, "error: the map in '{w}/old' shares ", layout_of(renamed_share(0.4))),
    case("align", "40% shared, layout.csv only", ALIGN, 2, "error: the map in '{w}/old' shares ", layout_of(renamed_share(0.4), keep=("csv",))),
    case("align", "40% shared --align-anyway", (*ALIGN, "--align-anyway"), 0, "", layout_of(renamed_share(0.4))),
    case("align", "an id twice", ALIGN, 2, L + " lists an item_id more than once", layout_of(lambda f: f.assign(item_id=[f["item_id"][1], *f["item_id"][1:]]))),
    case("align", "a missing id", ALIGN, 2, L + " has an item with no item_id", layout_of(lambda f: f.assign(item_id=[None, *f["item_id"][1:]]))),
    case("align", "NA as a position", ALIGN, 2, "error: {w}/old/layout.csv has no items or positions that are not numbers",
         layout_of(lambda f: f.astype({"x": object}).assign(x=["NA", *f["x"][1:]]), keep=("csv",))),
    case("align", "manifest nested deep", ALIGN, 0, "", deep_manifest),
    case("align", "html of it", ("html", "{w}/old", "--output", "{w}/new/atlas.html"), 2, "error: {w}/old/manifest.json is not readable JSON", deep_manifest),
    case("align", "explain in it", ("explain", "{w}/old", "item 1"), 2, "error: {w}/old/manifest.json is not readable JSON", deep_manifest),
]
CLASSES = collections.Counter(c.id.split(":")[0] for c in CANDIDATES + INPUTS + ROUNDS)


@pytest.mark.parametrize("bad", CANDIDATES + INPUTS + ROUNDS)
def test_a_file_from_someone_else_runs_nothing_and_changes_nothing_outside_out(bad, origin, tmp_path, capsys, monkeypatch):
    run_case(bad, origin, tmp_path, capsys, monkeypatch)


def test_the_tables_cover_candidates_inputs_and_round_trips():
    from test_hostile import CLASSES as FIRST

    assert CLASSES["candidates"] >= 15 and CLASSES["input"] >= 12 and CLASSES["align"] >= 8
    assert sum((CLASSES + FIRST).values()) >= 60
