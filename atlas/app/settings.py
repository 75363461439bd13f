"""App settings: command-line presets with the names of 'atlas build', and uploads."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas.errors import AtlasError
from atlas.options import Field
from atlas.plan import all_fields, demo_filter, read_options
from atlas.profiles import FilterParams
from atlas.sources import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppSettings:
    """What ``marimo run notebooks/app.py -- ...`` asked for: the data, the build options
    (parsed, by option name, as ``atlas.build_params`` takes them) and the app's own options."""

    source: Source = Source()
    values: Mapping[str, Any] = field(default_factory=dict)
    app: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    view: Mapping[str, str] = field(default_factory=dict)  # how the maps look: "colour", "has"

    def get(self, key: str, default: Any = None) -> Any:
        """An app option (``out``, ``cache_dir``, ``data_root``, ``uploads_only``, ``max_upload_mb``,
        ``max_chart_points``)."""
        return self.app.get(key, default)

    @property
    def out(self) -> str | None:
        return self.app.get("out")

    @property
    def cache_dir(self) -> str | None:
        """The stage cache's folder: ``--cache-dir``, else the one ``atlas build`` uses
        (``cache.default_directory()``), so that a reload, a second tab or a later session finds
        every stage computed before; None (memory only) with ``--no-cache``."""
        if self.app.get("no_cache"):
            return None
        from atlas.cache import default_directory

        return self.app.get("cache_dir") or str(default_directory())

    def stage_cache(self):
        """A ``StageCache`` in ``cache_dir``, bounded as ``atlas build``'s (``ATLAS_CACHE_MAX_GB``)."""
        from atlas.cache import DEFAULT_MAX_BYTES, StageCache, size_limit

        try:
            limit = size_limit()
        except AtlasError as exc:
            log.warning("%s Using %d GB.", exc, DEFAULT_MAX_BYTES // 1024**3)
            limit = DEFAULT_MAX_BYTES
        return StageCache(self.cache_dir, max_bytes=limit)

    def initial(self, f: Field):
        """The value a control for ``f`` starts at: the command line's, else the default."""
        if f.dest in self.values:
            return self.values[f.dest]
        if f.owner is FilterParams and self.source.is_demo:
            return getattr(demo_filter(), f.name)
        return f.default

    @property
    def seed(self) -> int:
        return int(self.values.get("seed", 0))

    def compares(self, name: str) -> bool:
        """Whether the projection ``name`` was asked for (the address's ``compare``)."""
        return name in str(self.values.get("compare", "")).split(",")

    def with_address(self, query: Mapping[str, Any]) -> AppSettings:
        """These settings with the build options and the view of the page's address on top (a
        reload or a shared link); the address's problems join ``problems``. Only options and
        the view are read from an address (see ``share.read_address``), never files or policy."""
        from .share import read_address

        values, view, problems = read_address(query)
        return dataclasses.replace(self, values={**self.values, **values}, view={**self.view, **view}, problems=(*self.problems, *problems))


def app_settings(cli_args: Mapping[str, object], *, collect: bool = False) -> AppSettings:
    """Typed presets from ``marimo run notebooks/app.py -- --input FILE ...``.

    Options carry the names of ``atlas build`` (``--min-item-users``, ``--umap-n-neighbors``,
    ``--perplexity`` ...), plus ``--input`` for the interactions file; ``--demo`` or no input
    opens the MovieLens demo with the command line's demo filters. ``--cache-dir DIR`` is where
    the stage cache lives (default ``atlas build``'s; ``--no-cache``: in memory). ``--data-root DIR``,
    ``--uploads-only`` and ``--max-upload-mb N`` set the file policy (see ``access.Access``);
    ``--max-chart-points N`` is where the maps switch from Altair to WebGL (default
    ``MAX_CHART_POINTS``). The build options are read as ``atlas build`` reads them
    (``plan.read_options``), but for the engine's (the app computes on this machine) and
    ``--compare`` (the app's own checkboxes choose the layouts).
    A value that is not right, or an option atlas does not know, raises ``AtlasError`` naming
    it; with ``collect`` the message goes to ``problems`` instead and the default is kept.
    """
    given = {str(key).replace("-", "_"): value for key, value in cli_args.items()}
    flags = {str(key).replace("-", "_"): str(key) for key in cli_args}
    source_readers = {f.name: _switch if isinstance(f.default, bool) else _text for f in dataclasses.fields(Source)}  # --demo, --drop-missing-weights …
    read = read_options(given, accept={*all_fields(), "seed", "projection"}, own={**source_readers, **APP_READERS})
    problems = [p.message or f"unknown option --{flags[p.key]}; the app takes the options of 'atlas build' (see 'atlas build --help')." for p in read.problems]
    if problems and not collect:
        raise AtlasError(problems[0])
    source = {key: value for key, value in read.own.items() if key in source_readers}
    if source.get("demo"):
        source["input"] = None
    app = {key: value for key, value in read.own.items() if key in APP_READERS}
    return AppSettings(Source(**source), read.values, app, tuple(problems))


def _switch(value: object) -> bool:
    """A flag given without a value (``--no-cache``) or as a word of truth."""
    return value in ("", True, "true", "True", 1)


def _text(value: object) -> str | None:
    return None if value in ("", None) else str(value)


def _megabytes(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AtlasError(f"--max-upload-mb must be a number of megabytes, got {value!r}.") from None
    if not number > 0 or number == float("inf"):
        raise AtlasError(f"--max-upload-mb must be a positive number of megabytes, got {value!r}.")
    return number


def _chart_points(value: object) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise AtlasError(f"--max-chart-points must be a whole number of items, got {value!r}.") from None
    if number < 1:
        raise AtlasError(f"--max-chart-points must be at least 1, got {value!r}.")
    return number


def save_upload(name: str, contents: bytes, directory) -> Path:
    """Write an uploaded file into ``directory`` under its own (sanitised) name."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(name).name) or "upload"
    target = Path(directory) / safe
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(contents)
    return target


def resolve_upload(path: str | None, uploads: Sequence, directory, *, access=None, preset: str | None = None) -> str | None:
    """The file to read: an upload (saved into ``directory``) wins over a typed path.

    ``access`` (an ``Access`` policy, default local use) checks the upload's size and the typed
    path; when it allows no typed paths, ``preset`` (the file named when the app was started,
    not by a visitor) is read instead.
    """
    from .access import Access

    access = access or Access()
    if uploads:
        first = uploads[0]
        access.check_upload(first.name, len(first.contents))
        return str(save_upload(first.name, first.contents, directory))
    if access.reads_paths:
        return access.resolve_read(path)
    return preset or None


#: App options that are not build options, each with how it is read: where to export, where the
#: stage cache lives (or ``--no-cache``: in memory only), who may read and write what when the app
#: is served (see ``access.Access``), and above how many items the maps switch from Altair to the
#: full-resolution WebGL views.
APP_READERS = {
    "out": _text,
    "cache_dir": _text,
    "data_root": _text,
    "max_upload_mb": _megabytes,
    "max_chart_points": _chart_points,
    "uploads_only": _switch,
    "no_cache": _switch,
}
