"""The one CSV reader: whole files and streamed files are read by the same code, so they accept
and refuse the same files with the same messages.

pyarrow's CSV reader reads every column as text (ids are never guessed into numbers, and only
an empty field is missing: items named ``NA``, ``null`` or ``#N/A`` stay items), in batches. The
whole-file route (:func:`read_frame`) joins the batches; the streamed route
(:mod:`atlas.scan`) uses them one at a time. On top of what pyarrow checks, a header that names
one column twice and a header line repeated inside the data (two files joined together) are
refused; a row with another number of fields than the header is refused naming its line.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .errors import AtlasError

BLOCK_BYTES = 1 << 24
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def open_binary(path: Path):
    """The bytes of ``path``, decompressed by its suffix (a ``.zip`` must hold one file)."""
    opener = _OPENERS.get(path.suffix.lower())
    if opener is not None:
        return opener(path, "rb")
    if path.suffix.lower() == ".zip":
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            raise AtlasError(f"{path.name!r} holds {len(members)} files; a zipped table must hold exactly one.")
        return archive.open(members[0])
    return open(path, "rb")


def _records(path: Path, sep: str):
    """(first line, fields) of every non-blank record, read the way pyarrow reads them."""
    with io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors="replace", newline="") as text:
        reader = csv.reader(text, delimiter=sep, strict=False)
        line = 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if fields and fields != [""]:
                yield start, fields


def header_names(path: Path, sep: str) -> list[str]:
    """The fields of the first non-blank record."""
    for _, fields in _records(path, sep):
        return fields
    return []


def line_of(path: Path, sep: str, header: bool, row: int) -> int:
    """The line where data row ``row`` (0-based, after the header) starts."""
    for k, (start, _) in enumerate(_records(path, sep)):
        if k == row + (1 if header else 0):
            return start
    return -1


def _ragged_line(path: Path, sep: str, width: int) -> tuple[int, int]:
    for start, fields in _records(path, sep):
        if len(fields) != width:
            return start, len(fields)
    return -1, -1


def _utf8_problem(path: Path) -> UnicodeDecodeError | None:
    """Where ``path`` stops being UTF-8 text, or None when all of it is."""
    with open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig")
        try:
            while text.read(1 << 20):
                pass
        except UnicodeDecodeError as exc:
            return exc
    return None


def _utf8_error(path: Path, role: str) -> AtlasError:
    from .formats import not_utf8

    problem = _utf8_problem(path)
    if problem is not None:
        return not_utf8(path, role, problem)
    return AtlasError(f"{role} {path.name!r} is not UTF-8 text; re-save it as UTF-8.")


def batches(path: Path, sep: str, header: bool, *, role: str, block_bytes: int = BLOCK_BYTES) -> Iterator:
    """(index of the batch's first data row, a RecordBatch of text columns) for ``path``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = header_names(path, sep)
    if header:
        seen = set()
        for name in names:
            if name in seen:
                raise AtlasError(f"{role} {path.name!r} names the column {name!r} twice in its header; rename one of them.")
            seen.add(name)
    else:
        names = [str(k) for k in range(len(names))]
    bad_rows = []

    def invalid(row):
        bad_rows.append(row)
        return "error"

    done = 0
    try:
        with open_binary(path) as raw:
            reader = pacsv.open_csv(
                raw,
                read_options=pacsv.ReadOptions(column_names=None if header else names, block_size=block_bytes),
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.large_string() for name in names},
                    null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
                ),
            )
            if header and reader.schema.names != names:
                raise AtlasError(f"{role} {path.name!r} has a header that cannot be read as column names; check its first line.")
            for batch in reader:
                if header and batch.num_rows:
                    _check_repeated_header(path, sep, batch, names, done, role)
                yield done, batch
                done += batch.num_rows
    except AtlasError:
        raise
    except pa.ArrowInvalid as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if (bad_rows or "columns, got" in first) and _utf8_problem(path) is not None:  # UTF-16 splits into odd rows: name the encoding, not a line
            raise _utf8_error(path, role) from None
        if bad_rows or "columns, got" in first:
            line, found = _ragged_line(path, sep, len(names))
            raise AtlasError(
                f"{role} {path.name!r} line {line} has {found} field(s) where the header has {len(names)}; "
                "fix that line (a missing or extra separator, or an unclosed quote)."
            ) from None
        if "utf8" in first.lower():
            raise _utf8_error(path, role) from None
        raise AtlasError(f"cannot read {role} {path.name!r} as {path.suffix or 'a table'}: {first}; check the file format.") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise AtlasError(f"cannot read {role} {path.name!r} ({str(exc) or type(exc).__name__}); check the file format.") from None


def _check_repeated_header(path: Path, sep: str, batch, names: list[str], done: int, role: str) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    same = None
    for k, name in enumerate(names):
        equal = pc.fill_null(pc.equal(batch.column(k), pa.scalar(name, pa.large_string())), False)
        same = equal if same is None else pc.and_(same, equal)
        if not pc.any(same).as_py():
            return
    row = done + int(pc.index(same, True).as_py())
    raise AtlasError(
        f"{role} {path.name!r} line {line_of(path, sep, True, row)} repeats the header row; remove it "
        "(files joined together each keep their header)."
    )


def read_frame(path: Path, sep: str, header: bool, *, role: str):
    """The whole file as a DataFrame of text columns (None where a field is empty)."""
    import pyarrow as pa

    parts = [batch for _, batch in batches(path, sep, header, role=role)]
    if not parts:
        names = header_names(path, sep) if header else [str(k) for k in range(len(header_names(path, sep)))]
        table = pa.table({name: pa.array([], type=pa.large_string()) for name in names})
    else:
        table = pa.Table.from_batches(parts)
    frame = table.to_pandas(types_mapper=None)
    return frame.astype(object).where(frame.notna(), None)


def place(path: Path, row: int, header: bool | None) -> str:
    """Where data row ``row`` (0-based) of an input file is, as a person finds it: a line of a
    text table, a row of anything else."""
    from .formats import LONG_FORMATS, _sniff_header, suffix

    kind = suffix(path)
    if kind in LONG_FORMATS:
        sep = LONG_FORMATS[kind]
        resolved = header if header is not None else _sniff_header(path, sep)
        return f"line {line_of(path, sep, resolved, row)}"
    return f"data row {row + 1}"


def missing_weights_error(role: str, name: str, column: str, count: int, where: str) -> AtlasError:
    """The one refusal of rows that have ids but no weight (both routes)."""
    return AtlasError(
        f"{role} {name!r} has {count:,} row(s) with ids but no weight in column {column!r} (the first on {where}); "
        "fill them in, or add --drop-missing-weights to leave those rows out."
    )


def missing_weights_note(column: str, count: int, where: str) -> str:
    """What a build says when ``--drop-missing-weights`` left rows out (both routes)."""
    return f"left out {count:,} row(s) with no weight in column {column!r} (--drop-missing-weights; the first on {where})"
