/* Region names over the map (atlas/regions.py found and named them). With the whole map in view
   the coarsest level is named; each time the visitor zooms in REGION_ZOOM_STEP times further the
   next finer level takes over, and past the finest level region names give way to item labels
   alone. Names are placed into the overlay's occupancy grid after the labels of selected items
   and before the other item labels, so no two labels ever overlap; a name that does not fit is
   left out (the biggest regions are placed first). */

const REGION_ZOOM_STEP = 3;
const REGION_MAX_CHARS = 40;
const REGION_PAD = 3;  // CSS pixels of free space kept around a region's name

class RegionLabels {
  constructor(regions) {
    this.regions = regions;  // [{id, level, name, x, y, count}], coarsest level first, biggest first
    this.levels = regions.reduce((most, r) => Math.max(most, r.level + 1), 0);
    this.widths = new Map();
    this.placed = [];
    this.shown = true;
  }

  /* The level named at the view's zoom, or -1 when item labels are left to say it all. */
  levelAt(view) {
    const zoom = view.k / view.fitK;
    const level = Math.max(0, Math.floor(Math.log(zoom) / Math.log(REGION_ZOOM_STEP) + 1e-9));
    return this.shown && level < this.levels ? level : -1;
  }

  fontSize(level) { return level === 0 ? 17 : 15; }

  font(level) { return `${level === 0 ? "normal 700" : "italic 600"} ${this.fontSize(level)}px ${LABEL_FONT}`; }

  text(region) {
    const s = region.level === 0 ? region.name.toUpperCase() : region.name;
    return s.length > REGION_MAX_CHARS ? s.slice(0, REGION_MAX_CHARS - 1) + "…" : s;
  }

  width(ctx, region) {
    if (!this.widths.has(region.id)) {
      ctx.font = this.font(region.level);
      this.widths.set(region.id, ctx.measureText(this.text(region)).width);
    }
    return this.widths.get(region.id);
  }

  /* Claim room for the names of the level in view through overlay.claim(x0, y0, x1, y1). */
  place(view, overlay) {
    const placed = [];
    const level = this.levelAt(view);
    if (level >= 0) {
      const [wx0, wy0, wx1, wy1] = view.visibleWorld(0);
      for (const region of this.regions) {
        if (region.level !== level || region.x < wx0 || region.x > wx1 || region.y < wy0 || region.y > wy1) continue;
        const [sx, sy] = view.toScreen(region.x, region.y);
        const w = this.width(overlay.ctx, region), h = this.fontSize(level) + 4;
        const x = sx - w / 2, y = sy - h / 2;
        if (overlay.claim(x - REGION_PAD, y - REGION_PAD, x + w + REGION_PAD, y + h + REGION_PAD)) {
          placed.push({ id: region.id, level, name: region.name, x, y, width: w, height: h });
        }
      }
    }
    this.placed = placed;
  }

  draw(ctx) {
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    for (const label of this.placed) {
      const region = { id: label.id, level: label.level, name: label.name };
      ctx.font = this.font(label.level);
      const y = label.y + label.height / 2, text = this.text(region);
      ctx.lineWidth = 4;
      ctx.strokeStyle = "rgba(8, 10, 16, 0.8)";
      ctx.strokeText(text, label.x, y);
      ctx.fillStyle = label.level === 0 ? "rgba(255, 226, 160, 0.95)" : "rgba(196, 222, 255, 0.95)";
      ctx.fillText(text, label.x, y);
    }
  }
}
