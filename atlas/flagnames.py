"""Errors in the words the person used: a parameter class checks its fields by their Python
names (``n_candidates must be between 1 and 4096``); whoever built it from flags says which flag
that was (``--n-neighbors must be …``)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping

from .errors import AtlasError

# "<name> must …", optionally after the method's name ("t-SNE n_iter must …")
_SUBJECT = re.compile(r"^(?:(?:t-SNE|UMAP|PaCMAP|PyMDE|Spark) )?(?P<name>[a-z][a-z0-9_]*)\b(?= must| is | has )")


def flags_of(cls: type) -> dict[str, str]:
    """Each offered field of ``cls`` by name → its flag."""
    from .options import fields_of

    return {f.name: f.option.flag for f in fields_of(cls)}


def renamed(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with its subject, a field name, replaced by the flag that set it."""
    found = _SUBJECT.match(message)
    if found is None or found.group("name") not in flags:
        return message
    return flags[found.group("name")] + message[found.end("name"):]


@contextlib.contextmanager
def flag_errors(flags: Mapping[str, str]) -> Iterator[None]:
    """Re-raise an ``AtlasError`` from inside with its field name given as the flag."""
    try:
        yield
    except AtlasError as exc:
        message = renamed(str(exc), flags)
        if message == str(exc):
            raise
        raise AtlasError(message) from None
