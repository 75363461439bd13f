"""The embedding's options as people give them: ``--embedding NAME`` plus every method's own
options, read by the command line, the app (a dropdown and each method's controls) and the
manifest's rebuild command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AtlasError, check_seed
from ..options import Field, fields_of, option, parse
from .base import DEFAULT, get, methods, names, of


@dataclass(frozen=True)
class EmbeddingChoice:
    """Which method makes the item vectors."""

    embedding: str = option(
        DEFAULT, "--embedding", f"how items become vectors (default {DEFAULT}): " + ", ".join(f"{m.name} ({m.title})" for m in methods().values()),
        choices=names(), label="embedding method",
    )


def embedding_fields() -> list[Field]:
    """The method choice first, then every method's offered fields (flags never shared)."""
    found = fields_of(EmbeddingChoice)
    for method in methods().values():
        found += fields_of(method.Params)
    return found


def embedding_params(values: Mapping[str, Any], *, seed: int = 0):
    """The chosen method's parameters from option values (``embedding`` names it). Options of
    other methods are still checked, so a wrong value is never silently ignored."""
    choice = fields_of(EmbeddingChoice)[0]
    name = parse(choice, values["embedding"]) if values.get("embedding") not in (None, "") else DEFAULT
    from ..flagnames import flag_errors, flags_of

    flags = {name: flag for method in methods().values() for name, flag in flags_of(method.Params).items()}
    with flag_errors(flags):
        return _chosen(name, values, seed)


def _chosen(name: str, values: Mapping[str, Any], seed: int):
    chosen = None
    for method in methods().values():
        given = {f.name: parse(f, values[f.dest]) for f in fields_of(method.Params) if f.dest in values}
        if method.name == name or given:
            params = method.Params(**given, seed=check_seed(seed))
            if method.name == name:
                chosen = params
    if chosen is None:
        raise AtlasError(f"Unsupported value {name!r} for --embedding; the supported values are {', '.join(map(repr, names()))}.")
    return chosen


def changed_options(params) -> dict[str, Any]:
    """The option values that rebuild ``params``: the method (unless the default) and its
    options that differ from their defaults."""
    method = of(params)
    values: dict[str, Any] = {} if method.name == DEFAULT else {"embedding": method.name}
    base = method.Params()
    for f in fields_of(method.Params):
        if getattr(params, f.name) != getattr(base, f.name):
            values[f.dest] = getattr(params, f.name)
    return values


__all__ = ["EmbeddingChoice", "changed_options", "embedding_fields", "embedding_params", "get"]
