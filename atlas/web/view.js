/* The camera: world <-> screen transforms, zoom around a point, and animated flights.
   Screen coordinates are CSS pixels from the top-left of the map; world y points up. */

class View {
  /* `bounds` holds every point; `home`, the part the first view shows (the bulk, without far
     outliers), defaults to all of it. */
  constructor(bounds, onChange, home = bounds) {
    this.bounds = bounds;
    this.home = home;
    this.onChange = onChange;
    this.width = 1;
    this.height = 1;
    this.cx = 0;
    this.cy = 0;
    this.k = 1;
    this.fitK = 1;
    this.allK = 1;
    this.flight = null;
  }

  resize(width, height) {
    const first = this.width === 1 && this.height === 1;
    this.width = Math.max(1, width);
    this.height = Math.max(1, height);
    if (first) this.fit();
    else this.onChange();
  }

  /* Centre and zoom that show world box [x0, y0, x1, y1] with a margin, inside the part of the
     screen that `insets` ({left, right, top, bottom} in CSS pixels) leaves free of panels. */
  framing(box, insets = this.insets || {}) {
    const { left = 0, right = 0, top = 0, bottom = 0 } = insets;
    const [x0, y0, x1, y1] = box;
    const w = Math.max(x1 - x0, 1e-9), h = Math.max(y1 - y0, 1e-9);
    const freeW = Math.max(this.width - left - right, this.width / 3);
    const freeH = Math.max(this.height - top - bottom, this.height / 3);
    const k = 0.9 * Math.min(freeW / w, freeH / h);
    const shiftX = (left - right) / 2, shiftY = (top - bottom) / 2;
    return { k, cx: (x0 + x1) / 2 - shiftX / k, cy: (y0 + y1) / 2 + shiftY / k };
  }

  /* The first view: the bulk of the map. Its zoom is the reference for point sizes. */
  fit(insets) {
    const home = this.framing(this.home, insets);
    this.allK = this.framing(this.bounds, insets).k;
    this.fitK = home.k;
    Object.assign(this, { k: home.k, cx: home.cx, cy: home.cy });
    this.cancelFlight();
    this.onChange();
  }

  /* Every point, outliers included. */
  fitAll(insets) {
    const all = this.framing(this.bounds, insets);
    this.cancelFlight();
    Object.assign(this, { k: all.k, cx: all.cx, cy: all.cy });
    this.onChange();
  }

  atHome() {
    const home = this.framing(this.home);
    return Math.abs(this.k / home.k - 1) < 1e-6 && Math.hypot(this.cx - home.cx, this.cy - home.cy) * this.k < 1;
  }

  /* The "0" key: back to the first view, or, from there, out to every point. */
  reset() {
    if (this.atHome() && this.allK < this.fitK * 0.999) this.fitAll();
    else this.fit();
  }

  get minK() { return Math.min(this.fitK, this.allK) / 4; }
  get maxK() { return this.fitK * 4000; }

  toScreen(x, y) {
    return [(x - this.cx) * this.k + this.width / 2, this.height / 2 - (y - this.cy) * this.k];
  }

  toWorld(sx, sy) {
    return [(sx - this.width / 2) / this.k + this.cx, this.cy - (sy - this.height / 2) / this.k];
  }

  /* World rectangle on screen, grown by `margin` CSS pixels. */
  visibleWorld(margin = 0) {
    const [x0, y1] = this.toWorld(-margin, -margin);
    const [x1, y0] = this.toWorld(this.width + margin, this.height + margin);
    return [x0, y0, x1, y1];
  }

  zoomAt(sx, sy, factor) {
    this.cancelFlight();
    const [wx, wy] = this.toWorld(sx, sy);
    this.k = Math.min(this.maxK, Math.max(this.minK, this.k * factor));
    this.cx = wx - (sx - this.width / 2) / this.k;
    this.cy = wy + (sy - this.height / 2) / this.k;
    this.onChange();
  }

  panBy(dx, dy) {
    this.cancelFlight();
    this.cx -= dx / this.k;
    this.cy += dy / this.k;
    this.onChange();
  }

  cancelFlight() {
    if (this.flight) {
      cancelAnimationFrame(this.flight.frame);
      this.flight.resolve(false);
      this.flight = null;
    }
  }

