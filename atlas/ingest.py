"""Stage 1 — ingest: read interactions and item metadata from the files people have.

Accepted inputs:

* long format ``(user, item[, weight])`` from CSV, TSV, ``.dat`` (tab separated) and Parquet,
  optionally gzip-compressed (``.csv.gz``);
* profile format: JSON Lines, one user per line with a list of items
  (``{"user": "ann", "items": ["a", "b"]}``);
* profile lines: plain text, one user per line, ``user item item ...`` (whitespace separated).

Ids may be strings or integers; they are kept as strings so that they join with metadata.
Duplicate ``(user, item)`` pairs are collapsed (weights summed or maxed). Rows with a missing
user id, item id or weight are left out and counted (``Interactions.dropped``); values that
cannot be right (a non-numeric or infinite weight, a list where an id belongs) are errors.
Reading files (compression, the one UTF-8 rule, headers) lives in :mod:`atlas.formats`.

Times: a long-format file may say when each interaction happened (``IngestParams.time_col``, or
a column found because it is obviously a timestamp: see ``find_times``). They are read as whole
Unix seconds (``Interactions.time``; ISO dates and times, or Unix seconds, milliseconds,
microseconds or nanoseconds told apart by their size), only by this in-memory route; a file
without such a column costs nothing more. They place no item: they order a user's items into a
path (:mod:`atlas.paths`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AtlasError, check_choice
from .formats import INTERACTIONS, ITEMS, PROFILE_FORMATS, check_file, read_profiles, read_table, suffix

log = logging.getLogger(__name__)

# The layout's own columns: item metadata columns of these names are kept as "<name>_meta".
LAYOUT_COLUMNS = ("item_id", "x", "y", "n_users", "region")
# A column named with one of these words, or of whole numbers from 10^8 up (Unix seconds since
# 1973, or milliseconds), records when something happened, not how much: it is never a weight.
TIME_WORDS = frozenset({"timestamp", "timestamps", "time", "ts", "date", "datetime", "epoch", "when"})
UNIX_TIME_FROM = 1e8
#: The time of an interaction whose time column is empty; it sorts after every time.
NO_TIME = np.iinfo(np.int64).max
#: Numeric times by their size (the median's magnitude): below 10^11 they are seconds (10^11 s
#: is the year 5138, 10^11 ms is 1973), then milliseconds, microseconds and nanoseconds.
TIME_UNITS = ((1e11, 1.0, "Unix seconds"), (1e14, 1e3, "Unix milliseconds"), (1e17, 1e6, "Unix microseconds"), (float("inf"), 1e9, "Unix nanoseconds"))
#: Numbers found without ``--time-col`` are times only from 1973 (10^8 s) to 2100 (4102444800 s).
PLAUSIBLE_SECONDS = (UNIX_TIME_FROM, 4_102_444_800)
#: Times further than this from 1970 (about 31 million years) cannot be right.
MAX_ABS_SECONDS = 1e15


@dataclass(frozen=True)
class IngestParams:
    """How to read an interaction file.

    Column names default to the first columns of the file: user, item, then a weight when
    neither the user nor the item column is named and the third column is numeric throughout
    and not a timestamp (see ``TIME_WORDS``); what was taken is said in ``Interactions.notes``.
    ``aggregate`` says how duplicate (user, item) pairs combine.
    """

    user_col: str | None = None
    item_col: str | None = None
    weight_col: str | None = None
    aggregate: str = "sum"
    header: bool | None = None  # None: detect
    drop_missing_weights: bool = False  # rows with ids but no weight: an error, or left out and reported
    time_col: str | None = None  # when each interaction happened; None: a column that is obviously a time, if any

    def __post_init__(self) -> None:
        check_choice("aggregate", self.aggregate, ("sum", "max"))
        for role, column in (("user", self.user_col), ("item", self.item_col), ("weight", self.weight_col)):
            if self.time_col is not None and column == self.time_col:
                raise AtlasError(f"the {role} and time columns are both {column!r}; choose two different columns.")


@dataclass(frozen=True, eq=False)
class Interactions:
    """Deduplicated (user, item, weight) triples with integer codes and their original ids."""

    user: np.ndarray  # int32 code into user_ids, one per interaction
    item: np.ndarray  # int32 code into item_ids
    weight: np.ndarray  # float32
    user_ids: np.ndarray  # str ids, indexed by code
    item_ids: np.ndarray
    fingerprint: str  # identifies the content, for caching and the manifest
    dropped: int = 0  # input rows left out for a missing user id, item id or weight
    notes: tuple[str, ...] = ()  # what reading decided for the user (weight column, rows left out)
    # when each (user, item) pair first happened, in Unix seconds (NO_TIME: unknown); None: no times
    time: np.ndarray | None = None
    time_column: str | None = None  # the column the times were read from

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
    notes: tuple[str, ...] = ()  # about the metadata (renamed columns); see also interactions.notes

    @property
    def fingerprint(self) -> str:
        extra = "" if self.items is None else _hash_frame(self.items)
        return _digest(self.interactions.fingerprint, extra, self.name_column or "", self.label_column or "")

    @property
    def all_notes(self) -> tuple[str, ...]:
        return (*getattr(self.interactions, "notes", ()), *self.notes)  # interactions read later (streamed, Spark) have none yet


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _hash_frame(frame: pd.DataFrame) -> str:
    nested = [c for c in frame.columns if is_nested(frame[c])]
    if nested:  # lists and records do not hash; their text does
        frame = frame.assign(**{str(c): frame[c].map(repr) for c in nested})
    values = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return _digest(hashlib.sha256(values.tobytes()).hexdigest(), ",".join(map(str, frame.columns)))


def file_fingerprint(path: Path) -> str:
    """sha256 of the file's bytes (streamed), shortened."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:24]


