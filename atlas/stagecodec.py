"""Stage results as plain data: arrays plus JSON, never pickles.

The stage cache keeps what a stage computed on disk so that a later build can skip it. A cache
folder may be shared, copied or planted with files by someone else, so reading an entry must
never run code: an entry is one ``.npz`` file (read with ``allow_pickle=False``) holding numeric
and byte arrays, and one JSON document that describes how they fit together. Decoding only
builds numpy arrays, scipy CSR matrices, DataFrames of plain columns and instances of the
classes listed in :func:`classes` (the stages' results and the parameter classes); no class is
ever looked up by a name taken from the file.

An entry that is not exactly what its stage produces (another format version, another class, a
field missing or of the wrong kind, arrays whose shapes disagree) is refused with
:class:`Mismatch`, which the cache treats as a miss.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import types
import typing
import zipfile

import numpy as np

FORMAT = "atlas-stage"
VERSION = 1
META = "meta"  # the name of the JSON document among the arrays


class Mismatch(ValueError):
    """The entry is not a result this code can use (a cache miss, never an error)."""


class Unencodable(TypeError):
    """The value holds something that has no plain-data form (it stays in memory only)."""


@functools.cache
def classes() -> dict[str, type]:
    """Every class an entry may hold, by name: stage results and parameter classes."""
    from . import embeddings, projections
    from .align import AlignParams
    from .cooccur import Candidates, CooccurrenceParams
    from .embed import Embedding, EmbedParams
    from .engines import EngineParams
    from .graph import GraphParams, ItemGraph
    from .ingest import IngestParams
    from .profiles import FilterParams, Profiles
    from .projections import EmbeddingNeighbors, Layout
    from .regions import RegionParams, Regions
    from .stagefile import ItemTable

    known = [
        Profiles, Candidates, ItemGraph, Embedding, EmbeddingNeighbors, Layout, Regions, ItemTable,
        FilterParams, CooccurrenceParams, GraphParams, EmbedParams, RegionParams, AlignParams, EngineParams, IngestParams,
        *(p.Params for p in projections.projections().values()),
        *(m.Params for m in embeddings.methods().values()),
    ]
    return {cls.__name__: cls for cls in known}


#: Extra rules for array fields: (dtype kinds allowed, number of dimensions). A field not listed
#: only has to be an array.
ARRAY_RULES: dict[tuple[str, str], tuple[str, int]] = {
    ("Profiles", "user_ids"): ("OU", 1), ("Profiles", "item_ids"): ("OU", 1),
    ("Profiles", "item_source"): ("iu", 1), ("Profiles", "item_users"): ("iu", 1),
    ("Candidates", "index"): ("iu", 2), ("Candidates", "score"): ("f", 2), ("Candidates", "count"): ("f", 2),
    ("ItemGraph", "edges"): ("iu", 2), ("ItemGraph", "weights"): ("f", 1),
    ("ItemGraph", "neighbors"): ("iu", 2), ("ItemGraph", "neighbor_score"): ("f", 2),
    ("Embedding", "coords"): ("f", 2),
    ("EmbeddingNeighbors", "indices"): ("iu", 2), ("EmbeddingNeighbors", "distances"): ("f", 2),
    ("Layout", "xy"): ("f", 2),
    ("Regions", "labels"): ("iu", 2),
    ("ItemTable", "item_ids"): ("OU", 1), ("ItemTable", "item_source"): ("iu", 1), ("ItemTable", "item_users"): ("iu", 1),
}

#: Fields whose first dimension must agree within one result.
SAME_ROWS: dict[str, tuple[str, ...]] = {
    "Candidates": ("index", "score", "count"),
    "ItemGraph": ("neighbors", "neighbor_score"),
    "EmbeddingNeighbors": ("indices", "distances"),
    "ItemTable": ("item_ids", "item_source", "item_users"),
}


# -- encoding -----------------------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, values: np.ndarray) -> str:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = np.ascontiguousarray(values)
        return name

    def node(self, value):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return {"t": "float", "v": repr(float(value))}  # NaN and infinities survive JSON
        if isinstance(value, np.bool_):
            return bool(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            name = type(value).__name__
            if classes().get(name) is not type(value):
                raise Unencodable(f"{name} is not a class the stage cache stores")
            return {"t": "obj", "cls": name, "fields": {f.name: self.node(getattr(value, f.name)) for f in dataclasses.fields(value)}}
        if isinstance(value, np.ndarray):
            return self.ndarray(value)
        if isinstance(value, (list, tuple)):
            return {"t": "tuple" if isinstance(value, tuple) else "list", "items": [self.node(v) for v in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise Unencodable("a dict with keys that are not text")
            return {"t": "dict", "keys": list(value), "values": [self.node(v) for v in value.values()]}
        import pandas as pd
        import scipy.sparse as sp

        if sp.issparse(value) and value.format == "csr":
            return {"t": "csr", "shape": list(value.shape), "data": self.ndarray(value.data), "indices": self.ndarray(value.indices), "indptr": self.ndarray(value.indptr)}
        if isinstance(value, pd.DataFrame):
            if not isinstance(value.index, pd.RangeIndex) or value.index.start != 0 or value.index.step != 1:
                raise Unencodable("a table with an index of its own")
            if not all(isinstance(c, str) for c in value.columns) or value.columns.has_duplicates:
                raise Unencodable("a table whose column names are not distinct text")
            return {"t": "frame", "rows": len(value), "columns": list(value.columns), "values": [self.series(value[c]) for c in value.columns]}
        raise Unencodable(f"a {type(value).__name__}")

    def series(self, column):
        import pandas as pd

        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
            return self.ndarray(column.to_numpy())
        if pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
            return self.ndarray(column.to_numpy(dtype=object, na_value=None))
        raise Unencodable(f"a column of type {column.dtype}")

    def ndarray(self, values: np.ndarray):
        if values.dtype.kind in "biuf":
            return {"t": "array", "ref": self.array(values)}
        if values.dtype.kind in "OU":
            flat = values.ravel()
            if all(isinstance(v, str) or v is None for v in flat):
                return self.strings(flat, values.shape, values.dtype.kind)
        raise Unencodable(f"an array of {values.dtype}")

    def strings(self, flat, shape, kind: str):
        """Text as one UTF-8 byte array and offsets: every character survives, NUL included."""
        encoded = [b"" if v is None else v.encode("utf-8", "surrogatepass") for v in flat]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        missing = np.array([v is None for v in flat], dtype=bool)
        node = {"t": "text", "kind": kind, "shape": list(shape), "bytes": self.array(np.frombuffer(b"".join(encoded), dtype=np.uint8)), "offsets": self.array(offsets)}
        if missing.any():
            node["missing"] = self.array(missing)
        return node


def encode(value: object, stage: str) -> dict[str, np.ndarray]:
    """The arrays of an entry holding ``value``, the JSON description among them (``META``)."""
    writer = _Writer()
    tree = writer.node(value)
    meta = {"format": FORMAT, "version": VERSION, "stage": stage, "tree": tree}
    writer.arrays[META] = np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    return writer.arrays


def dumps(value: object, stage: str) -> bytes:
    """An entry as the bytes of one ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **encode(value, stage))
    return buffer.getvalue()


