/* The app's full-resolution maps: one WebGL panel per layout, drawn by the web atlas's
   PointRenderer and View (atlas/web/render.js and view.js come before this file in the module),
   with one lasso selection shared by every panel and synced to Python as table rows.

   Model (see atlas/widgets/scatter.py): `coords` float32 (views × n × 2), `sizes` float32 (n,
   0..1), `rows` int32 (n, the table row of each point), `colors` RGBA bytes (n, or views × n for a colour
   held per map: each panel its own block) — all in drawing
   order, most popular first; `titles`, `legend`, `highlight` and `selection` (table rows),
   `highlight_colors` (the outline colour of each highlighted row, its kind's), `outlines`
   ([label, colour] of the kinds outlined, for the legend) and `path` (table rows joined in that
   order: a user's items in time order, drawn as the Altair views draw it, atlas/widgets/paths.py). */

const PAPER = [1, 1, 1];
const BRUSHED_OUT = [208, 208, 208]; // #d0d0d0, the grey of items outside the Altair brush
const HIGHLIGHT_DIM = 0.92; // the others fade to 8% of their opacity, as the Altair views fade them
const MAX_OUTLINED = 5000; // highlighted items that get a ring (all are drawn on top)
const SEARCHED_COLOUR = "#d7191c"; // the searched item's ring, drawn thicker (HIGHLIGHT_STYLES in charts.py)
const PANEL_GAP = 16; // px between panels, as .atlas-maps-row's gap
const MIN_PANEL_WIDTH = 280;
const PATH_COLOUR = "#e66101"; // PATH_COLOUR in atlas/widgets/paths.py
const PATH_NUMBERED = 30; // a path of at most this many stops has every stop numbered (NUMBERED there)

function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return new Uint8Array(0);
}

/* A typed array over a copy of the bytes (the copy is aligned, whatever the message offset). */
function typedArray(value, Type) {
  const copy = bytesOf(value).slice();
  return new Type(copy.buffer, 0, Math.floor(copy.byteLength / Type.BYTES_PER_ELEMENT));
}

