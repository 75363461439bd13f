"""The app server reads a dataset once for all its sessions, and again when its files change."""

from __future__ import annotations

import os

import pytest

import atlas
from atlas.app import loaded


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(loaded, "_DATASETS", loaded.Recent(loaded.KEPT))


def _plays(path, rows):
    path.write_text("user,item\n" + "".join(f"u{u},i{i}\n" for u, i in rows))


def test_a_second_session_on_unchanged_files_gets_the_dataset_read_before(tmp_path):
    plays = tmp_path / "plays.csv"
    _plays(plays, [(u, i) for u in range(6) for i in range(4)])
    reads = []

    def read(source):
        reads.append(source)
        return source.load()

    source = atlas.Source(input=str(plays))
    first = loaded.shared_load(source, lambda: read(source))
    again = loaded.shared_load(atlas.Source(input=str(plays)), lambda: read(source))
    assert again is first and len(reads) == 1
    assert first.interactions.n_items == 4

    _plays(plays, [(u, i) for u in range(6) for i in range(5)])  # the file changed: another size
    changed = loaded.shared_load(source, lambda: read(source))
    assert changed is not first and changed.interactions.n_items == 5 and len(reads) == 2
    assert loaded.shared_load(atlas.Source(input=str(plays), user_col="user"), lambda: read(source)) is not changed  # other choices


def test_a_file_rewritten_with_the_same_size_is_read_again(tmp_path):
    plays = tmp_path / "plays.csv"
    _plays(plays, [(1, 1), (2, 2)])
    source = atlas.Source(input=str(plays))
    first = loaded.shared_load(source, source.load)
    _plays(plays, [(1, 2), (2, 1)])  # same bytes long, other pairs
    stat = plays.stat()
    os.utime(plays, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert loaded.shared_load(source, source.load) is not first


def test_a_folder_is_read_again_when_a_file_is_added(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    _plays(folder / "a.csv", [(u, 1) for u in range(3)])
    before = loaded.file_state(str(folder))
    _plays(folder / "b.csv", [(u, 2) for u in range(3)])
    assert loaded.file_state(str(folder)) != before
    assert loaded.file_state(str(tmp_path / "nowhere.csv")) == ("missing",)


def test_a_failed_read_is_not_kept(tmp_path):
    plays = tmp_path / "plays.csv"
    _plays(plays, [(1, 1), (2, 1)])
    source = atlas.Source(input=str(plays))
    tries = []

    def flaky():  # the same files, a read that fails once (a disk hiccup, memory)
        tries.append(1)
        if len(tries) == 1:
            raise atlas.AtlasError("could not read plays.csv")
        return source.load()

    with pytest.raises(atlas.AtlasError):
        loaded.shared_load(source, flaky)
    assert loaded.shared_load(source, flaky).interactions.n_items == 1 and len(tries) == 2