def is_nested(column: pd.Series) -> bool:
    """Whether a column holds lists, arrays or records (Parquet list/struct columns) rather than values."""
    if column.dtype != object:
        return False
    first = column.first_valid_index()
    return first is not None and isinstance(column[first], list | tuple | dict | np.ndarray)


def from_arrays(
    users, items, weights=None, *, times=None, aggregate: str = "sum", fingerprint: str | None = None, time_column: str | None = None
) -> Interactions:
    """Build Interactions from parallel sequences of user ids, item ids and optional weights
    and times (int64 Unix seconds, or anything ``parse_times`` reads; a pair seen several times
    keeps its first time). Times do not enter the fingerprint: they change no map.

    Rows with a missing id (None, NaN) or a missing weight are left out and counted; the one
    place where that happens, whatever the file format.
    """
    users = np.asarray(users, dtype=object) if isinstance(users, list) else np.asarray(users)
    items = np.asarray(items, dtype=object) if isinstance(items, list) else np.asarray(items)
    if users.shape != items.shape or users.ndim != 1:
        raise AtlasError(f"users and items must be 1-D and of equal length, got {users.shape} and {items.shape}.")
    if weights is None:
        w = np.ones(users.shape[0], dtype=np.float32)
    else:
        w = numeric_weights(pd.Series(np.asarray(weights, dtype=object) if isinstance(weights, list) else np.asarray(weights)), "weight")
        if w.shape != users.shape:
            raise AtlasError("weights must have one value per interaction.")
    t = None
    if times is not None:
        t = times if isinstance(times, np.ndarray) and times.dtype == np.int64 else parse_times(pd.Series(times), time_column or "time")[0]
        if t.shape != users.shape:
            raise AtlasError("times must have one value per interaction.")
    keep = ~(pd.isna(users) | pd.isna(items) | np.isnan(w))
    dropped = int(keep.shape[0] - keep.sum())
    notes: tuple[str, ...] = ()
    if dropped:
        users, items, w = users[keep], items[keep], w[keep]
        t = None if t is None else t[keep]
        notes = (f"left out {dropped:,} of {keep.shape[0]:,} rows with a missing user id, item id or weight",)
        log.info(notes[0])
    user_codes, user_ids = pd.factorize(users, sort=False)
    item_codes, item_ids = pd.factorize(items, sort=False)
    u, i, w, t = _collapse_duplicates(user_codes.astype(np.int64), item_codes.astype(np.int64), w, len(item_ids), aggregate, t)
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
        dropped=dropped,
        notes=notes,
        time=t,
        time_column=None if t is None else (time_column or "time"),
    )


