/* The map's data, decoded from the payload (payload.js), and what the page asks of it: item
   fields, neighbour lists, search and the lookups of pasted profiles. Indexes are built on first
   use, so that loading a map of a million items decodes little more than what the first frame
   draws. */

class AtlasData {
  constructor({ header, array, column }) {
    const n = header.count;
    this.n = n;
    this.title = header.title;
    this.projection = header.projection;
    this.nameField = header.nameField;
    const text = (ref) => new TextColumn(array(ref.bytes), array(ref.lengths));
    this.ids = text(header.ids);                            // TextColumn: ids.at(i)
    this.names = header.names ? text(header.names) : this.ids;
    this.xy = array(header.xy);
    this.users = array(header.users);
    this.bounds = header.bounds;
    this.home = header.home || header.bounds;  // the first view: the bulk of the points
    this.colorField = header.colorField;
    this.maxColours = header.maxColours || 12;
    const nb = header.neighbors;
    this.neighbors = {
      bytes: array(nb.bytes),      // each item's list: varint steps along the Morton order
      lengths: array(nb.lengths),  // bytes per item's list
      // why each pair are neighbours (exports since atlas.explain): people who have both, and the lift
      shared: nb.shared ? column(nb.shared) : null,
      lift: nb.lift ? column(nb.lift) : null,
    };
    this.fields = header.fields.map((f) => this.decodeField(f, array));
    this.regions = header.regions || [];  // [{id, level, name, x, y, count}], coarsest level first
    this.popularity = this.popularityScale();
    this.labelLevels = new LabelLevels(array(header.labelLevels), this.home);
    this.spatialGrid = null;
    this.listBytes = null;   // where each item's list starts in neighbors.bytes
    this.listStarts = null;  // where each item's neighbours start among all neighbours (for the reasons)
    this.spatial = null;     // the Morton order the neighbour lists are coded in
    this.nameSearch = null;
    this.exactLookup = null;
    this.looseLookup = null;
    this.closestNames = null;
  }

  /* The grid for picking, built on first use (the page builds it right after the first frame). */
  get grid() {
    if (!this.spatialGrid) this.spatialGrid = new SpatialGrid(this.xy, this.n, this.bounds);
    return this.spatialGrid;
  }

  decodeField(field, array) {
    if (field.kind === "number") return { ...field, values: array(field.values) };
    if (field.kind === "category") return { ...field, codes: array(field.codes) };
    if (field.kind === "multi") {
      return { ...field, offsets: array(field.offsets), codes: array(field.codes), pick: field.pick ? array(field.pick) : null };
    }
    if (field.kind === "text") return { ...field, values: new TextColumn(array(field.values.bytes), array(field.values.lengths)) };
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
    return field.values.at(i) || null;  // free text; a missing value is packed as ""
  }

  /* The codes (1-based indexes into field.table) of item i's values in a set field, in the
     item's own order. */
  valuesOf(field, i) {
    return Array.from(field.codes.subarray(field.offsets[i], field.offsets[i + 1]));
  }

  /* Item i's graph neighbours in rank order. The lists are coded as steps along the Morton
     order from the item (atlas/web/encode.py, pack_neighbors). */
  neighborsOf(i) {
    if (!this.listBytes) {
      this.listBytes = startsOf(this.neighbors.lengths);
      this.spatial = spatialOrder(this.xy, this.n, this.bounds);
    }
    const { order, rank } = this.spatial, bytes = this.neighbors.bytes, out = [];
    let z = 0, scale = 1;
    for (let k = this.listBytes[i]; k < this.listBytes[i + 1]; k++) {
      z += (bytes[k] & 0x7f) * scale;  // varint: 7 bits a byte, low bits first
      scale *= 128;
      if (bytes[k] & 0x80) continue;
      const step = z % 2 ? -(z + 1) / 2 : z / 2;  // zigzag: 0, -1, 1, -2, ...
      out.push(order[rank[i] + step]);
      z = 0;
      scale = 1;
    }
    return out;
  }

  /* Where each item's neighbours start among all neighbours: a count of the varints' last bytes. */
  neighbourStarts() {
    if (!this.listStarts) {
      if (!this.listBytes) this.neighborsOf(0);
      const bytes = this.neighbors.bytes, ends = this.listBytes, starts = new Uint32Array(this.n + 1);
      for (let i = 0; i < this.n; i++) {
        let count = 0;
        for (let k = ends[i]; k < ends[i + 1]; k++) if (!(bytes[k] & 0x80)) count++;
        starts[i + 1] = starts[i] + count;
      }
      this.listStarts = starts;
    }
    return this.listStarts;
  }

  /* Why item i's neighbours are its neighbours, in the order of neighborsOf(i):
     [{shared, lift}] or null where the export has no counts. */
  reasonsOf(i) {
    const { shared, lift } = this.neighbors;
    if (!shared || !lift) return null;
    const starts = this.neighbourStarts(), out = [];
    for (let k = starts[i]; k < starts[i + 1]; k++) out.push({ shared: shared.get(k), lift: lift.get(k) });
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
    if (!this.nameSearch) this.nameSearch = new NameSearch(this.names);
    const exactId = this.indexOfId(String(query).trim());
    const { prefix, inside } = this.nameSearch.find(q, limit, exactId);
    const found = exactId >= 0 ? [exactId, ...prefix, ...inside] : [...prefix, ...inside];
    return found.slice(0, limit);
  }

  indexOfId(id) {
    return this.ids.indexOf(id);
  }

  /* Items a pasted line refers to: an exact id; else every item with that name or id in any
     case; else every item whose name matches in the looser form (see looseName). */
  lookup(text) {
    const byId = this.indexOfId(text);
    if (byId >= 0) return [byId];
    const key = normaliseName(text), [names, ids] = this.exactKeys();
    const exact = ids ? Array.from(new Set([...names.items(key), ...ids.items(key)])).sort((a, b) => a - b) : names.items(key);
    return exact.length ? exact : this.looseKeys().items(looseName(text));
  }

  /* KeyTables (names.js) of the normalised names and, where they differ from the names, ids. */
  exactKeys() {
    if (!this.exactLookup) {
      if (!this.nameSearch) this.nameSearch = new NameSearch(this.names);
      const table = (search) => new KeyTable(search.text, search.starts);
      this.exactLookup = [table(this.nameSearch), this.names === this.ids ? null : table(new NameSearch(this.ids))];
    }
    return this.exactLookup;
  }

  /* A KeyTable of the names' loose forms. */
  looseKeys() {
    if (!this.looseLookup) this.looseLookup = looseTable(this.exactKeys()[0]);
    return this.looseLookup;
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
    if (unmatched.length && !this.closestNames) this.closestNames = new ClosestNames(this.names, this.looseKeys());
    const suggestions = unmatched.slice(0, SUGGESTED_ENTRIES).map((entry) => this.closestNames.closest(entry));
    return { entries: entries.length, matched: entries.length - unmatched.length,
             items: Array.from(items).sort((a, b) => a - b), path, unmatched, suggestions };
  }
}
