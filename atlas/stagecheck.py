"""Checks of a candidates file, which someone else may have written or edited.

A file written by ``atlas candidates`` travels (from a Spark cluster to a laptop, from one person
to another), so before anything uses it, it is checked like any input: the columns and their
types, the length of every list, partner indices in range (a negative index would wrap around to
a real item), finite scores, a known weighting, distinct ids, and metadata that agrees with the
rows. Every failure is an ``AtlasError`` of one line that names the file and the problem.
"""

from __future__ import annotations

import numpy as np

from .errors import AtlasError

#: The columns of a candidates file and the Arrow type family each must have.
COLUMNS = {"item_id": "string", "item_source": "integer", "n_users": "integer", "partners": "list<integer>", "scores": "list<floating>", "counts": "list<floating>"}
SIGNED_SCORES = ("pmi",)  # weightings whose scores may be below zero


def _fail(name: str, what: str) -> AtlasError:
    return AtlasError(f"candidates file {name!r} {what}; write it again with 'atlas candidates'.")


def _family(kind) -> str:
    import pyarrow as pa

    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "floating"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return f"list<{_family(kind.value_type)}>"
    return str(kind)


def check_schema(name: str, schema) -> None:
    for column, family in COLUMNS.items():
        index = schema.get_field_index(column)
        if index < 0:
            raise _fail(name, f"has no column {column!r}")
        if schema.names.count(column) > 1:
            raise _fail(name, f"has the column {column!r} twice")
        found = _family(schema.field(column).type)
        if found != family and not (family == "list<floating>" and found == "list<integer>"):
            raise _fail(name, f"has column {column!r} of type {schema.field(column).type}, not {family}")


def check_meta(name: str, meta: dict) -> dict:
    """The metadata's parameters, checked by their classes; returns them as plain dicts."""
    from .cooccur import CooccurrenceParams
    from .manifest import _instance  # the one strict reader of recorded parameters
    from .profiles import FilterParams
    from .weightings import WEIGHTINGS

    params = meta.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("filter"), dict) or not isinstance(params.get("cooccurrence"), dict):
        raise _fail(name, "records no filter and co-occurrence parameters ('params' in its metadata)")
    refuse = lambda what: _fail(name, what)  # noqa: E731
    _instance(FilterParams, params["filter"], "params.filter", name, refuse=refuse)
    cooc = _instance(CooccurrenceParams, params["cooccurrence"], "params.cooccurrence", name, refuse=refuse)
    weighting = meta.get("weighting")
    if weighting not in WEIGHTINGS:
        raise _fail(name, f"uses the weighting {weighting!r}, which this atlas does not know ({', '.join(WEIGHTINGS)})")
    if weighting != cooc.weighting:
        raise _fail(name, f"says its weighting is {weighting!r} but its parameters say {cooc.weighting!r}")
    m = meta.get("n_candidates")
    if not isinstance(m, int) or isinstance(m, bool) or m < 1 or m != cooc.n_candidates:
        raise _fail(name, f"records {m!r} candidates per item, but its parameters say {cooc.n_candidates}")
    for key in ("pair_updates", "item_pair_updates"):
        value = meta.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _fail(name, f"records {key} = {value!r}, not a count")
    counts = meta.get("counts")
    needed = ("users", "items", "interactions", "input_interactions")
    if not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) and not isinstance(counts.get(k), bool) and counts[k] >= 0 for k in needed):
        raise _fail(name, "records no profile counts (users, items, interactions) in its metadata")
    for key, value in counts.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
            raise _fail(name, f"records the count {key!r} = {value!r}, not a number")
    return params


def list_matrix(name: str, table, column: str, m: int, dtype) -> np.ndarray:
    """A list column as an n × m array; every row must hold exactly ``m`` values, none missing."""
    import pyarrow as pa

    values = table.column(column).combine_chunks()
    n = len(values)
    if values.null_count:
        row = int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
        raise _fail(name, f"has no {column} in row {row + 1}")
    lengths = np.asarray(pa.compute.list_value_length(values).to_numpy(zero_copy_only=False))
    wrong = np.flatnonzero(lengths != m)
    if wrong.size:
        raise _fail(name, f"has {int(lengths[wrong[0]])} {column} in row {wrong[0] + 1}, where its metadata says {m} per item")
    flat = values.flatten()
    if flat.null_count:
        raise _fail(name, f"has missing values inside the {column} lists")
    return np.asarray(flat.to_numpy(zero_copy_only=False)).astype(dtype).reshape(n, m)


def check_rows(name: str, ids: list, source: np.ndarray, users: np.ndarray, index: np.ndarray, score: np.ndarray, count: np.ndarray, weighting: str, meta: dict) -> None:
    n = len(ids)
    if n == 0:
        raise _fail(name, "holds no items")
    if n != meta["counts"]["items"]:
        raise _fail(name, f"holds {n} items, but its metadata counts {meta['counts']['items']}")
    missing = [k for k, v in enumerate(ids) if v is None]
    if missing:
        raise _fail(name, f"has no item_id in row {missing[0] + 1}")
    seen: dict[str, int] = {}
    for row, item in enumerate(ids):
        if item in seen:
            raise _fail(name, f"lists the item {item!r} twice (rows {seen[item] + 1} and {row + 1}); each item needs one row")
        seen[item] = row
    if (source < 0).any() or (users < 0).any():
        raise _fail(name, "has a negative item_source or n_users")
    real = index >= 0
    bad = (index < -1) | (index >= n)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise _fail(name, f"has the partner index {int(index[row, col])} in row {row + 1}, outside 0..{n - 1} (-1 marks no partner)")
    if (index == np.arange(n)[:, None]).any():
        row = int(np.flatnonzero((index == np.arange(n)[:, None]).any(axis=1))[0])
        raise _fail(name, f"makes item {ids[row]!r} its own partner (row {row + 1})")
    if (real[:, 1:] & ~real[:, :-1]).any():
        row = int(np.flatnonzero((real[:, 1:] & ~real[:, :-1]).any(axis=1))[0])
        raise _fail(name, f"has a partner after an empty slot (-1) in row {row + 1}; partners come first")
    ordered = np.sort(np.where(real, index, -1 - np.arange(index.shape[1])), axis=1)
    if (ordered[:, 1:] == ordered[:, :-1]).any():
        row = int(np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))[0])
        raise _fail(name, f"lists one partner twice in row {row + 1}")
    for label, values, signed in (("score", score, weighting in SIGNED_SCORES), ("count", count, False)):
        shown = values[real]
        if not np.isfinite(shown).all():
            row = int(np.argwhere(real & ~np.isfinite(values))[0][0])
            raise _fail(name, f"has a {label} that is not a finite number in row {row + 1}")
        if not signed and (shown < 0).any():
            row = int(np.argwhere(real & (values < 0))[0][0])
            raise _fail(name, f"has a negative {label} in row {row + 1}")