def _as_str_ids(ids) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
        arr = arr.astype(np.int64)
    return arr.astype(str).astype(object)


def _collapse_duplicates(u, i, w, n_items, aggregate, t=None):
    """One row per (user, item) pair, sorted by user then item: weights summed or maxed, and
    times (when given) the earliest: when the user first met the item."""
    if u.shape[0] == 0:
        return u, i, w, t
    key = u * max(n_items, 1) + i
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    if starts.shape[0] == key.shape[0]:
        return u[order], i[order], w[order], None if t is None else t[order]
    w_sorted = w[order]
    reduce = np.maximum.reduceat if aggregate == "max" else np.add.reduceat
    w_new = reduce(w_sorted, starts)
    first = order[starts]
    log.info("collapsed %d duplicate (user, item) pairs (%s)", key.shape[0] - starts.shape[0], aggregate)
    return u[first], i[first], w_new, None if t is None else np.minimum.reduceat(t[order], starts)


def numeric_weights(series: pd.Series, name: str, leave_out: str = "leave the weights out", values: pd.Series | None = None) -> np.ndarray:
    """Weights as float32; missing stays NaN (left out later), anything else not a finite number is an error.

    ``values`` is ``series`` already converted with ``pd.to_numeric(errors="coerce")``, when at hand.
    """
    if is_nested(series):
        raise AtlasError(f"weight column {name!r} holds lists or records, not numbers; choose a numeric column with --weight-col or leave it out.")
    values = pd.to_numeric(series, errors="coerce") if values is None else values
    bad = values.isna() & series.notna()
    if bad.any():
        example = series[bad].iloc[0]
        raise AtlasError(
            f"weight column {name!r} holds non-numeric values such as {str(example)!r}; "
            "choose a numeric column with --weight-col or leave it out."
        )
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf, refused just below
        w = values.to_numpy(dtype=np.float64, na_value=np.nan).astype(np.float32)
    infinite = np.isinf(w)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise AtlasError(
            f"weight column {name!r} holds {int(infinite.sum()):,} infinite or too large values (the first, {str(series.iloc[row])!r}, "
            f"in data row {row + 1}); replace them with finite numbers or {leave_out}."
        )
    return w


def _pick_column(frame: pd.DataFrame, wanted: str | None, position: int, role: str, flag: str, where: str = "the file") -> str | None:
    if wanted is not None:
        if wanted not in frame.columns:
            have = ", ".join(map(str, frame.columns[:12]))
            raise AtlasError(f"column {wanted!r} ({role}) is not in {where}; its columns are: {have}. Fix {flag}.")
        return wanted
    if position < frame.shape[1]:
        return frame.columns[position]
    return None


def _require_ids(frame: pd.DataFrame, column, role: str, flag: str, where: str) -> None:
    if is_nested(frame[column]):
        raise AtlasError(
            f"column {column!r} ({role}) of {where} holds lists or records, not single ids; "
            f"choose a column of plain ids with {flag}, or write one row per id."
        )


def named_like_time(name) -> bool:
    """Whether a column's name says it records a time: a word of ``TIME_WORDS`` (``timestamp``,
    ``played_time``, ``createdDate``) or a last word "at" (``played_at``, ``createdAt``)."""
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower())
    return bool(TIME_WORDS.intersection(words)) or (len(words) > 1 and words[-1] == "at")


def looks_like_time(name, values: pd.Series) -> str | None:
    """Why a numeric column is a timestamp rather than a weight, or None."""
    if named_like_time(name):
        return "its name says it is a time"
    v = values.dropna().to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size and np.all(np.mod(v, 1) == 0) and v.min() >= UNIX_TIME_FROM:
        return "its values are Unix times"
    return None


