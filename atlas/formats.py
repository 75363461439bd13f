"""Reading the files people have: compression, text decoding, header detection, tables and
profile lines. :mod:`atlas.ingest` turns what is read here into interactions and metadata.

One decoding rule for every text format: UTF-8, with or without a byte-order mark, optionally
compressed (``.gz``, ``.bz2``, ``.xz``; CSV also ``.zip``). A file in another encoding
(Latin-1, Windows-1252) stops with one line asking for it to be re-saved as UTF-8, rather than
being guessed at: a wrong guess would silently change ids and names.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import math
import os
import re
from pathlib import Path

import pandas as pd

from .errors import AtlasError

LONG_FORMATS = {".csv": ",", ".tsv": "\t", ".dat": "\t", ".tab": "\t"}
PROFILE_FORMATS = (".jsonl", ".ndjson", ".json", ".txt")
PARQUET = ".parquet"
SUPPORTED = ", ".join([*LONG_FORMATS, PARQUET, *PROFILE_FORMATS])
COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
ENCODING = "utf-8-sig"  # UTF-8; a byte-order mark at the start is skipped
COLUMN_WORDS = re.compile(r"user|item|rating|weight|count|plays|score|time|date|name|^id$|_id$", re.IGNORECASE)

INTERACTIONS = "input file"
ITEMS = "item metadata file"
_FLAG = {INTERACTIONS: "the INPUT path", ITEMS: "the --items path"}


def suffix(path: Path) -> str:
    """The format suffix, looking through a compression suffix (``plays.csv.gz`` → ``.csv``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (*COMPRESSIONS, ".zip"):
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def check_file(path: str | os.PathLike, role: str = INTERACTIONS) -> Path:
    """``path`` as a Path, or an AtlasError when it is missing, a folder or empty."""
    p = Path(path)
    if not p.exists():
        raise AtlasError(f"{role} {str(p)!r} does not exist; check {_FLAG.get(role, 'the path')}.")
    if p.is_dir():
        raise AtlasError(f"{role} {str(p)!r} is a folder; give the file itself.")
    if p.stat().st_size == 0:
        what = "one interaction per line" if role == INTERACTIONS else "a header and one item per line"
        raise AtlasError(f"{role} {str(p)!r} is empty; it needs {what}.")
    return p


def not_utf8(path: Path, role: str, exc: UnicodeDecodeError) -> AtlasError:
    """The one error for text that is not UTF-8."""
    byte = exc.object[exc.start : exc.start + 1].hex() if isinstance(exc.object, bytes | bytearray) else ""
    if exc.start == 0 and isinstance(exc.object, bytes | bytearray) and exc.object[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return AtlasError(f"{role} {path.name!r} is UTF-16 text, not UTF-8; re-save it as UTF-8.")
    where = f" (it holds the byte 0x{byte})" if byte else ""
    return AtlasError(
        f"{role} {path.name!r} is not UTF-8 text{where}, as files saved as Latin-1 or Windows-1252 are; re-save it as UTF-8."
    )


def open_text(path: Path, errors: str = "strict"):
    """A text stream of ``path`` by the one decoding rule, decompressing by suffix."""
    opener = COMPRESSIONS.get(path.suffix.lower())
    if path.suffix.lower() == ".zip":
        raise AtlasError(f"{path.name!r}: zip archives are read only for CSV/TSV tables; unzip it, or compress it with gzip instead.")
    if opener is None:
        return open(path, encoding=ENCODING, errors=errors, newline="")
    return io.TextIOWrapper(opener(path, "rb"), encoding=ENCODING, errors=errors, newline="")


def read_table(path: str | os.PathLike, *, header: bool | None = None, role: str = INTERACTIONS) -> pd.DataFrame:
    """Read a CSV/TSV/.dat/Parquet file into a DataFrame of strings (Parquet keeps its types)."""
    p = check_file(path, role)
    kind = suffix(p)
    try:
        if kind == PARQUET:
            return pd.read_parquet(p)
        if kind not in LONG_FORMATS:
            raise AtlasError(f"cannot read {role} {p.name!r}: unsupported file type {kind or '(none)'}; use one of {SUPPORTED}.")
        sep = LONG_FORMATS[kind]
        if header is None:
            header = _sniff_header(p, sep)
        from .csvread import read_frame  # the one CSV reader, shared with the streamed route

        return read_frame(p, sep, header, role=role)
    except AtlasError:
        raise
    except UnicodeDecodeError as exc:
        raise not_utf8(p, role, exc) from None
    except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AtlasError(f"cannot read {role} {p.name!r} as {kind or 'a table'}: {first}; check the file format.") from None
    except Exception as exc:  # pyarrow raises its own types for a damaged Parquet file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AtlasError(f"cannot read {role} {p.name!r} as {kind or 'a table'}: {first}; check the file format.") from None


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _sniff_header(path: Path, sep: str) -> bool:
    """A first row whose weight/id fields are non-numeric while the second row's are numeric is a header."""
    if path.suffix.lower() == ".zip":
        return True  # pandas reads zip archives itself; their tables nearly always have a header
    with open_text(path, errors="replace") as f:
        lines = [line for line in (f.readline() for _ in range(50)) if line.strip()][:20]
    rows = list(csv.reader(lines, delimiter=sep))
    if len(rows) < 2:  # one line: a header when it reads like column names ("user,item,rating")
        return bool(rows) and all(not _numeric(x) for x in rows[0]) and any(COLUMN_WORDS.search(x) for x in rows[0])
    first, rest = rows[0], rows[1:]
    for col in range(len(first)):
        below = [_numeric(r[col]) for r in rest if col < len(r) and r[col] != ""]  # empty: missing, not text
        if below and sum(below) > len(below) / 2 and first[col] != "" and not _numeric(first[col]):
            return True  # a name above a mostly numeric column
    # all-text columns: a header row is one whose values never occur again below
    if all(not _numeric(x) for x in first):
        for col in range(len(first)):
            if any(col < len(r) and r[col] == first[col] for r in rest):
                return False
        if any(COLUMN_WORDS.search(x) for x in first):
            return True
        try:
            return csv.Sniffer().has_header("".join(lines))
        except csv.Error:
            return True
    return False


def _id(value: object, path: Path, lineno: int, what: str) -> str | None:
    """A JSON value as an id: text or a number; null, "" and NaN are missing (None)."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise AtlasError(
        f"{path.name!r} line {lineno}: the {what} {json.dumps(value)[:40]} is not an id (text or a number); "
        'write each profile as {"user": "ann", "items": ["a", "b"]} or with [item, weight] pairs.'
    )


def read_profiles(path: Path, user_key: str | None, items_key: str | None):
    """Users, items and weights (or None) from JSON Lines or ``user item item …`` lines.

    Missing ids (JSON ``null`` or ``""``) come back as None, for :func:`atlas.ingest.from_arrays`
    to leave out and count, as it does for an empty CSV field.
    """
    users: list = []
    items: list = []
    weights: list = []
    has_weights = False
    text_lines = suffix(path) == ".txt"
    lineno = 0
    try:
        with open_text(path) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                if text_lines:
                    parts = line.split()
                    if len(parts) >= 2:
                        users.extend([parts[0]] * (len(parts) - 1))
                        items.extend(parts[1:])
                    continue
                record = _json_record(line, path, lineno)
                ukey = user_key or next((k for k, v in record.items() if not isinstance(v, list | dict)), None)
                ikey = items_key or next((k for k, v in record.items() if isinstance(v, list | dict)), None)
                if ukey not in record or ikey not in record:
                    missing = ukey if ukey not in record else ikey
                    raise AtlasError(f"{path.name!r} line {lineno} has no field {missing!r}; name the fields with --user-col/--item-col.")
                user = _id(record[ukey], path, lineno, "user")
                entries = record[ikey]
                if isinstance(entries, dict):  # {"item": weight, ...}
                    has_weights = True
                    pairs = list(entries.items())
                elif isinstance(entries, list):
                    pairs = [tuple(e) if isinstance(e, list) and len(e) == 2 else (e, 1.0) for e in entries]
                    has_weights = has_weights or any(isinstance(e, list) and len(e) == 2 for e in entries)
                else:
                    raise AtlasError(f"{path.name!r} line {lineno}: field {ikey!r} is not a list of items; write it as [\"a\", \"b\"].")
                for item, weight in pairs:
                    users.append(user)
                    items.append(_id(item, path, lineno, "item"))
                    weights.append(weight)
    except UnicodeDecodeError as exc:
        raise not_utf8(path, INTERACTIONS, exc) from None
    except (OSError, EOFError) as exc:
        raise AtlasError(f"cannot read {path.name!r}: {exc}; check the file (is it truncated?).") from None
    if not users:
        raise AtlasError(f"{path.name!r} holds no profiles; expected one user with a list of items per line.")
    return users, items, (weights if has_weights else None)


def _json_record(line: str, path: Path, lineno: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AtlasError(f"{path.name!r} line {lineno} is not valid JSON ({exc.msg}); each line must be one JSON object.") from None
    except RecursionError:
        raise AtlasError(f"{path.name!r} line {lineno} nests arrays or objects too deep to read; each line must be one JSON object.") from None
    if not isinstance(record, dict):
        raise AtlasError(f"{path.name!r} line {lineno} is not a JSON object; expected {{\"user\": ..., \"items\": [...]}}.")
    return record
