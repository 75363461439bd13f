/* Where items are on the map, as indexes: a uniform grid for picking and for the items in view,
   the Morton order the neighbour lists are coded in, and the label levels. */

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
    this.inBox(x - radius, y - radius, x + radius, y + radius, visit);
  }

  /* Call visit(i) for every point in the cells that touch the world box [x0, y0, x1, y1]. */
  inBox(x0, y0, x1, y1, visit) {
    const c0 = this.column(x0), c1 = this.column(x1), r0 = this.row(y0), r1 = this.row(y1);
    for (let r = r0; r <= r1; r++) {
      // a row's cells c0..c1 hold one run of `items`
      const end = this.start[this.cellIndex(c1, r) + 1];
      for (let k = this.start[this.cellIndex(c0, r)]; k < end; k++) visit(this.items[k]);
    }
  }

  /* How many points the cells touching the world box hold. */
  countInBox(x0, y0, x1, y1) {
    const c0 = this.column(x0), c1 = this.column(x1), r0 = this.row(y0), r1 = this.row(y1);
    let count = 0;
    for (let r = r0; r <= r1; r++) count += this.start[this.cellIndex(c1, r) + 1] - this.start[this.cellIndex(c0, r)];
    return count;
  }
}

/* The cells of the Morton order: 16 bits per axis, with the arithmetic of atlas/web/encode.py
   (_cells), so both sides put every item in the same cell. */
const SPATIAL_CELLS = 65536;

function spreadBits(v) {
  v &= 0xffff;
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  return (v | (v << 1)) & 0x55555555;
}

function cellOf(value, low, high) {
  const span = high - low;
  if (!(span > 0)) return 0;
  const cell = Math.floor((value - low) / span * (SPATIAL_CELLS - 1));
  return Math.min(SPATIAL_CELLS - 1, Math.max(0, cell));
}

/* {order, rank}: the items in Morton order of their cells, ties by index (encode.spatial_order),
   and each item's place in that order. Two stable passes of a 16-bit radix sort. */
function spatialOrder(xy, n, bounds) {
  const [x0, y0, x1, y1] = bounds, keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    keys[i] = (spreadBits(cellOf(xy[2 * i], x0, x1)) | (spreadBits(cellOf(xy[2 * i + 1], y0, y1)) << 1)) >>> 0;
  }
  let order = new Uint32Array(n), next = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const counts = new Uint32Array(65537);
  for (const shift of [0, 16]) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((keys[i] >>> shift) & 0xffff) + 1]++;
    for (let b = 0; b < 65536; b++) counts[b + 1] += counts[b];
    for (let k = 0; k < n; k++) {
      const i = order[k];
      next[counts[(keys[i] >>> shift) & 0xffff]++] = i;
    }
    [order, next] = [next, order];
  }
  const rank = next;
  for (let k = 0; k < n; k++) rank[order[k]] = k;
  return { order, rank };
}

/* Label levels (encode.label_levels): at level L the first view's longer side is cut into
   LABEL_GRID * 2^L cells and each cell's most popular item may be labelled. A level is offered
   while its cells are at least LABEL_CELL_PX wide on screen. */
const LABEL_GRID = 16;
const LABEL_CELL_PX = 20;
const NO_LABEL = 255;
/* Up to this many candidates the labelled items are walked in level order; beyond, the items
   in view are gathered from the grid instead (whichever is fewer). */
const LABEL_WALK = 30000;

class LabelLevels {
  constructor(levels, home) {
    this.levels = levels;
    this.size = Math.max(home[2] - home[0], home[3] - home[1]) || 1;
    // items by (level, index), and where each level ends in that list
    const n = levels.length, ends = new Uint32Array(NO_LABEL + 1);
    for (let i = 0; i < n; i++) ends[levels[i]]++;
    for (let l = 1; l <= NO_LABEL; l++) ends[l] += ends[l - 1];
    const fill = new Uint32Array(NO_LABEL + 1);
    fill.set(ends.subarray(0, NO_LABEL), 1);
    const ordered = new Uint32Array(ends[NO_LABEL - 1]);
    for (let i = 0; i < n; i++) if (levels[i] !== NO_LABEL) ordered[fill[levels[i]]++] = i;
    this.ordered = ordered;
    this.ends = ends;
  }

  /* The finest level offered at zoom k (pixels per world unit). */
  deepest(k) {
    return Math.min(NO_LABEL - 1, Math.max(0, Math.floor(Math.log2((k * this.size) / (LABEL_GRID * LABEL_CELL_PX)))));
  }

  /* Items that may be labelled at this view, coarsest level first, most popular first within a
     level; some may lie outside the view (the caller checks). */
  candidates(view, grid) {
    const deepest = this.deepest(view.k), walk = this.ends[deepest];
    if (walk <= LABEL_WALK) return this.ordered.subarray(0, walk);
    const [x0, y0, x1, y1] = view.visibleWorld(0);
    const g = grid();
    if (g.countInBox(x0, y0, x1, y1) >= walk) return this.ordered.subarray(0, walk);
    const keys = [], levels = this.levels, n = levels.length;
    g.inBox(x0, y0, x1, y1, (i) => { if (levels[i] <= deepest) keys.push(levels[i] * n + i); });
    const sorted = Float64Array.from(keys).sort();
    const out = new Uint32Array(sorted.length);
    for (let k = 0; k < sorted.length; k++) out[k] = sorted[k] % n;
    return out;
  }
}