def _first(mask) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _datetimes_to_seconds(values: pd.Series) -> np.ndarray:
    """A datetime column as int64 Unix seconds (floored; naive times are taken as UTC), NO_TIME where missing."""
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = values.to_numpy(dtype="datetime64[ns]" if values.dtype.kind != "M" else values.dtype)
    seconds = stamps.astype("datetime64[s]").astype(np.int64)
    seconds[np.isnat(stamps)] = NO_TIME
    return seconds


def _read_times(values: pd.Series) -> tuple[np.ndarray | None, str, int]:
    """``(seconds, what the values were, -1)``, or ``(None, "", position of the first value that
    is no time)``: datetimes as they are, numbers as Unix times in the unit their size says
    (``TIME_UNITS``), text as ISO 8601 dates and times."""
    present = values.notna().to_numpy()
    if not present.any():
        return np.full(len(values), NO_TIME, dtype=np.int64), "nothing (the column is empty)", -1
    if is_nested(values) or pd.api.types.is_bool_dtype(values):
        return None, "", _first(present)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _datetimes_to_seconds(values), "dates and times", -1
    numbers = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
    if not (numbers.isna().to_numpy() & present).any():
        v = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        known, finite = ~np.isnan(v), np.isfinite(v)
        if not finite.any():
            return None, "", _first(known)
        magnitude = float(np.median(np.abs(v[finite])))
        per_second, unit = next((scale, label) for limit, scale, label in TIME_UNITS if magnitude < limit)
        with np.errstate(invalid="ignore", over="ignore"):
            seconds = np.floor(v / per_second)
            wild = known & ~(np.abs(seconds) <= MAX_ABS_SECONDS)  # infinities too
        if wild.any():
            return None, "", _first(wild)
        out = np.full(v.shape[0], NO_TIME, dtype=np.int64)
        out[known] = seconds[known].astype(np.int64)
        return out, unit, -1
    text = values.astype("string").str.strip()
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    # pandas also reads "now" and "today": an ISO date starts with its year
    bad = (stamps.isna().to_numpy() | ~text.str.match(r"\d{4}").fillna(False).to_numpy(dtype=bool)) & present
    if bad.any():
        text = bad & numbers.isna().to_numpy()  # neither a date nor a number: the value to show first
        return None, "", _first(text if text.any() else bad)
    return _datetimes_to_seconds(stamps), "ISO dates and times", -1


def bad_time(column, value, where: str) -> AtlasError:
    """The one refusal of a value of the time column that is not a time."""
    return AtlasError(
        f"time column {str(column)!r} holds a value that is not a date, a time or a Unix time: {str(value)[:60]!r} (at {where}); "
        "write ISO dates or times (2024-03-01, 2024-03-01T12:30:00Z) or Unix seconds or milliseconds there, "
        "or choose another column with --time-col."
    )


def parse_times(values: pd.Series, column, where=None) -> tuple[np.ndarray, str]:
    """A time column as int64 Unix seconds (``NO_TIME`` where empty) and what its values were
    ("ISO dates and times", "Unix milliseconds" …); ``bad_time`` names the first value that is
    no time, at ``where(position)`` (default: its data row)."""
    seconds, unit, bad = _read_times(values)
    if seconds is None:
        place = where(bad) if where is not None else f"data row {bad + 1}"
        raise bad_time(column, values.iloc[bad], place)
    return seconds, unit


def _plausible(seconds: np.ndarray, unit: str) -> bool:
    """Whether times read from a column are obviously times: written as dates, or Unix times
    from 1973 to 2100 (small whole numbers such as 1..5 are steps or ranks, not times)."""
    known = seconds[seconds != NO_TIME]
    if not known.size:
        return False
    if not unit.startswith("Unix"):
        return True
    return bool(known.min() >= PLAUSIBLE_SECONDS[0] and known.max() <= PLAUSIBLE_SECONDS[1])


