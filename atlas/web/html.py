"""Write the published atlas: one self-contained HTML file that works offline.

The page's data is the packed payload (see :mod:`atlas.web.pack`), gzip-compressed and
base64-encoded inside a non-executed ``<script type="application/octet-stream">`` block. Base64
text cannot contain ``<``, so no name or metadata value can close the block or inject markup;
the page decompresses it with the browser's built-in ``DecompressionStream``.
"""

from __future__ import annotations

import base64
import gzip
import html
import logging
import os
import re
import tempfile
from importlib import resources
from pathlib import Path

from atlas.errors import AtlasError, check_range
from atlas.web.pack import default_title, pack_payload, read_export

logger = logging.getLogger(__name__)

HTML_NAME = "atlas.html"
# Concatenated in this order inside one function scope; later files use earlier ones.
SCRIPTS = ("names.js", "payload.js", "spatial.js", "data.js", "view.js", "render.js", "colors.js", "overlay.js", "regions.js",
           "panels.js", "main.js")
_SLOT = re.compile(r"\{\{(title|css|js|data)\}\}")


def _asset(name: str) -> str:
    return resources.files("atlas.web").joinpath(name).read_text(encoding="utf-8")


def _script() -> str:
    parts = [f"// ---- {name}\n{_asset(name)}" for name in SCRIPTS]
    return '(function () {\n"use strict";\n' + "\n".join(parts) + "\n})();"


def render_page(payload: bytes, title: str) -> str:
    """The complete HTML text for a packed payload."""
    script, css = _script(), _asset("atlas.css")
    for name, text in (("script", script), ("style", css)):
        if re.search(rf"</{name}", text, re.IGNORECASE):  # would end its own block early
            raise AssertionError(f"a bundled asset contains '</{name}'")
    data = base64.b64encode(gzip.compress(payload, compresslevel=6, mtime=0)).decode("ascii")
    slots = {"title": html.escape(title), "css": css, "js": script, "data": data}
    # One pass, so text substituted into one slot is never searched for another slot.
    return _SLOT.sub(lambda m: slots[m.group(1)], _asset("page.html"))


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see either the old file or the whole new one."""
    if not path.parent.is_dir():
        raise AtlasError(f"Cannot write {path}: the folder {path.parent} does not exist; create it or choose another output.")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_html(
    out_dir: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    title: str | None = None,
    max_labels: int | None = None,
) -> Path:
    """Write the interactive web atlas for the export in ``out_dir``; return the file's path.

    ``out_dir`` is what ``atlas build --out DIR`` wrote (layout, neighbours, manifest). The page
    goes to ``out_dir/atlas.html`` unless ``output`` names another file. ``title`` overrides the
    manifest's title. Items are labelled by level of detail (the most popular item of each patch
    of the map, finer patches as the visitor zooms in: :func:`atlas.web.encode.label_levels`);
    ``max_labels`` caps how many items can carry a label at all (None: no cap).
    """
    if max_labels is not None:
        if isinstance(max_labels, bool) or not isinstance(max_labels, int):
            raise AtlasError(f"max_labels must be a whole number, got {max_labels!r}.")
        check_range("max_labels", max_labels, low=0)
    if title is not None and not isinstance(title, str):
        raise AtlasError(f"title must be text, got {type(title).__name__}.")
    export = read_export(out_dir)
    target = Path(output) if output is not None else export.directory / HTML_NAME
    if target.is_dir():
        raise AtlasError(f"Cannot write the atlas to {target}: it is a folder; give a file name such as {target / HTML_NAME}.")
    page_title = title.strip() if title and title.strip() else default_title(export)
    payload = pack_payload(export, title=page_title, max_labels=max_labels)
    _atomic_write(target, render_page(payload, page_title))
    logger.info("wrote %s (%d items, %.1f MB)", target, len(export.layout), target.stat().st_size / 1e6)
    return target
