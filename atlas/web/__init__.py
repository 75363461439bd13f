"""The published web atlas: one self-contained, offline WebGL page made from an export.

``write_html(DIR)`` reads what ``atlas build --out DIR`` wrote (``layout.parquet``,
``neighbors.parquet``, ``manifest.json``) and writes ``DIR/atlas.html``. The file needs no server
and no network: open it from disk or put it on any static host.

What the page offers: pan and zoom around the cursor (drag, wheel, pinch); point size by
popularity; colour by any metadata field, with a legend whose entries fade on click; labels by
level of detail (the most popular item of each patch of the map, smaller patches as the visitor
zooms in; never overlapping); hover tooltips; click for details and lines
to the item's graph neighbours, listed in a side panel; search with autocomplete and fly-to;
and a "Your profile" box where visitors paste item names or ids to make their items glow (a name
that matches nothing offers the closest names, as the app's pasted list does; a click uses one).

Scripts and tests can drive the page through ``window.atlasMap`` (``ready``, ``view``,
``project(i)``, ``search(q)``, ``flyTo(i)``, ``select(i)``, ``loadProfile(text)``, ``pick(x, y)``,
``state`` and more); the list with details is at the top of ``atlas/web/main.js``. Items are
indexed by popularity rank there (index 0 has the most users); ``indexOf(item_id)`` maps an id
to its index.
"""

from atlas.web.html import write_html

__all__ = ["write_html"]