# -- decoding -----------------------------------------------------------------------------------


class _Reader:
    def __init__(self, arrays) -> None:
        self.arrays = arrays
        self.used: set[str] = set()

    def array(self, name) -> np.ndarray:
        if not isinstance(name, str) or name == META or name not in self.arrays.files:
            raise Mismatch(f"it refers to an array {name!r} it does not hold")
        values = self.arrays[name]  # allow_pickle=False: an object array raises here
        if values.dtype.kind not in "biuf":
            raise Mismatch(f"array {name!r} holds {values.dtype}, not numbers")
        return values

    def node(self, node):
        if node is None or isinstance(node, (bool, str, int)):
            return node
        if not isinstance(node, dict):
            raise Mismatch(f"it holds a bare {type(node).__name__}")
        kind = node.get("t")
        if kind == "float":
            return float(_text(node.get("v")))
        if kind == "obj":
            return self.instance(node)
        if kind == "array":
            return self.array(node.get("ref"))
        if kind == "text":
            return self.text(node)
        if kind in ("list", "tuple"):
            items = [self.node(v) for v in _list(node.get("items"))]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            keys, values = _list(node.get("keys")), _list(node.get("values"))
            if len(keys) != len(values) or not all(isinstance(k, str) for k in keys):
                raise Mismatch("a dict whose keys and values do not pair up")
            return dict(zip(keys, (self.node(v) for v in values)))
        if kind == "csr":
            return self.csr(node)
        if kind == "frame":
            return self.frame(node)
        raise Mismatch(f"unknown node {kind!r}")

    def text(self, node) -> np.ndarray:
        raw = self.array(node.get("bytes")).tobytes()
        offsets = self.array(node.get("offsets"))
        shape = tuple(_list(node.get("shape")))
        count = math.prod(shape) if all(isinstance(s, int) and s >= 0 for s in shape) else -1
        if offsets.ndim != 1 or offsets.shape[0] != count + 1 or offsets[0] != 0 or offsets[-1] != len(raw) or np.any(np.diff(offsets) < 0):
            raise Mismatch("text whose offsets do not fit its bytes")
        try:
            values = [raw[a:b].decode("utf-8", "surrogatepass") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        except UnicodeDecodeError:
            raise Mismatch("text that is not UTF-8") from None
        out = np.empty(count, dtype=object)
        out[:] = values
        if "missing" in node:
            missing = self.array(node["missing"])
            if missing.dtype != bool or missing.shape != (count,):
                raise Mismatch("a missing-value mask of the wrong shape")
            out[missing] = None
        out = out.reshape(shape)
        return out.astype(str) if node.get("kind") == "U" else out

    def csr(self, node):
        import scipy.sparse as sp

        shape = tuple(_list(node.get("shape")))
        if len(shape) != 2 or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise Mismatch("a sparse matrix without a shape")
        data, indices, indptr = (self.node(node.get(k)) for k in ("data", "indices", "indptr"))
        if not all(isinstance(a, np.ndarray) and a.ndim == 1 for a in (data, indices, indptr)) or indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
            raise Mismatch("a sparse matrix of the wrong arrays")
        if indptr.shape[0] != shape[0] + 1 or indptr[0] != 0 or indptr[-1] != data.shape[0] or data.shape != indices.shape or np.any(np.diff(indptr) < 0):
            raise Mismatch("a sparse matrix whose row pointers do not fit")
        if indices.size and (indices.min() < 0 or indices.max() >= shape[1]):
            raise Mismatch("a sparse matrix with column indices out of range")
        return sp.csr_matrix((data, indices, indptr), shape=shape)

    def frame(self, node):
        import pandas as pd

        columns, values, rows = _list(node.get("columns")), _list(node.get("values")), node.get("rows")
        if len(columns) != len(values) or len(set(columns)) != len(columns) or not all(isinstance(c, str) for c in columns) or not isinstance(rows, int):
            raise Mismatch("a table whose columns do not pair up")
        data = {}
        for name, value in zip(columns, values):
            column = self.node(value)
            if not isinstance(column, np.ndarray) or column.shape != (rows,):
                raise Mismatch(f"table column {name!r} does not have {rows} rows")
            data[name] = column
        return pd.DataFrame(data, index=pd.RangeIndex(rows), columns=columns)

    def instance(self, node):
        name = node.get("cls")
        cls = classes().get(name) if isinstance(name, str) else None
        if cls is None:
            raise Mismatch(f"it holds a {name!r}, which is not a stage result")
        fields = node.get("fields")
        expected = {f.name for f in dataclasses.fields(cls) if f.init}
        if not isinstance(fields, dict) or set(fields) != expected:
            raise Mismatch(f"its {name} has other fields than this atlas's")
        values = {key: self.node(value) for key, value in fields.items()}
        _check_fields(cls, values)
        try:
            return cls(**values)
        except Exception as exc:  # a parameter class refuses values it would never produce
            raise Mismatch(f"its {name} is not valid ({exc})") from None


def _text(value) -> str:
    if not isinstance(value, str):
        raise Mismatch("a number that is not written as text")
    return value


def _list(value) -> list:
    if not isinstance(value, list):
        raise Mismatch("a list that is not a list")
    return value


@functools.cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _fits(value, hint) -> bool:
    """Whether a decoded ``value`` is of the annotated type ``hint`` (plain checks, no coercion)."""
    import pandas as pd
    import scipy.sparse as sp

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is typing.Any or hint is object:
        return True
    if origin is not None:
        return isinstance(value, origin)
    if hint is float:
        return isinstance(value, (float, int)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is np.ndarray:
        return isinstance(value, np.ndarray)
    if hint in (sp.csr_matrix, getattr(sp, "csr_array", sp.csr_matrix)):
        return sp.issparse(value) and value.format == "csr"
    if hint is pd.DataFrame:
        return isinstance(value, pd.DataFrame)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _check_fields(cls: type, values: dict) -> None:
    hints = _hints(cls)
    for name, value in values.items():
        if name in hints and not _fits(value, hints[name]):
            raise Mismatch(f"its {cls.__name__}.{name} is a {type(value).__name__}, not a {hints[name]}")
        rule = ARRAY_RULES.get((cls.__name__, name))
        if rule is not None:
            kinds, ndim = rule
            if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds or value.ndim != ndim:
                raise Mismatch(f"its {cls.__name__}.{name} is not a {ndim}-D array of the right kind")
    rows = {values[f].shape[0] for f in SAME_ROWS.get(cls.__name__, ())}
    if len(rows) > 1:
        raise Mismatch(f"the arrays of its {cls.__name__} disagree on the number of rows")


def decode(arrays, stage: str, expected: type | None = None):
    """The value an entry holds; ``Mismatch`` unless it is a ``stage`` result of type ``expected``."""
    if META not in arrays.files:
        raise Mismatch("it has no description")
    raw = arrays[META]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise Mismatch("its description is not text")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        raise Mismatch("its description is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise Mismatch("it is not an atlas stage entry")
    if meta.get("version") != VERSION:
        raise Mismatch(f"it has format version {meta.get('version')!r}, this atlas reads {VERSION}")
    if meta.get("stage") != stage:
        raise Mismatch(f"it holds a {meta.get('stage')!r} result, not a {stage!r} one")
    value = _Reader(arrays).node(meta.get("tree"))
    if expected is not None and not isinstance(value, expected):
        raise Mismatch(f"it holds a {type(value).__name__}, not a {expected.__name__}")
    return value


def loads(data: bytes | typing.BinaryIO, stage: str, expected: type | None = None):
    """``decode`` of an ``.npz`` file's bytes (or an open binary file)."""
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        with np.load(source, allow_pickle=False) as arrays:
            if not hasattr(arrays, "files"):
                raise Mismatch("it is a single array, not an entry")
            return decode(arrays, stage, expected)
    except Mismatch:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RecursionError) as exc:  # not an npz, damaged, holding objects, nested too deep
        raise Mismatch(f"it cannot be read as arrays ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
