/* The page controller: decodes the data, wires the map, panels and gestures, and exposes
   `window.atlasMap`, a small documented hook for scripts and tests:

     atlasMap.ready            true once the data is decoded and the first frame is drawn
     atlasMap.count            number of items
     atlasMap.view             {cx, cy, k, width, height}: world centre, pixels per world unit
     atlasMap.project(i)       {x, y}: page (client) coordinates in CSS pixels of item i
     atlasMap.indexOf(id)      index of the item with that item_id, or -1
     atlasMap.item(i)          {index, id, name, users, fields}
     atlasMap.search(q, limit) [{index, id, name}] as the search box lists them
     atlasMap.flyTo(i)         Promise, resolves when the view has arrived at item i
     atlasMap.select(i)        select item i (-1 clears): neighbours, lines and side panel
     atlasMap.setColor(name, v) colour by that field ("popularity" for the user counts); for a field
                               of sets, v is "" (each item's most distinctive value) or one value
     atlasMap.loadProfile(t)   highlight the items named in text t; returns the match report
                               {entries, matched, items, path, unmatched, suggestions}: path keeps
                               the list's order (one item per entry found), suggestions[k] holds
                               the indexes of the names closest to unmatched[k]
     atlasMap.showPath(on)     draw the pasted list as a path in its order (the "draw as a path" box)
     atlasMap.pick(x, y)       index of the item under page coordinates (x, y), or -1
     atlasMap.showRegions(on)  show or hide the region names
     atlasMap.regions          [{id, level, name, x, y, count}]: the named regions, coarsest first
     atlasMap.reasons(i)       [{index, name, shared, lift, text, far}]: item i's neighbours and why, graph order
     atlasMap.state            {hover, selected, neighbors, far, colorField, colorValue, profile, path, pathMarks, labels, regions, frameMs}
                               (far: neighbours the map put away from the selected item, drawn dashed;
                                path: the items drawn as a path, in order ([] when not drawn);
                                pathMarks: the stops' numbers on screen {index, number, x, y, width, height};
                                labels: placed boxes {index, x, y, width, height} in map pixels;
                                regions: placed names {id, level, name, x, y, width, height};
                                frameMs: script time of the last frame)

   Items are indexed by popularity rank: index 0 has the most users. */

class AtlasApp {
  constructor(data) {
    this.data = data;
    this.root = document.getElementById("atlas-root");
    this.glCanvas = document.getElementById("atlas-gl");
    this.overlayCanvas = document.getElementById("atlas-overlay");
    this.renderer = new PointRenderer(this.glCanvas, data);
    this.overlay = new Overlay(this.overlayCanvas, data, this.renderer);
    this.overlay.regions = new RegionLabels(data.regions);
    this.view = new View(data.bounds, () => this.viewChanged(), data.home);
    this.tooltip = new Tooltip(document.getElementById("atlas-tooltip"));
    this.details = new DetailsPanel(document.getElementById("atlas-details"), {
      onNeighbor: (j) => this.goTo(j),
      onNeighborHover: (j) => this.setHover(j, null),
      onClose: () => this.select(-1),
    });
    this.state = { hover: -1, selected: -1, neighbors: [], far: [], colorField: null, colorValue: "", profile: null,
                   path: [], pathMarks: [], labels: [], regions: [], frameMs: 0 };
    this.profileSet = new Set();
    this.profileText = "";
    this.pathShown = false;
    this.hidden = new Set();
    this.pointer = null;
    this.frameRequested = false;
    this.labelsStale = true;
    this.hoverStale = false;
  }

  start() {
    const data = this.data;
    document.getElementById("atlas-title").textContent = data.title;
    const layout = data.projection ? ` · ${String(data.projection).toUpperCase()} layout` : "";
    document.getElementById("atlas-subtitle").textContent = `${formatCount(data.n)} items${layout}`;
    this.setupColorSelect();
    attachSearch(document.getElementById("atlas-search"), document.getElementById("atlas-results"), data,
                 (i) => this.goTo(i));
    this.setupProfile();
    attachGestures(this.overlayCanvas, this.view, {
      hover: (sx, sy) => this.pointerMoved(sx, sy),
      click: (sx, sy) => this.select(this.pickLocal(sx, sy)),
      escape: () => this.select(-1),
    });
    const controls = document.getElementById("atlas-controls").getBoundingClientRect();
    if (this.root.clientWidth > 900) this.view.insets = { left: controls.right };
    new ResizeObserver(() => this.resize()).observe(this.root);
    this.resize();
  }

