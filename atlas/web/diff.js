/* The diff page (atlas/web/diffpage.py): the new map with new items marked and gone items as
   faint ghosts; a slider moves kept items between their old and new places. Exposes
   `window.diffMap` for scripts and tests:

     diffMap.ready           true once the first frame is drawn
     diffMap.count           items on the page (kept, new and gone)
     diffMap.counts          {kept, new, gone, old_items, new_items}
     diffMap.indexOf(id)     index of the item with that id, or -1
     diffMap.item(i)         {index, id, name, status, moved}
     diffMap.setTime(t)      place kept items at t between old (0) and new (1)
     diffMap.play()          Promise: animate from the old map to the new one
     diffMap.project(i)      {x, y}: page coordinates of item i where it is drawn now
     diffMap.flyTo(i)        Promise: fly to item i
     diffMap.state           {t, selected, hover, playing}

   Items are indexed by popularity rank, as in the web atlas. */

const STATUS = ["kept", "new", "gone"];
const STATUS_COLOURS = ["#8fa6c8", "#5ed49b", "#ff6b6b"];
const MOVER_LABELS = 8;

function hexRgb(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function smooth(t) { return t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2; }

class DiffData {
  constructor({ header, array }) {
    this.n = header.count;
    this.title = header.title;
    this.ids = header.ids;
    this.names = header.names;
    this.status = array(header.status);
    this.xyOld = array(header.xyOld);
    this.xyNew = array(header.xyNew);
    this.users = array(header.users);
    this.moved = array(header.moved);
    this.bounds = header.bounds;
    this.counts = header.counts;
    this.aligned = header.aligned;
    this.medianMove = header.medianMove;
    this.movers = header.movers;
    this.regions = header.regions;
    this.xy = new Float32Array(this.xyNew);  // where each item is drawn now
    this.popularity = new Float32Array(this.n);
    let hi = 0;
    for (let i = 0; i < this.n; i++) hi = Math.max(hi, Math.log1p(this.users[i]));
    for (let i = 0; i < this.n; i++) this.popularity[i] = hi > 0 ? Math.log1p(this.users[i]) / hi : 0.5;
    this.lookup = new Map(this.ids.map((id, i) => [id, i]));
  }

  /* Kept items at t between their old (0) and new (1) places; new and gone items stay put. */
  place(t) {
    const e = smooth(Math.min(1, Math.max(0, t)));
    for (let i = 0; i < this.n; i++) {
      for (const c of [0, 1]) {
        const k = 2 * i + c;
        this.xy[k] = this.status[i] === 0 ? this.xyOld[k] + (this.xyNew[k] - this.xyOld[k]) * e
          : this.status[i] === 1 ? this.xyNew[k] : this.xyOld[k];
      }
    }
  }
}

class DiffApp {
  constructor(data) {
    this.data = data;
    this.root = document.getElementById("atlas-root");
    this.overlayCanvas = document.getElementById("atlas-overlay");
    this.ctx = this.overlayCanvas.getContext("2d");
    this.renderer = new PointRenderer(document.getElementById("atlas-gl"), data);
    this.view = new View(data.bounds, () => this.requestFrame());
    this.tooltip = document.getElementById("atlas-tooltip");
    this.state = { t: 1, selected: -1, hover: -1, playing: false };
    this.frameRequested = false;
  }

  start() {
    const d = this.data, c = d.counts;
    document.getElementById("atlas-title").textContent = d.title;
    document.getElementById("diff-summary").textContent =
      `${formatCount(c.kept)} kept · ${formatCount(c.new)} new · ${formatCount(c.gone)} gone · median move ${(100 * d.medianMove).toFixed(1)}% of the map`;
    document.getElementById("diff-aligned").textContent = d.aligned === "here"
      ? "The new export was not built aligned to the old one: it was turned onto the old map here, on the kept items."
      : "The new export was built aligned to the old one (--align-to).";
    const legend = document.getElementById("diff-legend");
    legend.replaceChildren(...STATUS.map((s, k) => {
      const row = element("div", "atlas-legend-item");
      const swatch = element("span", "atlas-swatch");
      swatch.style.background = STATUS_COLOURS[k];
      if (k === 2) swatch.style.opacity = "0.4";
      const label = ["kept", "new", "gone (faint, at its old place)"][k];
      row.append(swatch, element("span", "atlas-legend-label", label), element("span", "atlas-legend-count", formatCount(c[s])));
      return row;
    }));
    this.fillLists();
    const slider = document.getElementById("diff-time");
    slider.addEventListener("input", () => this.setTime(Number(slider.value)));
    document.getElementById("diff-play").addEventListener("click", () => this.play());
    attachGestures(this.overlayCanvas, this.view, {
      hover: (sx, sy) => this.hover(sx < 0 ? -1 : this.pick(sx, sy), sx, sy),
      click: (sx, sy) => this.select(this.pick(sx, sy)),
      escape: () => this.select(-1),
    });
    const controls = document.getElementById("atlas-controls").getBoundingClientRect();
    if (this.root.clientWidth > 900) this.view.insets = { left: controls.right };
    new ResizeObserver(() => this.resize()).observe(this.root);
    this.resize();
    this.setTime(1);
  }

  fillLists() {
    const d = this.data;
    document.getElementById("diff-movers").replaceChildren(...d.movers.map((m) => {
      const button = element("button");
      button.type = "button";
      button.dataset.index = String(m.index);
      button.append(element("span", "diff-name", d.names[m.index]), element("span", "diff-meta", `${(100 * m.moved).toFixed(1)}%`));
      button.addEventListener("click", () => { this.select(m.index); this.flyTo(m.index); });
      const li = element("li");
      li.append(button);
      return li;
    }));
    const regions = d.regions.length ? d.regions : [{ kind: "", text: "no region changed", at: null }];
    document.getElementById("diff-regions").replaceChildren(...regions.map((r) => {
      const button = element("button");
      button.type = "button";
      button.append(element("span", "diff-kind", r.kind), element("span", "diff-name", r.text));
      if (r.at) button.addEventListener("click", () => this.view.flyTo(r.at[0], r.at[1], this.view.fitK * 3));
      else button.disabled = true;
      const li = element("li");
      li.append(button);
      return li;
    }));
  }

  resize() {
    const width = this.root.clientWidth, height = this.root.clientHeight, ratio = window.devicePixelRatio || 1;
    this.renderer.resize(width, height, ratio);
    this.overlayCanvas.width = Math.round(width * ratio);
    this.overlayCanvas.height = Math.round(height * ratio);
    this.pixelRatio = ratio;
    this.view.resize(width, height);
  }

  colours(t) {
    const d = this.data, colors = new Uint8Array(4 * d.n), rgb = STATUS_COLOURS.map(hexRgb);
    const alpha = [255, Math.round(255 * Math.max(0.15, t)), Math.round(255 - 195 * t)];
    for (let i = 0; i < d.n; i++) colors.set([...rgb[d.status[i]], alpha[d.status[i]]], 4 * i);
    return colors;
  }

  setTime(t) {
    const s = this.state;
    s.t = Math.min(1, Math.max(0, t));
    document.getElementById("diff-time").value = String(s.t);
    this.data.place(s.t);
    this.renderer.updatePositions();
    this.renderer.setColors(this.colours(s.t));
    this.updateHighlights();
  }

  updateHighlights() {
    const d = this.data, items = [];
    if (this.state.t >= 0.5) for (let i = 0; i < d.n; i++) if (d.status[i] === 1) items.push([i, 2]);
    if (this.state.selected >= 0) items.push([this.state.selected, 3]);
    this.renderer.setHighlights(items, 0);
    this.requestFrame();
  }

  play(duration = 2500) {
    if (this.state.playing) return Promise.resolve(false);
    this.state.playing = true;
    return new Promise((resolve) => {
      const started = performance.now();
      const step = (now) => {
        const t = Math.min(1, (now - started) / duration);
        this.setTime(t);
        if (t < 1) requestAnimationFrame(step);
        else { this.state.playing = false; resolve(true); }
      };
      requestAnimationFrame(step);
    });
  }

  pick(sx, sy) {
    const d = this.data, [wx, wy] = this.view.toWorld(sx, sy);
    let best = -1, bestGap = 6;
    for (let i = 0; i < d.n; i++) {
      const gap = Math.hypot(d.xy[2 * i] - wx, d.xy[2 * i + 1] - wy) * this.view.k - this.renderer.radius(this.view, i);
      if (gap < bestGap) { best = i; bestGap = gap; }
    }
    return best;
  }

  describe(i) {
    const d = this.data, status = STATUS[d.status[i]];
    return status === "kept" ? `kept · moved ${(100 * d.moved[i]).toFixed(1)}% of the map` : status === "new" ? "new in this build" : "gone since the old build";
  }

  hover(i, sx, sy) {
    this.state.hover = i;
    this.overlayCanvas.classList.toggle("pointing", i >= 0);
    if (i < 0) { this.tooltip.hidden = true; this.requestFrame(); return; }
    document.getElementById("atlas-tooltip-name").textContent = this.data.names[i];
    fillRows(document.getElementById("atlas-tooltip-fields"), [["change", this.describe(i)], ["users", formatCount(this.data.users[i])]]);
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${sx + 16}px`;
    this.tooltip.style.top = `${sy + 16}px`;
    this.requestFrame();
  }

  select(i) {
    this.state.selected = i;
    this.updateHighlights();
  }

  flyTo(i) {
    const d = this.data;
    return this.view.flyTo(d.xy[2 * i], d.xy[2 * i + 1], Math.max(this.view.k, this.view.fitK * 5));
  }

  requestFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.frameRequested = false;
    this.renderer.draw(this.view);
    this.drawOverlay();
    if (this.onFrame) this.onFrame();
  }

  /* Trails from old to current places for the biggest movers and the selected item, and their names. */
  drawOverlay() {
    const ctx = this.ctx, d = this.data, view = this.view;
    ctx.setTransform(this.pixelRatio, 0, 0, this.pixelRatio, 0, 0);
    ctx.clearRect(0, 0, view.width, view.height);
    const shown = d.movers.slice(0, MOVER_LABELS).map((m) => m.index);
    if (this.state.selected >= 0 && !shown.includes(this.state.selected)) shown.push(this.state.selected);
    ctx.font = "12px system-ui, 'Noto Sans', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif";
    ctx.textBaseline = "middle";
    for (const i of shown) {
      const [ox, oy] = view.toScreen(d.xyOld[2 * i], d.xyOld[2 * i + 1]);
      const [nx, ny] = view.toScreen(d.xy[2 * i], d.xy[2 * i + 1]);
      if (d.status[i] === 0) {
        ctx.strokeStyle = "rgba(255, 200, 87, 0.7)";
        ctx.lineWidth = 1;
        ctx.setLineDash([3, 3]);
        ctx.beginPath();
        ctx.moveTo(ox, oy);
        ctx.lineTo(nx, ny);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      const text = d.names[i].length > 34 ? d.names[i].slice(0, 33) + "…" : d.names[i];
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(8, 10, 16, 0.85)";
      ctx.strokeText(text, nx + 7, ny);
      ctx.fillStyle = i === this.state.selected ? "#ffffff" : "rgba(255, 217, 138, 0.95)";
      ctx.fillText(text, nx + 7, ny);
    }
    if (this.state.hover >= 0) {
      const i = this.state.hover, [hx, hy] = view.toScreen(d.xy[2 * i], d.xy[2 * i + 1]);
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(hx, hy, this.renderer.radius(view, i) + 3, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  hook() {
    const app = this, d = this.data;
    return {
      ready: false,
      count: d.n,
      counts: d.counts,
      indexOf: (id) => (d.lookup.has(String(id)) ? d.lookup.get(String(id)) : -1),
      item: (i) => ({ index: i, id: d.ids[i], name: d.names[i], status: STATUS[d.status[i]], moved: Number.isFinite(d.moved[i]) ? d.moved[i] : null }),
      setTime: (t) => app.setTime(t),
      play: () => app.play(),
      project(i) {
        const box = app.overlayCanvas.getBoundingClientRect(), [sx, sy] = app.view.toScreen(d.xy[2 * i], d.xy[2 * i + 1]);
        return { x: sx + box.left, y: sy + box.top };
      },
      flyTo: (i) => app.flyTo(i),
      get view() { return { cx: app.view.cx, cy: app.view.cy, k: app.view.k, width: app.view.width, height: app.view.height }; },
      state: app.state,
    };
  }
}

async function startDiff() {
  const loading = document.getElementById("atlas-loading");
  try {
    const source = document.getElementById("atlas-data");
    const buffer = await inflatePayload(source.textContent);
    source.textContent = "";
    const app = new DiffApp(new DiffData(decodePayload(buffer)));
    const hook = app.hook();
    window.diffMap = hook;
    app.start();
    app.onFrame = () => {
      app.onFrame = null;
      loading.remove();
      hook.ready = true;
    };
  } catch (error) {
    loading.textContent = `The map could not be shown: ${error.message}`;
    loading.classList.add("failed");
    throw error;
  }
}

startDiff();
