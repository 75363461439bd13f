"""The app's exports: the files ``atlas build`` writes for the map on show, into a folder on the
server or as a zip to download, and the folder they go to by default."""

from __future__ import annotations

from pathlib import Path


def export_with_page(out_dir, result, data=None, *, projection: str) -> dict[str, Path]:
    """Write the export and its HTML atlas, into the folder at once: of an ``atlas.Build`` (what
    ``atlas build`` writes for it), or of a finished ``BuildResult`` and its ``data``."""
    import atlas

    if isinstance(result, atlas.Build):
        return dict(result.export(out_dir, projection=projection, page=True))
    return dict(atlas.export_layout(out_dir, result, data, projection=projection, page=True))


def export_zip(result, data=None, *, projection: str) -> bytes:
    """The export (and the HTML atlas) as the bytes of a zip file, for a browser download.

    The files are written by ``export_with_page`` into a private temporary folder, packed
    under one folder named after the layout, and the temporary folder is removed.
    """
    import io
    import tempfile
    import zipfile

    folder = f"atlas-{projection}"
    with tempfile.TemporaryDirectory(prefix="atlas-download-") as scratch:
        paths = export_with_page(Path(scratch) / folder, result, data, projection=projection)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in paths.items():
                archive.write(path, arcname=f"{folder}/{name}")
    return buffer.getvalue()


def export_name(source, projection: str) -> str:
    """The folder an export of ``source`` (a ``sources.Source``) in ``projection`` is written to by
    default, under ``atlas-out``: ``<data>-<projection>``, the data named by its interactions
    file (``ratings``), ``movielens`` for the demo; lower case, letters, digits and dashes only.
    Two data sets or two layouts never overwrite each other's export unless asked to."""
    import re

    if source.is_demo:
        data = "movielens"
    else:
        data = Path(source.input or source.candidates or "data").name.split(".")[0]
    slug = re.sub(r"[^a-z0-9]+", "-", data.lower()).strip("-")[:48].strip("-") or "data"
    return f"{slug}-{re.sub(r'[^a-z0-9]+', '-', projection.lower()).strip('-')}"


def export_conflict(folder, data) -> str | None:
    """What ``folder`` holds when it is an export of data other than ``data`` (a ``Dataset``):
    "an export of the MovieLens demo (made 2026-12-06T21:00:00+00:00)"; None when it holds no
    export, or one of the same interactions (its manifest's ``input.interactions_fingerprint``),
    which an export replaces without asking. A manifest that cannot be read is another's."""
    import json

    path = Path(folder) / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        recorded = manifest.get("input") or {}
        if recorded.get("interactions_fingerprint") == data.interactions.fingerprint:
            return None
        source = recorded.get("source") or {}
        made = f" (made {manifest['created']})" if isinstance(manifest.get("created"), str) else ""
    except (OSError, ValueError, AttributeError):
        return "a manifest.json atlas cannot read"
    if source.get("demo"):
        return f"an export of the MovieLens demo{made}"
    named = source.get("path") or (source.get("plan") or {}).get("input")
    return f"an export of “{Path(named).name}”{made}" if named else f"an export of other data{made}"
