"""Reading an export's ``manifest.json`` back, strictly: a manifest is data, not a command line.

An export folder travels: someone sends it to a colleague to ``atlas rebuild``. What the rebuild
takes from the manifest is the build's plan (``params``), checked field by field against the
parameter classes that wrote it — an unknown key, a value of the wrong type, or a manifest newer
than this atlas is a one-line refusal — and the column choices of its source. Paths that decide
what is read or written besides the input (the stage cache, the output) come only from the person
running the command; input files may default to the recorded ones, and the command says so. Spark
settings (a master URL, ``--spark-conf``) say where the data goes and how Java starts, so a
manifest that records them is refused. The recorded ``argv`` is shown, never obeyed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import AtlasError

VERSION = 1

#: Every key an export's manifest may hold (``atlas.export.build_manifest``).
TOP_KEYS = frozenset({
    "atlas_manifest_version", "created", "projection", "projections", "aligned_to", "name_column", "label_column", "input",
    "params", "argv", "argv_note", "command", "counts", "embedding", "metrics", "regions", "alignment", "timings", "versions", "files", "warnings",
    "faithfulness", "threads",
})
INPUT_KEYS = frozenset({"fingerprint", "interactions_fingerprint", "source", "dropped_rows", "notes"})
#: Fields of the recorded source that name files to read: a rebuild says when it reads them.
PATH_FIELDS = ("input", "items", "candidates", "align_to")


@dataclass(frozen=True)
class Recorded:
    """What a rebuild takes from a manifest: the plan, the source, and the words it shows."""

    params: object  # BuildParams
    source: object  # sources.Source
    command: str | None
    path: Path


def _refuse(where: Path, what: str) -> AtlasError:
    return AtlasError(f"{where} {what}; it was not written by this atlas, or was edited. Rebuild with 'atlas build' instead.")


def read_manifest(directory: str | Path) -> dict:
    """The manifest of an export folder as JSON, with its version and keys checked."""
    path = Path(directory) / "manifest.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AtlasError(f"cannot read {path} ({getattr(exc, 'strerror', None) or exc}); give a folder written by 'atlas build --out DIR'.") from None
    try:
        manifest = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # RecursionError: arrays or objects nested too deep
        raise _refuse(path, f"is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(manifest, dict):
        raise _refuse(path, "is not a JSON object")
    version = manifest.get("atlas_manifest_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _refuse(path, f"has no valid atlas_manifest_version (got {version!r})")
    if version > VERSION:
        raise AtlasError(f"{path} has manifest version {version}, newer than this atlas reads ({VERSION}); upgrade atlas to rebuild it.")
    if version < 1:
        raise _refuse(path, f"has manifest version {version}")
    unknown = sorted(set(manifest) - TOP_KEYS)
    if unknown:
        raise _refuse(path, f"holds unknown key(s) {', '.join(map(repr, unknown[:5]))}")
    return manifest


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# -- the plan ---------------------------------------------------------------------------------------


def _kind_ok(value, hint) -> tuple[bool, object]:
    """(whether a JSON ``value`` is of the annotated type ``hint``, the value as the field takes it)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            ok, converted = _kind_ok(value, option)
            if ok:
                return True, converted
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else value
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            return False, value
        item = args[0] if args else typing.Any
        converted = []
        for v in value:
            ok, c = _kind_ok(v, item)
            if not ok:
                return False, value
            converted.append(c)
        return True, tuple(converted)
    if hint is typing.Any:
        return True, value
    return False, value


