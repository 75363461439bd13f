"""atlas.app.access: what a served app may read and write, and who counts as a visitor
from another computer."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import atlas.app
from atlas.app.access import Access, is_loopback, request_is_remote, visitor_access
from atlas.errors import AtlasError


def tree_of(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture()
def served(tmp_path):
    """A data root with a file and a symlink that leads out of it, beside an outside folder
    with a secret file: (root, outside)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    (root / "data" / "plays.csv").write_text("user,item\n1,2\n")
    (outside / "secret.csv").write_text("user,item\nsecret,secret\n")
    (root / "data" / "leak.csv").symlink_to(outside / "secret.csv")
    (root / "exports").symlink_to(outside, target_is_directory=True)
    return root, outside


# ---------------------------------------------------------------------------------------------
# The policy object
# ---------------------------------------------------------------------------------------------


def test_a_root_is_resolved_and_must_exist(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert Access("root", tmp_path / "alias").root == (tmp_path / "real").resolve()
    with pytest.raises(AtlasError, match="does not exist; create the folder"):
        Access("root", tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(AtlasError, match="is not a folder"):
        Access("root", tmp_path / "file.txt")
    with pytest.raises(AtlasError, match="--data-root needs a folder"):
        Access("root")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "open"}, "Unsupported value 'open' for the access mode"),
        ({"mode": "uploads-only", "root": Path("/tmp")}, "a data root goes only with the 'root' mode"),
        ({"max_upload_mb": 0}, "--max-upload-mb must be a positive number"),
    ],
)
def test_bad_policies_are_refused(kwargs, message):
    with pytest.raises(AtlasError, match=message):
        Access(**kwargs)


def test_settings_choose_the_mode(tmp_path):
    assert Access.from_settings(atlas.app.app_settings({})).mode == "local"
    assert Access.from_settings(atlas.app.app_settings({"data-root": str(tmp_path)})) == Access("root", tmp_path)
    uploads = Access.from_settings(atlas.app.app_settings({"uploads-only": "", "max-upload-mb": 2.5}))
    assert (uploads.mode, uploads.max_upload_bytes, uploads.reads_paths, uploads.takes_uploads) == ("uploads-only", 2_500_000, False, True)
    with pytest.raises(AtlasError, match="give --data-root or --uploads-only, not both"):
        Access.from_settings(atlas.app.app_settings({"data-root": str(tmp_path), "uploads-only": ""}))


# ---------------------------------------------------------------------------------------------
# Reads and writes under a data root: every escape is refused
# ---------------------------------------------------------------------------------------------


def test_paths_inside_the_root_are_read_relative_to_it(served):
    root, _ = served
    access = Access("root", root)
    assert access.resolve_read("data/plays.csv") == str(root.resolve() / "data" / "plays.csv")
    assert access.resolve_read(str(root / "data" / "plays.csv")) == str(root.resolve() / "data" / "plays.csv")
    assert access.resolve_read("data/../data/plays.csv") == str(root.resolve() / "data" / "plays.csv")
    assert access.resolve_read("  ") is None
    with pytest.raises(AtlasError, match="no file 'data/missing.csv' inside the data root"):
        access.resolve_read("data/missing.csv")


@pytest.mark.parametrize(
    "escape",
    ["../../etc/passwd", "../outside/secret.csv", "/etc/passwd", "OUTSIDE/secret.csv", "data/leak.csv", "exports/secret.csv"],
)
def test_reads_that_leave_the_root_are_refused(served, escape):
    root, outside = served
    escape = escape.replace("OUTSIDE", str(outside))
    with pytest.raises(AtlasError, match="lies outside the data root .*; give a path inside it"):
        Access("root", root).resolve_read(escape)


def test_a_missing_file_outside_the_root_is_refused_like_an_existing_one(served):
    """The message must not tell a visitor which files exist outside the root."""
    root, outside = served
    with pytest.raises(AtlasError, match="lies outside the data root"):
        Access("root", root).resolve_read(str(outside / "no such file.csv"))


@pytest.mark.parametrize("folder", ["../outside/atlas-out", "OUTSIDE/atlas-out", "exports", "exports/atlas-out", ".", "data/.."])
def test_export_folders_outside_the_root_or_the_root_itself_are_refused(served, folder):
    root, outside = served
    folder = folder.replace("OUTSIDE", str(outside))
    with pytest.raises(AtlasError, match="outside the data root|not the root itself"):
        Access("root", root).resolve_write(folder)


