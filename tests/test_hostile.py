"""Files from others, I: manifests that ``atlas rebuild`` reads and stage cache folders.

Each case is a file that someone else could hand over, run through the command line in-process
(see ``hostile.py`` for the world each case gets and the checks every case passes: the exit
status, the one error line, nothing outside ``--out`` changed, no code ran). The candidates
files, interaction files and earlier maps are in ``test_hostile_inputs.py``.
"""

from __future__ import annotations

import collections
import io
import json
import pickle

import numpy as np
import pytest
from hostile import FLAGS, MARKER, OUT, Payload, case, make_origin, payload, run_case, set_at

from atlas.cache import ENTRY, MARKER as CACHE_MARKER


@pytest.fixture(scope="module")
def origin(tmp_path_factory, planted):
    return make_origin(tmp_path_factory.mktemp("origin"), planted)


# -- 1. manifests: data, never a command line ------------------------------------------------------


def manifest(change):
    """An edit of the earlier export's manifest.json: ``change(manifest, world)`` in place."""

    def edit(world):
        path = world / "old" / "manifest.json"
        m = json.loads(path.read_text(encoding="utf-8"))
        change(m, world)
        path.write_text(json.dumps(m), encoding="utf-8")

    return edit


def manifest_text(make):
    """A manifest.json of other text: ``make(current text, world)``."""

    def edit(world):
        path = world / "old" / "manifest.json"
        made = make(path.read_text(encoding="utf-8"), world)
        path.write_bytes(made if isinstance(made, bytes) else made.encode("utf-8"))

    return edit


def at(*keys, value=None, delete=False):
    """Set (or delete) ``manifest[keys…]``."""

    def change(m, world):
        set_at(m, keys, value(world) if callable(value) else value, delete)

    return change


def added_words(*words):
    """The recorded argv and command, edited to add ``words`` ("{w}": the world)."""

    def change(m, world):
        extra = [w.replace("{w}", str(world)) for w in words]
        m["argv"] = [*m["argv"], *extra]
        m["command"] = " ".join([m["command"], *extra])

    return change


def shown_not_obeyed(world, out, err):
    assert "(as recorded; shown, not run)" in err and str(world / "evil") in err
    assert not (world / "evil").exists() and not (world / OUT / "atlas.html").exists()
    assert (world / OUT / "layout.csv").read_bytes() == (world / "old" / "layout.csv").read_bytes()


def spark(settings):
    """An engine that would start Spark as recorded (with PyMDE, which needs no profile matrix here)."""

    def change(m, world):
        conf = [c.replace("{w}", str(world)) for c in settings["conf"]]
        m["params"]["engine"] = {"name": "spark", "formulation": "blocks", "partitions": None, **settings, "conf": conf}
        m["params"]["embed"] = {"method": "pymde"}

    return change


def deep(text, world):
    return '{"atlas_manifest_version": 1, "params": ' + "[" * 100_000 + "]" * 100_000 + "}"


