"""Stage 1 — ingest: read interactions and item metadata from the files people have.

Accepted inputs:

* long format ``(user, item[, weight])`` from CSV, TSV, ``.dat`` (tab separated) and Parquet,
  optionally gzip-compressed (``.csv.gz``);
* profile format: JSON Lines, one user per line with a list of items
  (``{"user": "ann", "items": ["a", "b"]}``);
* profile lines: plain text, one user per line, ``user item item ...`` (whitespace separated).

Ids may be strings or integers; they are kept as strings so that they join with metadata.
Duplicate ``(user, item)`` pairs are collapsed (weights summed or maxed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AtlasError, check_choice

log = logging.getLogger(__name__)

LONG_FORMATS = {".csv": ",", ".tsv": "\t", ".dat": "\t", ".tab": "\t"}
PROFILE_FORMATS = (".jsonl", ".ndjson", ".json", ".txt")
SUPPORTED = ", ".join([*LONG_FORMATS, ".parquet", *PROFILE_FORMATS])


@dataclass(frozen=True)
class IngestParams:
    """How to read an interaction file.

    Column names default to the first columns of the file (user, item, then weight if a
    third numeric column exists). ``aggregate`` says how duplicate (user, item) pairs combine.
    """

    user_col: str | None = None
    item_col: str | None = None
    weight_col: str | None = None
    aggregate: str = "sum"
    header: bool | None = None  # None: detect

    def __post_init__(self) -> None:
        check_choice("aggregate", self.aggregate, ("sum", "max"))


@dataclass(frozen=True, eq=False)
class Interactions:
    """Deduplicated (user, item, weight) triples with integer codes and their original ids."""

    user: np.ndarray  # int32 code into user_ids, one per interaction
    item: np.ndarray  # int32 code into item_ids
    weight: np.ndarray  # float32
    user_ids: np.ndarray  # str ids, indexed by code
    item_ids: np.ndarray
    fingerprint: str  # identifies the content, for caching and the manifest

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions plus optional item metadata (a DataFrame indexed by item id as str)."""

    interactions: Interactions
    items: pd.DataFrame | None = None
    name_column: str | None = None  # the metadata column that names an item (e.g. 'title')
    label_column: str | None = None  # a categorical column to judge maps by (e.g. 'genre')
    source: dict = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        extra = "" if self.items is None else _hash_frame(self.items)
        return _digest(self.interactions.fingerprint, extra, self.name_column or "", self.label_column or "")


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _hash_frame(frame: pd.DataFrame) -> str:
    values = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return _digest(hashlib.sha256(values.tobytes()).hexdigest(), ",".join(map(str, frame.columns)))


def file_fingerprint(path: Path) -> str:
    """sha256 of the file's bytes (streamed), shortened."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:24]


def from_arrays(users, items, weights=None, *, aggregate: str = "sum", fingerprint: str | None = None) -> Interactions:
    """Build Interactions from parallel sequences of user ids, item ids and optional weights."""
    users = np.asarray(users)
    items = np.asarray(items)
    if users.shape != items.shape or users.ndim != 1:
        raise AtlasError(f"users and items must be 1-D and of equal length, got {users.shape} and {items.shape}.")
    if weights is None:
        w = np.ones(users.shape[0], dtype=np.float32)
    else:
        w = _numeric_weights(pd.Series(np.asarray(weights)), "weight")
        if w.shape != users.shape:
            raise AtlasError("weights must have one value per interaction.")
    user_codes, user_ids = pd.factorize(users, sort=False)
    item_codes, item_ids = pd.factorize(items, sort=False)
    keep = (user_codes >= 0) & (item_codes >= 0) & np.isfinite(w)
    if not keep.all():
        log.info("dropped %d rows with a missing user, item or weight", int((~keep).sum()))
        user_codes, item_codes, w = user_codes[keep], item_codes[keep], w[keep]
    u, i, w = _collapse_duplicates(user_codes.astype(np.int64), item_codes.astype(np.int64), w, len(item_ids), aggregate)
    if fingerprint is None:
        h = hashlib.sha256()
        for arr in (u, i, w):
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update("\0".join(map(str, user_ids[:1000])).encode())
        h.update("\0".join(map(str, item_ids)).encode())
        fingerprint = h.hexdigest()[:24]
    return Interactions(
        user=u.astype(np.int32),
        item=i.astype(np.int32),
        weight=w.astype(np.float32),
        user_ids=_as_str_ids(user_ids),
        item_ids=_as_str_ids(item_ids),
        fingerprint=fingerprint,
    )


def _as_str_ids(ids) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
        arr = arr.astype(np.int64)
    return arr.astype(str).astype(object)


def _collapse_duplicates(u, i, w, n_items, aggregate):
    key = u * max(n_items, 1) + i
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    if starts.shape[0] == key.shape[0]:
        return u[order], i[order], w[order]
    w_sorted = w[order]
    reduce = np.maximum.reduceat if aggregate == "max" else np.add.reduceat
    w_new = reduce(w_sorted, starts) if w_sorted.size else w_sorted
    first = order[starts]
    log.info("collapsed %d duplicate (user, item) pairs (%s)", key.shape[0] - starts.shape[0], aggregate)
    return u[first], i[first], w_new


def _numeric_weights(series: pd.Series, name: str) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise AtlasError(
            f"weight column {name!r} holds non-numeric values such as {str(example)!r}; "
            "choose a numeric column with --weight-col or leave it out."
        )
    return values.to_numpy(dtype=np.float32, na_value=np.nan)


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zip", ".xz"):
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _check_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise AtlasError(f"input file {str(p)!r} does not exist; check the path.")
    if p.is_dir():
        raise AtlasError(f"input {str(p)!r} is a folder; give the interaction file itself.")
    if p.stat().st_size == 0:
        raise AtlasError(f"input file {str(p)!r} is empty; it needs one interaction per line.")
    return p


def read_table(path: str | os.PathLike, *, header: bool | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/.dat/Parquet file into a DataFrame of strings (Parquet keeps its types)."""
    p = _check_file(path)
    suffix = _suffix(p)
    try:
        if suffix == ".parquet":
            return pd.read_parquet(p)
        if suffix not in LONG_FORMATS:
            raise AtlasError(f"cannot read {p.name!r}: unsupported file type {suffix or '(none)'}; use one of {SUPPORTED}.")
        sep = LONG_FORMATS[suffix]
        if header is None:
            header = _sniff_header(p, sep)
        return pd.read_csv(
            p,
            sep=sep,
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=True,
            encoding="utf-8",
            engine="c",
        )
    except AtlasError:
        raise
    except UnicodeDecodeError:
        raise AtlasError(f"cannot read {p.name!r}: it is not UTF-8 text; re-save it as UTF-8.") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AtlasError(f"cannot read {p.name!r} as {suffix or 'a table'}: {first}; check the file format.") from None


