"""Stage results as arrays and JSON: every result survives the trip, nothing else is ever read back."""

from __future__ import annotations

import io
import json
import os
import pickle

import numpy as np
import pandas as pd
import pytest

import atlas
from atlas import stagecodec
from atlas.cache import MARKER, StageCache
from atlas.stagecodec import Mismatch


def _same(a, b) -> bool:
    """Deep equality of decoded values: arrays, sparse matrices, tables, dataclasses."""
    import dataclasses

    import scipy.sparse as sp

    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if sp.issparse(a):
        return sp.issparse(b) and a.shape == b.shape and (a != b).nnz == 0 and a.dtype == b.dtype
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, pd.DataFrame):
        return isinstance(b, pd.DataFrame) and a.equals(b) and list(a.dtypes) == list(b.dtypes)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return a == b


def _results(built):
    from atlas.stagefile import ItemTable

    pipe = atlas.Pipeline()
    neighbors = pipe.neighbors(built.embedding, 15)
    return {
        "profiles": built.profiles,
        "cooccurrence": built.candidates,
        "graph": built.graph,
        "embedding": built.embedding,
        "neighbors": neighbors,
        "layout": built.layouts["umap"],
        "regions": built.regions["umap"],
        "metrics": built.metrics["umap"],
        "items": (ItemTable.of(built.profiles), built.candidates),
    }


def test_every_stage_result_comes_back_as_it_was(built):
    for stage, value in _results(built).items():
        back = stagecodec.loads(stagecodec.dumps(value, stage), stage, type(value))
        assert _same(value, back), stage


@pytest.mark.parametrize(
    "ids",
    [["NA", "null", "NaN", "None", "#N/A", ""], ["a\x00", "a", "\x00"], ["007", "7", "e\u0301", "\u00e9", "\U0001f600" * 3, "x" * 10_000]],
)
def test_ids_come_back_character_for_character(ids):
    values = np.array(ids, dtype=object)
    back = stagecodec.loads(stagecodec.dumps({"ids": values}, "metrics"), "metrics", dict)["ids"]
    assert back.dtype == object and back.tolist() == ids


def test_numbers_that_json_cannot_hold_survive():
    value = {"nan": float("nan"), "inf": float("inf"), "neg": -float("inf"), "big": 2**62, "np": np.float32(0.5)}
    back = stagecodec.loads(stagecodec.dumps(value, "metrics"), "metrics", dict)
    assert np.isnan(back["nan"]) and back["inf"] == float("inf") and back["neg"] == -float("inf") and back["big"] == 2**62 and back["np"] == 0.5


def test_an_entry_of_another_stage_or_type_is_a_mismatch(built):
    data = stagecodec.dumps(built.embedding, "embedding")
    with pytest.raises(Mismatch, match="not a 'graph' one"):
        stagecodec.loads(data, "graph")
    with pytest.raises(Mismatch, match="not a Layout"):
        stagecodec.loads(data, "embedding", atlas.Layout)


def _with_meta(data: bytes, change) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        arrays = dict(f)
    meta = json.loads(arrays["meta"].tobytes())
    change(meta)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _set(path, value):
    def change(meta):
        node = meta
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_set(["version"], 2), "format version 2"),
        (_set(["format"], "other"), "not an atlas stage entry"),
        (_set(["tree", "cls"], "Popen"), "'Popen', which is not a stage result"),
        (_set(["tree", "cls"], "os.system"), "which is not a stage result"),
        (_set(["tree", "fields", "extra"], 1), "other fields"),
        (_set(["tree", "fields", "distortion"], "high"), "Embedding.distortion is a str"),
        (_set(["tree", "fields", "coords"], {"t": "array", "ref": "nope"}), "does not hold"),
        (_set(["tree", "fields", "coords"], {"t": "pickle", "ref": "a0"}), "unknown node"),
        (_set(["tree", "fields", "params", "fields", "embedding_dim"], -3), "is not valid"),
    ],
)
def test_an_edited_description_is_a_mismatch(built, change, message):
    data = _with_meta(stagecodec.dumps(built.embedding, "embedding"), change)
    with pytest.raises(Mismatch, match=message):
        stagecodec.loads(data, "embedding", atlas.Embedding)


def test_arrays_whose_shapes_disagree_are_a_mismatch(built):
    import dataclasses

    short = dataclasses.replace(built.candidates, score=built.candidates.score[:-1])
    with pytest.raises(Mismatch, match="disagree on the number of rows"):
        stagecodec.loads(stagecodec.dumps(short, "cooccurrence"), "cooccurrence", atlas.Candidates)
    flat = dataclasses.replace(built.embedding, coords=built.embedding.coords.ravel())
    with pytest.raises(Mismatch, match="coords is not a 2-D array"):
        stagecodec.loads(stagecodec.dumps(flat, "embedding"), "embedding", atlas.Embedding)


class _Payload:
    """Unpickling it touches a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickles_in_any_form_never_run(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Payload(str(marker)))
    plain = np.array([_Payload(str(marker))], dtype=object)
    forms = {
        "a bare pickle": payload,
        "an npz holding an object array": _npz(meta=np.frombuffer(b"{}", dtype=np.uint8), a0=plain),
        "a .npy of objects": _npy(plain),
    }
    for name, data in forms.items():
        with pytest.raises(Mismatch):
            stagecodec.loads(data, "embedding")
        assert not marker.exists(), name
    # an entry whose description points at an object array
    good = stagecodec.dumps({"x": np.arange(3)}, "metrics")
    with np.load(io.BytesIO(good), allow_pickle=False) as f:
        arrays = dict(f)
    arrays["a0"] = plain
    with pytest.raises(Mismatch, match="cannot be read as arrays|Object arrays"):
        stagecodec.loads(_npz(**arrays), "metrics")
    assert not marker.exists()


def _npz(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def test_values_without_a_plain_form_stay_in_memory(tmp_path):
    cache = StageCache(tmp_path)

    class Custom:
        pass

    value = {"f": Custom()}
    cache.put("metrics-0000aa", value)
    assert cache.get("metrics-0000aa") is value
    assert not list(tmp_path.glob("atlas-*"))


def test_the_cache_reads_only_its_own_entries(tmp_path):
    marker = tmp_path / "ran"
    planted = {
        "my_model.pkl": pickle.dumps(_Payload(str(marker))),
        "profiles-0123456789abcdef0123.pkl": pickle.dumps(_Payload(str(marker))),
        "notes.txt": b"mine",
    }
    for name, data in planted.items():
        (tmp_path / name).write_bytes(data)
    cache = StageCache(tmp_path)
    assert cache.get("profiles-0123456789abcdef0123") is None and not marker.exists()
    assert cache.entries() == [] and cache.clear() == 0 and cache.trim(0) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(planted)
    cache.put("metrics-0000ab", {"a": 1.0})
    assert (tmp_path / MARKER).is_file()
    assert cache.info()["entries"] == 1 and cache.info()["other_files"] == 3
    assert cache.clear() == 1 and sorted(p.name for p in tmp_path.iterdir()) == sorted([*planted, MARKER])


def test_keys_that_are_not_stage_names_never_become_paths(tmp_path):
    cache = StageCache(tmp_path / "c")
    for key in ("../escape-000000", "layout-../../x", "layout-0000/../../y", "x-1"):
        cache.put(key, {"a": 1})
    assert not (tmp_path / "escape-000000.npz").exists() and not os.path.exists(tmp_path / "c")
