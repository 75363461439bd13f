"""``diff.html``: one offline page showing what changed between two exports, on the web atlas's
renderer (``render.js``, ``view.js``).

The new map is drawn with new items marked and gone items as faint ghosts at their old places; a
slider (and a play button) moves the kept items from their old places to their new ones; the
biggest movers and the region changes are listed, and each flies to its place. The data travels
as the web atlas's packed payload (:mod:`atlas.web.pack`), gzip + base64 in an inert block, and
every name is written into the page as text, never as markup.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
import struct

import numpy as np

from .html import _asset
from .encode import Blob as _Blob  # the same binary layout as the web atlas

SCRIPTS = ("payload.js", "view.js", "render.js", "panels.js", "diff.js")
STATUS_CODES = {"kept": 0, "new": 1, "gone": 2}
_SLOT = re.compile(r"\{\{(title|css|js|data)\}\}")


def _region_items(report: dict) -> list[dict]:
    """The region events as list entries: what happened, in words, and where to fly."""
    r = report["regions"]
    out = []
    for e in r["split"]:
        out.append({"kind": "split", "text": f"{e['region']} split into {' and '.join(map(str, e['into']))}", "at": e["at"]})
    for e in r["merged"]:
        out.append({"kind": "merged", "text": f"{' and '.join(map(str, e['from']))} merged into {e['region']}", "at": e["at"]})
    for e in r["renamed"]:
        out.append({"kind": "renamed", "text": f"{e['old']} is now called {e['new']}", "at": e["at"]})
    for e in r["appeared"]:
        out.append({"kind": "appeared", "text": f"{e['region']} appeared ({e['items']:,} items)", "at": e["at"]})
    for e in r["vanished"]:
        out.append({"kind": "vanished", "text": f"{e['region']} vanished ({e['items']:,} items)", "at": e["at"]})
    return out


def pack_diff(diff, *, title: str) -> bytes:
    """The page's data: items in popularity order with status, old and new places."""
    table = diff.table.sort_values(["n_users", "item_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    n = len(table)
    status = table["status"].astype(str).map(STATUS_CODES).to_numpy(dtype=np.uint8)
    old = table[["x_old", "y_old"]].to_numpy(dtype=np.float64)
    new = table[["x_new", "y_new"]].to_numpy(dtype=np.float64)
    old = np.where(np.isnan(old), new, old)  # new items: where they are now
    new = np.where(np.isnan(new), old, new)  # gone items: where they were
    both = np.vstack([old, new])
    blob = _Blob()
    index = {item: i for i, item in enumerate(table["item_id"])}
    report = diff.report
    header = {
        "version": 1,
        "title": title,
        "count": n,
        "ids": table["item_id"].tolist(),
        "names": table["name"].astype(str).tolist(),
        "status": blob.add(status),
        "xyOld": blob.add(old.astype(np.float32).ravel()),
        "xyNew": blob.add(new.astype(np.float32).ravel()),
        "users": blob.add(table["n_users"].to_numpy().astype(np.uint32)),
        "moved": blob.add(table["moved"].to_numpy(dtype=np.float32)),
        "bounds": [float(both[:, 0].min()), float(both[:, 1].min()), float(both[:, 0].max()), float(both[:, 1].max())],
        "counts": report["counts"],
        "aligned": report["aligned"],
        "medianMove": report["median_move"],
        "movers": [{"index": index[m["item_id"]], "moved": m["moved"]} for m in report["biggest_movers"]],
        "regions": _region_items(report),
    }
    head = json.dumps(header, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    head += b" " * (-(len(head) + 4) % 8)
    return struct.pack("<I", len(head)) + head + b"".join(blob.parts)


def render_diff_page(diff, *, title: str) -> str:
    """The complete text of ``diff.html``."""
    parts = [f"// ---- {name}\n{_asset(name)}" for name in SCRIPTS]
    script = '(function () {\n"use strict";\n' + "\n".join(parts) + "\n})();"
    css = _asset("atlas.css") + "\n" + _asset("diff.css")
    for name, text in (("script", script), ("style", css)):
        if re.search(rf"</{name}", text, re.IGNORECASE):
            raise AssertionError(f"a bundled asset contains '</{name}'")
    data = base64.b64encode(gzip.compress(pack_diff(diff, title=title), compresslevel=6, mtime=0)).decode("ascii")
    slots = {"title": html.escape(title), "css": css, "js": script, "data": data}
    return _SLOT.sub(lambda m: slots[m.group(1)], _asset("diff.html"))
