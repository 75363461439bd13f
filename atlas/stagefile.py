"""The co-occurrence stage's result as a file, so that a cluster and a laptop can split a build:

    atlas candidates s3a://lake/plays/ --engine spark --out cands.parquet    # where the data lives
    atlas build --candidates cands.parquet --items items.csv --out out/       # anywhere

``cands.parquet`` holds one row per item, in the profiles' column order: ``item_id``,
``item_source``, ``n_users`` and the fixed-length lists ``partners`` (column indices, −1 pads),
``scores`` and ``counts`` — exactly the arrays of ``atlas.Candidates``. The file's key-value
metadata (``atlas``) records the parameters that made it (ingest, filters, co-occurrence, the
engine), the input and its fingerprint, and the profile counts, so that the build that continues
from it can check its own parameters against them and its manifest can say where it came from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cooccur import Candidates, CooccurrenceParams
from .errors import AtlasError
from .profiles import FilterParams, Profiles

FORMAT = "atlas-candidates"
VERSION = 1


@dataclass(frozen=True, eq=False)
class ItemTable:
    """What later stages need of the profiles when the profile matrix stays elsewhere (on a
    cluster, or in the run that wrote a candidates file): the kept items in column order, their
    user counts, and the profile counts of ``Profiles.summary``."""

    item_ids: np.ndarray  # str ids, by column
    item_source: np.ndarray  # int64 code of each item in the input (order of first appearance)
    item_users: np.ndarray  # int64 distinct users per item
    counts: dict  # Profiles.summary()
    pair_updates: int
    key: str = ""
    seconds: float = 0.0

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.counts["users"])

    def summary(self) -> dict:
        return dict(self.counts)

    @classmethod
    def of(cls, profiles: Profiles) -> ItemTable:
        return cls(profiles.item_ids, profiles.item_source, profiles.item_users, profiles.summary(), profiles.pair_updates, profiles.key)


@dataclass(frozen=True, eq=False)
class StageFile:
    """A candidates file read back: the item table, the candidates, and what made them.

    It stands in for the interactions of a ``Dataset`` (``atlas build --candidates``), so it has
    the ``fingerprint`` that caches and manifests read."""

    path: str
    items: ItemTable
    candidates: Candidates
    record: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return self.candidates.key  # the hash of the content read, never a key taken from the file

    @property
    def filter(self) -> FilterParams:
        return FilterParams(**self.record["params"]["filter"])

    @property
    def cooccurrence(self) -> CooccurrenceParams:
        return CooccurrenceParams(**self.record["params"]["cooccurrence"])


def write_candidates(path: str | os.PathLike, items: ItemTable, candidates: Candidates, record: dict) -> Path:
    """Write ``cands.parquet`` atomically (a temporary file beside it, then renamed)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    if out.is_dir():
        raise AtlasError(f"--out {str(out)!r} is a folder; give the candidates file's name, e.g. {str(out / 'cands.parquet')!r}.")
    n, m = candidates.index.shape
    if n != items.n_items:
        raise ValueError("the candidates and the item table disagree on the number of items")
    offsets = pa.array(np.arange(0, n * m + 1, m, dtype=np.int32))

    def lists(values, kind):
        return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(values).ravel(), type=kind))

    table = pa.table(
        {
            "item_id": pa.array(items.item_ids.astype(str), type=pa.string()),
            "item_source": pa.array(np.asarray(items.item_source, dtype=np.int64)),
            "n_users": pa.array(np.asarray(items.item_users, dtype=np.int64)),
            "partners": lists(candidates.index, pa.int32()),
            "scores": lists(candidates.score, pa.float32()),
            "counts": lists(candidates.count, pa.float32()),
        }
    )
    meta = {
        "format": FORMAT, "version": VERSION, "weighting": candidates.weighting, "pair_updates": int(candidates.pair_updates),
        "n_candidates": int(m), "counts": items.counts, "item_pair_updates": int(items.pair_updates), **record,
        "key": content_key(items, candidates),
    }
    table = table.replace_schema_metadata({b"atlas": json.dumps(meta, default=str).encode()})
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise AtlasError(f"cannot write {str(out)!r} ({exc.strerror or exc}); check the folder and free space.") from None
    return out


