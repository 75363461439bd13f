import json
import subprocess
import sys

import pandas as pd
import pytest

from atlas.cli import main

FAST = ["--no-cache", "--quiet", "--min-item-users", "3", "--min-user-items", "2", "--n-neighbors", "8",
        "--max-iter", "100", "--umap-n-neighbors", "15", "--perplexity", "10"]


@pytest.fixture(scope="module")
def ratings(tmp_path_factory, planted):
    folder = tmp_path_factory.mktemp("data")
    inter = planted.interactions
    frame = pd.DataFrame(
        {
            "listener": ["user, \"" + u + "\"" for u in inter.user_ids[inter.user]],
            "track": ["tr\u00e4ck " + i for i in inter.item_ids[inter.item]],
            "plays": inter.weight,
        }
    )
    frame.to_csv(folder / "plays.csv", index=False)
    items = planted.items.reset_index()
    items["item_id"] = "tr\u00e4ck " + items["item_id"]
    items.to_csv(folder / "tracks.csv", index=False)
    return folder


def run(*argv):
    return subprocess.run([sys.executable, "-m", "atlas.cli", *argv], capture_output=True, text=True, timeout=600)


def test_build_writes_the_layout_with_metadata(ratings, tmp_path):
    out = tmp_path / "out"
    proc = run("build", str(ratings / "plays.csv"), "--items", str(ratings / "tracks.csv"), "--label-col", "community",
               "--out", str(out), "--no-cache", *FAST[2:])
    assert proc.returncode == 0, proc.stderr
    layout = pd.read_csv(out / "layout.csv")
    assert layout["item_id"].str.startswith("tr\u00e4ck ").all() and layout["name"].notna().all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["umap"]["label_agreement"] > 0.5
    assert manifest["input"]["source"]["path"].endswith("plays.csv")
    assert "kNN recall" in proc.stdout and "wrote:" in proc.stdout


def test_tsne_projection_is_exported_when_chosen(ratings, tmp_path):
    assert main(["build", str(ratings / "plays.csv"), "--out", str(tmp_path), "--projection", "tsne", "--no-compare", *FAST]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["projection"] == "tsne" and manifest["projections"] == ["tsne"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.csv"], "input file 'missing.csv' does not exist"),
        (["{data}/plays.csv", "--user-col", "nobody"], "column 'nobody' (users) is not in the file"),
        (["{data}/plays.csv", "--weight-col", "track"], "holds non-numeric values"),
        (["{data}/plays.csv", "--min-item-users", "100000"], "no interactions are left after filtering"),
        (["{data}/plays.csv", "--n-neighbors", "1000"], "--n-neighbors 1000 needs more than 1000 items"),
        (["{data}/plays.csv", "--weighting", "tfidf"], "Unsupported value 'tfidf' for --weighting; the supported values are 'count', 'cosine'"),
        (["{data}/plays.csv", "--perplexity", "lots"], "--perplexity must be a number, got 'lots'"),
        (["{data}/plays.csv", "--items", "{data}/nothing.csv"], "item metadata file '{data}/nothing.csv' does not exist"),
        ([], "no input: give an interaction file"),
    ],
)
def test_bad_input_gives_one_line_error_and_no_output(ratings, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    argv = ["build", *FAST, *[a.format(data=ratings) for a in args], "--out", str(out)]
    assert exit_status(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message.format(data=ratings) in err
    if "Unsupported value" not in message and "must be a number" not in message:
        assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert not out.exists()


def exit_status(argv):
    """``main``'s exit status, also when argparse ends it with SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_bad_input_exit_status_from_a_real_process(tmp_path):
    bad = tmp_path / "one_user.csv"
    bad.write_text("user,item\nu,a\nu,b\nu,c\n", encoding="utf-8")
    proc = run("build", str(bad), "--out", str(tmp_path / "out"), "--min-item-users", "1", "--min-user-items", "1", "--no-cache")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: only one user is left after filtering")
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_html_on_a_folder_that_is_not_an_export(tmp_path, capsys):
    assert main(["html", str(tmp_path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_the_summary_and_manifest_say_what_reading_decided(tmp_path, capsys):
    rows = [{"user": f"u{u}", "items": [f"i{(u * 7 + k) % 40}" for k in range(8)] + [None]} for u in range(80)]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert main(["build", str(path), "--out", str(tmp_path / "out"), *FAST[2:], "--no-cache", "--no-compare"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith("input: left out 80 of 720 rows with a missing user id, item id or weight\n")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["input"]["dropped_rows"] == 80 and manifest["input"]["notes"] == [stdout.splitlines()[0][len("input: "):]]
    assert "None" not in set(pd.read_csv(tmp_path / "out" / "layout.csv", dtype=str)["item_id"])