def _sniff_header(path: Path, sep: str) -> bool:
    """A first row whose weight/id fields are non-numeric while the second row's are numeric is a header."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        lines = [line for line in (f.readline() for _ in range(50)) if line.strip()][:20]
    if len(lines) < 2:
        return False
    rows = list(csv.reader(lines, delimiter=sep))
    first, rest = rows[0], rows[1:]

    def numeric(x: str) -> bool:
        try:
            float(x)
            return True
        except ValueError:
            return False

    for col in range(len(first)):
        rest_numeric = [numeric(r[col]) for r in rest if col < len(r)]
        if rest_numeric and all(rest_numeric) and not numeric(first[col]):
            return True
    # all-text columns: a header row is one whose values never occur again below
    if all(not numeric(x) for x in first):
        for col in range(len(first)):
            if any(col < len(r) and r[col] == first[col] for r in rest):
                return False
        try:
            return csv.Sniffer().has_header("".join(lines))
        except csv.Error:
            return True
    return False


def _pick_column(frame: pd.DataFrame, wanted: str | None, position: int, role: str, flag: str) -> str | None:
    if wanted is not None:
        if wanted not in frame.columns:
            have = ", ".join(map(str, frame.columns[:12]))
            raise AtlasError(f"column {wanted!r} ({role}) is not in the file; its columns are: {have}. Fix {flag}.")
        return wanted
    if position < frame.shape[1]:
        return frame.columns[position]
    return None


def load_interactions(path: str | os.PathLike, params: IngestParams = IngestParams()) -> Interactions:
    """Read interactions from ``path`` in any supported format."""
    p = _check_file(path)
    suffix = _suffix(p)
    fingerprint = _digest(file_fingerprint(p), repr(params))
    if suffix in PROFILE_FORMATS:
        users, items, weights = _read_profiles(p, params, suffix)
        result = from_arrays(users, items, weights, aggregate=params.aggregate, fingerprint=fingerprint)
    else:
        frame = read_table(p, header=params.header)
        if frame.shape[1] < 2 and params.user_col is None:
            raise AtlasError(
                f"{p.name!r} has only {frame.shape[1]} column; it needs a user and an item column "
                f"(or use a profile format: {', '.join(PROFILE_FORMATS)})."
            )
        ucol = _pick_column(frame, params.user_col, 0, "users", "--user-col")
        icol = _pick_column(frame, params.item_col, 1, "items", "--item-col")
        if ucol == icol:
            raise AtlasError(f"the user and item columns are both {ucol!r}; choose two different columns.")
        wcol = params.weight_col
        if wcol is not None:
            _pick_column(frame, wcol, 2, "weights", "--weight-col")
        elif params.user_col is None and params.item_col is None and frame.shape[1] >= 3:
            third = frame.columns[2]
            if pd.to_numeric(frame[third].head(1000), errors="coerce").notna().all():
                wcol = third
        weights = None if wcol is None else _numeric_weights(frame[wcol], str(wcol))
        result = from_arrays(frame[ucol].to_numpy(), frame[icol].to_numpy(), weights, aggregate=params.aggregate, fingerprint=fingerprint)
    if len(result) == 0:
        raise AtlasError(f"{p.name!r} holds no interactions (every row was empty or had a missing id).")
    log.info("read %d interactions: %d users, %d items from %s", len(result), result.n_users, result.n_items, p)
    return result


def _read_profiles(path: Path, params: IngestParams, suffix: str):
    users: list = []
    items: list = []
    weights: list = []
    has_weights = False
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if suffix == ".txt":
                parts = line.split()
                if len(parts) < 2:
                    continue
                users.extend([parts[0]] * (len(parts) - 1))
                items.extend(parts[1:])
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AtlasError(f"{path.name!r} line {lineno} is not valid JSON ({exc.msg}); each line must be one JSON object.") from None
            if not isinstance(record, dict):
                raise AtlasError(f"{path.name!r} line {lineno} is not a JSON object; expected {{\"user\": ..., \"items\": [...]}}.")
            ukey = params.user_col or next((k for k, v in record.items() if not isinstance(v, (list, dict))), None)
            ikey = params.item_col or next((k for k, v in record.items() if isinstance(v, (list, dict))), None)
            if ukey not in record or ikey not in record:
                missing = ukey if ukey not in record else ikey
                raise AtlasError(f"{path.name!r} line {lineno} has no field {missing!r}; name the fields with --user-col/--item-col.")
            entries = record[ikey]
            if isinstance(entries, dict):  # {"item": weight, ...}
                has_weights = True
                for item, wt in entries.items():
                    users.append(record[ukey])
                    items.append(item)
                    weights.append(wt)
            else:
                for entry in entries:
                    users.append(record[ukey])
                    if isinstance(entry, (list, tuple)) and len(entry) == 2:
                        has_weights = True
                        items.append(entry[0])
                        weights.append(entry[1])
                    else:
                        items.append(entry)
                        weights.append(1.0)
    if not users:
        raise AtlasError(f"{path.name!r} holds no profiles; expected one user with a list of items per line.")
    u = np.array([str(x) for x in users], dtype=object)
    i = np.array([str(x) for x in items], dtype=object)
    return u, i, (np.asarray(weights, dtype=object) if has_weights else None)


def load_items(path: str | os.PathLike, *, item_col: str | None = None) -> pd.DataFrame:
    """Read item metadata; the index is the item id as a string, one row per item."""
    frame = read_table(path, header=True)
    col = _pick_column(frame, item_col, 0, "item ids in the metadata file", "--items-id-col")
    frame = frame.copy()
    frame[col] = _as_str_ids(frame[col].to_numpy())
    frame = frame.drop_duplicates(subset=col, keep="first").set_index(col)
    frame.index.name = "item_id"
    for c in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            converted = pd.to_numeric(frame[c], errors="coerce")
            if converted.notna().sum() == frame[c].notna().sum() and frame[c].notna().any():
                frame[c] = converted
    return frame


def guess_name_column(items: pd.DataFrame | None) -> str | None:
    """The metadata column most likely to be an item's display name."""
    if items is None:
        return None
    for candidate in ("title", "name", "label", "item_name", "artist", "track"):
        for c in items.columns:
            if str(c).lower() == candidate:
                return c
    text = [c for c in items.columns if not pd.api.types.is_numeric_dtype(items[c])]
    return text[0] if text else None


def load_dataset(
    path: str | os.PathLike,
    params: IngestParams = IngestParams(),
    *,
    items_path: str | os.PathLike | None = None,
    items_id_col: str | None = None,
    name_column: str | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Interactions from ``path`` plus optional metadata from ``items_path``."""
    interactions = load_interactions(path, params)
    items = None
    if items_path is not None:
        items = load_items(items_path, item_col=items_id_col)
        matched = np.isin(interactions.item_ids, items.index.to_numpy()).mean()
        if matched == 0:
            raise AtlasError(
                f"no item id of the interactions occurs in {Path(items_path).name!r}; "
                "check that its first column (or --items-id-col) holds the same ids."
            )
    name = name_column or guess_name_column(items)
    for col, flag in ((name_column, "name column"), (label_column, "label column")):
        if col is not None and (items is None or col not in items.columns):
            raise AtlasError(f"{flag} {col!r} is not in the item metadata; pick one of its columns.")
    source = {"path": str(path), "items_path": None if items_path is None else str(items_path), "ingest": params.__dict__}
    return Dataset(interactions, items, name, label_column, source)
