"""App settings: command-line presets with the names of 'atlas build', uploads, data loading."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from .tables import safe_column_name

log = logging.getLogger(__name__)

_TEXT_OPTIONS = (
    "input", "items", "items_id_col", "name_col", "label_col", "user_col", "item_col", "weight_col",
    "weighting", "graph_method", "init", "projection", "out", "cache_dir", "data_root",
)
_FLAG_OPTIONS = ("demo", "uploads_only")
_INT_OPTIONS = ("min_item_users", "min_user_items", "max_user_items", "n_neighbors", "embedding_dim", "max_iter", "umap_n_neighbors", "seed")
_FLOAT_OPTIONS = (
    "min_weight", "min_count", "repulsive_fraction", "min_dist", "spread", "perplexity", "early_exaggeration", "dof", "max_upload_mb",
)


def app_defaults() -> dict:
    """Every option of the app with its default, taken from the core's parameter classes."""
    import atlas

    filters, cooc, graph = atlas.FilterParams(), atlas.CooccurrenceParams(), atlas.GraphParams()
    embed, umap, tsne = atlas.EmbedParams(), atlas.UmapParams(), atlas.TsneParams()
    return {
        "input": None, "demo": False, "items": None, "items_id_col": None, "name_col": None, "label_col": None,
        "user_col": None, "item_col": None, "weight_col": None,
        "min_item_users": filters.min_item_users, "min_user_items": filters.min_user_items,
        "min_weight": filters.min_weight, "max_user_items": filters.max_user_items,
        "weighting": cooc.weighting, "min_count": cooc.min_count,
        "n_neighbors": graph.n_neighbors, "graph_method": graph.method,
        "embedding_dim": embed.embedding_dim, "repulsive_fraction": embed.repulsive_fraction,
        "max_iter": embed.max_iter, "init": embed.init,
        "umap_n_neighbors": umap.n_neighbors, "min_dist": umap.min_dist, "spread": umap.spread,
        "perplexity": tsne.perplexity, "early_exaggeration": tsne.early_exaggeration, "dof": tsne.dof,
        "projection": "umap", "seed": 0, "out": None, "cache_dir": None,
        # who may read and write what when the app is served (see access.py)
        "data_root": None, "uploads_only": False, "max_upload_mb": None,
    }  # fmt: skip


def app_settings(cli_args: Mapping[str, object], *, problems: list[str] | None = None) -> dict:
    """Typed presets from ``marimo run notebooks/atlas.py -- --input FILE ...``.

    Options carry the names of ``atlas build`` (``--min-item-users``, ``--umap-n-neighbors``,
    ``--perplexity`` ...), plus ``--input`` for the interactions file; ``--demo`` or no input
    opens the MovieLens demo with the command line's demo filters. ``--data-root DIR``,
    ``--uploads-only`` and ``--max-upload-mb N`` set the file policy (see ``access.Access``).
    Options the app does not know are ignored. A value of the wrong type raises ``AtlasError`` naming it; when a
    ``problems`` list is given, the message goes there instead and the default is kept.
    """
    from atlas.errors import AtlasError

    defaults = app_defaults()
    settings = dict(defaults)
    given = set()
    for raw_key, value in cli_args.items():
        key = str(raw_key).replace("-", "_")
        if key not in settings:
            continue
        try:
            settings[key] = _option_value(str(raw_key), key, value[-1] if isinstance(value, list) else value)
            _check_choices(settings)
        except AtlasError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
            settings[key] = defaults[key]
            continue
        given.add(key)
    if settings["demo"]:
        settings["input"] = None
    if settings["input"] is None:
        demo = _demo_filter()
        for key in ("min_item_users", "min_user_items", "min_weight"):
            if key not in given and demo is not None:
                settings[key] = getattr(demo, key)
    return settings


def _option_value(flag: str, key: str, value: object):
    from atlas.errors import AtlasError

    if key in _FLAG_OPTIONS:
        return value in ("", True, "true", "True", 1)
    if key in _TEXT_OPTIONS:
        return None if value in ("", None) else str(value)
    if key in _INT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise AtlasError(f"--{flag} must be a whole number, got {value!r}.")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AtlasError(f"--{flag} must be a number, got {value!r}.")
    return float(value)