def _read(path: str | os.PathLike, schema_only: bool):
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise AtlasError(f"candidates file {str(p)!r} does not exist; write it with 'atlas candidates INPUT --out {p.name}'.")
    try:
        table = pq.read_schema(p) if schema_only else pq.read_table(p)
        schema = table if schema_only else table.schema
        meta = json.loads((schema.metadata or {}).get(b"atlas", b"{}"))
    except (pa.ArrowException, OSError, ValueError, RecursionError) as exc:  # RecursionError: metadata nested too deep
        raise AtlasError(f"cannot read {p.name!r} as a candidates file ({str(exc).splitlines()[0]}); give a file written by 'atlas candidates'.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise AtlasError(f"{p.name!r} is not a candidates file (it has no atlas metadata); write one with 'atlas candidates INPUT --out {p.name}'.")
    if meta.get("version") != VERSION:
        raise AtlasError(f"{p.name!r} is a candidates file of format version {meta.get('version')}; this atlas reads version {VERSION} — write it again.")
    return p, table, meta


def read_record(path: str | os.PathLike) -> dict:
    """What made a candidates file (its metadata, checked), without reading its rows."""
    from .stagecheck import check_meta, check_schema

    p, schema, meta = _read(path, schema_only=True)
    check_schema(p.name, schema)
    check_meta(p.name, meta)
    return meta


def read_candidates(path: str | os.PathLike) -> StageFile:
    """Read a file written by ``atlas candidates`` (or ``write_candidates``), checked like any
    input (:mod:`atlas.stagecheck`): whoever wrote or edited it, what comes back is a consistent
    result, or a one-line ``AtlasError``. Its key (what later stages' cache keys build on) is the
    hash of its content, which must match the key it records."""
    from . import stagecheck

    p, table, meta = _read(path, schema_only=False)
    name = p.name
    stagecheck.check_schema(name, table.schema)
    stagecheck.check_meta(name, meta)
    m = int(meta["n_candidates"])
    ids = table.column("item_id").to_pylist()
    source = np.asarray(table.column("item_source").to_numpy(zero_copy_only=False))
    users = np.asarray(table.column("n_users").to_numpy(zero_copy_only=False))
    if table.column("item_source").null_count or table.column("n_users").null_count:
        raise AtlasError(f"candidates file {name!r} has a missing item_source or n_users; write it again with 'atlas candidates'.")
    index = stagecheck.list_matrix(name, table, "partners", m, np.int64)
    score = stagecheck.list_matrix(name, table, "scores", m, np.float32)
    count = stagecheck.list_matrix(name, table, "counts", m, np.float32)
    stagecheck.check_rows(name, ids, source, users, index, score, count, meta["weighting"], meta)
    items = ItemTable(
        item_ids=np.asarray(ids, dtype=object),
        item_source=source.astype(np.int64),
        item_users=users.astype(np.int64),
        counts=meta["counts"],
        pair_updates=int(meta.get("item_pair_updates", meta["pair_updates"])),
    )
    candidates = Candidates(index.astype(np.int32), score, count, meta["weighting"], int(meta["pair_updates"]))
    key = content_key(items, candidates)
    if meta.get("key") != key:
        raise AtlasError(
            f"candidates file {name!r} was changed after it was written (its content does not match the key it records); "
            "write it again with 'atlas candidates'."
        )
    return StageFile(str(p), dataclasses.replace(items, key=key), replace_key(candidates, key), meta)


def check_against(record: dict, filter: FilterParams, cooccurrence: CooccurrenceParams, given: set[str]) -> tuple[FilterParams, CooccurrenceParams]:
    """The filter and co-occurrence parameters of a build that continues from a candidates file
    (its ``record``): the file's own. An option the person gave (``given``, by option name) must
    agree with them."""
    from .options import fields_of

    recorded = {"filter": FilterParams(**record["params"]["filter"]), "cooccurrence": CooccurrenceParams(**record["params"]["cooccurrence"])}
    for stage, asked in (("filter", filter), ("cooccurrence", cooccurrence)):
        for f in fields_of(type(asked)):
            if f.dest in given and getattr(asked, f.name) != getattr(recorded[stage], f.name):
                raise AtlasError(
                    f"{f.option.flag} {getattr(asked, f.name)} differs from the candidates file's ({getattr(recorded[stage], f.name)}); "
                    "leave it out, or make the candidates again with 'atlas candidates'."
                )
    return recorded["filter"], recorded["cooccurrence"]


def content_key(items: ItemTable, candidates: Candidates) -> str:
    """A name for the content of a candidates file (what later stages' cache keys build on)."""
    h = hashlib.sha256()
    kinds = (np.int32, np.float32, np.float32, np.int64)
    for arr, kind in zip((candidates.index, candidates.score, candidates.count, items.item_users), kinds):
        h.update(np.ascontiguousarray(arr, dtype=kind).tobytes())
    h.update("\0".join(map(str, items.item_ids)).encode())
    h.update(candidates.weighting.encode())
    return f"candidates-{h.hexdigest()[:20]}"


def same_candidates(a: Candidates, b: Candidates) -> bool:
    """Whether two results are the same answer, array for array."""
    return all(np.array_equal(getattr(a, name), getattr(b, name)) for name in ("index", "score", "count")) and a.weighting == b.weighting


def replace_key(candidates: Candidates, key: str) -> Candidates:
    return dataclasses.replace(candidates, key=key)