M = "error: {w}/old/manifest.json"
REBUILD = ("rebuild", "{w}/old", "--no-cache", "--quiet")
SHOWN = ("rebuild", "{w}/old")  # with the cache and the summary: an obeyed --cache-dir would be seen
MANIFESTS = [
    case("manifest", "argv adds --cache-dir", SHOWN, 0, "rebuilding: atlas build", manifest(added_words("--cache-dir", "{w}/evil")), check=shown_not_obeyed),
    case("manifest", "argv adds --out and --html", SHOWN, 0, "rebuilding: atlas build",
         manifest(added_words("--html", "--cache-dir", "{w}/evil", "--out", "{w}/neighbour")), check=shown_not_obeyed),
    case("manifest", "command runs a shell", SHOWN, 0, "rebuilding: atlas build",
         manifest(added_words("--cache-dir", "{w}/evil;", "touch", "{w}/RAN", "$(touch {w}/RAN)", "`touch {w}/RAN`")), check=shown_not_obeyed),
    case("manifest", "plan names an output", REBUILD, 2, M + " has unknown key(s) 'out' in input.source.plan", manifest(at("input", "source", "plan", "out", value="/tmp/x"))),
    case("manifest", "plan names a cache", REBUILD, 2, M + " has unknown key(s) 'cache_dir' in input.source.plan",
         manifest(at("input", "source", "plan", "cache_dir", value=lambda w: str(w / "evil")))),
    case("manifest", "unknown top key", REBUILD, 2, M + " holds unknown key(s) 'exec'", manifest(at("exec", value="touch RAN"))),
    case("manifest", "unknown input key", REBUILD, 2, M + " has unknown key(s) 'cache' in input", manifest(at("input", "cache", value="x"))),
    case("manifest", "unknown stage", REBUILD, 2, M + " has unknown key(s) 'shell' in params", manifest(at("params", "shell", value={}))),
    case("manifest", "newer version", REBUILD, 2, M + " has manifest version 2, newer than this atlas reads (1)", manifest(at("atlas_manifest_version", value=2))),
    case("manifest", "version as text", REBUILD, 2, M + " has no valid atlas_manifest_version (got '1')", manifest(at("atlas_manifest_version", value="1"))),
    case("manifest", "version as true", REBUILD, 2, M + " has no valid atlas_manifest_version (got True)", manifest(at("atlas_manifest_version", value=True))),
    case("manifest", "version 0", REBUILD, 2, M + " has manifest version 0", manifest(at("atlas_manifest_version", value=0))),
    case("manifest", "no version", REBUILD, 2, M + " has no valid atlas_manifest_version (got None)", manifest(at("atlas_manifest_version", delete=True))),
    case("manifest", "NaN literal", REBUILD, 2, M + " is not valid JSON (NaN is not JSON)",
         manifest_text(lambda t, w: t.replace('"min_weight": null', '"min_weight": NaN'))),
    case("manifest", "nested 100000 deep", REBUILD, 2, M + " is not valid JSON", manifest_text(deep)),
    case("manifest", "truncated", REBUILD, 2, M + " is not valid JSON", manifest_text(lambda t, w: t[: len(t) // 2])),
    case("manifest", "a list", REBUILD, 2, M + " is not a JSON object", manifest_text(lambda t, w: "[" + t + "]")),
    case("manifest", "not UTF-8", REBUILD, 2, "error: cannot read {w}/old/manifest.json", manifest_text(lambda t, w: t.encode().replace(b'"tsne"', b'"ts\xffne"', 1))),
    case("manifest", "missing", REBUILD, 2, "error: cannot read {w}/old/manifest.json", lambda w: (w / "old" / "manifest.json").unlink()),
    case("manifest", "no params", REBUILD, 2, M + " records no build parameters ('params')", manifest(at("params", delete=True))),
    case("manifest", "count as text", REBUILD, 2, M + ' has params.graph.n_neighbors = "8", not a int', manifest(at("params", "graph", "n_neighbors", value="8"))),
    case("manifest", "seed as a fraction", REBUILD, 2, M + " has params.filter.seed = 1.5, not a int", manifest(at("params", "filter", "seed", value=1.5))),
    case("manifest", "stage as a list", REBUILD, 2, M + " has params.graph that is a list, not an object", manifest(at("params", "graph", value=[]))),
    case("manifest", "count out of range", REBUILD, 2, M + ": params.graph: n_neighbors must be between 1 and 4096", manifest(at("params", "graph", "n_neighbors", value=-5))),
    case("manifest", "PyMDE's option on an SVD embedding", REBUILD, 2, M + " has unknown key(s) 'embedding_dim' in params.embed",
         manifest(at("params", "embed", "embedding_dim", value=4))),
    case("manifest", "unknown embedding", REBUILD, 2, M + " has params.embed of unknown method 'pickle'", manifest(at("params", "embed", "method", value="pickle"))),
    case("manifest", "UMAP's option on t-SNE", REBUILD, 2, M + " has unknown key(s) 'min_dist' in params.projections[0]",
         manifest(at("params", "projections", 0, "min_dist", value=0.1))),
    case("manifest", "unknown projection", REBUILD, 2, M + " has params.projections[0] of unknown method 'os.system'",
         manifest(at("params", "projections", 0, "method", value="os.system"))),
    case("manifest", "no projections", REBUILD, 2, M + " has no list of projections in params", manifest(at("params", "projections", value=[]))),
    case("manifest", "export not a name", REBUILD, 2, M + " has params.export that is not a projection name", manifest(at("params", "export", value=5))),
    case("manifest", "column as a number", REBUILD, 2, M + " has input.source.plan.user_col = 5, not a", manifest(at("input", "source", "plan", "user_col", value=5))),
    case("manifest", "input path with a NUL byte", REBUILD, 2, "error: input file '{w}/inputs/good.csv\\x00.txt' does not exist",
         manifest(at("input", "source", "plan", "input", value=lambda w: str(w / "inputs" / "good.csv\x00.txt")))),
    case("manifest", "Spark settings", REBUILD, 2, M + " records Spark settings",
         manifest(spark({"master": "local[*]", "conf": ["spark.driver.extraJavaOptions=-Xlog:gc:file={w}/RAN"]}))),
    case("manifest", "Spark master elsewhere", REBUILD, 2, M + " records Spark settings",
         manifest(spark({"master": "spark://198.51.100.7:7077", "conf": []}))),
]


# -- 2. stage cache folders: entries are read as arrays, the user's files are never touched ------------

CACHED = ("build", "{w}/inputs/good.csv", *FLAGS, "--cache-dir", "{w}/cache")


def entries(world):
    return sorted(p for p in (world / "cache").iterdir() if ENTRY.match(p.name))


def every_entry(make):
    """Replace every cache entry by ``make(world, path)`` (bytes), or let ``make`` replace it."""

    def edit(world):
        found = entries(world)
        contents = [p.read_bytes() for p in found]
        for k, path in enumerate(found):
            data = make(world, path, contents[(k + 1) % len(contents)])
            if data is not None:
                path.write_bytes(data)

    return edit


def npz(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode(), dtype=np.uint8)


def object_npz(world, path, other):
    stage = ENTRY.match(path.name).group(1)
    meta = {"format": "atlas-stage", "version": 1, "stage": stage, "tree": {"t": "array", "ref": "a0"}}
    return npz(meta=text_array(json.dumps(meta)), a0=np.array([Payload(world / MARKER)], dtype=object))


def npy_of_objects(world, path, other):
    out = io.BytesIO()
    np.save(out, np.array([Payload(world / MARKER)], dtype=object), allow_pickle=True)
    return out.getvalue()


def symlink_out(world, path, other):
    path.unlink()
    path.symlink_to(world / "neighbour" / "keep.txt")


def folder(world, path, other):
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("kept\n", encoding="utf-8")


def same_map(world, out, err):
    assert (world / OUT / "layout.csv").read_bytes() == (world / "old" / "layout.csv").read_bytes()


def planted_beside(world):
    """Files named almost like entries, a symlink and a folder named exactly like one."""
    cache = world / "cache"
    (cache / "atlas-profiles-0123456789abcdef0123.pkl").write_bytes(payload(world))
    (cache / "atlas-graph-0123456789abcdef0123.npz").symlink_to(world / "neighbour" / "keep.txt")
    (cache / "atlas-layout-0123456789abcdef0123.npz").mkdir()
    (cache / "atlas-layout-0123456789abcdef0123.npz" / "x.npz").write_bytes(b"user data")


def cleared(stage=None):
    def check(world, out, err):
        left = {p.name for p in (world / "cache").iterdir()}
        ours = {p.name for p in entries(world) if p.is_file() and not p.is_symlink()}
        assert ours == ({n for n in ours if not n.startswith(f"atlas-{stage}-")} if stage else set()), ours
        assert {"notes.txt", "model.pkl", CACHE_MARKER, "atlas-profiles-0123456789abcdef0123.pkl"} <= left
        assert (world / "cache" / "atlas-graph-0123456789abcdef0123.npz").is_symlink()
        assert (world / "cache" / "atlas-layout-0123456789abcdef0123.npz" / "x.npz").read_bytes() == b"user data"
        assert out.startswith("deleted ") and "cache entr" in out

    return check


def unmarked(world):
    (world / "cache" / CACHE_MARKER).unlink()


def marker_elsewhere(world):
    (world / "cache" / CACHE_MARKER).unlink()
    (world / "cache" / CACHE_MARKER).symlink_to(world / "neighbour" / "keep.txt")


def deleted_none(world, out, err):
    assert out.startswith("deleted 0 cache entries")


def others(out, n):
    assert f"{n} other file(s) in the folder are not atlas entries; atlas never reads or deletes them" in out, out


def emptied(world, out, err):
    same_map(world, out, err)
    assert not entries(world)


GB = "error: ATLAS_CACHE_MAX_GB must be a number of gigabytes"
CLEAR = ("cache", "clear", "--cache-dir", "{w}/cache")
CACHES = [
    case("cache", "pickles with a payload", CACHED, 0, "", every_entry(lambda w, p, o: payload(w)), changes=["cache"], check=same_map),
    case("cache", "npz of objects", CACHED, 0, "", every_entry(object_npz), changes=["cache"], check=same_map),
    case("cache", "npy of objects", CACHED, 0, "", every_entry(npy_of_objects), changes=["cache"], check=same_map),
    case("cache", "description not JSON", CACHED, 0, "", every_entry(lambda w, p, o: npz(meta=text_array("{not json"))), changes=["cache"], check=same_map),
    case("cache", "description nested deep", CACHED, 0, "", every_entry(lambda w, p, o: npz(meta=text_array("[" * 100_000 + "]" * 100_000))),
         changes=["cache"], check=same_map),
    case("cache", "entries of other stages", CACHED, 0, "", every_entry(lambda w, p, o: o), changes=["cache"], check=same_map),
    case("cache", "truncated entries", CACHED, 0, "", every_entry(lambda w, p, o: p.read_bytes()[: p.stat().st_size // 2]), changes=["cache"], check=same_map),
    case("cache", "symlinks to the user's file", CACHED, 0, "", every_entry(symlink_out), changes=["cache"], check=same_map),
    case("cache", "folders named like entries", CACHED, 0, "", every_entry(folder), changes=["cache"], check=same_map),
    case("cache", "a file as the cache folder", ("build", "{w}/inputs/good.csv", *FLAGS, "--cache-dir", "{w}/neighbour/keep.txt"), 0, check=same_map),
    case("cache", "clear beside planted files", CLEAR, 0, "", planted_beside, changes=["cache"], check=cleared()),
    case("cache", "clear one stage", (*CLEAR, "--stage", "profiles"), 0, "", planted_beside, changes=["cache"], check=cleared("profiles")),
    case("cache", "clear a folder without the marker", CLEAR, 0, "", unmarked, check=deleted_none),
    case("cache", "clear with the marker a symlink", CLEAR, 0, "", marker_elsewhere, check=deleted_none),
    case("cache", "info beside planted files", ("cache", "info", "--cache-dir", "{w}/cache"), 0, "", planted_beside,
         check=lambda w, out, err: others(out, 5)),
    case("cache", "unknown stage", (*CLEAR, "--stage", "pickle"), 2, "atlas cache: error: argument --stage: invalid choice: 'pickle'"),
    case("cache", "stage as a path", (*CLEAR, "--stage", "../profiles"), 2, "atlas cache: error: argument --stage: invalid choice: '../profiles'"),
    case("cache", "size inf", CLEAR, 2, GB + " from 0 to 1000000, got 'inf'", env={"ATLAS_CACHE_MAX_GB": "inf"}),
    case("cache", "size nan", ("cache", "info", "--cache-dir", "{w}/cache"), 2, GB + " from 0 to 1000000, got 'nan'", env={"ATLAS_CACHE_MAX_GB": "nan"}),
    case("cache", "size 1e309", CACHED, 2, GB + " from 0 to 1000000, got '1e309'", env={"ATLAS_CACHE_MAX_GB": "1e309"}),
    case("cache", "size negative", CACHED, 2, GB + " from 0 to 1000000, got '-1'", env={"ATLAS_CACHE_MAX_GB": "-1"}),
    case("cache", "size garbage", CACHED, 2, GB + ", got '4GB'", env={"ATLAS_CACHE_MAX_GB": "4GB"}),
    case("cache", "size garbage on clear", CLEAR, 2, GB + ", got 'lots'", env={"ATLAS_CACHE_MAX_GB": "lots"}),
    case("cache", "memory size garbage", CACHED, 2, "error: ATLAS_CACHE_MEMORY_GB must be a number of gigabytes, got '2GB'", env={"ATLAS_CACHE_MEMORY_GB": "2GB"}),
    case("cache", "size 0 keeps only the user's files", CACHED, 0, "", every_entry(lambda w, p, o: payload(w)), env={"ATLAS_CACHE_MAX_GB": "0"}, changes=["cache"],
         check=emptied),
]
CLASSES = collections.Counter(c.id.split(":")[0] for c in MANIFESTS + CACHES)


@pytest.mark.parametrize("bad", MANIFESTS + CACHES)
def test_a_file_from_someone_else_runs_nothing_and_changes_nothing_outside_out(bad, origin, tmp_path, capsys, monkeypatch):
    run_case(bad, origin, tmp_path, capsys, monkeypatch)


def test_the_payloads_would_leave_their_file(tmp_path):
    """The cases prove something only because their payloads work when code is run."""
    marker = tmp_path / MARKER
    pickle.loads(payload(tmp_path))
    assert marker.exists()
    marker.unlink()
    data = object_npz(tmp_path, tmp_path / "atlas-profiles-0123456789abcdef0123.npz", b"")
    with np.load(io.BytesIO(data), allow_pickle=True) as arrays:
        arrays["a0"]
    assert marker.exists()


def test_the_tables_cover_manifests_and_caches():
    assert CLASSES["manifest"] >= 15 and CLASSES["cache"] >= 15
