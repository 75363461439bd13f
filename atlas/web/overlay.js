/* The 2D canvas over the points: a pasted list drawn as a path, lines from the selected item to
   its neighbours, the hover ring, and labels. Labels are placed greedily into a coarse
   screen-space occupancy grid, so they never overlap, by level of detail (spatial.js,
   LabelLevels): the most popular item of each patch of the map first, the patches getting
   smaller as the visitor zooms in, so labels spread over the whole view at every zoom. Only the
   levels in view are candidates, so placing costs a bounded number of cheap checks per frame,
   whatever the number of points. */

const LABEL_CELL = 4;          // occupancy grid resolution in CSS pixels
const LABEL_AREA = 6000;       // at most one label per this many square pixels of screen
const LABEL_MAX_CHARS = 34;
/* The page's font stack (atlas.css): the system face first, then faces that cover Chinese,
   Japanese and Korean names, which the first ones often lack and would draw as empty boxes. */
const LABEL_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Noto Sans CJK SC', " +
  "'Noto Sans CJK JP', 'Noto Sans CJK KR', 'PingFang SC', 'Hiragino Sans', 'Microsoft YaHei', 'Malgun Gothic', sans-serif";

/* A pasted list drawn as a path: thin legs between consecutive items in list order, an arrowhead
   halfway along each leg long enough to hold one, the first item ringed and the last boxed, and
   the stops numbered (every stop of a path of at most PATH_NUMBERED, else the first and the last). */
const PATH_NUMBERED = 40;
const PATH_ARROW_MIN = 28;     // legs shorter than this many CSS pixels carry no arrowhead
const PATH_COLOR = "rgba(255, 214, 120, 0.92)";
const PATH_CASING = "rgba(8, 10, 16, 0.7)";
const PATH_FONT = `600 11px ${LABEL_FONT}`;

function labelText(name) {
  const s = String(name);
  return s.length > LABEL_MAX_CHARS ? s.slice(0, LABEL_MAX_CHARS - 1) + "…" : s;
}

