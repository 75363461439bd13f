/* Decoding the embedded payload, and the indexes the page builds from it once at load:
   a uniform spatial grid for picking, and name lookups for search and profiles. */

const TYPED_ARRAYS = { f32: Float32Array, f64: Float64Array, u8: Uint8Array, u16: Uint16Array, u32: Uint32Array };

async function inflatePayload(base64) {
  const text = atob(base64.trim());
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

function decodePayload(buffer) {
  const headLength = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headLength)));
  const base = 4 + headLength;
  const array = (ref) => {
    const Type = TYPED_ARRAYS[ref.type];
    if (!ref.shuffled) return new Type(buffer, base + ref.offset, ref.length);
    // Stored as byte planes (every element's byte 0, then every byte 1, ...): interleave them back.
    const size = Type.BYTES_PER_ELEMENT, count = ref.length;
    const planes = new Uint8Array(buffer, base + ref.offset, count * size), bytes = new Uint8Array(count * size);
    for (let b = 0; b < size; b++) {
      const plane = b * count;
      for (let i = 0; i < count; i++) bytes[i * size + b] = planes[plane + i];
    }
    return new Type(bytes.buffer);
  };
  return { header, array };
}

class AtlasData {
  constructor({ header, array }) {
    const n = header.count;
    this.n = n;
    this.title = header.title;
    this.projection = header.projection;
    this.nameField = header.nameField;
    this.maxLabels = Math.min(n, header.maxLabels);
    this.ids = header.ids;
    this.names = header.names || header.ids;
    this.xy = array(header.xy);
    this.users = array(header.users);
    this.bounds = header.bounds;
    this.home = header.home || header.bounds;  // the first view: the bulk of the points
    this.colorField = header.colorField;
    this.maxColours = header.maxColours || 12;
    this.neighbors = {
      offsets: array(header.neighbors.offsets),
      index: array(header.neighbors.index),
      // why each pair are neighbours (exports since atlas.explain): people who have both, and the lift
      shared: header.neighbors.shared ? array(header.neighbors.shared) : null,
      lift: header.neighbors.lift ? array(header.neighbors.lift) : null,
    };
    this.fields = header.fields.map((f) => this.decodeField(f, array));
    this.regions = header.regions || [];  // [{id, level, name, x, y, count}], coarsest level first
    this.popularity = this.popularityScale();
    this.grid = new SpatialGrid(this.xy, n, this.bounds);
    this.lowerNames = null;
    this.nameLookup = null;
    this.closestNames = null;
  }

  decodeField(field, array) {
    if (field.kind === "number") return { ...field, values: array(field.values) };
    if (field.kind === "category") return { ...field, codes: array(field.codes) };
    if (field.kind === "multi") {
      return { ...field, offsets: array(field.offsets), codes: array(field.codes), pick: field.pick ? array(field.pick) : null };
    }
    return field;
  }

  /* log(1 + users) mapped to [0, 1]; drives point size. */
  popularityScale() {
    const p = new Float32Array(this.n);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < this.n; i++) {
      const v = Math.log1p(this.users[i]);
      p[i] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const span = hi - lo;
    for (let i = 0; i < this.n; i++) p[i] = span > 0 ? (p[i] - lo) / span : 0.5;
    return p;
  }

  fieldValue(field, i) {
    if (field.kind === "number") {
      const v = field.values[i];
      if (!Number.isFinite(v)) return null;
      return field.integer ? String(v) : String(Number(v.toPrecision(6)));
    }
    if (field.kind === "category") {
      const code = field.codes[i];
      return code === 0 ? null : field.table[code - 1];
    }
    if (field.kind === "multi") {
      const values = this.valuesOf(field, i).map((code) => field.table[code - 1]);
      return values.length ? values.join(", ") : null;
    }
    return field.values[i];
  }

  /* The codes (1-based indexes into field.table) of item i's values in a set field, in the
     item's own order. */
  valuesOf(field, i) {
    return Array.from(field.codes.subarray(field.offsets[i], field.offsets[i + 1]));
  }

  neighborsOf(i) {
    const { offsets, index } = this.neighbors;
    return Array.from(index.subarray(offsets[i], offsets[i + 1]));
  }

  /* Why item i's neighbours are its neighbours, in the order of neighborsOf(i):
     [{shared, lift}] or null where the export has no counts. */
  reasonsOf(i) {
    const { offsets, shared, lift } = this.neighbors;
    if (!shared || !lift) return null;
    const out = [];
    for (let k = offsets[i]; k < offsets[i + 1]; k++) out.push({ shared: shared[k], lift: lift[k] });
    return out;
  }

  /* The k items nearest to item i on the map (by distance, nearest first). */
  nearestOnMap(i, k) {
    const xy = this.xy, x = xy[2 * i], y = xy[2 * i + 1], best = [];
    for (let j = 0; j < this.n; j++) {
      if (j === i) continue;
      const d = (xy[2 * j] - x) ** 2 + (xy[2 * j + 1] - y) ** 2;
      if (best.length < k || d < best[best.length - 1][0]) {
        let at = best.length;
        while (at > 0 && best[at - 1][0] > d) at--;
        best.splice(at, 0, [d, j]);
        if (best.length > k) best.pop();
      }
    }
    return best.map(([, j]) => j);
  }