def _check_choices(settings: dict) -> None:
    import atlas
    from atlas.embed import INITS
    from atlas.errors import check_choice
    from atlas.graph import GRAPH_METHODS

    check_choice("--weighting", settings["weighting"], tuple(atlas.WEIGHTINGS))
    check_choice("--graph-method", settings["graph_method"], GRAPH_METHODS)
    check_choice("--init", settings["init"], INITS)
    check_choice("--projection", settings["projection"], ("umap", "tsne", "pymde"))


def _demo_filter():
    """The command line's filters for the demo (liked films only), when it offers them."""
    try:
        from atlas.cli import demo_filter
    except ImportError:
        return None
    return demo_filter()


def slider_steps(steps: Sequence[float], value: float) -> list[float]:
    """A slider's stops with ``value`` among them (a preset off the grid stays selectable)."""
    return sorted({*steps, value})


def float_grid(start: float, stop: float, step: float) -> list[float]:
    """Evenly spaced slider stops, rounded so that they print cleanly."""
    count = int(round((stop - start) / step))
    return [round(start + i * step, 6) for i in range(count + 1)]


def optional_number(text: str, name: str, *, integer: bool = False) -> float | int | None:
    """Parse a text box that may be left empty; ``AtlasError`` names the box when it is not a number."""
    from atlas.errors import AtlasError

    text = (text or "").strip()
    if not text or text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise AtlasError(f"{name} must be a number or empty, got {text!r}.") from None
    if integer:
        if value != int(value):
            raise AtlasError(f"{name} must be a whole number or empty, got {text!r}.")
        return int(value)
    return value


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


def colour_options(items, *, name_column: str | None = None, max_categories: int = 40) -> dict[str, str]:
    """Choices for "colour by": label -> map-table column. Popularity, then every metadata
    column that is numeric or has at most ``max_categories`` values."""
    options = {"popularity (users)": "n_users"}
    if items is None:
        return options
    for column in items.columns:
        if column == name_column or column in ("item_id", "n_users"):
            continue
        values = items[column]
        if values.dtype.kind in "biuf" or values.nunique(dropna=True) <= max_categories:
            options[str(column)] = safe_column_name(column)
    return options


def load_data(
    *,
    path: str | None,
    items_path: str | None = None,
    user_col: str | None = None,
    item_col: str | None = None,
    weight_col: str | None = None,
    items_id_col: str | None = None,
    name_col: str | None = None,
    label_col: str | None = None,
):
    """The demo when ``path`` is empty, else the user's file (and optional metadata file)."""
    import atlas

    if not path:
        return atlas.demo_movielens()
    params = atlas.IngestParams(user_col=user_col or None, item_col=item_col or None, weight_col=weight_col or None)
    return atlas.load_dataset(
        path,
        params,
        items_path=items_path or None,
        items_id_col=items_id_col or None,
        name_column=name_col or None,
        label_column=label_col or None,
    )


def default_colour(options: Mapping[str, str], items, label_column: str | None) -> str:
    """The "colour by" choice to start with: the label column, else the first categorical
    metadata column, else popularity."""
    if label_column in options:
        return label_column
    for label in options:
        if label != "popularity (users)" and items is not None and items[label].dtype.kind not in "biuf":
            return label
    return "popularity (users)"


def capped_projection(params, n_items: int):
    """Lower UMAP ``n_neighbors`` / t-SNE perplexity to what ``n_items`` allows.

    Returns ``(params, note)`` where ``note`` says what was lowered (or is None).
    """
    import dataclasses

    if params.method == "umap" and params.n_neighbors >= n_items:
        capped = max(2, n_items - 1)
        return dataclasses.replace(params, n_neighbors=capped), f"UMAP n_neighbors lowered to {capped} (only {n_items} items)."
    if params.method == "tsne" and 3 * params.perplexity >= n_items:
        capped = max(1.0, float((n_items - 1) // 3))
        return dataclasses.replace(params, perplexity=capped), f"t-SNE perplexity lowered to {capped:g} (only {n_items} items)."
    return params, None