class Overlay {
  constructor(canvas, data, renderer) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.data = data;
    this.renderer = renderer;
    this.widths = new Float32Array(data.n);   // measured label widths, 0 = not yet measured
    this.placed = [];
    this.occupied = new Uint8Array(0);
    this.regions = null;  // a RegionLabels (regions.js): names placed after the priority labels
  }

  resize(width, height, pixelRatio) {
    this.width = width;
    this.height = height;
    this.pixelRatio = pixelRatio;
    this.canvas.width = Math.round(width * pixelRatio);
    this.canvas.height = Math.round(height * pixelRatio);
    this.cols = Math.ceil(width / LABEL_CELL) + 1;
    this.rows = Math.ceil(height / LABEL_CELL) + 1;
    this.occupied = new Uint8Array(this.cols * this.rows);
  }

  fontSize(i) { return 11 + Math.round(3 * this.data.popularity[i]); }

  labelWidth(i) {
    if (!this.widths[i]) {
      this.ctx.font = `${this.fontSize(i)}px ${LABEL_FONT}`;
      this.widths[i] = this.ctx.measureText(labelText(this.data.names.at(i))).width + 1;
    }
    return this.widths[i];
  }

  /* Mark the box's cells if they are all free; report whether it fitted. */
  claim(x0, y0, x1, y1) {
    if (x0 < 0 || y0 < 0 || x1 > this.width || y1 > this.height) return false;
    const c0 = Math.floor(x0 / LABEL_CELL), c1 = Math.floor(x1 / LABEL_CELL);
    const r0 = Math.floor(y0 / LABEL_CELL), r1 = Math.floor(y1 / LABEL_CELL);
    for (let r = r0; r <= r1; r++) {
      for (let c = c0; c <= c1; c++) if (this.occupied[r * this.cols + c]) return false;
    }
    for (let r = r0; r <= r1; r++) this.occupied.fill(1, r * this.cols + c0, r * this.cols + c1 + 1);
    return true;
  }

  /* priority: item indices labelled before the popularity order (selection, neighbours, profile);
     blocked: screen rectangles {left, top, right, bottom} covered by panels, kept free of labels. */
  placeLabels(view, priority, blocked = []) {
    this.occupied.fill(0);
    for (const box of blocked) this.claim(Math.max(0, box.left), Math.max(0, box.top),
                                          Math.min(this.width, box.right), Math.min(this.height, box.bottom));
    const placed = [];
    const budget = Math.max(8, Math.floor((view.width * view.height) / LABEL_AREA));
    const [wx0, wy0, wx1, wy1] = view.visibleWorld(0);
    const xy = this.data.xy;
    const tryPlace = (i, force) => {
      const x = xy[2 * i], y = xy[2 * i + 1];
      if (x < wx0 || x > wx1 || y < wy0 || y > wy1) return;
      const [sx, sy] = view.toScreen(x, y);
      const r = this.renderer.radius(view, i), w = this.labelWidth(i), h = this.fontSize(i) + 2;
      const right = sx + r + 3, left = sx - r - 3 - w, top = sy - h / 2;
      if (this.claim(right, top, right + w, top + h)) placed.push({ index: i, x: right, y: top, width: w, height: h });
      else if (this.claim(left, top, left + w, top + h)) placed.push({ index: i, x: left, y: top, width: w, height: h });
      else if (force && this.claim(sx - w / 2, sy + r + 2, sx + w / 2, sy + r + 2 + h)) {
        placed.push({ index: i, x: sx - w / 2, y: sy + r + 2, width: w, height: h });
      }
    };
    const seen = new Set();
    for (const i of priority) {
      if (seen.has(i)) continue;
      seen.add(i);
      tryPlace(i, true);
    }
    if (this.regions) this.regions.place(view, this);
    const candidates = this.data.labelLevels.candidates(view, () => this.data.grid);
    for (let k = 0; k < candidates.length && placed.length < budget; k++) {
      if (!seen.has(candidates[k])) tryPlace(candidates[k], false);
    }
    this.placed = placed;
  }

  /* The numbers of a path's stops on screen, {index, number, x, y, width, height} in map pixels:
     above and left of the item, where its label never goes (labels sit right or left of it). */
  pathMarks(view, path) {
    const marks = [], xy = this.data.xy, last = path.length - 1;
    if (!path.length) return marks;
    this.ctx.font = PATH_FONT;
    path.forEach((i, k) => {
      if (path.length > PATH_NUMBERED && k !== 0 && k !== last) return;
      const [sx, sy] = view.toScreen(xy[2 * i], xy[2 * i + 1]);
      if (sx < 0 || sy < 0 || sx > this.width || sy > this.height) return;
      const r = this.renderer.radius(view, i) + 3, text = String(k + 1);
      const width = this.ctx.measureText(text).width + 9, height = 15;
      marks.push({ index: i, number: k + 1, x: sx - r - width + 3, y: sy - r - height + 3, width, height });
    });
    return marks;
  }

  drawPath(view, path, marks) {
    const ctx = this.ctx, xy = this.data.xy;
    const points = path.map((i) => view.toScreen(xy[2 * i], xy[2 * i + 1]));
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (const [width, colour] of [[3.2, PATH_CASING], [1.4, PATH_COLOR]]) {
      ctx.lineWidth = width;
      ctx.strokeStyle = colour;
      ctx.beginPath();
      points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.stroke();
    }
    ctx.fillStyle = PATH_COLOR;
    for (let k = 1; k < points.length; k++) {
      const [x0, y0] = points[k - 1], [x1, y1] = points[k], length = Math.hypot(x1 - x0, y1 - y0);
      if (length < PATH_ARROW_MIN) continue;
      const ux = (x1 - x0) / length, uy = (y1 - y0) / length, mx = (x0 + x1) / 2 + 5 * ux, my = (y0 + y1) / 2 + 5 * uy;
      ctx.beginPath();
      ctx.moveTo(mx, my);
      ctx.lineTo(mx - 10 * ux - 4.5 * uy, my - 10 * uy + 4.5 * ux);
      ctx.lineTo(mx - 10 * ux + 4.5 * uy, my - 10 * uy - 4.5 * ux);
      ctx.closePath();
      ctx.fill();
    }
    const ends = [[path[0], "start"], [path[path.length - 1], "end"]];
    ctx.strokeStyle = PATH_COLOR;
    ctx.lineWidth = 1.6;
    for (const [i, which] of ends) {
      const [x, y] = view.toScreen(xy[2 * i], xy[2 * i + 1]), r = this.renderer.radius(view, i) + 4;
      ctx.beginPath();
      if (which === "start") ctx.arc(x, y, r, 0, 2 * Math.PI);
      else ctx.rect(x - r, y - r, 2 * r, 2 * r);
      ctx.stroke();
      if (path.length === 1) break;
    }
    ctx.font = PATH_FONT;
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    ctx.lineWidth = 1;
    for (const mark of marks) {  // a dark pill with a gold edge, the number in gold
      const r = mark.height / 2, left = mark.x + r, right = mark.x + mark.width - r, y = mark.y + r;
      ctx.beginPath();
      ctx.arc(left, y, r - 0.5, Math.PI / 2, (3 * Math.PI) / 2);
      ctx.arc(right, y, r - 0.5, (3 * Math.PI) / 2, Math.PI / 2);
      ctx.closePath();
      ctx.fillStyle = "rgba(8, 10, 16, 0.88)";
      ctx.fill();
      ctx.strokeStyle = PATH_COLOR;
      ctx.stroke();
      ctx.fillStyle = "#ffe3a3";
      ctx.fillText(String(mark.number), mark.x + mark.width / 2, y + 0.5);
    }
    ctx.textAlign = "start";
  }

  /* far: neighbours the map put away from the selected item; their lines are thin, dashed and amber.
     path: items drawn as a path in that order (pathMarks: their numbers, from pathMarks). */
  draw(view, { selected, neighbors, far = [], hover, profile, path = [], pathMarks = [] }) {
    const ctx = this.ctx, xy = this.data.xy;
    ctx.setTransform(this.pixelRatio, 0, 0, this.pixelRatio, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    if (path.length) this.drawPath(view, path, pathMarks);
    if (selected >= 0) {
      const [sx, sy] = view.toScreen(xy[2 * selected], xy[2 * selected + 1]);
      const away = new Set(far);
      neighbors.forEach((j, rank) => {
        const [tx, ty] = view.toScreen(xy[2 * j], xy[2 * j + 1]);
        const isFar = away.has(j);
        ctx.lineWidth = isFar ? 0.9 : 1.2;
        ctx.setLineDash(isFar ? [4, 3] : []);
        ctx.strokeStyle = isFar ? "rgba(255, 190, 90, 0.8)" : `rgba(255, 255, 255, ${Math.max(0.25, 0.75 - rank * 0.03)})`;
        ctx.beginPath();
        ctx.moveTo(sx, sy);
        ctx.lineTo(tx, ty);
        ctx.stroke();
      });
      ctx.setLineDash([]);
    }
    if (hover >= 0) {
      const [hx, hy] = view.toScreen(xy[2 * hover], xy[2 * hover + 1]);
      ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(hx, hy, this.renderer.radius(view, hover) + 3, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (this.regions) this.regions.draw(ctx);
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    for (const label of this.placed) {
      const i = label.index;
      ctx.font = `${i === selected ? 600 : 400} ${this.fontSize(i)}px ${LABEL_FONT}`;
      const text = labelText(this.data.names.at(i)), y = label.y + label.height / 2;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(8, 10, 16, 0.85)";
      ctx.strokeText(text, label.x, y);
      ctx.fillStyle = i === selected ? "#ffffff" : profile.has(i) ? "#ffd98a" : "rgba(232, 236, 244, 0.92)";
      ctx.fillText(text, label.x, y);
    }
  }
}