function insidePolygon(x, y, polygon) {
  let inside = false;
  for (let a = 0, b = polygon.length - 1; a < polygon.length; b = a++) {
    const [xa, ya] = polygon[a], [xb, yb] = polygon[b];
    if ((ya > y) !== (yb > y) && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}

function boundsOf(xy, n) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return n ? [x0, y0, x1, y1] : [-1, -1, 1, 1];
}

/* One layout: a WebGL canvas, a 2D canvas on top (highlight rings, the lasso), a tooltip. */
class MapPanel {
  constructor(maps, title, xy) {
    this.maps = maps;
    this.xy = xy;
    this.el = document.createElement("div");
    this.el.className = "atlas-maps-panel";
    const heading = document.createElement("div");
    heading.className = "atlas-maps-title";
    heading.textContent = title;
    this.surface = document.createElement("div");
    this.surface.className = "atlas-maps-surface";
    this.surface.style.width = `${maps.width}px`;
    this.surface.style.height = `${maps.height}px`;
    this.canvas = document.createElement("canvas");
    this.canvas.tabIndex = 0;
    this.overlay = document.createElement("canvas");
    this.overlay.className = "atlas-maps-overlay";
    this.tip = document.createElement("div");
    this.tip.className = "atlas-maps-tooltip";
    this.surface.append(this.canvas, this.overlay, this.tip);
    this.el.append(heading, this.surface);

    const data = { n: maps.n, xy, popularity: maps.sizes };
    this.renderer = new PointRenderer(this.canvas, data, { background: PAPER });
    this.view = new View(boundsOf(xy, maps.n), () => this.requestDraw());
    this.frame = 0;
    this.hoverFrame = 0;
    this.hovered = -1;
    this.lasso = null;
    attachGestures(this.canvas, this.view, {
      hover: (sx, sy) => this.hover(sx, sy),
      click: () => maps.select(null),
      escape: () => maps.select(null),
    });
    this.attachLasso();
  }

  mount() {
    const ratio = window.devicePixelRatio || 1;
    this.renderer.resize(this.maps.width, this.maps.height, ratio);
    this.overlay.width = Math.round(this.maps.width * ratio);
    this.overlay.height = Math.round(this.maps.height * ratio);
    this.view.resize(this.maps.width, this.maps.height);
  }

  requestDraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    this.renderer.draw(this.view);
    const gl = this.renderer.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.renderer.positionBuffer);
    // What tests read: the points held in the GPU buffer and the number drawn in the last frame.
    this.canvas.dataset.buffered = String(gl.getBufferParameter(gl.ARRAY_BUFFER, gl.BUFFER_SIZE) / 8);
    this.canvas.dataset.drawn = String(this.renderer.n);
    this.canvas.dataset.frames = String(Number(this.canvas.dataset.frames || 0) + 1);
    this.canvas.dataset.colour = this.colourKey;
    this.drawOverlay();
  }

  /* Drag with the lasso tool (or with Shift held in the pan tool) draws a selection. */
  attachLasso() {
    const local = (event) => {
      const box = this.surface.getBoundingClientRect();
      return [event.clientX - box.left, event.clientY - box.top];
    };
    this.surface.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || (this.maps.tool !== "lasso" && !event.shiftKey)) return;
      event.stopPropagation();
      event.preventDefault();
      try {
        this.surface.setPointerCapture(event.pointerId);
      } catch (error) {
        // synthetic pointers cannot be captured; the lasso still follows them
      }
      this.lasso = { pointer: event.pointerId, path: [local(event)] };
      this.hideTip();
    }, true);
    this.surface.addEventListener("pointermove", (event) => {
      if (!this.lasso || event.pointerId !== this.lasso.pointer) return;
      event.stopPropagation();
      const here = local(event), last = this.lasso.path[this.lasso.path.length - 1];
      if (Math.hypot(here[0] - last[0], here[1] - last[1]) >= 2) this.lasso.path.push(here);
      this.drawOverlay();
    }, true);
    const finish = (event) => {
      if (!this.lasso || event.pointerId !== this.lasso.pointer) return;
      event.stopPropagation();
      const path = this.lasso.path;
      this.lasso = null;
      this.drawOverlay();
      if (event.type === "pointercancel") return;
      const [x0, y0] = path[0];
      const spread = Math.max(...path.map(([x, y]) => Math.hypot(x - x0, y - y0)));
      this.maps.select(spread < 4 ? null : this.pointsInside(path));
    };
    this.surface.addEventListener("pointerup", finish, true);
    this.surface.addEventListener("pointercancel", finish, true);
  }

  /* The 2D layer over the points: a ring around each highlighted item in its kind's colour
     (later kinds on top: the searched item over its neighbours), and the lasso. */
  drawOverlay() {
    const ctx = this.overlay.getContext("2d"), ratio = this.overlay.width / this.maps.width;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const highlighted = (this.highlighted || []).slice(-MAX_OUTLINED);
    const ringColours = (this.ringColours || []).slice(-MAX_OUTLINED);
    ctx.setLineDash([]);
    for (let start = 0; start < highlighted.length; ) {
      const colour = ringColours[start] || "#000000";
      let end = start;
      ctx.beginPath();
      for (; end < highlighted.length && (ringColours[end] || "#000000") === colour; end++) {
        const i = highlighted[end];
        const [sx, sy] = this.view.toScreen(this.xy[2 * i], this.xy[2 * i + 1]);
        if (sx < -20 || sy < -20 || sx > this.maps.width + 20 || sy > this.maps.height + 20) continue;
        const r = Math.max(this.renderer.radius(this.view, i) * 1.25, 3.5) + 1; // the shader's size for style 2
        ctx.moveTo(sx + r, sy);
        ctx.arc(sx, sy, r, 0, 2 * Math.PI);
      }
      ctx.lineWidth = colour === SEARCHED_COLOUR ? 3 : 1.6;
      ctx.strokeStyle = colour;
      ctx.stroke();
      start = end;
    }
    this.drawPath(ctx);
    if (!this.lasso || this.lasso.path.length < 2) return;
    ctx.beginPath();
    this.lasso.path.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fillStyle = "rgba(76, 120, 168, 0.12)";
    ctx.strokeStyle = "rgba(51, 51, 51, 0.8)";
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.fill();
    ctx.stroke();
  }

  /* A user's path: their items joined in time order, the first stop ringed, the last boxed, the
     stops numbered when there are few enough to read (else the first and the last). */
  drawPath(ctx) {
    const stops = (this.pathStops || []).map((i) => this.view.toScreen(this.xy[2 * i], this.xy[2 * i + 1]));
    this.overlay.dataset.pathStops = String(stops.length);
    if (!stops.length) return;
    ctx.setLineDash([]);
    ctx.lineJoin = "round";
    ctx.beginPath();
    stops.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    ctx.lineWidth = 4.5;
    ctx.stroke();
    ctx.strokeStyle = PATH_COLOUR;
    ctx.lineWidth = 2;
    ctx.stroke();
    const [x0, y0] = stops[0], [x1, y1] = stops[stops.length - 1];
    ctx.beginPath();
    ctx.arc(x0, y0, 7, 0, 2 * Math.PI);
    ctx.lineWidth = 2.5;
    ctx.stroke();
    ctx.strokeRect(x1 - 6.5, y1 - 6.5, 13, 13);
    ctx.font = "bold 11px sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "bottom";
    stops.forEach(([x, y], k) => {
      if (stops.length > PATH_NUMBERED && k !== 0 && k !== stops.length - 1) return;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "white";
      ctx.strokeText(String(k + 1), x + 6, y - 5);
      ctx.fillStyle = PATH_COLOUR;
      ctx.fillText(String(k + 1), x + 6, y - 5);
    });
  }

  /* Drawing-order indices of the points whose centre lies inside a screen-space path. */
  pointsInside(path) {
    const polygon = path.map(([sx, sy]) => this.view.toWorld(sx, sy));
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [x, y] of polygon) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    const inside = [];
    for (let i = 0; i < this.maps.n; i++) {
      const x = this.xy[2 * i], y = this.xy[2 * i + 1];
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1 && insidePolygon(x, y, polygon)) inside.push(i);
    }
    return inside;
  }

  /* The point nearest the pointer within its drawn radius (plus a little), or -1. */
  pick(sx, sy) {
    const view = this.view, [wx, wy] = view.toWorld(sx, sy), base = this.renderer.baseRadius(view);
    let best = -1, bestDistance = Infinity;
    for (let i = 0; i < this.maps.n; i++) {
      const dx = (this.xy[2 * i] - wx) * view.k, dy = (this.xy[2 * i + 1] - wy) * view.k;
      const d = dx * dx + dy * dy;
      if (d >= bestDistance) continue;
      const reach = Math.min(base * (1 + this.renderer.grow * this.maps.sizes[i]), this.renderer.maxRadius()) + 3;
      if (d <= reach * reach) {
        best = i;
        bestDistance = d;
      }
    }
    return best;
  }

  hover(sx, sy) {
    this.pointer = [sx, sy];
    if (this.hoverFrame) return;
    this.hoverFrame = requestAnimationFrame(() => {
      this.hoverFrame = 0;
      const [x, y] = this.pointer;
      const i = x < 0 ? -1 : this.pick(x, y);
      if (i < 0) return this.hideTip();
      this.hovered = i;
      this.showTip(i, x, y);
    });
  }

  showTip(i, sx, sy) {
    const row = this.maps.rows[i];
    this.tip.replaceChildren();
    const lines = this.maps.tooltips.get(row);
    if (!lines) {
      this.tip.textContent = "…";
      this.maps.askTooltip(row);
    } else {
      const table = document.createElement("table");
      for (const [label, value] of lines) {
        const tr = table.insertRow();
        tr.insertCell().textContent = label;
        tr.insertCell().textContent = value;
      }
      this.tip.append(table);
    }
    this.tip.dataset.row = String(row);
    this.tip.style.display = "block";
    const left = Math.min(sx + 14, this.maps.width - this.tip.offsetWidth - 4);
    const top = sy + 14 + this.tip.offsetHeight > this.maps.height ? sy - 14 - this.tip.offsetHeight : sy + 14;
    this.tip.style.left = `${Math.max(4, left)}px`;
    this.tip.style.top = `${Math.max(4, top)}px`;
  }

  refreshTip(row) {
    if (this.hovered >= 0 && this.maps.rows[this.hovered] === row && this.tip.style.display === "block") {
      this.showTip(this.hovered, ...this.pointer);
    }
  }

  hideTip() {
    this.hovered = -1;
    this.tip.style.display = "none";
  }

  /* colors: RGBA bytes in drawing order; highlighted: drawing-order indices drawn on top, and
     ringColours their outline colours; key: what the colours show (the legend's title),
     recorded on the canvas when drawn. */
  paint(colors, highlighted, key, ringColours = [], pathStops = []) {
    this.colourKey = key;
    this.highlighted = highlighted;
    this.ringColours = ringColours;
    this.pathStops = pathStops;
    this.renderer.setColors(colors);
    this.renderer.setHighlights(highlighted.map((i) => [i, 2]), highlighted.length ? HIGHLIGHT_DIM : 0);
    this.requestDraw();
  }

  resetView() {
    this.view.fit();
  }

  /* Give the WebGL context back now rather than when it is collected (browsers keep only a few). */
  dispose() {
    if (this.frame) cancelAnimationFrame(this.frame);
    if (this.hoverFrame) cancelAnimationFrame(this.hoverFrame);
    this.view.cancelFlight();
    const lose = this.renderer.gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
  }
}

