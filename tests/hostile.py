"""The harness of the hostile-file tables (``test_hostile*.py``): a world of files someone else
could hand over, one case per file, and the checks every case gets.

Each case copies the world (an input, an earlier export, a stage cache with files of the user's
beside its entries, a candidates file and a folder of the user's) into its own folder, edits one
file there, and runs ``atlas.cli.main`` in-process from inside it. It then checks the exit
status, the one ``error:`` line (the last line of stderr, and the only one that says error),
that nothing outside ``--out`` changed (every file and folder of the world hashed before and
after, symlinks by their target), that no code ran (payloads touch ``RAN`` in the world, which
must not exist), and that a refused command wrote no ``--out`` at all.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from test_bad_input import exit_status

from atlas.cli import main

#: A small build that takes well under a second once numba has compiled.
FLAGS = ("--min-item-users", "3", "--min-user-items", "2", "--n-neighbors", "8", "--perplexity", "10", "--tsne-iter", "250",
         "--projection", "tsne", "--no-compare", "--quiet")
OUT = "new"  # the case's --out, inside its world
MARKER = "RAN"  # what a payload would leave in the world


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]  # "{w}" is the case's world; "--out {w}/new" is added unless given
    code: int  # the exit status
    line: str = ""  # the start of the last line of stderr ("{w}" as above); "" for a clean stderr
    edit: Callable[[Path], None] | None = None  # what to do to the world first
    env: dict = field(default_factory=dict)
    changes: tuple[str, ...] = ()  # folders of the world the command may legitimately write (a cache it was given)
    check: Callable[[Path, str, str], None] | None = None  # more checks after a run: (world, stdout, stderr)


def case(kind: str, name: str, argv, code: int, line: str = "", edit=None, env=None, changes=(), check=None):
    return pytest.param(Case(tuple(argv), code, line, edit, dict(env or {}), tuple(changes), check), id=f"{kind}:{name}")


class Payload:
    """Unpickling it runs a shell command that leaves ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def set_at(node: dict, keys: tuple, value=None, delete: bool = False) -> None:
    """Set (or delete) ``node[keys[0]][keys[1]]…`` in a parsed JSON document."""
    for key in keys[:-1]:
        node = node[key]
    if delete:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


def payload(world: Path) -> bytes:
    return pickle.dumps(Payload(world / MARKER))


def snapshot(root: Path, skip: tuple[str, ...]) -> dict[str, str]:
    """Every entry under ``root`` (sha256 of files, symlinks by target) but those under ``skip``."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in skip:
            continue
        if path.is_symlink():
            found[str(rel)] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[str(rel)] = "<folder>"
        else:
            found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def make_origin(root: Path, planted) -> Path:
    """The world every case starts from (built once per module)."""
    from atlas.cache import ENTRY

    inputs = root / "inputs"
    inputs.mkdir(parents=True)
    inter = planted.interactions
    pd.DataFrame({"user": "user " + inter.user_ids[inter.user], "item": "item " + inter.item_ids[inter.item], "plays": inter.weight}).to_csv(
        inputs / "good.csv", index=False
    )
    meta = planted.items.reset_index()
    meta["item_id"] = "item " + meta["item_id"]
    meta.to_csv(inputs / "items.csv", index=False)
    good = str(inputs / "good.csv")
    assert main(["build", good, *FLAGS, "--out", str(root / "old"), "--no-cache"]) == 0
    assert main(["build", good, *FLAGS, "--out", str(root / "scratch"), "--cache-dir", str(root / "cache")]) == 0
    shutil.rmtree(root / "scratch")
    assert len([p for p in (root / "cache").iterdir() if ENTRY.match(p.name)]) >= 5
    assert main(["candidates", good, "--min-item-users", "3", "--min-user-items", "2", "--n-candidates", "16", "--out", str(root / "cands.parquet"),
                 "--no-cache", "--quiet"]) == 0  # fmt: skip
    (root / "cache" / "notes.txt").write_text("the user's notes, beside the cache\n", encoding="utf-8")
    (root / "cache" / "model.pkl").write_bytes(payload(root))  # re-pickled with the case's own marker below
    (root / "neighbour").mkdir()
    (root / "neighbour" / "keep.txt").write_text("a file of the user's\n", encoding="utf-8")
    return root


def world_of(origin: Path, tmp_path: Path) -> Path:
    world = tmp_path / "w"
    shutil.copytree(origin, world, symlinks=True)
    (world / "cache" / "model.pkl").write_bytes(payload(world))
    return world


def run_case(bad: Case, origin: Path, tmp_path: Path, capsys, monkeypatch) -> tuple[Path, str, str]:
    """Run one case with every check; returns (world, stdout, stderr)."""
    world = world_of(origin, tmp_path)
    monkeypatch.chdir(world)  # a payload or a stray relative path lands in the world, where it is seen
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the default cache, outside the world
    for key, value in bad.env.items():
        monkeypatch.setenv(key, value)
    if bad.edit is not None:
        bad.edit(world)
    capsys.readouterr()
    skip = (OUT, *bad.changes)
    before = snapshot(world, skip)
    kept = {p.name: p.read_bytes() for p in (world / "cache").iterdir() if p.is_file() and not p.name.startswith("atlas-")} if "cache" in bad.changes else {}
    argv = [a.replace("{w}", str(world)) for a in bad.argv]
    if "--out" not in argv and argv[0] in ("build", "rebuild"):
        argv += ["--out", str(world / OUT)]
    status = exit_status(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert status == bad.code, err
    lines = [line for line in err.splitlines() if line.strip()]
    if bad.code == 0:
        assert not any("error" in line for line in lines), err
    else:
        assert lines and lines[-1].startswith(bad.line.replace("{w}", str(world))), err
        assert [line for line in lines if "error:" in line] == [lines[-1]], err
        assert not (world / OUT).exists(), "a refused command left an output folder"
    if bad.code == 0 and bad.line:
        assert any(line.startswith(bad.line.replace("{w}", str(world))) for line in lines), err
    assert not (world / MARKER).exists(), "code from a file ran"
    assert snapshot(world, skip) == before, "something outside --out changed"
    for name, data in kept.items():  # the user's files beside the cache entries, byte for byte
        assert (world / "cache" / name).read_bytes() == data, name
    if bad.check is not None:
        bad.check(world, out, err)
    return world, out, err
