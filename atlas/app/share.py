"""The app's settings in its address, and as the ``atlas build`` command that makes the same map.

The address carries the build options that differ from their defaults, by the option names of
``atlas build`` (``?min_item_users=20&min_dist=0.5``), plus the whole view (``VIEW_KEYS``): the
colour and its "has" value, the region names shown, the search and the match picked, the placed
user and their top N, the pasted list. A reload or a shared link starts the app with them. Only
build options and the view are read from an address; where the data lives and who may read which
files are never taken from a link.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atlas.errors import AtlasError
from atlas.plan import BuildParams, all_fields, argv_of, command_line, option_words, projection_params, read_options
from atlas.regions import MAX_LEVELS
from atlas.sources import Source

#: Keys of the address that set how the maps look, not how they are built: the colour and its
#: "has" value, the region names shown over the maps, the search (and the match picked among
#: several, by item id), the placed user and their top N, and the pasted list (one entry a line).
VIEW_KEYS = ("colour", "has", "names", "find", "pick", "user", "top", "paste")
#: The choices of "region names on the maps": label -> (the address's word, the level shown);
#: "off" is not written.
REGION_OVERLAY = {"off": (None, -1), "continents (coarsest level)": ("continents", 0), "regions (finest level)": ("regions", MAX_LEVELS)}
REGION_NAMES = tuple(word for word, _ in REGION_OVERLAY.values() if word)


def region_overlay_label(view: Mapping[str, str]) -> str:
    """The "region names on the maps" choice the address's ``names`` stands for ("off" without it)."""
    return next((label for label, (word, _) in REGION_OVERLAY.items() if word and word == view.get("names")), "off")


def address_options() -> set[str]:
    """The build options an address carries: every option of ``atlas build`` but the engine's (the
    app computes on this machine) and ``projection`` (the layout to keep is chosen on the page,
    starting from the command line's)."""
    return {*all_fields(), "seed", "compare"}


def managed_keys() -> set[str]:
    """Every key of the address the app reads and writes."""
    return {*address_options(), *VIEW_KEYS}


def read_address(query: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """``(build values, view values, problems)`` from the address's query parameters.

    Build values are read as ``atlas build`` reads its flags (``plan.read_options``); a value that
    cannot be used is left out and described in ``problems`` (in the app's words), as is a key
    atlas does not know.
    """
    from .wording import in_app

    read = read_options(query, accept=address_options(), own={key: functools.partial(_view_value, key) for key in VIEW_KEYS})
    problems = [
        f"the link's setting “{p.key}” is not one of atlas's options; it was left out."
        if p.unknown
        else f"the link's setting “{p.key}={p.value}” was left out: {in_app(p.message)}"
        for p in read.problems
    ]
    return read.values, read.own, problems


def _view_value(key: str, value: Any) -> str:
    """A view value of the address as the app takes it; a value no control can show is an error."""
    value = str(value)
    if key == "names" and value not in REGION_NAMES:
        raise AtlasError(f"region names are {' or '.join(REGION_NAMES)}")
    if key == "top" and not (value.isdigit() and int(value) <= 1_000_000):
        raise AtlasError("the top N of a user is a whole number from 0")
    return value


def address_values(params: BuildParams, *, demo: bool, default_compare: tuple[str, ...], view: Mapping[str, str | None] = {}) -> dict[str, str]:
    """The query parameters that bring ``params`` (and the view) back: the options that differ
    from their defaults, the projections compared when they are not the app's default ones,
    and the view's values that are set (an empty search, no user, top N 0 are not written)."""
    carried = address_options() - {"compare"}
    out = {key: words[0] for key, words in option_words(params, demo=demo).items() if key in carried}  # one word each: none repeats
    if tuple(params.names) != tuple(default_compare):
        out["compare"] = ",".join(params.names)
    out.update({key: str(value) for key, value in view.items() if key in VIEW_KEYS and value not in (None, "", 0, "0") and str(value).strip()})
    return out


def address_changes(current: Mapping[str, Any], wanted: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """What to set and what to remove so that the app's keys of ``current`` become ``wanted``
    (keys the app does not manage are left alone)."""
    managed = managed_keys()
    to_set = {key: value for key, value in wanted.items() if current.get(key) != value}
    to_remove = sorted(key for key in current if key in managed and key not in wanted)
    return to_set, to_remove


def shown_source(source: Source, *, access, upload_dir: str | Path | None = None) -> Source:
    """``source`` as the command shown to the visitor names it: an uploaded file by its own
    name, a file under the data root relative to it, a file named when the app was started (in
    a mode where visitors name no paths) by its file name only; on one's own computer as is."""

    def shown(path: str | None) -> str | None:
        if not path:
            return path
        p = Path(path)
        if upload_dir is not None and Path(upload_dir) in p.parents:
            return p.name
        if access.mode == "root" and access.root is not None:
            try:
                return str(p.resolve().relative_to(access.root))
            except ValueError:
                return p.name
        if access.mode in ("locked", "uploads-only"):
            return p.name
        return path

    return dataclasses.replace(source, input=shown(source.input), items=shown(source.items), align_to=shown(source.align_to))


def build_command(params: BuildParams, source: Source, *, out: str = "atlas-out") -> str:
    """The ``atlas build`` line (with ``--out``) that makes ``params``'s map of ``source``."""
    return command_line([*argv_of(params, source), "--out", out])


def current_build(stages: Mapping[str, Any], projection_values: Mapping[str, Mapping[str, Any]], *, seed: int, export: str | None = None) -> BuildParams | None:
    """The ``BuildParams`` the app's controls stand for: the stages' parameters (None while one
    of them is not valid) and each shown projection's control values; None when any part of it
    cannot be made (the app shows that problem where the control is)."""
    if any(value is None for value in stages.values()):
        return None
    try:
        layouts = tuple(projection_params(name, values, seed=seed) for name, values in projection_values.items())
        return BuildParams(**stages, projections=layouts, export=export if export in projection_values else None)
    except AtlasError:
        return None


def keep_in_address(query, params: BuildParams, *, demo: bool, default_compare: tuple[str, ...], view: Mapping[str, str | None] = {}) -> None:
    """Write ``params`` and the view into the page's address (``mo.query_params()``), changing
    only the keys that differ."""
    to_set, to_remove = address_changes(query.to_dict(), address_values(params, demo=demo, default_compare=default_compare, view=view))
    for key in to_remove:
        query.remove(key)
    for key, value in to_set.items():
        query.set(key, value)