class LinkedMaps {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.width = model.get("panel_width");
    this.height = model.get("panel_height");
    this.n = model.get("count");
    this.sizes = typedArray(model.get("sizes"), Float32Array);
    this.rows = typedArray(model.get("rows"), Int32Array);
    this.indexOfRow = new Int32Array(this.n).fill(-1);
    this.rows.forEach((row, i) => { if (row >= 0 && row < this.n) this.indexOfRow[row] = i; });
    this.tool = "lasso";
    this.tooltips = new Map();
    this.asked = new Set();
    this.selected = null; // Uint8Array mask in drawing order, or null
    this.build();
  }

  build() {
    const root = document.createElement("div");
    root.className = "atlas-maps";
    const bar = document.createElement("div");
    bar.className = "atlas-maps-bar";
    this.toolButtons = {};
    for (const [tool, label, hint] of [
      ["lasso", "Lasso", "drag to select items (Shift+drag works in the pan tool too)"],
      ["pan", "Pan", "drag to move, wheel to zoom"],
    ]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.title = hint;
      button.dataset.tool = tool;
      button.addEventListener("click", () => this.setTool(tool));
      this.toolButtons[tool] = button;
      bar.append(button);
    }
    const clear = document.createElement("button");
    clear.type = "button";
    clear.textContent = "Clear selection";
    clear.dataset.action = "clear";
    clear.addEventListener("click", () => this.select(null));
    const reset = document.createElement("button");
    reset.type = "button";
    reset.textContent = "Reset view";
    reset.dataset.action = "reset";
    reset.addEventListener("click", () => this.panels.forEach((p) => p.resetView()));
    this.status = document.createElement("span");
    this.status.className = "atlas-maps-status";
    bar.append(clear, reset, this.status);

    const row = document.createElement("div");
    row.className = "atlas-maps-row";
    const coords = typedArray(this.model.get("coords"), Float32Array);
    const titles = this.model.get("titles");
    this.fitWidth(titles.length);
    this.panels = titles.map((title, v) => new MapPanel(this, title, coords.subarray(2 * this.n * v, 2 * this.n * (v + 1))));
    this.panels.forEach((panel) => row.append(panel.el));
    this.legend = document.createElement("div");
    this.legend.className = "atlas-maps-legend";
    root.append(bar, row, this.legend);
    this.el.append(root);
    this.root = root;
    this.setTool(this.tool);
    // For scripts and tests: where a table row is drawn, in page coordinates, in view v.
    root.atlasMaps = {
      count: this.n,
      project: (v, row) => {
        const panel = this.panels[v], i = this.indexOfRow[row];
        const [sx, sy] = panel.view.toScreen(panel.xy[2 * i], panel.xy[2 * i + 1]);
        const box = panel.surface.getBoundingClientRect();
        return [box.left + sx, box.top + sy];
      },
    };
  }

  /* Narrower panels (down to MIN_PANEL_WIDTH, same aspect) when the views would not fit side by side. */
  fitWidth(views) {
    const available = this.el.getBoundingClientRect().width;
    if (!(available > 0)) return;
    const fit = Math.floor((available - PANEL_GAP * (views - 1)) / views);
    if (fit >= this.width) return;
    const width = Math.max(MIN_PANEL_WIDTH, fit);
    this.height = Math.round((this.height * width) / this.width);
    this.width = width;
  }

  mount() {
    this.panels.forEach((panel) => panel.mount());
    this.selectionFromModel();
    this.repaint();
    this.drawLegend();
  }

  setTool(tool) {
    this.tool = tool;
    for (const [name, button] of Object.entries(this.toolButtons)) button.classList.toggle("active", name === tool);
    this.root.dataset.tool = tool;
  }

  /* indices: drawing-order indices to select, or null to clear. Syncs the table rows to Python. */
  select(indices) {
    if (!indices || !indices.length) {
      if (!this.selected) return;
      this.selected = null;
    } else {
      this.selected = new Uint8Array(this.n);
      for (const i of indices) this.selected[i] = 1;
    }
    this.repaint();
    const rows = [];
    if (this.selected) this.selected.forEach((on, i) => { if (on) rows.push(this.rows[i]); });
    rows.sort((a, b) => a - b);
    this.model.set("selection", rows);
    this.model.save_changes();
  }

  selectionFromModel() {
    const rows = this.model.get("selection") || [];
    if (!rows.length) {
      this.selected = null;
      return;
    }
    this.selected = new Uint8Array(this.n);
    for (const row of rows) if (row >= 0 && row < this.n && this.indexOfRow[row] >= 0) this.selected[this.indexOfRow[row]] = 1;
  }

  repaint() {
    const base = bytesOf(this.model.get("colors"));
    // one block of colours for every panel, or one per panel (a colour held per map)
    const perPanel = this.panels.length > 1 && base.length >= 4 * this.n * this.panels.length;
    const blocks = (perPanel ? this.panels : [null]).map((_, p) => {
      const colors = new Uint8Array(4 * this.n);
      colors.set(base.subarray(4 * this.n * p, 4 * this.n * (p + 1)));
      return colors;
    });
    let count = 0;
    if (this.selected) {
      for (let i = 0; i < this.n; i++) {
        if (this.selected[i]) { count++; continue; }
        for (const colors of blocks) colors.set(BRUSHED_OUT, 4 * i);
      }
    }
    const highlighted = [], ringColours = [], given = this.model.get("highlight_colors") || [];
    (this.model.get("highlight") || []).forEach((row, k) => {
      if (row >= 0 && row < this.n && this.indexOfRow[row] >= 0) {
        highlighted.push(this.indexOfRow[row]);
        ringColours.push(given[k] || "#000000");
      }
    });
    const key = (this.model.get("legend") || {}).title || "";
    const pathStops = (this.model.get("path") || []).filter((row) => row >= 0 && row < this.n && this.indexOfRow[row] >= 0).map((row) => this.indexOfRow[row]);
    this.panels.forEach((panel, p) => panel.paint(blocks[perPanel ? p : 0], highlighted, key, ringColours, pathStops));
    this.status.textContent = this.selected ? `${count.toLocaleString("en")} selected` : `${this.n.toLocaleString("en")} items, all drawn`;
    this.root.dataset.selected = String(count);
  }

  drawLegend() {
    const legend = this.model.get("legend") || {};
    this.legend.replaceChildren();
    if (!legend.title) return;
    const title = document.createElement("span");
    title.className = "atlas-maps-legend-title";
    title.textContent = legend.title;
    this.legend.append(title);
    if (legend.kind === "ramp") {
      const low = document.createElement("span"), bar = document.createElement("span"), high = document.createElement("span");
      low.textContent = legend.low;
      high.textContent = legend.high;
      bar.className = "atlas-maps-ramp";
      bar.style.background = `linear-gradient(to right, ${legend.stops.join(", ")})`;
      this.legend.append(low, bar, high);
    }
    const entry = (label, color, ring) => {
      const item = document.createElement("span");
      item.className = "atlas-maps-entry";
      const swatch = document.createElement("span");
      swatch.className = ring ? "atlas-maps-swatch atlas-maps-ring" : "atlas-maps-swatch";
      if (ring) swatch.style.borderColor = color;
      else swatch.style.background = color;
      item.append(swatch, document.createTextNode(label));
      this.legend.append(item);
    };
    for (const [label, color] of legend.entries || []) entry(label, color, false);
    const outlines = this.model.get("outlines") || [];
    if (outlines.length) {
      const heading = document.createElement("span");
      heading.className = "atlas-maps-legend-title";
      heading.textContent = "outlined";
      this.legend.append(heading);
      for (const [label, color] of outlines) entry(label, color, true);
    }
  }

  askTooltip(row) {
    if (this.asked.has(row)) return;
    this.asked.add(row);
    this.model.send({ type: "tooltip", row });
  }

  received(message) {
    if (!message || message.type !== "tooltip") return;
    this.tooltips.set(message.row, message.lines);
    this.panels.forEach((panel) => panel.refreshTip(message.row));
  }
}

function render({ model, el }) {
  let maps;
  try {
    maps = new LinkedMaps(model, el);
    maps.mount();
  } catch (error) {
    el.textContent = `The maps could not be drawn: ${error.message}`;
    throw error;
  }
  // marimo calls these listeners without arguments: read the values from the model.
  const repaint = () => maps.repaint();
  const reselect = () => { maps.selectionFromModel(); maps.repaint(); };
  const relegend = () => maps.drawLegend();
  const answer = (message) => maps.received(message);
  const listeners = [
    ["change:colors", repaint], ["change:highlight", repaint], ["change:highlight_colors", repaint], ["change:path", repaint],
    ["change:outlines", relegend], ["change:selection", reselect], ["change:legend", relegend], ["msg:custom", answer],
  ];
  listeners.forEach(([event, listener]) => model.on(event, listener));
  return () => {
    maps.panels.forEach((panel) => panel.dispose());
    listeners.forEach(([event, listener]) => model.off(event, listener));
  };
}