  /* Items whose name starts with the query come first, then items whose name contains it;
     each group in popularity order. An exact item id goes on top. */
  search(query, limit = 10) {
    const q = normaliseName(query);
    if (!q) return [];
    if (!this.lowerNames) this.lowerNames = this.names.map(normaliseName);
    const starts = [], contains = [];
    const exactId = this.indexOfId(String(query).trim());
    for (let i = 0; i < this.n && starts.length < limit; i++) {
      if (i === exactId) continue;
      const at = this.lowerNames[i].indexOf(q);
      if (at === 0) starts.push(i);
      else if (at > 0 && contains.length < limit) contains.push(i);
    }
    const found = exactId >= 0 ? [exactId, ...starts, ...contains] : [...starts, ...contains];
    return found.slice(0, limit);
  }

  indexOfId(id) {
    if (!this.idLookup) {
      this.idLookup = new Map();
      this.ids.forEach((value, i) => this.idLookup.set(value, i));
    }
    const i = this.idLookup.get(id);
    return i === undefined ? -1 : i;
  }

  /* Items a pasted line refers to: an exact id; else every item with that name or id in any
     case; else every item whose name matches in the looser form (see looseName). */
  lookup(text) {
    const byId = this.indexOfId(text);
    if (byId >= 0) return [byId];
    if (!this.nameLookup) {
      this.nameLookup = new Map();
      this.looseLookup = new Map();
      const add = (map, key, i) => {
        if (!key) return;
        const list = map.get(key);
        if (!list) map.set(key, [i]);
        else if (list[list.length - 1] !== i) list.push(i);
      };
      for (let i = 0; i < this.n; i++) {
        add(this.nameLookup, normaliseName(this.names[i]), i);
        add(this.nameLookup, normaliseName(this.ids[i]), i);
        add(this.looseLookup, looseName(this.names[i]), i);
      }
    }
    return this.nameLookup.get(normaliseName(text)) || this.looseLookup.get(looseName(text)) || [];
  }

  /* Split a pasted profile into entries (lines; a line that is not itself a name is split on
     commas) and match each one. `suggestions[k]` holds the closest items to `unmatched[k]`
     (see ClosestNames), for the first SUGGESTED_ENTRIES of them. `items` are the items found,
     by index; `path` keeps the list's order: one item per entry found (the most popular of an
     entry's items, when a name is shared), an entry repeating the one before it left out. */
  matchProfile(text) {
    const entries = [];
    for (const line of String(text).split(/\r?\n/)) {
      const whole = line.trim();
      if (!whole) continue;
      if (this.lookup(whole).length || !whole.includes(",")) entries.push(whole);
      else for (const part of whole.split(",")) if (part.trim()) entries.push(part.trim());
    }
    const items = new Set(), unmatched = [], path = [];
    for (const entry of entries) {
      const hits = this.lookup(entry);
      if (hits.length) {
        hits.forEach((i) => items.add(i));
        const first = hits[0];  // lookup lists an entry's items by index: the most popular first
        if (path[path.length - 1] !== first) path.push(first);
      } else unmatched.push(entry);
    }
    if (unmatched.length && !this.closestNames) this.closestNames = new ClosestNames(this.names, new Map(this.looseLookup));
    const suggestions = unmatched.slice(0, SUGGESTED_ENTRIES).map((entry) => this.closestNames.closest(entry));
    return { entries: entries.length, matched: entries.length - unmatched.length,
             items: Array.from(items).sort((a, b) => a - b), path, unmatched, suggestions };
  }
}

/* Points bucketed into square cells (counting sort), so a hover looks at a handful of cells
   instead of every point. */
class SpatialGrid {
  constructor(xy, n, bounds) {
    const [x0, y0, x1, y1] = bounds;
    const width = Math.max(x1 - x0, 1e-9), height = Math.max(y1 - y0, 1e-9);
    const side = Math.max(1, Math.min(2048, Math.ceil(Math.sqrt(n / 3))));
    this.cell = Math.max(width, height) / side;
    this.x0 = x0;
    this.y0 = y0;
    this.cols = Math.max(1, Math.ceil(width / this.cell));
    this.rows = Math.max(1, Math.ceil(height / this.cell));
    const cellOf = new Uint32Array(n);
    const start = new Uint32Array(this.cols * this.rows + 1);
    for (let i = 0; i < n; i++) {
      const c = this.cellIndex(this.column(xy[2 * i]), this.row(xy[2 * i + 1]));
      cellOf[i] = c;
      start[c + 1]++;
    }
    for (let c = 0; c < this.cols * this.rows; c++) start[c + 1] += start[c];
    const fill = start.slice(0, -1);
    const items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[fill[cellOf[i]]++] = i;
    this.start = start;
    this.items = items;
  }

  column(x) { return Math.min(this.cols - 1, Math.max(0, Math.floor((x - this.x0) / this.cell))); }
  row(y) { return Math.min(this.rows - 1, Math.max(0, Math.floor((y - this.y0) / this.cell))); }
  cellIndex(col, row) { return row * this.cols + col; }

  /* Call visit(i) for every point in the cells that touch the square around (x, y). */
  near(x, y, radius, visit) {
    const c0 = this.column(x - radius), c1 = this.column(x + radius);
    const r0 = this.row(y - radius), r1 = this.row(y + radius);
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) {
        const cell = this.cellIndex(c, r);
        for (let k = this.start[cell]; k < this.start[cell + 1]; k++) visit(this.items[k]);
      }
    }
  }
}