def find_times(frame: pd.DataFrame, taken=()) -> tuple[object, np.ndarray | None, str, tuple[str, ...]]:
    """The column that is obviously a time: ``(column, seconds, unit, notes)``, or ``(None, None, "", notes)``.

    A column (besides ``taken``: the user, item and weight columns) is obviously a time when it
    is a datetime column (Parquet), or when its name says so (``named_like_time``) and every
    value is an ISO date or time, or a plausible Unix time (``_plausible``). The first such
    column is taken. Only columns named like times are read, so a file without one costs
    nothing; one named like a time that is not taken is named in ``notes``.
    """
    notes: list[str] = []
    for column in frame.columns:
        if column in taken:
            continue
        typed = pd.api.types.is_datetime64_any_dtype(frame[column])
        if not typed and not named_like_time(column):
            continue
        seconds, unit, bad = _read_times(frame[column])
        if seconds is not None and (typed or _plausible(seconds, unit)):
            return column, seconds, unit, tuple(notes)
        values = frame[column]
        example = values.iloc[bad] if bad >= 0 else values[values.notna()].iloc[0] if values.notna().any() else None
        shown = "is empty" if example is None else f"holds values such as {str(example)[:40]!r}, which are not dates or Unix times from 1973 on"
        notes.append(f"column {str(column)!r} is named like a time but {shown}; it is not read as times (name it with --time-col to read it anyway)")
    return None, None, "", tuple(notes)


#: Why ``--time-col`` is refused on the routes that do not carry times, and what to do instead.
STREAMED_ROUTE = (
    "this input is streamed from disk (a folder, or a file of at least ATLAS_STREAM_MIN_BYTES, 1 GiB by default)",
    "set ATLAS_STREAM_MIN_BYTES above the file's size to read a single file into memory",
)
SPARK_ROUTE = ("this input is read by Spark (--engine spark)", "leave out --engine spark to read the file into memory")


def time_col_refused(route: tuple[str, str]) -> AtlasError:
    """The refusal of ``--time-col`` on a route that does not carry times (``STREAMED_ROUTE``,
    ``SPARK_ROUTE``): only the in-memory route keeps one value per interaction after reading."""
    why, fix = route
    return AtlasError(f"--time-col is read by the in-memory route only; {why}. Leave out --time-col, or {fix}.")


def _choose_times(path: Path, frame: pd.DataFrame, params: IngestParams, taken) -> tuple[np.ndarray | None, object, tuple[str, ...]]:
    """The times of a long-format table: (seconds or None, their column, notes for the build log)."""
    from .csvread import place

    if params.time_col is not None:
        column = _pick_column(frame, params.time_col, 3, "times", "--time-col")
        seconds, unit = parse_times(frame[column], column, where=lambda row: place(path, row, params.header))
        notes: tuple[str, ...] = (f"times from column {str(column)!r}, read as {unit}",)
    else:
        column, seconds, unit, notes = find_times(frame, taken)
        if column is None:
            return None, None, notes
        notes = (*notes, f"times from column {str(column)!r}, read as {unit} (it is obviously a time; choose another with --time-col)")
    missing = int(np.count_nonzero(seconds == NO_TIME))
    if missing:
        notes = (*notes, f"{missing:,} interaction(s) have no time in column {str(column)!r}; they are left out of a user's path")
    return seconds, column, notes


def _choose_weights(frame: pd.DataFrame, params: IngestParams) -> tuple[np.ndarray | None, str]:
    """The weights and a note saying where they came from (one rule, over the whole column)."""
    if params.weight_col is not None:
        _pick_column(frame, params.weight_col, 2, "weights", "--weight-col")
        return numeric_weights(frame[params.weight_col], str(params.weight_col)), f"weights from column {params.weight_col!r}"
    if params.user_col is not None or params.item_col is not None or frame.shape[1] < 3:
        return None, ""
    third = str(frame.columns[2])
    column = frame[frame.columns[2]]
    unweighted = "every interaction counts 1 (name a weight with --weight-col)"
    if params.time_col is not None and frame.columns[2] == params.time_col:
        return None, f"column {third!r} is the time column (--time-col), so it is not a weight; {unweighted}"
    if is_nested(column):
        return None, f"column {third!r} holds lists, so it is not a weight; {unweighted}"
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        return None, f"column {third!r} holds non-numeric values such as {str(column[bad].iloc[0])!r}, so it is not a weight; {unweighted}"
    if not values.notna().any():
        return None, f"column {third!r} is empty, so it is not a weight; {unweighted}"
    reason = looks_like_time(third, values)
    if reason:
        return None, f"column {third!r} is not taken as a weight: {reason}; {unweighted}"
    leave_out = "give --user-col and --item-col to read the file without weights"
    return numeric_weights(column, third, leave_out, values), f"weights from column {third!r} (numeric third column)"


