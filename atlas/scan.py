"""Stage 2 for inputs larger than memory: stream a Parquet folder, a Parquet file or a CSV in
batches and build the same ``Profiles`` as ``build_profiles(load_interactions(path))``.

The raw table never exists in pandas. Each batch (``pyarrow``) is reduced at once to three
compact columns — a user code, an item code (ids numbered in order of first appearance, as
``pd.factorize`` numbers them) and a float32 weight, 12 bytes an interaction — and the profile
matrix is built from those by a counting sort on the user, with duplicates collapsed per row.
The filters then run on the matrix itself, by the rules of :func:`atlas.profiles.build_profiles`
(the seeded ``max_user_items`` cap draws the very same random numbers), so the two routes give
equal profiles, which the tests check.

A folder is read file by file in the order of the files' names (``part-0000.parquet`` …); its
files may be Parquet or one delimited text format.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import AtlasError
from .formats import INTERACTIONS, LONG_FORMATS, PROFILE_FORMATS, _sniff_header
from .ingest import STREAMED_ROUTE, Dataset, IngestParams, _as_str_ids, _digest, _pick_column, file_fingerprint, looks_like_time, numeric_weights, time_col_refused
from .profiles import FilterParams, Profiles, check_kept, no_weight_left, nothing_left

log = logging.getLogger(__name__)

#: Files at least this large (or any folder) are streamed by ``atlas build``; ``ATLAS_STREAM_MIN_BYTES`` changes it.
STREAM_MIN_BYTES = 1 << 30
BATCH_ROWS = 1 << 22
_COMPRESSED = (".gz", ".bz2", ".xz")


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


@dataclass(frozen=True, eq=False)
class InteractionFiles:
    """Interactions left on disk until the profiles stage reads them in batches.

    ``files`` are read in this order; ``format`` is ``.parquet`` or a delimited text suffix
    (``.csv``, ``.tsv`` …); ``fingerprint`` identifies their content and the reading choices.
    """

    path: str
    files: tuple[Path, ...]
    format: str
    params: IngestParams
    fingerprint: str

    @property
    def n_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def interaction_files(path: str | os.PathLike, params: IngestParams = IngestParams()) -> InteractionFiles:
    """The files of ``path`` (a file, or a folder of Parquet or delimited text files) to stream
    (times are not streamed: ``params.time_col`` is refused)."""
    if params.time_col is not None:
        raise time_col_refused(STREAMED_ROUTE)
    p = Path(path)
    if not p.exists():
        raise AtlasError(f"input file {str(p)!r} does not exist; check the path.")
    if p.is_dir():
        files = sorted((f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_")) and f.stat().st_size > 0), key=lambda f: f.as_posix())
        formats = {_format(f) for f in files}
        if not files:
            raise AtlasError(f"input folder {str(p)!r} holds no data files; give a folder of Parquet or CSV files.")
        if len(formats) > 1:
            raise AtlasError(f"input folder {str(p)!r} mixes file types ({', '.join(sorted(formats))}); keep one format per folder.")
    else:
        if p.stat().st_size == 0:
            raise AtlasError(f"input file {str(p)!r} is empty; it needs one interaction per line.")
        files = [p]
    fmt = _format(files[0])
    if fmt != ".parquet" and fmt not in LONG_FORMATS:
        raise AtlasError(f"cannot stream {files[0].name!r}: unsupported file type {fmt or '(none)'}; stream Parquet or {', '.join(LONG_FORMATS)} files.")
    if len(files) == 1 and not p.is_dir():
        fingerprint = _digest(file_fingerprint(files[0]), repr(params))  # what load_interactions records
    else:
        parts = [f"{f.relative_to(p).as_posix()}={file_fingerprint(f)}" for f in files]
        fingerprint = _digest(*parts, repr(params))
    return InteractionFiles(str(path), tuple(files), fmt, params, fingerprint)


def should_stream(path: str | os.PathLike) -> bool:
    """Whether ``atlas build`` streams ``path``: a folder, or a long-format file of at least
    ``ATLAS_STREAM_MIN_BYTES`` (default 1 GiB). Both routes give the same profiles."""
    p = Path(path)
    if p.is_dir():
        return True
    if not p.is_file() or (_format(p) != ".parquet" and _format(p) not in LONG_FORMATS):
        return False
    raw = os.environ.get("ATLAS_STREAM_MIN_BYTES")
    try:
        limit = STREAM_MIN_BYTES if raw is None else int(float(raw))
    except ValueError:
        raise AtlasError(f"ATLAS_STREAM_MIN_BYTES must be a number of bytes, got {raw!r}.") from None
    return p.stat().st_size >= limit


def scan_dataset(
    path: str | os.PathLike,
    params: IngestParams = IngestParams(),
    *,
    items_path: str | os.PathLike | None = None,
    items_id_col: str | None = None,
    name_column: str | None = None,
    label_column: str | None = None,
) -> Dataset:
    """Like :func:`atlas.load_dataset`, but the interactions stay on disk (``InteractionFiles``)
    until ``Pipeline.profiles`` streams them."""
    files = interaction_files(path, params)
    return lazy_dataset(files, items_path=items_path, items_id_col=items_id_col, name_column=name_column, label_column=label_column)


def lazy_dataset(interactions, *, items_path=None, items_id_col=None, name_column=None, label_column=None) -> Dataset:
    """A ``Dataset`` whose interactions are read later (``InteractionFiles``, a Spark input),
    with its item metadata loaded now. Item ids are matched to the metadata once the profiles
    exist (the export joins them by id)."""
    from .ingest import guess_name_column, load_items

    items = None if items_path is None else load_items(items_path, item_col=items_id_col)
    for col, flag in ((name_column, "name column"), (label_column, "label column")):
        if col is not None and (items is None or col not in items.columns):
            raise AtlasError(f"{flag} {col!r} is not in the item metadata; pick one of its columns.")
    path = getattr(interactions, "path", None) or getattr(interactions, "location", None)
    source = {"path": str(path), "items_path": None if items_path is None else str(items_path), "ingest": interactions.params.__dict__, "streamed": True}
    return Dataset(interactions, items, name_column or guess_name_column(items), label_column, source)


# -- reading batches --------------------------------------------------------------------------


#: Bytes of text per CSV batch (smaller in tests, to cross batch boundaries often).
CSV_BLOCK_BYTES = 1 << 24


def _batches(files: InteractionFiles, batch_rows: int) -> Iterator:
    """(file, index of the batch's first row in that file, RecordBatch) over every file; text
    tables go through the same reader as whole files (:mod:`atlas.csvread`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .csvread import batches as csv_batches

    for path in files.files:
        if files.format == ".parquet":
            try:
                done = 0
                for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
                    yield path, done, batch
                    done += batch.num_rows
            except (pa.ArrowException, OSError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise AtlasError(f"cannot read {path.name!r} as {files.format}: {first}; check the file format.") from None
            continue
        sep = LONG_FORMATS[files.format]
        header = files.params.header if files.params.header is not None else _sniff_header(path, sep)
        for done, batch in csv_batches(path, sep, header, role=INTERACTIONS, block_bytes=CSV_BLOCK_BYTES):
            yield path, done, batch


def _columns(sample: pd.DataFrame, params: IngestParams, name: str = "the input") -> tuple[str, str, str | None]:
    """(user, item, weight) column names by the rules of ``load_interactions``; ``sample`` is
    the first rows of the file with all its columns, ``name`` how errors name the input."""
    if sample.shape[1] < 2 and params.user_col is None:
        raise AtlasError(
            f"{name} has only {sample.shape[1]} column; it needs a user and an item column (or use a profile format: {', '.join(PROFILE_FORMATS)})."
        )
    ucol = _pick_column(sample, params.user_col, 0, "users", "--user-col")
    icol = _pick_column(sample, params.item_col, 1, "items", "--item-col")
    if ucol == icol:
        raise AtlasError(f"the user and item columns are both {ucol!r}; choose two different columns.")
    wcol = params.weight_col
    if wcol is not None:
        _pick_column(sample, wcol, 2, "weights", "--weight-col")
    elif params.user_col is None and params.item_col is None and sample.shape[1] >= 3:
        third = sample.columns[2]
        column = sample[third].head(1000)
        values = pd.to_numeric(column, errors="coerce")
        numeric = (values.notna() | column.isna()).all() and values.notna().any()  # missing is not text
        if numeric and not looks_like_time(third, values):  # load_interactions' rule: a timestamp is no weight
            wcol = third
    return ucol, icol, wcol


class _Codes:
    """Numbers ids in order of first appearance across batches (what ``pd.factorize`` does to the whole column)."""

    def __init__(self) -> None:
        self.known = None  # pyarrow Array of the ids seen, by code

    def __len__(self) -> int:
        return 0 if self.known is None else len(self.known)

    def encode(self, column, name: object = "") -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(column)
        dictionary = encoded.dictionary
        local = encoded.indices.to_numpy(zero_copy_only=False)
        if self.known is None:
            self.known = dictionary
            return local.astype(np.int32)
        if dictionary.type != self.known.type:
            raise AtlasError(
                f"column {name!r} holds {_kind(self.known.type)} in one part of the input and {_kind(dictionary.type)} in another; "
                "write every file of the folder with the same column types."
            )
        found = pc.index_in(dictionary, value_set=self.known)
        new = found.is_null().to_numpy(zero_copy_only=False)
        mapping = found.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        mapping[new] = len(self.known) + np.arange(int(new.sum()))
        if new.any():
            self.known = pa.concat_arrays([self.known, dictionary.filter(pa.array(new))])
        return mapping[local].astype(np.int32)

    def ids(self) -> np.ndarray:
        values = self.known.to_numpy(zero_copy_only=False) if self.known is not None else np.array([], dtype=object)
        return _as_str_ids(values)


def _kind(kind) -> str:
    import pyarrow as pa

    if pa.types.is_integer(kind):
        return "whole numbers"
    if pa.types.is_floating(kind):
        return "numbers"
    return "text"


def _plain_ids(column):
    """An id column in one type for every batch; NaN counts as missing, as in pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.large_string())
    if pa.types.is_floating(column.type):
        column = column.cast(pa.float64())
        return pc.if_else(pc.is_nan(column), pa.scalar(None, pa.float64()), column)
    if pa.types.is_integer(column.type):
        return column.cast(pa.int64())
    return column.cast(pa.large_string())


def _weights(column, name: str) -> np.ndarray:
    import pyarrow as pa

    w = None
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
        w = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:
            w = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            pass  # text that arrow does not parse: pandas' rules (and its error)
    if w is not None:
        with np.errstate(over="ignore"):
            w = w.astype(np.float32)
        if not np.isinf(w).any():
            return w
    return numeric_weights(pd.Series(column.to_pandas()), name)  # the local route's checks and errors (lists, text, infinities)


def read_codes(files: InteractionFiles, batch_rows: int = BATCH_ROWS):
    """Stream ``files`` into per-batch (user code, item code, weight) arrays and the two id coders."""
    import pyarrow as pa
    import pyarrow.compute as pc

    users, items = _Codes(), _Codes()
    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    columns = None
    n_rows = 0
    missing = 0  # rows with ids and no weight, and where the first one is
    first_missing = None
    for path, offset, batch in _batches(files, batch_rows):
        if columns is None:
            columns = _columns(batch.slice(0, 1000).to_pandas(), files.params, repr(Path(files.path).name))
        names = batch.schema.names
        absent = [c for c in columns if c is not None and c not in names]
        if absent:
            raise AtlasError(f"column {absent[0]!r} is missing from part of the input; every file of a folder needs the same columns.")
        ucol, icol, wcol = columns
        n_rows += batch.num_rows
        u, i = _plain_ids(batch.column(ucol)), _plain_ids(batch.column(icol))
        w = np.ones(batch.num_rows, dtype=np.float32) if wcol is None else _weights(batch.column(wcol), str(wcol))
        ids = pc.and_(pc.is_valid(u), pc.is_valid(i)).to_numpy(zero_copy_only=False)
        no_weight = ids & np.isnan(w)
        if no_weight.any():
            missing += int(no_weight.sum())
            if first_missing is None:
                first_missing = (path, offset + int(np.flatnonzero(no_weight)[0]))
        valid = ids & np.isfinite(w)
        if not valid.all():
            mask = pa.array(valid)
            u, i, w = u.filter(mask), i.filter(mask), w[valid]
        if len(u) == 0:
            continue
        chunks.append((users.encode(u, ucol), items.encode(i, icol), w))
    if missing:
        from .csvread import missing_weights_error, missing_weights_note, place

        path, row = first_missing
        where = place(path, row, files.params.header)
        if not files.params.drop_missing_weights:
            raise missing_weights_error(INTERACTIONS, path.name, str(columns[2]), missing, where)
        log.warning(missing_weights_note(str(columns[2]), missing, where))
    return chunks, users, items, n_rows


# -- building and filtering the matrix (compiled) ---------------------------------------------


@numba.njit(cache=True)
def _count_rows(codes, counts):  # pragma: no cover - compiled
    for k in range(codes.shape[0]):
        counts[codes[k]] += 1


@numba.njit(cache=True)
def _scatter(u, i, w, next_pos, out_i, out_w):  # pragma: no cover - compiled
    for k in range(u.shape[0]):
        p = next_pos[u[k]]
        out_i[p] = i[k]
        out_w[p] = w[k]
        next_pos[u[k]] = p + 1


@numba.njit(cache=True)
def _collapse_rows(indptr, indices, data, use_max):  # pragma: no cover - compiled
    """Sort each row by column and collapse repeated columns (sum or max, in input order); in place.
    Returns the new row pointers."""
    n = indptr.shape[0] - 1
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    write = 0
    for r in range(n):
        lo, hi = indptr[r], indptr[r + 1]
        seg_i = indices[lo:hi].copy()
        seg_w = data[lo:hi].copy()
        order = np.argsort(seg_i, kind="mergesort")
        k = 0
        while k < order.shape[0]:
            j = seg_i[order[k]]
            value = seg_w[order[k]]
            k += 1
            while k < order.shape[0] and seg_i[order[k]] == j:
                if use_max:
                    value = max(value, seg_w[order[k]])
                else:
                    value += seg_w[order[k]]
                k += 1
            indices[write] = j
            data[write] = value
            write += 1
        out_ptr[r + 1] = write
    return out_ptr


@numba.njit(cache=True)
def _item_counts(indices, keep, n_items):  # pragma: no cover - compiled
    counts = np.zeros(n_items, dtype=np.int64)
    for p in range(indices.shape[0]):
        if keep[p]:
            counts[indices[p]] += 1
    return counts


@numba.njit(cache=True)
def _drop_items(indices, keep, counts, minimum):  # pragma: no cover - compiled
    for p in range(indices.shape[0]):
        if keep[p] and counts[indices[p]] < minimum:
            keep[p] = False


@numba.njit(cache=True)
def _drop_short_rows(indptr, keep, minimum):  # pragma: no cover - compiled
    """Drop the rows with fewer than ``minimum`` kept entries; returns each row's kept count."""
    n = indptr.shape[0] - 1
    counts = np.zeros(n, dtype=np.int64)
    for r in range(n):
        c = 0
        for p in range(indptr[r], indptr[r + 1]):
            if keep[p]:
                c += 1
        if c < minimum:
            for p in range(indptr[r], indptr[r + 1]):
                keep[p] = False
            c = 0
        counts[r] = c
    return counts


@numba.njit(cache=True)
def _compact(indptr, indices, data, keep, row_map, col_map, n_rows):  # pragma: no cover - compiled
    n_kept = 0
    for p in range(keep.shape[0]):
        if keep[p]:
            n_kept += 1
    out_ptr = np.zeros(n_rows + 1, dtype=np.int64)
    out_i = np.empty(n_kept, dtype=np.int32)
    out_w = np.empty(n_kept, dtype=np.float32)
    write = 0
    for r in range(indptr.shape[0] - 1):
        if row_map[r] < 0:
            continue
        for p in range(indptr[r], indptr[r + 1]):
            if keep[p]:
                out_i[write] = col_map[indices[p]]
                out_w[write] = data[p]
                write += 1
        out_ptr[row_map[r] + 1] = write
    return out_ptr, out_i, out_w


def _cap_mask(indptr: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """``build_profiles``' seeded cap on the matrix: the random draw of the interaction at
    position p (deduplicated, by user then item, as ``Interactions`` holds them) is the p-th
    number of ``default_rng(seed).random``; each long row keeps its ``cap`` smallest draws.
    Only long rows draw: the generator jumps over the others (``PCG64.advance``)."""
    keep = np.ones(int(indptr[-1]), dtype=bool)
    lengths = np.diff(indptr)
    bits = np.random.PCG64(np.random.SeedSequence(seed))
    rng = np.random.Generator(bits)
    position = 0
    for r in np.flatnonzero(lengths > cap):
        lo, hi = int(indptr[r]), int(indptr[r + 1])
        bits.advance(lo - position)
        draws = rng.random(hi - lo)
        position = hi
        order = np.argsort(draws, kind="stable")
        keep[lo + order[cap:]] = False
    return keep


def profile_matrix(chunks, n_users: int, n_items: int, aggregate: str):
    """The deduplicated user × item matrix (CSR arrays, rows sorted) from per-batch code arrays;
    the chunks are released as they are consumed."""
    counts = np.zeros(n_users, dtype=np.int64)
    for u, _, _ in chunks:
        _count_rows(u, counts)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    next_pos = indptr[:-1].copy()
    while chunks:
        u, i, w = chunks.pop(0)
        _scatter(u, i, w, next_pos, indices, data)
        del u, i, w
    del next_pos
    indptr = _collapse_rows(indptr, indices, data, aggregate == "max")
    nnz = int(indptr[-1])
    return indptr, indices[:nnz].copy(), data[:nnz].copy()


def filter_matrix(indptr, indices, data, n_items: int, params: FilterParams):
    """``build_profiles``' filters on the matrix: (kept row codes, kept column codes, CSR of the kept part)."""
    n = indices.shape[0]
    keep = np.ones(n, dtype=bool)
    if params.min_weight is not None:
        keep &= data >= params.min_weight
        if not keep.any():
            raise no_weight_left(params, float(data.max()))
    if params.max_user_items is not None:
        keep &= _cap_mask(indptr, params.max_user_items, params.seed)
    for _ in range(50):
        _drop_items(indices, keep, _item_counts(indices, keep, n_items), params.min_item_users)
        _drop_short_rows(indptr, keep, params.min_user_items)
        after = _item_counts(indices, keep, n_items)
        if np.all((after >= params.min_item_users) | (after == 0)):
            break
    row_counts = _drop_short_rows(indptr, keep, 1)  # kept entries per row (drops nothing more)
    if row_counts.sum() == 0:
        raise nothing_left(params)
    item_counts = _item_counts(indices, keep, n_items)
    user_codes = np.flatnonzero(row_counts > 0)
    item_codes = np.flatnonzero(item_counts > 0)
    check_kept(user_codes.shape[0], item_codes.shape[0])
    row_map = np.full(indptr.shape[0] - 1, -1, dtype=np.int64)
    row_map[user_codes] = np.arange(user_codes.shape[0])
    col_map = np.full(n_items, -1, dtype=np.int32)
    col_map[item_codes] = np.arange(item_codes.shape[0], dtype=np.int32)
    return user_codes, item_codes, _compact(indptr, indices, data, keep, row_map, col_map, user_codes.shape[0])


def scan_profiles(source: InteractionFiles | str | os.PathLike, params: FilterParams = FilterParams(), *, batch_rows: int = BATCH_ROWS) -> Profiles:
    """The filtered profiles of interaction files, streamed: equal to
    ``build_profiles(load_interactions(path), params)`` for a file ``load_interactions`` reads."""
    files = source if isinstance(source, InteractionFiles) else interaction_files(source)
    chunks, users, items, n_rows = read_codes(files, batch_rows)
    if not chunks:
        raise AtlasError(f"{Path(files.path).name!r} holds no interactions (every row was empty or had a missing id).")
    log.info("read %d rows: %d users, %d items from %s", n_rows, len(users), len(items), files.path)
    indptr, indices, data = profile_matrix(chunks, len(users), len(items), files.params.aggregate)
    n_input = int(indices.shape[0])
    user_codes, item_codes, (ptr, cols, weights) = filter_matrix(indptr, indices, data, len(items), params)
    del indptr, indices, data
    matrix = sp.csr_matrix((weights, cols, ptr), shape=(user_codes.shape[0], item_codes.shape[0]))
    matrix.has_sorted_indices = True
    log.info("kept %d users, %d items, %d interactions", matrix.shape[0], matrix.shape[1], matrix.nnz)
    return Profiles(
        matrix=matrix,
        user_ids=users.ids()[user_codes],
        item_ids=items.ids()[item_codes],
        item_source=item_codes.astype(np.int64),
        item_users=np.bincount(cols, minlength=item_codes.shape[0]).astype(np.int64),
        n_input_interactions=n_input,
    )


def digest_of(profiles: Profiles) -> str:
    """A content hash of profiles (for tests and benchmarks that compare two routes)."""
    h = hashlib.sha256()
    m = profiles.matrix
    for arr in (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float32), profiles.item_source, profiles.item_users):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("\0".join(map(str, profiles.item_ids)).encode())
    h.update("\0".join(map(str, profiles.user_ids)).encode())
    return h.hexdigest()[:24]
