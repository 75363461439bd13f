"""User-facing options, declared once on the parameter dataclasses.

A field of a stage's parameter dataclass becomes an option of ``atlas build``, a control of the
notebook app and a word of the manifest's rebuild command by declaring it with ``option``::

    min_dist: float = option(0.3, "--min-dist", "UMAP min_dist", steps=grid(0.0, 1.0, 0.05))

``parse`` turns what a person typed (a command-line word, a text box, a slider value) into the
field's type with one message for every face, so the command line and the app accept and refuse
the same values.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import AtlasError


@dataclass(frozen=True)
class Option:
    """How one parameter is offered to people: its flag, help text and app control."""

    flag: str  # "--min-dist"
    help: str
    steps: tuple | None = None  # slider stops in the app (None: a text box or a dropdown)
    offered: tuple | Callable[[], tuple] | None = None  # allowed values, or the registry function that lists them
    many: bool = False  # the flag may be given several times; the field holds a tuple of values
    label: str | None = None  # the app control's label (default: the field's name)

    @property
    def choices(self) -> tuple | None:
        """The allowed values now, for a dropdown and the command line (a registry is asked
        each time, so a strategy registered later is offered too)."""
        return self.offered() if callable(self.offered) else self.offered

    @property
    def dest(self) -> str:
        """The option's name in option dictionaries: the flag without dashes ("min_dist")."""
        return self.flag.lstrip("-").replace("-", "_")


def option(default: Any, flag: str, help: str, *, steps=None, choices=None, many: bool = False, label: str | None = None) -> Any:
    """A dataclass field with ``default`` that is offered to people as ``flag`` (``many``: a
    repeatable flag whose values the field holds as a tuple; ``choices``: the allowed values, or
    a registry's function that lists them)."""
    offered = choices if choices is None or callable(choices) else tuple(choices)
    meta = Option(flag, help, tuple(steps) if steps is not None else None, offered, many, label)
    return dataclasses.field(default=default, metadata={"option": meta})


def grid(start: float, stop: float, step: float) -> tuple[float, ...]:
    """Evenly spaced slider stops, rounded so that they print cleanly."""
    count = int(round((stop - start) / step))
    return tuple(round(start + i * step, 6) for i in range(count + 1))


@dataclass(frozen=True)
class Field:
    """One offered field of a parameter class: where it lives and how to read a value for it."""

    owner: type  # the parameter dataclass
    name: str  # the field's name in it
    option: Option
    kind: type  # int, float, str or bool
    optional: bool  # None is allowed (an empty box, a missing flag)
    default: Any

    @property
    def dest(self) -> str:
        return self.option.dest

    @property
    def label(self) -> str:
        return self.option.label or self.name


def fields_of(cls: type) -> list[Field]:
    """The offered fields of a parameter dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("option")
        if meta is None:
            continue
        kind, optional = _base_type(hints[f.name])
        found.append(Field(cls, f.name, meta, kind, optional, f.default))
    return found


def _base_type(hint) -> tuple[type, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]: a repeatable option of X
        return args[0], False
    if args:  # X | None
        kinds = [a for a in args if a is not type(None)]
        return kinds[0], len(kinds) < len(args)
    return hint, False


def parse(field: Field, raw: Any) -> Any:
    """``raw`` (a typed word, a slider's number, None) as a value of ``field``; AtlasError if it is not one."""
    flag = field.option.flag
    if field.option.many:
        values = [] if raw is None else [raw] if isinstance(raw, str) else list(raw)
        single = dataclasses.replace(field, option=dataclasses.replace(field.option, many=False), optional=False)
        return tuple(parse(single, value) for value in values)
    blank = raw is None or (isinstance(raw, str) and not raw.strip())
    if blank or (field.optional and isinstance(raw, str) and raw.strip().lower() == "none"):
        if field.optional:
            return None
        raise AtlasError(f"{flag} needs a value; leave it out to use the default ({field.default}).")
    if field.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise AtlasError(f"{flag} must be true or false, got {raw!r}.")
    if field.kind is str:
        value = str(raw).strip()
        if field.option.choices is not None and value not in field.option.choices:
            allowed = ", ".join(repr(c) for c in field.option.choices)
            raise AtlasError(f"Unsupported value {value!r} for {flag}; the supported values are {allowed}.")
        return value
    if isinstance(raw, bool):
        raise AtlasError(f"{flag} must be a number, got {raw!r}.")
    try:
        number = float(raw.strip()) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        raise AtlasError(f"{flag} must be {'a whole number' if field.kind is int else 'a number'}, got {raw!r}.") from None
    if not math.isfinite(number):
        return number  # the parameter class says which range it needs
    if field.kind is int:
        if number != int(number):
            raise AtlasError(f"{flag} must be a whole number, got {raw!r}.")
        return int(number)
    return number


def word(value: Any) -> str:
    """A value as a command-line word (the inverse of ``parse``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return f"{value:g}" if abs(value) < 1e6 else str(int(value))
    return str(value)