def test_export_folders_inside_the_root_resolve_there(served):
    root, _ = served
    access = Access("root", root)
    assert access.resolve_write("atlas-out") == root.resolve() / "atlas-out"
    assert access.resolve_write("data/maps/new") == root.resolve() / "data" / "maps" / "new"
    assert access.default_export_folder(None) == "atlas-out"
    assert access.default_export_folder(None, "movielens-umap") == str(Path("atlas-out", "movielens-umap"))  # relative to the root
    assert access.resolve_write(access.default_export_folder(None, "movielens-umap")) == root.resolve() / "atlas-out" / "movielens-umap"
    with pytest.raises(AtlasError, match="no export folder"):
        access.resolve_write("")


def test_a_refused_export_writes_nothing_and_an_allowed_one_stays_inside(served, built, planted):
    root, outside = served
    access = Access("root", root)
    before_outside, before_root = tree_of(outside), tree_of(root)
    for folder in ("../outside/atlas-out", "exports/atlas-out", str(outside / "atlas-out"), "."):
        with pytest.raises(AtlasError):
            atlas.app.export_with_page(access.resolve_write(folder), built, planted, projection="umap")
    assert tree_of(outside) == before_outside and tree_of(root) == before_root
    paths = atlas.app.export_with_page(access.resolve_write("maps/atlas-out"), built, planted, projection="umap")
    assert sorted(paths) == sorted(["layout.csv", "layout.parquet", "regions.parquet", "neighbors.parquet", "manifest.json", "atlas.html"])
    assert all(path.resolve().is_relative_to(root.resolve() / "maps" / "atlas-out") for path in paths.values())
    assert tree_of(root) - before_root == {"maps", "maps/atlas-out", *(f"maps/atlas-out/{name}" for name in paths)}
    assert tree_of(outside) == before_outside


# ---------------------------------------------------------------------------------------------
# Uploads-only, locked and local
# ---------------------------------------------------------------------------------------------


class Upload:
    def __init__(self, name: str, contents: bytes) -> None:
        self.name, self.contents = name, contents


@pytest.mark.parametrize("mode", ["uploads-only", "locked"])
def test_without_a_root_no_typed_path_is_read_or_written(mode, served):
    root, _ = served
    access = Access(mode)
    assert not access.reads_paths
    with pytest.raises(AtlasError, match="reads no typed paths"):
        access.resolve_read(str(root / "data" / "plays.csv"))
    with pytest.raises(AtlasError, match="writes no files on the server; use the download button"):
        access.resolve_write(str(root / "atlas-out"))


def test_uploads_are_capped_and_a_typed_path_is_ignored_without_paths(tmp_path):
    access = Access("uploads-only", max_upload_mb=0.001)  # 1,000 bytes
    saved = atlas.app.resolve_upload(None, [Upload("plays.csv", b"x" * 1000)], tmp_path, access=access)
    assert Path(saved).read_bytes() == b"x" * 1000
    with pytest.raises(AtlasError, match=r"'big.csv' is 0.0 MB, over this app's limit of 0.001 MB; upload a smaller file"):
        atlas.app.resolve_upload(None, [Upload("big.csv", b"x" * 1001)], tmp_path / "second", access=access)
    assert not (tmp_path / "second").exists()
    # no upload: the file named when the app was started, never a visitor's text
    assert atlas.app.resolve_upload("/etc/passwd", [], tmp_path, access=access, preset="plays.csv") == "plays.csv"
    assert atlas.app.resolve_upload(None, [], tmp_path, access=access) is None


@pytest.mark.parametrize("mode", ["local", "root"])
@pytest.mark.parametrize("typed", ["data/plays.csv\x00", "\x00", "data\x00/../../outside/secret.csv"])
def test_a_typed_path_with_a_nul_byte_gets_the_one_line_refusal(mode, typed, served):
    root, _ = served
    access = Access(mode, root if mode == "root" else None)
    shown = re.escape(repr(typed.strip()))
    with pytest.raises(AtlasError, match=f"^the path {shown} holds a NUL byte, which no file name can; type the path again.$"):
        access.resolve_read(typed)
    with pytest.raises(AtlasError, match=f"^the export folder {shown} holds a NUL byte"):
        access.resolve_write(typed)
    with pytest.raises(AtlasError, match=f"^the path {shown} holds a NUL byte"):
        atlas.app.resolve_upload(typed, [], root, access=access)
    with pytest.raises(AtlasError, match="^--data-root .* holds a NUL byte"):
        Access.from_settings({"data_root": str(root) + "\x00"})
    assert tree_of(root) == {"data", "data/plays.csv", "data/leak.csv", "exports"}