def _hint_text(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _instance(cls: type, plain, where: str, path: Path | str, skip: tuple[str, ...] = (), refuse=None):
    """``cls(**plain)`` after checking that ``plain`` holds exactly ``cls``'s fields, each of its
    type; ``refuse(what)`` makes the error (default: one about a manifest at ``path``)."""
    if refuse is not None:
        _refuse = lambda _path, what: refuse(what)  # noqa: E731
    else:
        _refuse = globals()["_refuse"]
    if not isinstance(plain, dict):
        raise _refuse(path, f"has {where} that is a {type(plain).__name__}, not an object")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(plain) - set(fields) - set(skip))
    if unknown:
        raise _refuse(path, f"has unknown key(s) {', '.join(map(repr, unknown[:5]))} in {where}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in plain.items():
        if name in skip:
            continue
        ok, converted = _kind_ok(value, hints[name])
        if not ok:
            raise _refuse(path, f"has {where}.{name} = {json.dumps(value)[:40]}, not a {_hint_text(hints[name])}")
        values[name] = converted
    try:
        return cls(**values)  # the class's own checks (ranges, choices) run here
    except AtlasError as exc:
        raise AtlasError(f"{path}: {where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise _refuse(path, f"has {where} that this atlas cannot use ({exc})") from None


def params_of(plain, path: Path):
    """``BuildParams`` from a manifest's ``params``, every stage checked by its class."""
    from . import embeddings, projections
    from .engines import EngineParams
    from .plan import STAGE_CLASSES, BuildParams

    if not isinstance(plain, dict):
        raise _refuse(path, "records no build parameters ('params')")
    unknown = sorted(set(plain) - set(STAGE_CLASSES) - {"projections", "export", "engine"})
    if unknown:
        raise _refuse(path, f"has unknown key(s) {', '.join(map(repr, unknown[:5]))} in params")
    stages = {name: _instance(cls, plain[name], f"params.{name}", path) for name, cls in STAGE_CLASSES.items() if name in plain and name != "embed"}
    if "embed" in plain:  # checked by the class of the embedding method it names (PyMDE's when it names none)
        embed = plain["embed"]
        if not isinstance(embed, dict):
            raise _refuse(path, "has params.embed that is not a set of parameters")
        method = embed.get("method", "pymde")
        if not isinstance(method, str) or method not in embeddings.names():
            raise _refuse(path, f"has params.embed of unknown method {method!r} (this atlas has {', '.join(embeddings.names())})")
        stages["embed"] = _instance(embeddings.get(method).Params, embed, "params.embed", path, skip=("method",))
    layouts = plain.get("projections")
    if not isinstance(layouts, list) or not layouts:
        raise _refuse(path, "has no list of projections in params")
    made = []
    for n, layout in enumerate(layouts):
        method = layout.get("method") if isinstance(layout, dict) else None
        if not isinstance(method, str) or method not in projections.names():
            raise _refuse(path, f"has params.projections[{n}] of unknown method {method!r} (this atlas has {', '.join(projections.names())})")
        made.append(_instance(projections.get(method).Params, layout, f"params.projections[{n}]", path, skip=("method",)))
    export = plain.get("export")
    if export is not None and not isinstance(export, str):
        raise _refuse(path, "has params.export that is not a projection name")
    engine = _instance(EngineParams, plain["engine"], "params.engine", path) if "engine" in plain else EngineParams()
    if engine.master != EngineParams().master or engine.conf:  # where the data goes and how Java starts: never from a file
        raise AtlasError(
            f"{path} records Spark settings (a --spark-master other than local[*] or --spark-conf), which a rebuild takes from no file: "
            "they decide where the data is sent and how Java starts. Run the recorded command with 'atlas build' and your own --spark-* options."
        )
    try:
        return BuildParams(**stages, projections=tuple(made), export=export, engine=engine)
    except AtlasError as exc:
        raise AtlasError(f"{path}: params: {exc}") from None


def source_of(manifest: Mapping, path: Path):
    """The recorded ``Source``: its column choices checked, its paths as recorded."""
    from .sources import Source

    recorded = manifest.get("input")
    if not isinstance(recorded, dict):
        raise _refuse(path, "records no input")
    unknown = sorted(set(recorded) - INPUT_KEYS)
    if unknown:
        raise _refuse(path, f"has unknown key(s) {', '.join(map(repr, unknown[:5]))} in input")
    source = recorded.get("source")
    if not isinstance(source, dict):
        raise _refuse(path, "records no input source")
    plan = source.get("plan")
    if plan is None:
        if source.get("demo") == "movielens":
            return Source(demo=True)
        raise AtlasError(f"{path} records no file the build read (its data was made in Python); rebuild it with 'atlas build' by hand.")
    return _instance(Source, plan, "input.source.plan", path)


def recorded_build(directory: str | Path) -> Recorded:
    """The plan and the source an export records, checked (see the module's docstring)."""
    path = Path(directory) / "manifest.json"
    manifest = read_manifest(directory)
    params = params_of(manifest.get("params"), path)
    source = source_of(manifest, path)
    command = manifest.get("command")
    return Recorded(params, source, command if isinstance(command, str) else None, path)


def rebuild_source(recorded, *, input: str | None = None, items: str | None = None, candidates: str | None = None, align_to: str | None = None):
    """(the ``Source`` of a rebuild, notes on recorded paths it reads): paths given on the command
    line replace the recorded ones; each recorded path still read is named in a note."""
    source = recorded.source
    given = {"input": input, "items": items, "candidates": candidates, "align_to": align_to}
    if source.candidates and input is not None and candidates is None:  # INPUT stands for the candidates file it read
        given["candidates"], given["input"] = input, None
    changes, notes = {}, []
    for name in PATH_FIELDS:
        if given[name] is not None:
            changes[name] = given[name]
        elif getattr(source, name):
            notes.append(f"reading {name.replace('_', '-')} {getattr(source, name)!r} as the manifest records (give it on the command line to read another)")
    if source.is_demo and input:
        changes["demo"] = False
    return dataclasses.replace(source, **changes), notes