  /* Animate to centre (x, y) at zoom k. Far flights zoom out in the middle so the
     visitor keeps their bearings. Resolves true when it arrives, false if interrupted. */
  flyTo(x, y, k, duration = 750) {
    this.cancelFlight();
    k = Math.min(this.maxK, Math.max(this.minK, k));
    const from = { x: this.cx, y: this.cy, k: this.k };
    const coarse = Math.min(from.k, k);
    const travel = Math.hypot(x - from.x, y - from.y) * coarse;
    const dip = Math.max(1, travel / (0.6 * Math.min(this.width, this.height)));
    const ms = duration * (1 + 0.35 * Math.log(dip));
    return new Promise((resolve) => {
      const started = performance.now();
      const step = (now) => {
        const t = Math.min(1, (now - started) / ms);
        const e = t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2;
        const logK = Math.log(from.k) + (Math.log(k) - Math.log(from.k)) * e;
        this.k = Math.exp(logK) / (1 + (dip - 1) * Math.sin(Math.PI * e));
        this.cx = from.x + (x - from.x) * e;
        this.cy = from.y + (y - from.y) * e;
        if (t >= 1) {
          this.k = k;
          this.cx = x;
          this.cy = y;
          this.flight = null;
          this.onChange();
          resolve(true);
        } else {
          this.flight.frame = requestAnimationFrame(step);
          this.onChange();
        }
      };
      this.flight = { resolve, frame: requestAnimationFrame(step) };
    });
  }
}

/* Mouse, wheel and touch: drag pans, wheel and pinch zoom around the pointer, a short
   press without movement is a click. */
function attachGestures(element, view, handlers) {
  const pointers = new Map();
  let press = null;
  let pinch = null;

  const local = (event) => {
    const box = element.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  };
  const pinchState = () => {
    const [a, b] = Array.from(pointers.values());
    return { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
  };

  element.addEventListener("pointerdown", (event) => {
    try {
      element.setPointerCapture(event.pointerId);
    } catch (error) {
      // Pointers the browser does not track (synthetic events) cannot be captured; carry on.
    }
    pointers.set(event.pointerId, local(event));
    if (pointers.size === 1) {
      press = { at: local(event), time: performance.now(), moved: 0 };
    } else if (pointers.size === 2) {
      pinch = pinchState();
      press = null;
    }
  });

  element.addEventListener("pointermove", (event) => {
    const here = local(event);
    const before = pointers.get(event.pointerId);
    if (!before) {
      handlers.hover(here[0], here[1]);
      return;
    }
    pointers.set(event.pointerId, here);
    if (pointers.size >= 2 && pinch) {
      const now = pinchState();
      view.panBy(now.mid[0] - pinch.mid[0], now.mid[1] - pinch.mid[1]);
      if (pinch.distance > 0) view.zoomAt(now.mid[0], now.mid[1], now.distance / pinch.distance);
      pinch = now;
    } else if (press) {
      press.moved += Math.hypot(here[0] - before[0], here[1] - before[1]);
      if (press.moved > 3) {
        element.classList.add("dragging");
        handlers.hover(-1, -1);
        view.panBy(here[0] - before[0], here[1] - before[1]);
      }
    }
  });

  const release = (event) => {
    if (!pointers.has(event.pointerId)) return;
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinch = null;
    if (pointers.size === 0) {
      element.classList.remove("dragging");
      if (press && event.type === "pointerup" && press.moved <= 3 && performance.now() - press.time < 600) {
        const [sx, sy] = local(event);
        handlers.click(sx, sy);
      }
      press = null;
    }
  };
  element.addEventListener("pointerup", release);
  element.addEventListener("pointercancel", release);
  element.addEventListener("pointerleave", (event) => {
    if (!pointers.has(event.pointerId)) handlers.hover(-1, -1);
  });

  element.addEventListener("wheel", (event) => {
    event.preventDefault();
    const unit = event.deltaMode === 1 ? 0.05 : event.deltaMode === 2 ? 1 : 0.0015;
    const [sx, sy] = local(event);
    view.zoomAt(sx, sy, Math.exp(-event.deltaY * unit));
  }, { passive: false });

  element.addEventListener("dblclick", (event) => {
    const [sx, sy] = local(event);
    const [wx, wy] = view.toWorld(sx, sy);
    const k = view.k * 2.5;
    view.flyTo(wx - (sx - view.width / 2) / k, wy + (sy - view.height / 2) / k, k, 350);
  });

  element.addEventListener("keydown", (event) => {
    const centre = [view.width / 2, view.height / 2];
    if (event.key === "+" || event.key === "=") view.zoomAt(...centre, 1.5);
    else if (event.key === "-") view.zoomAt(...centre, 1 / 1.5);
    else if (event.key === "0") view.reset();
    else if (event.key === "Escape") handlers.escape();
    else return;
    event.preventDefault();
  });
}