  resize() {
    const width = this.root.clientWidth, height = this.root.clientHeight, ratio = window.devicePixelRatio || 1;
    this.renderer.resize(width, height, ratio);
    this.overlay.resize(width, height, ratio);
    this.view.resize(width, height);
  }

  viewChanged() {
    this.labelsStale = true;
    this.hoverStale = true;
    this.requestFrame();
  }

  requestFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    const started = performance.now();
    this.frameRequested = false;
    if (this.labelsStale) {
      const s = this.state;
      const priority = s.selected >= 0 ? [s.selected, ...s.neighbors] : [];
      s.pathMarks = this.overlay.pathMarks(this.view, s.path);  // labels keep clear of the path's numbers
      const numbers = s.pathMarks.map((m) => ({ left: m.x, top: m.y, right: m.x + m.width, bottom: m.y + m.height }));
      this.overlay.placeLabels(this.view, priority.concat(s.profile ? s.profile.items : []), this.panelBoxes().concat(numbers));
      s.labels = this.overlay.placed;
      s.regions = this.overlay.regions.placed;
      this.labelsStale = false;
    }
    if (this.hoverStale) {
      this.hoverStale = false;
      if (this.pointer) this.setHover(this.pickLocal(...this.pointer), this.pointer);
      else this.tooltip.hide();
    }
    this.renderer.draw(this.view);
    this.overlay.draw(this.view, { ...this.state, profile: this.profileSet });
    this.state.frameMs = performance.now() - started;
    if (this.onFrame) this.onFrame();
  }

  /* Screen rectangles of the open panels, relative to the map. */
  panelBoxes() {
    const origin = this.root.getBoundingClientRect();
    return ["atlas-controls", "atlas-details", "atlas-hint"].map((id) => document.getElementById(id))
      .filter((panel) => !panel.hidden)
      .map((panel) => {
        const box = panel.getBoundingClientRect();
        return { left: box.left - origin.left, top: box.top - origin.top,
                 right: box.right - origin.left, bottom: box.bottom - origin.top };
      });
  }

  /* Index of the item under screen point (sx, sy): a point the pointer is inside wins (the
     most popular, drawn on top); otherwise the nearest within a few pixels of its edge. */
  pickLocal(sx, sy) {
    const view = this.view, xy = this.data.xy, slop = 4;
    const [wx, wy] = view.toWorld(sx, sy);
    let inside = -1, near = -1, nearGap = Infinity;
    this.data.grid.near(wx, wy, (this.renderer.maxRadius() + slop) / view.k, (i) => {
      const d = Math.hypot(xy[2 * i] - wx, xy[2 * i + 1] - wy) * view.k;
      const gap = d - this.renderer.radius(view, i);
      if (gap <= 0) { if (inside < 0 || i < inside) inside = i; }
      else if (gap <= slop && gap < nearGap) { near = i; nearGap = gap; }
    });
    return inside >= 0 ? inside : near;
  }

  pointerMoved(sx, sy) {
    this.pointer = sx < 0 ? null : [sx, sy];
    this.setHover(this.pointer ? this.pickLocal(sx, sy) : -1, this.pointer);
  }

  setHover(i, at) {
    const changed = i !== this.state.hover;
    this.state.hover = i;
    this.overlayCanvas.classList.toggle("pointing", i >= 0);
    if (i >= 0 && at) this.tooltip.show(this.data, i, at[0], at[1], { width: this.view.width, height: this.view.height });
    else this.tooltip.hide();
    if (changed) this.requestFrame();
  }

  select(i) {
    const s = this.state;
    s.selected = i;
    s.neighbors = i >= 0 ? this.data.neighborsOf(i) : [];
    // true neighbours the map put far away: not among the item's FAITHFUL_K nearest points
    const near = i >= 0 ? new Set(this.data.nearestOnMap(i, FAITHFUL_K)) : new Set();
    s.far = s.neighbors.filter((j) => !near.has(j));
    if (i >= 0) this.showDetails();
    else this.details.hide();
    this.updateHighlights();
  }

  showDetails() {
    const s = this.state;
    this.details.show(this.data, s.selected, s.neighbors, this.renderer.colors, new Set(s.far));
  }

  /* Fly to item i and select it. */
  goTo(i) {
    this.select(i);
    return this.flyTo(i);
  }

  flyTo(i) {
    const k = Math.max(this.view.k, this.view.fitK * 6);
    return this.view.flyTo(this.data.xy[2 * i], this.data.xy[2 * i + 1], k);
  }

  updateHighlights() {
    const s = this.state, items = [];
    for (const i of this.profileSet) items.push([i, 1]);
    for (const j of s.neighbors) items.push([j, 2]);
    if (s.selected >= 0) items.push([s.selected, 3]);
    const dim = s.profile && s.profile.items.length ? 0.72 : s.selected >= 0 ? 0.45 : 0;
    this.renderer.setHighlights(items, dim);
    this.labelsStale = true;
    this.requestFrame();
  }

  setupColorSelect() {
    const select = document.getElementById("atlas-color");
    const fields = colorableFields(this.data);
    select.replaceChildren(...fields.map((f) => {
      const option = element("option", null, f.name);
      option.value = f.name;
      return option;
    }));
    select.addEventListener("change", () => this.setColor(select.value));
    const which = document.getElementById("atlas-color-value");
    which.addEventListener("change", () => this.setColor(select.value, false, which.value));
    this.setColor(defaultColorField(this.data).name);
  }

  /* Colour by the field called `name`; for a field of sets `value` is "" (each item's most
     distinctive value) or one of its values (by name or code). */
  setColor(name, keepHidden = false, value = "") {
    const field = colorableFields(this.data).find((f) => f.name === name);
    if (!field) throw new Error(`no colourable field named ${name}`);
    if (!keepHidden) this.hidden = new Set();
    document.getElementById("atlas-color").value = name;
    const which = document.getElementById("atlas-color-value");
    let choice = "";
    if (field.kind === "multi") {
      const byName = field.table.indexOf(String(value));
      choice = byName >= 0 ? String(byName + 1) : field.table[Number(value) - 1] !== undefined ? String(Number(value)) : "";
      which.replaceChildren(...setChoices(field).map((c) => {
        const option = element("option", null, c.label);
        option.value = c.value;
        return option;
      }));
      which.value = choice;
    }
    which.hidden = field.kind !== "multi";
    const { colors, legend } = colorBy(this.data, field, this.hidden, choice);
    this.state.colorField = name;
    this.state.colorValue = choice ? field.table[Number(choice) - 1] : "";
    this.renderer.setColors(colors);
    renderLegend(document.getElementById("atlas-legend"), legend, this.hidden, (key) => {
      if (this.hidden.has(key)) this.hidden.delete(key);
      else this.hidden.add(key);
      this.setColor(name, true, choice);
    });
    this.updateHighlights();
    if (this.state.selected >= 0) this.showDetails();
  }

  setupProfile() {
    const text = document.getElementById("atlas-profile");
    document.getElementById("atlas-profile-box").addEventListener("toggle", () => this.viewChanged());
    document.getElementById("atlas-profile-go").addEventListener("click", () => this.loadProfile(text.value));
    document.getElementById("atlas-profile-clear").addEventListener("click", () => {
      text.value = "";
      this.loadProfile("");
    });
    const asPath = document.getElementById("atlas-profile-path");
    asPath.addEventListener("change", () => this.showPath(asPath.checked));
  }

  /* Draw the pasted list as a path in its order, or not: the list last matched is drawn again. */
  showPath(on) {
    this.pathShown = Boolean(on);
    document.getElementById("atlas-profile-path").checked = this.pathShown;
    return this.loadProfile(this.profileText);
  }

  loadProfile(text) {
    const status = document.getElementById("atlas-profile-status");
    const report = this.data.matchProfile(text);
    this.profileText = String(text);  // what a chosen suggestion edits when the box is empty
    this.state.profile = report.entries ? report : null;
    this.state.path = this.pathShown ? report.path : [];
    this.profileSet = new Set(report.items);
    status.replaceChildren();
    if (report.entries) {
      status.append(`${report.matched} of ${report.entries} matched (${report.items.length} items glow).`);
      if (this.pathShown && report.path.length) {
        const stops = report.path.length;
        status.append(stops > 1 ? ` Drawn as a path of ${stops} stops in the list's order, from the ringed first to the boxed last.`
                                : " One item found: no path to draw.");
      }
      if (report.unmatched.length) status.append(renderMissing(report, this.data.names, (entry, i) => this.useSuggestion(entry, i)));
    }
    this.updateHighlights();
    return report;
  }

  /* A "did you mean" name was chosen for an entry that matched nothing: it takes the entry's
     place in the list (as it is in the box now; the list last matched when the box is empty),
     and the list is matched again. */
  useSuggestion(entry, i) {
    const text = document.getElementById("atlas-profile");
    text.value = replaceEntry(text.value.trim() ? text.value : this.profileText, entry, this.data.names.at(i));
    return this.loadProfile(text.value);
  }

  /* The hook described at the top of this file. */
  hook() {
    const app = this, data = this.data;
    const local = (x, y) => {
      const box = app.overlayCanvas.getBoundingClientRect();
      return [x - box.left, y - box.top];
    };
    return {
      ready: false,
      count: data.n,
      get view() {
        const v = app.view;
        return { cx: v.cx, cy: v.cy, k: v.k, width: v.width, height: v.height };
      },
      project(i) {
        const box = app.overlayCanvas.getBoundingClientRect();
        const [sx, sy] = app.view.toScreen(data.xy[2 * i], data.xy[2 * i + 1]);
        return { x: sx + box.left, y: sy + box.top };
      },
      indexOf: (id) => data.indexOfId(String(id)),
      item: (i) => ({
        index: i, id: data.ids.at(i), name: data.names.at(i), users: data.users[i],
        fields: Object.fromEntries(data.fields.map((f) => [f.name, data.fieldValue(f, i)])),
      }),
      search: (q, limit = 10) => data.search(q, limit).map((i) => ({ index: i, id: data.ids.at(i), name: data.names.at(i) })),
      flyTo: (i) => app.flyTo(i),
      select: (i) => app.select(i),
      setColor: (name, value = "") => app.setColor(name, false, value),
      loadProfile: (text) => app.loadProfile(text),
      showPath: (on) => app.showPath(on),
      pick: (x, y) => app.pickLocal(...local(x, y)),
      reasons: (i) => {
        const why = data.reasonsOf(i), near = new Set(data.nearestOnMap(i, FAITHFUL_K));
        return data.neighborsOf(i).map((j, k) => ({
          index: j, name: data.names.at(j), shared: why ? why[k].shared : null, lift: why ? why[k].lift : null,
          text: why ? reasonText(why[k].shared, data.users[i], why[k].lift) : "", far: !near.has(j),
        }));
      },
      regions: data.regions,
      showRegions: (on) => { app.overlay.regions.shown = Boolean(on); app.viewChanged(); },
      state: app.state,
    };
  }
}