def _missing_weights(path: Path, frame: pd.DataFrame, ucol, icol, weights: np.ndarray, params: IngestParams) -> tuple[str, ...]:
    """Rows with both ids and no weight: refused, or (``drop_missing_weights``) a note; the
    streamed route (``atlas.scan``) says the same."""
    from .csvread import missing_weights_error, missing_weights_note, place

    missing = np.isnan(weights) & frame[ucol].notna().to_numpy() & frame[icol].notna().to_numpy()
    if not missing.any():
        return ()
    column = str(params.weight_col if params.weight_col is not None else frame.columns[2])
    where = place(path, int(np.flatnonzero(missing)[0]), params.header)
    if not params.drop_missing_weights:
        raise missing_weights_error(INTERACTIONS, path.name, column, int(missing.sum()), where)
    note = missing_weights_note(column, int(missing.sum()), where)
    log.warning(note)
    return (note,)


def load_interactions(path: str | os.PathLike, params: IngestParams = IngestParams()) -> Interactions:
    """Read interactions from ``path`` in any supported format."""
    p = check_file(path)
    kind = suffix(p)
    fingerprint = _digest(file_fingerprint(p), repr(params))
    if kind in PROFILE_FORMATS:
        if params.time_col is not None:
            raise AtlasError(
                f"--time-col needs one interaction per row, and {p.name!r} is a profile file ({kind}: one user per line) that holds no times; "
                "leave out --time-col, or write the interactions as a table with a time column."
            )
        users, items, weights = read_profiles(p, params.user_col, params.item_col)
        result = from_arrays(users, items, weights, aggregate=params.aggregate, fingerprint=fingerprint)
        notes: tuple[str, ...] = ()
        empty: list[tuple] = []
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
        _require_ids(frame, ucol, "users", "--user-col", repr(p.name))
        _require_ids(frame, icol, "items", "--item-col", repr(p.name))
        if params.time_col is not None and params.time_col in (ucol, icol):
            role = "user" if params.time_col == ucol else "item"
            raise AtlasError(f"the {role} and time columns are both {params.time_col!r}; choose two different columns.")
        weights, note = _choose_weights(frame, params)
        notes = (note,) if note else ()
        if weights is not None:
            notes += _missing_weights(p, frame, ucol, icol, weights, params)
        wcol = params.weight_col if params.weight_col is not None else (frame.columns[2] if weights is not None else None)
        times, tcol, time_notes = _choose_times(p, frame, params, taken=(ucol, icol, wcol))
        notes += time_notes
        empty = [(c, flag) for c, flag in ((ucol, "--user-col"), (icol, "--item-col")) if len(frame) and frame[c].isna().all()]
        result = from_arrays(
            frame[ucol].to_numpy(), frame[icol].to_numpy(), weights, times=times, aggregate=params.aggregate, fingerprint=fingerprint,
            time_column=None if tcol is None else str(tcol),
        )
    if len(result) == 0:
        rows = len(result.user) + result.dropped
        if rows == 0:
            raise AtlasError(f"{p.name!r} holds no interactions (no data rows); it needs one (user, item) pair per row.")
        if empty:
            column, flag = empty[0]
            raise AtlasError(f"{p.name!r} holds no usable interactions: its column {column!r} is empty in all {rows:,} rows; choose another with {flag}.")
        raise AtlasError(
            f"{p.name!r} holds no usable interactions: each of its {rows:,} rows misses a user id, an item id or a weight; "
            "check the file and the --user-col/--item-col/--weight-col choices."
        )
    result = replace(result, notes=(*notes, *result.notes))
    log.info("read %d interactions: %d users, %d items from %s", len(result), result.n_users, result.n_items, p)
    return result