def test_local_use_reads_and_writes_paths_as_typed(tmp_path):
    access = Access()
    assert access.resolve_read(" ../plays.csv ") == "../plays.csv"
    assert access.resolve_write("~/atlas-out") == Path.home() / "atlas-out"
    assert access.default_export_folder(None) == str(Path.cwd() / "atlas-out")
    assert access.default_export_folder(None, "ratings-tsne") == str(Path.cwd() / "atlas-out" / "ratings-tsne")
    assert access.default_export_folder("/srv/maps", "ratings-tsne") == "/srv/maps"  # --out, as given


# ---------------------------------------------------------------------------------------------
# Visitors from another computer
# ---------------------------------------------------------------------------------------------


def request(host: str = "127.0.0.1:2718", **headers) -> dict:
    hostname = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    return {"url": {"hostname": hostname}, "headers": {"host": host, "origin": f"http://{host}", **headers}}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("app.localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.2", False), ("atlas.example.org", False), ("", False), (None, False)],
)  # fmt: skip
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_a_visitor_is_remote_through_a_proxy_or_another_address():
    assert request_is_remote(None) is False  # a script run
    assert request_is_remote(request()) is False
    assert request_is_remote(request("localhost:2718")) is False
    assert request_is_remote(request("[::1]:2718")) is False
    assert request_is_remote(request("192.0.2.2:2718")) is True
    assert request_is_remote(request(**{"X-Forwarded-For": "203.0.113.7"})) is True
    assert request_is_remote(request(forwarded="for=203.0.113.7")) is True
    proxied = request()
    proxied["headers"]["origin"] = "https://atlas.example.org"  # a proxy that keeps the browser's origin
    assert request_is_remote(proxied) is True
    assert request_is_remote({"url": {}, "headers": {}}) is True  # nothing to go by


def test_a_shared_app_without_a_policy_is_locked(tmp_path):
    local = atlas.app.app_settings({})
    assert visitor_access(local, request()).mode == "local"
    assert visitor_access(local, request("192.0.2.2:2718")).mode == "locked"
    assert visitor_access(local, None, listening=["0.0.0.0"]).mode == "locked"
    assert visitor_access(local, None, listening=["127.0.0.1", "::1"]).mode == "local"
    assert visitor_access(local, request(), listening=None).mode == "local"  # listening addresses unknown
    rooted = atlas.app.app_settings({"data-root": str(tmp_path)})
    assert visitor_access(rooted, request("192.0.2.2:2718"), listening=["0.0.0.0"]) == Access("root", tmp_path)
    problems = []
    broken = atlas.app.app_settings({"data-root": str(tmp_path / "missing")})
    assert visitor_access(broken, None, problems=problems).mode == "locked"
    assert problems and "does not exist" in problems[0]
    with pytest.raises(AtlasError, match="does not exist"):
        visitor_access(broken, None)


def test_this_process_listening_addresses_are_read():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        addresses = atlas.app.listening_addresses()
    assert addresses is not None and "127.0.0.1" in addresses


# ---------------------------------------------------------------------------------------------
# The download
# ---------------------------------------------------------------------------------------------


def test_the_download_zip_holds_the_export_and_the_page(built, planted, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    data = atlas.app.export_zip(built, planted, projection="tsne")
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = ["layout.csv", "layout.parquet", "regions.parquet", "neighbors.parquet", "manifest.json", "atlas.html"]
    assert sorted(archive.namelist()) == sorted(f"atlas-tsne/{name}" for name in names)
    layout = pd.read_csv(archive.open("atlas-tsne/layout.csv"))
    assert len(layout) == built.profiles.n_items
    assert '"projection": "tsne"' in archive.read("atlas-tsne/manifest.json").decode()
    assert archive.read("atlas-tsne/atlas.html").startswith(b"<!DOCTYPE html>")
    assert os.listdir(tmp_path) == []  # the scratch folder is gone
