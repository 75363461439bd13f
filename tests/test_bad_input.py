"""Bad input, end to end: every case stops with exit status 2 and one ``error:`` line that names
the problem and the fix, with no traceback, and leaves the output folder (a previous good build
beside a file of the user's) exactly as it was, byte for byte.

The table runs ``atlas.cli.main`` in-process; ``CLASSES`` counts its cases by class.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import atlas
import atlas.web.html
from atlas.cli import main
from atlas.export import FILES, export_layout

FAST = ["--no-cache", "--quiet", "--min-item-users", "3", "--min-user-items", "2", "--n-neighbors", "8",
        "--max-iter", "60", "--umap-n-neighbors", "15", "--perplexity", "10", "--no-compare"]
FOREIGN = "my notes.txt"  # a file of the user's inside the output folder


def tree(root: Path) -> dict[str, str]:
    """Every file (sha256) and folder under ``root``, by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        found[rel] = "<folder>" if path.is_dir() and not path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def exit_status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own refusals
        return exc.code


@pytest.fixture(scope="module")
def files(tmp_path_factory, planted) -> Path:
    """A good interaction file and metadata, and one bad file per kind of bad input."""
    d = tmp_path_factory.mktemp("inputs")
    inter = planted.interactions
    users, items = "user " + inter.user_ids[inter.user], "item " + inter.item_ids[inter.item]
    good = pd.DataFrame({"user": users, "item": items, "plays": inter.weight})
    good.to_csv(d / "good.csv", index=False)
    meta = planted.items.reset_index()
    meta["item_id"] = "item " + meta["item_id"]
    meta.to_csv(d / "items.csv", index=False)
    n = len(good)

    pq.write_table(pa.table({"user": pa.array([], pa.string()), "item": pa.array([], pa.string())}), d / "empty.parquet")
    (d / "zero.csv").write_bytes(b"")
    (d / "header_only.csv").write_text("user,item,plays\n", encoding="utf-8")
    pd.DataFrame({"user": users, "item": [None] * n}).to_csv(d / "no_items.csv", index=False)
    good.assign(plays=np.inf).to_csv(d / "all_inf.csv", index=False)
    good.assign(plays=np.where(np.arange(n) == n // 2, np.inf, good["plays"])).to_csv(d / "one_inf.csv", index=False)
    mixed = good.copy()
    mixed.loc[::2, "user"] = None
    mixed.loc[1::2, "item"] = None
    mixed.to_csv(d / "every_row_misses_an_id.csv", index=False)
    pq.write_table(pa.table({"user": list(users), "item": [[i] for i in items]}), d / "list_items.parquet")
    pq.write_table(pa.table({"user": [{"id": u} for u in users], "item": list(items)}), d / "struct_users.parquet")
    pq.write_table(pa.table({"user": list(users), "item": list(items), "plays": [[1.0, 2.0]] * n}), d / "list_weights.parquet")
    (d / "damaged.parquet").write_bytes(b"PAR1" + bytes(range(256)) * 4)
    (d / "truncated.csv.gz").write_bytes(gzip.compress(good.to_csv(index=False).encode())[:300])
    (d / "sheet.xlsx").write_bytes(b"PK\x03\x04 not really a spreadsheet")

    by_user = good.groupby("user")["item"].apply(list)
    (d / "latin1.txt").write_bytes("".join(f"{u}\u00e9 {' '.join(i)}\n" for u, i in by_user.items()).encode("latin-1"))
    (d / "latin1.jsonl").write_bytes(
        "".join(json.dumps({"user": u + "\u00e9", "items": i}, ensure_ascii=False) + "\n" for u, i in by_user.items()).encode("latin-1")
    )
    (d / "latin1.csv").write_bytes(good.assign(user=good["user"] + "\u00e9").to_csv(index=False).encode("latin-1"))
    (d / "items_latin1.csv").write_bytes(meta.assign(name=meta["name"] + " caf\u00e9").to_csv(index=False).encode("latin-1"))
    (d / "null_users.jsonl").write_text("".join(json.dumps({"user": None, "items": i}) + "\n" for i in by_user), encoding="utf-8")
    (d / "record_items.jsonl").write_text(json.dumps({"user": "u", "items": [{"id": 1}, {"id": 2}]}) + "\n", encoding="utf-8")
    (d / "array.jsonl").write_text("[1, 2, 3]\n", encoding="utf-8")
    (d / "items_empty.csv").write_bytes(b"")
    (d / "items_folder.csv").mkdir()
    meta.assign(genres=[["a", str(c)] for c in meta["community"]]).to_parquet(d / "items_lists.parquet")
    return d


@dataclass(frozen=True)
class Case:
    kind: str  # the class of the issue it belongs to
    args: tuple[str, ...]  # "{d}" is the inputs folder, "{tmp}" the case's own folder
    problem: str  # what the error line must name...
    fix: str  # ...and what it must tell the user to change
    setup: str | None = None  # what to prepare in {tmp} first
    out: bool = True  # add --out {tmp}/out (unless the args name their own)


def case(kind, args, problem, fix, setup=None, out=True):
    return pytest.param(Case(kind, tuple(args), problem, fix, setup, out), id=f"{kind}:{problem[:40]}")


GOOD = "{d}/good.csv"
CASES = [
    # 1. the output folder: refused before any work
    case("out", [GOOD, "--out", "{tmp}/a_file"], "exists and is not a folder", "choose another --out", "file"),
    case("out", [GOOD, "--out", "{tmp}/a_file/sub/out"], "is a file, not a folder", "choose another --out", "file"),
    case("out", [GOOD, "--out", "{tmp}/out"], "holds a folder named 'layout.csv'", "move it", "folder_named_like_ours"),
    case("out", [GOOD, "--out", "{tmp}/out"], "is read-only for you", "make it writable", "read_only"),
    case("out", [GOOD, "--out", "{tmp}/new/out"], "cannot be made: the folder '{tmp}' is read-only", "choose a writable --out", "read_only_parent"),
    case("out", [GOOD], "no output folder", "add --out DIR", out=False),
    # 2. every value validated, NaN and infinity included
    case("value", [GOOD, "--min-dist", "nan"], "--min-dist must be a finite number", "between 0.0 and 10.0"),
    case("value", [GOOD, "--spread", "inf"], "--spread must be a finite number", "between 0.01 and 100.0"),
    case("value", [GOOD, "--perplexity", "nan"], "--perplexity must be a finite number", "between 1.0 and 500.0"),
    case("value", [GOOD, "--early-exaggeration=-inf"], "--early-exaggeration must be a finite number", "between 1.0 and 100.0"),
    case("value", [GOOD, "--dof", "nan"], "--dof must be a finite number", "between 0.05 and 100.0"),
    case("value", [GOOD, "--repulsive-fraction", "nan"], "--repulsive-fraction must be a finite number", "between 0.0 and 100.0"),
    case("value", [GOOD, "--min-count", "inf"], "--min-count must be a finite number", "at least 0"),
    case("value", [GOOD, "--min-weight", "nan"], "--min-weight must be a finite number", "got nan"),
    case("value", [GOOD, "--seed", "-1"], "seed must be a whole number from 0 to 4294967295", "choose a seed in that range"),
    case("value", [GOOD, "--seed", "1234567890123456789012345"], "seed must be a whole number", "choose a seed in that range"),
    case("value", [GOOD, "--seed", "1.5"], "--seed must be a whole number", "got '1.5'"),
    case("value", [GOOD, "--embedding-dim", "1"], "--embedding-dim must be between 2 and 64", "got 1"),
    case("value", [GOOD, "--min-dist", "2", "--spread", "1"], "min_dist (2.0) must not exceed spread", "lower min_dist or raise spread"),
    case("value", [GOOD, "--n-neighbors", "0"], "--n-neighbors must be between 1 and 4096", "got 0"),
    case("value", [GOOD, "--min-weight", "lots"], "--min-weight must be a number", "got 'lots'"),
    case("value", [GOOD, "--weighting", "tfidf"], "Unsupported value 'tfidf' for --weighting", "the supported values are 'count'"),
    case("value", [GOOD, "--min-item-users", "100000"], "no interactions are left after filtering", "lower"),
    # 3. inputs with no usable rows, or values of the wrong shape
    case("shape", ["{d}/empty.parquet"], "holds no interactions (no data rows)", "one (user, item) pair per row"),
    case("shape", ["{d}/zero.csv"], "is empty", "one interaction per line"),
    case("shape", ["{d}/header_only.csv"], "holds no interactions (no data rows)", "one (user, item) pair per row"),
    case("shape", ["{d}/no_items.csv"], "its column 'item' is empty", "choose another with --item-col"),
    case("shape", ["{d}/all_inf.csv"], "weight column 'plays' holds", "replace them with finite numbers"),
    case("shape", ["{d}/one_inf.csv"], "holds 1 infinite or too large values", "replace them with finite numbers"),
    case("shape", ["{d}/list_items.parquet"], "column 'item' (items) of 'list_items.parquet' holds lists", "--item-col"),
    case("shape", ["{d}/struct_users.parquet"], "column 'user' (users) of 'struct_users.parquet' holds lists or records", "--user-col"),
    case("shape", ["{d}/list_weights.parquet", "--weight-col", "plays"], "weight column 'plays' holds lists", "choose a numeric column"),
    case("shape", ["{d}/latin1.txt"], "input file 'latin1.txt' is not UTF-8 text", "re-save it as UTF-8"),
    case("shape", ["{d}/latin1.jsonl"], "input file 'latin1.jsonl' is not UTF-8 text", "re-save it as UTF-8"),
    case("shape", ["{d}/latin1.csv"], "input file 'latin1.csv' is not UTF-8 text", "re-save it as UTF-8"),
    case("shape", [GOOD, "--items", "{d}/items_latin1.csv"], "item metadata file 'items_latin1.csv' is not UTF-8", "re-save it as UTF-8"),
    case("shape", ["{d}/record_items.jsonl"], 'the item {"id": 1} is not an id', 'write each profile as {"user"'),
    case("shape", ["{d}/array.jsonl"], "line 1 is not a JSON object", 'expected {"user": ..., "items": [...]}'),
    case("shape", ["{d}/damaged.parquet"], "cannot read input file 'damaged.parquet'", "check the file format"),
    case("shape", ["{d}/truncated.csv.gz"], "cannot read input file 'truncated.csv.gz'", "check the file format"),
    case("shape", ["{d}/sheet.xlsx"], "unsupported file type .xlsx", "use one of .csv"),
    case("shape", ["{d}/missing.csv"], "input file '{d}/missing.csv' does not exist", "check the INPUT path"),
    case("shape", [GOOD, "--weight-col", "item"], "weight column 'item' holds non-numeric values", "choose a numeric column"),
    case("shape", [GOOD, "--user-col", "nobody"], "column 'nobody' (users) is not in the file", "Fix --user-col"),
    case("shape", [GOOD, "--items", "{d}/nothing.csv"], "item metadata file '{d}/nothing.csv' does not exist", "check the --items path"),
    case("shape", [GOOD, "--items", "{d}/items_folder.csv"], "item metadata file '{d}/items_folder.csv' is a folder", "give the file itself"),
    case("shape", [GOOD, "--items", "{d}/items_empty.csv"], "item metadata file '{d}/items_empty.csv' is empty", "a header and one item"),
    case("shape", [GOOD, "--items", "{d}/items.csv", "--items-id-col", "nope"], "is not in the item metadata file 'items.csv'", "Fix --items-id-col"),
    case("shape", [GOOD, "--items", "{d}/items_lists.parquet", "--label-col", "genres"], "label column 'genres' holds lists", "pick a column with a single value"),
    case("shape", [GOOD, "--items", "{d}/items.csv", "--label-col", "nope"], "label column 'nope' is not in the item metadata", "pick one of its columns"),
    # 4. no missing value becomes an item or a user
    case("missing", ["{d}/null_users.jsonl"], "holds no usable interactions", "misses a user id, an item id or a weight"),
    case("missing", ["{d}/every_row_misses_an_id.csv"], "each of its", "check the file and the --user-col/--item-col"),
]
CLASSES = collections.Counter(c.values[0].kind for c in CASES)


@pytest.fixture(scope="module")
def previous_build(tmp_path_factory, built, planted) -> Path:
    """A good earlier export with its page, plus a file of the user's, to copy into each case."""
    folder = tmp_path_factory.mktemp("previous") / "out"
    export_layout(folder, built, planted, page=True)
    (folder / FOREIGN).write_text("mine, not atlas's\n", encoding="utf-8")
    return folder


def prepare(setup: str | None, tmp: Path, monkeypatch) -> None:
    if setup == "file":
        (tmp / "a_file").write_text("a file where a folder was expected\n", encoding="utf-8")
    elif setup == "folder_named_like_ours":
        (tmp / "out" / "layout.csv").unlink()
        (tmp / "out" / "layout.csv").mkdir()
    elif setup in ("read_only", "read_only_parent"):  # root ignores permission bits: answer as a read-only mount would
        target = tmp / "out" if setup == "read_only" else tmp
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == target and mode & os.W_OK else real_access(p, mode, **kw))


def test_the_table_covers_every_class_with_forty_cases_or_more():
    assert len(CASES) >= 40 and set(CLASSES) == {"out", "value", "shape", "missing"}


@pytest.mark.parametrize("bad", CASES)
def test_bad_input_stops_with_one_line_and_leaves_the_folder_as_it_was(bad, files, previous_build, tmp_path, capsys, monkeypatch):
    shutil.copytree(previous_build, tmp_path / "out")
    prepare(bad.setup, tmp_path, monkeypatch)
    before = tree(tmp_path)
    args = [a.replace("{d}", str(files)).replace("{tmp}", str(tmp_path)) for a in bad.args]
    out = ["--out", str(tmp_path / "out")] if bad.out and "--out" not in args else []
    with warnings.catch_warnings(record=True) as warned:  # a warning would print above the error line
        warnings.simplefilter("always")
        status = exit_status(["build", *FAST, *args, *out])
    err = capsys.readouterr().err
    assert [str(w.message) for w in warned] == []
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    if not errors[0].startswith("atlas build: error:"):  # argparse's usage block may stand above its line
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert bad.problem.replace("{d}", str(files)).replace("{tmp}", str(tmp_path)) in errors[0] and bad.fix in errors[0], errors[0]
    assert tree(tmp_path) == before


@pytest.mark.parametrize("bad", [c for c in CASES if c.values[0].kind == "out"])
def test_an_unwritable_out_is_refused_before_the_data_is_read(bad, files, previous_build, tmp_path, capsys, monkeypatch):
    shutil.copytree(previous_build, tmp_path / "out")
    prepare(bad.setup, tmp_path, monkeypatch)

    def must_not_load(*args, **kwargs):
        raise AssertionError("the data was read before the output folder was checked")

    monkeypatch.setattr("atlas.ingest.load_dataset", must_not_load)
    monkeypatch.setattr("atlas.sources.Source.load", must_not_load)
    args = [a.replace("{d}", str(files)).replace("{tmp}", str(tmp_path)) for a in bad.args]
    assert exit_status(["build", *FAST, *args]) == 2
    assert capsys.readouterr().err.startswith("error: ")


# -- faults during the export: a failure or an interrupt at any step leaves the folder as it was --

class Faults:
    """Counts the calls that write or move export files; makes call number ``at`` fail with ``fault``."""

    TARGETS = [
        (os, "replace"), (os, "mkdir"), (tempfile, "mkdtemp"), (pd.DataFrame, "to_csv"), (pd.DataFrame, "to_parquet"),
        (Path, "write_text"), (atlas.web.html, "render_page"),
    ]

    def __init__(self, monkeypatch, at: int | None = None, fault: str = "oserror") -> None:
        self.calls: list[str] = []
        self.at, self.fault = at, fault
        for owner, name in self.TARGETS:
            monkeypatch.setattr(owner, name, self.wrap(getattr(owner, name), name))

    def wrap(self, real, name):
        def step(*args, **kwargs):
            self.calls.append(name)
            if len(self.calls) - 1 == self.at:
                if self.fault == "oserror":
                    raise OSError(28, "No space left on device")
                if self.fault == "interrupt":
                    raise KeyboardInterrupt
                signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, arriving during this step
            return real(*args, **kwargs)

        return step


def export_steps(monkeypatch, out: Path, built, planted, page: bool) -> list[str]:
    with monkeypatch.context() as m:
        faults = Faults(m)
        export_layout(out, built, planted, page=page)
    return faults.calls


@pytest.mark.parametrize(
    "scenario,page,fault",
    [
        ("over an earlier build", True, "oserror"),
        ("over an earlier build", True, "interrupt"),
        ("over an earlier build", True, "signal"),
        ("over an earlier build", False, "interrupt"),
        ("into a new folder", True, "oserror"),
        ("into a new folder", True, "interrupt"),
        ("beside read-only files", True, "interrupt"),  # staged inside the output folder itself
    ],
)
def test_a_fault_at_any_step_of_the_export_leaves_the_folder_as_it_was(scenario, page, fault, tmp_path, previous_build, built, planted, monkeypatch, request):
    if fault == "signal":
        # Python turns SIGINT into KeyboardInterrupt only when it did not start with SIGINT ignored,
        # as a process started in the background by a non-interactive shell does (CI, nohup …&).
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    if scenario == "beside read-only files":  # root ignores permission bits: answer as for a read-only parent
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p).parent == tmp_path and mode & os.W_OK else real_access(p, mode, **kw))

    def fresh(root: Path) -> Path:
        root.mkdir()
        if scenario == "into a new folder":
            (root / FOREIGN).write_text("beside the output\n", encoding="utf-8")
            return root / "new" / "out"
        shutil.copytree(previous_build, root / "out")
        return root / "out"

    probe = fresh(tmp_path / "probe")
    steps = export_steps(monkeypatch, probe, built, planted, page)
    assert steps.count("replace") >= len(FILES) + (1 if page else 0)  # every new file is moved in, one by one
    ours = {*FILES, "atlas.html"} if page else set(FILES)
    assert {p.name for p in probe.iterdir()} == (ours if scenario == "into a new folder" else {*ours, FOREIGN})
    assert [p.name for p in probe.parent.iterdir()] == ["out"]  # nothing staged is left beside it
    for at, name in enumerate(steps):
        root = tmp_path / f"step{at}"
        out = fresh(root)
        before = tree(root)
        with monkeypatch.context() as m:
            Faults(m, at, fault)
            expected = pytest.raises(atlas.AtlasError, match=r"cannot write the export .*No space left") if fault == "oserror" else pytest.raises(KeyboardInterrupt)
            with expected:
                export_layout(out, built, planted, page=page)
        assert tree(root) == before, f"step {at} ({name}) changed the folder"