def metadata_renames(columns) -> dict:
    """New names for metadata columns that clash with the layout's own (``x`` → ``x_meta``)."""
    taken = set(map(str, columns))
    renames = {}
    for c in columns:
        if str(c) in LAYOUT_COLUMNS:
            new = f"{c}_meta"
            while new in taken:
                new += "_meta"
            taken.add(new)
            renames[c] = new
    return renames


def _read_items(path: str | os.PathLike, item_col: str | None) -> tuple[pd.DataFrame, dict]:
    frame = read_table(path, header=True, role=ITEMS)
    where = f"the item metadata file {Path(path).name!r}"
    col = _pick_column(frame, item_col, 0, "item ids", "--items-id-col", where=where)
    _require_ids(frame, col, "item ids", "--items-id-col", where)
    present = frame[col].notna()
    if not present.any():
        raise AtlasError(f"the item id column {col!r} of {where} is empty; choose the id column with --items-id-col.")
    frame = frame[present].copy()
    frame[col] = _as_str_ids(frame[col].to_numpy())
    frame = frame.drop_duplicates(subset=col, keep="first").set_index(col)
    frame.index.name = "item_id"
    renames = metadata_renames(frame.columns)
    frame = frame.rename(columns=renames)
    for c in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[c]) and not is_nested(frame[c]):
            converted = pd.to_numeric(frame[c], errors="coerce")
            if converted.notna().sum() == frame[c].notna().sum() and frame[c].notna().any():
                frame[c] = converted
    return frame, renames


def load_items(path: str | os.PathLike, *, item_col: str | None = None) -> pd.DataFrame:
    """Read item metadata; the index is the item id as a string, one row per item.

    Columns named like the layout's own (``item_id``, ``x``, ``y``, ``n_users``) are kept as
    ``<name>_meta``; list and record columns (Parquet) are kept as they are.
    """
    return _read_items(path, item_col)[0]


def ids_in(ids: np.ndarray, index: pd.Index) -> np.ndarray:
    """Whether each of ``ids`` is in ``index``, by hashing: linear in their lengths. (``np.isin``
    on object arrays of strings sorts them with Python comparisons: 149 s for 100k ids.)"""
    index = pd.Index(index)
    if index.is_unique:
        return index.get_indexer(np.asarray(ids, dtype=object)) >= 0
    return pd.Index(np.asarray(ids, dtype=object)).isin(index)


def guess_name_column(items: pd.DataFrame | None) -> str | None:
    """The metadata column most likely to be an item's display name."""
    if items is None:
        return None
    for candidate in ("title", "name", "label", "item_name", "artist", "track"):
        for c in items.columns:
            if str(c).lower() == candidate and not is_nested(items[c]):
                return c
    text = [c for c in items.columns if not pd.api.types.is_numeric_dtype(items[c]) and not is_nested(items[c])]
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
    items, notes = None, ()
    if items_path is not None:
        items, renames = _read_items(items_path, items_id_col)
        notes = tuple(f"item metadata column {old!r} is kept as {new!r} (the layout has its own)" for old, new in renames.items())
        name_column, label_column = renames.get(name_column, name_column), renames.get(label_column, label_column)
        matched = ids_in(interactions.item_ids, items.index).mean()
        if matched == 0:
            raise AtlasError(
                f"no item id of the interactions occurs in {Path(items_path).name!r}; "
                "check that its first column (or --items-id-col) holds the same ids."
            )
    name = name_column or guess_name_column(items)
    for col, flag in ((name_column, "name column"), (label_column, "label column")):
        if col is not None and (items is None or col not in items.columns):
            raise AtlasError(f"{flag} {col!r} is not in the item metadata; pick one of its columns.")
        if col is not None and is_nested(items[col]):
            raise AtlasError(f"{flag} {col!r} holds lists, not one value per item; pick a column with a single value per item.")
    source = {"path": str(path), "items_path": None if items_path is None else str(items_path), "ingest": params.__dict__}
    return Dataset(interactions, items, name, label_column, source, notes)