/* Loading leaves performance marks (performance.getEntriesByType("mark")), for the benchmark to
   say where the time goes: atlas:start (the script runs), atlas:base64 (the payload's bytes),
   atlas:inflated (gunzipped), atlas:data (decoded), atlas:renderer (buffers uploaded),
   atlas:started (coloured, panels filled), atlas:drawn (the first frame). */
async function startAtlas() {
  const loading = document.getElementById("atlas-loading");
  try {
    performance.mark("atlas:start");
    const source = document.getElementById("atlas-data");
    const buffer = await inflatePayload(source.textContent);
    source.textContent = "";
    performance.mark("atlas:inflated");
    const data = new AtlasData(decodePayload(buffer));
    performance.mark("atlas:data");
    const app = new AtlasApp(data);
    performance.mark("atlas:renderer");
    const hook = app.hook();
    window.atlasMap = hook;
    app.start();
    performance.mark("atlas:started");
    app.onFrame = () => {
      app.onFrame = null;
      performance.mark("atlas:drawn");
      loading.remove();
      hook.ready = true;
      // the picking grid and the order the neighbour lists are coded in, once the page is idle,
      // before the first hover or click needs them
      const idle = window.requestIdleCallback || setTimeout;
      idle(() => data.grid, { timeout: 500 });
      idle(() => data.neighborsOf(0), { timeout: 1000 });
    };
  } catch (error) {
    loading.textContent = `The map could not be shown: ${error.message}`;
    loading.classList.add("failed");
    throw error;
  }
}

startAtlas();