def test_a_successful_export_replaces_only_our_files(tmp_path, previous_build, built, planted):
    shutil.copytree(previous_build, tmp_path / "out")
    old = tree(tmp_path / "out")
    paths = export_layout(tmp_path / "out", built, planted, projection="tsne", page=False)
    assert sorted(p.name for p in paths.values()) == sorted(FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or backup folder left beside it
    now = tree(tmp_path / "out")
    assert sorted(now) == sorted([*FILES, FOREIGN]) and now[FOREIGN] == old[FOREIGN]  # the old page went with the swap
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["projection"] == "tsne"


def test_a_failing_page_in_the_cli_leaves_the_folder_as_it_was(files, previous_build, tmp_path, capsys, monkeypatch):
    shutil.copytree(previous_build, tmp_path / "out")
    before = tree(tmp_path)

    def broken_page(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atlas.web.html, "render_page", broken_page)
    assert exit_status(["build", *FAST, f"{files}/good.csv", "--out", str(tmp_path / "out"), "--html"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the export") and len(err.splitlines()) == 1
    assert tree(tmp_path) == before


def test_an_interrupt_while_swapping_in_the_cli_exits_130(files, previous_build, tmp_path, capsys, monkeypatch):
    shutil.copytree(previous_build, tmp_path / "out")
    before = tree(tmp_path)
    real_replace = os.replace
    interrupted = []

    def last_move_interrupted(src, dst):
        if Path(dst) == tmp_path / "out" / "manifest.json" and not interrupted:
            interrupted.append(dst)
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", last_move_interrupted)
    assert exit_status(["build", *FAST, f"{files}/good.csv", "--out", str(tmp_path / "out"), "--html"]) == 130
    assert capsys.readouterr().err == "error: interrupted; nothing was written.\n"
    assert tree(tmp_path) == before


def test_sigint_during_a_real_build_exits_130_and_writes_nothing(tmp_path, previous_build):
    data = atlas.synthetic_profiles(3000, 800, n_communities=8, seed=5)
    inter = data.interactions
    pd.DataFrame({"user": inter.user_ids[inter.user], "item": inter.item_ids[inter.item]}).to_csv(tmp_path / "plays.csv", index=False)
    shutil.copytree(previous_build, tmp_path / "out")
    before = tree(tmp_path / "out")
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "atlas.cli", "build", str(tmp_path / "plays.csv"), "--out", str(tmp_path / "out"),
         "--cache-dir", str(cache), "--quiet", "--html", "--max-iter", "2000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(cache.glob("atlas-profiles-*.npz")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the first stage is done: the build is under way
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr == "error: interrupted; nothing was written.\n" and stdout == ""
    assert tree(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out", "plays.csv"]



def test_sigint_while_the_layouts_run_side_by_side_stops_at_once(tmp_path):
    """Ctrl-C reaches the build while UMAP and t-SNE run in threads of their own: it exits with 130
    at once, without waiting for the layouts (long ones here) to finish."""
    data = atlas.synthetic_profiles(3000, 800, n_communities=8, seed=5)
    inter = data.interactions
    pd.DataFrame({"user": inter.user_ids[inter.user], "item": inter.item_ids[inter.item]}).to_csv(tmp_path / "plays.csv", index=False)
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "ATLAS_THREADS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "atlas.cli", "build", str(tmp_path / "plays.csv"), "--out", str(tmp_path / "out"),
         "--cache-dir", str(cache), "--quiet", "--compare", "umap,tsne", "--umap-epochs", "100000", "--tsne-iter", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not list(cache.glob("atlas-neighbors-*.npz")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the neighbours are found: the layouts start
        time.sleep(3)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        stdout, stderr = proc.communicate(timeout=300)
        waited = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr == "error: interrupted; nothing was written.\n"
    assert waited < 30, f"the build took {waited:.0f} s to stop after Ctrl-C"  # each layout alone runs for minutes
    assert not (tmp_path / "out").exists()

def test_an_interrupted_build_leaves_at_once_while_its_layouts_still_run(monkeypatch):
    """With layouts still running in their threads after a Ctrl-C, the CLI exits with 130 at once
    (the interpreter's shutdown could tear their compiled code's thread pools down under them and
    abort the process); with none running it returns as usual."""
    from atlas import cli
    from atlas.buildstage import STAGE_THREAD_PREFIX

    left = []
    monkeypatch.setattr(cli.os, "_exit", left.append)
    cli._leave_if_stages_run(130)
    assert left == []
    release = threading.Event()
    lane = threading.Thread(target=release.wait, name=f"{STAGE_THREAD_PREFIX}0", daemon=True)
    lane.start()
    try:
        cli._leave_if_stages_run(130)
    finally:
        release.set()
        lane.join(5)
    assert left == [130]


# -- the Python API and the app make the same parameter objects, so they get the same checks --

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: atlas.UmapParams(min_dist=NAN), r"UMAP min_dist must be a finite number \(between 0.0 and 10.0\), got nan"),
        (lambda: atlas.UmapParams(n_epochs=INF), "UMAP n_epochs must be a finite number"),
        (lambda: atlas.TsneParams(perplexity=NAN), "t-SNE perplexity must be a finite number"),
        (lambda: atlas.TsneParams(learning_rate=INF), "t-SNE learning_rate must be a finite number"),
        (lambda: atlas.EmbedParams(repulsive_fraction=NAN), "repulsive_fraction must be a finite number"),
        (lambda: atlas.EmbedParams(embedding_dim=1), "embedding_dim must be between 2 and 64, got 1"),
        (lambda: atlas.CooccurrenceParams(min_count=INF), r"min_count must be a finite number \(at least 0\), got inf"),
        (lambda: atlas.FilterParams(min_weight=NAN), "min_weight must be a finite number, got nan"),
        (lambda: atlas.FilterParams(min_item_users="3"), r"min_item_users must be a number \(at least 1\), got '3'"),
        (lambda: atlas.FilterParams(seed=-1), "seed must be a whole number from 0 to 4294967295, got -1"),
        (lambda: atlas.EmbedParams(seed=2**32), "seed must be a whole number from 0 to 4294967295"),
        (lambda: atlas.UmapParams(seed=1.5), "seed must be a whole number"),
        (lambda: atlas.TsneParams(seed=True), "seed must be a whole number"),
    ],
)
def test_parameter_objects_refuse_what_the_cli_refuses(make, message):
    with pytest.raises(atlas.AtlasError, match=message):
        make()


def test_the_largest_seed_is_accepted_by_every_stage(planted, small_params):
    seed = 2**32 - 1
    params = atlas.BuildParams(
        filter=dataclasses.replace(small_params.filter, seed=seed, max_user_items=10),
        graph=small_params.graph,
        embed=dataclasses.replace(small_params.embed, seed=seed, max_iter=30),
        projections=(
            dataclasses.replace(small_params.projection("umap"), seed=seed, n_epochs=20),
            dataclasses.replace(small_params.projection("tsne"), seed=seed, n_iter=20),
            atlas.PacmapParams(seed=seed, n_iter=210),
            atlas.PymdeParams(seed=seed),
        ),
    )
    result = atlas.Pipeline().build(planted, params)
    assert all(np.isfinite(layout.xy).all() for layout in result.layouts.values())


def test_odd_but_legitimate_input_builds_from_the_cli(tmp_path, planted, capsys):
    """gzip, a byte-order mark, CRLF line ends, ids with commas, quotes, line breaks, emoji and RTL text."""
    inter = planted.interactions
    odd = np.array([f'\u05e9\u05dc\u05d5\u05dd, "{i}"\n\U0001f3b8' for i in inter.item_ids], dtype=object)
    frame = pd.DataFrame({"user": inter.user_ids[inter.user], "item": odd[inter.item], "plays": inter.weight})
    with gzip.open(tmp_path / "plays.csv.gz", "wb") as f:
        f.write(b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8"))
    assert main(["build", *FAST, str(tmp_path / "plays.csv.gz"), "--out", str(tmp_path / "out"), "--html"]) == 0
    layout = pd.read_parquet(tmp_path / "out" / "layout.parquet")
    assert set(layout["item_id"]) <= set(odd) and len(layout) > 100
    assert capsys.readouterr().err == ""
