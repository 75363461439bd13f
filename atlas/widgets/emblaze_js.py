"""Fixes to Emblaze's bundled front end, applied to its module text before it is shipped.

Emblaze 0.11's ``widget-main.js`` draws its WebGL map on every animation frame, forever, even
when nothing moves and when it is scrolled out of view; in a busy app that costs the browser
most of a core. Its continuous colour legend prints a label under every cell (they overlap),
its colour ramp is linear, its Backbone-style trait listeners get no value under marimo, and
its ``render`` leaves the Svelte app alive after the view is gone, and a zoom's delayed viewport
report then reads a viewport that is gone. Its legend, drawn large at the map's top left, runs over
the map's own buttons (top right, once a point is clicked) and, on a narrow map, over the
sidebar's toolbars beside it.

Each fix replaces one exact piece of the bundle. A bundle in which a piece is missing (or found
twice) is refused with ``RuntimeError``: a silently unpatched viewer would either draw nothing
or burn the CPU again.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The Emblaze release whose bundle these fixes were written against (``pyproject.toml`` pins it).
EMBLAZE_VERSION = "0.11.0"

#: The first line of a patched bundle (patching twice changes nothing).
MARKER = "/* atlas: Emblaze bundle patched (draw on demand, legend labels and place, log colour) */\n"

#: How long drawing goes on after the marks last changed, in ms: longer than Emblaze's longest
#: animation (its 4 s transition between frames), so that an animation always finishes.
WAKE_MS = 4500
#: Where the map's legend starts, in px from the map's top: below the row of the map's buttons.
LEGEND_TOP = 60
#: Traits whose changes never change the drawing: Emblaze logs interactions every 10 s.
QUIET_TRAITS = ("interactionHistory", "saveInteractionsFlag", "loggingEnabled", "selectionList", "saveSelectionFlag",
                "selectionName", "selectionDescription", "loadingSuggestions", "loadingSuggestionsProgress", "recomputeSuggestionsFlag")

# Runs before the bundle. ``__atlasIdle`` stops a PIXI application's ticker once nothing has
# changed for a while and while its canvas is out of view (or detached). Input inside the widget,
# a trait change (but for the interaction log's) or a window resize start it for a second, long
# enough for Emblaze to update its marks; a change of the marks keeps it going for WAKE_MS, the
# longest transition Emblaze animates on the GPU. ``__atlasLegend`` labels
# three cells of a continuous legend, compactly, and undoes the log scale it was drawn with; it
# places the legend inside the map, below the map's buttons.
PRELUDE = """
const __atlasIdle = (() => {
  const WAKE_MS = %(wake)d, NUDGE_MS = 1000, SETTLE_MS = 300;
  // traits that never change the drawing (Emblaze's interaction log, saved selections)
  const QUIET_TRAITS = new Set(%(quiet)s);
  const entries = new Set(), timers = new Set();
  const now = () => performance.now();
  let lastWake = now();
  const wakeAll = (why) => {
    lastWake = now();
    entries.forEach((entry) => entry.wake(NUDGE_MS, why));
    timers.forEach((t) => t.run());
  };
  const traitChanged = (name) => { if (!QUIET_TRAITS.has(name)) wakeAll("trait " + name); };
  let windowHooked = false;
  function attach(pixiApp, getContainer, viewportAnimating, getScatterplot) {
    const ticker = pixiApp.ticker;
    const entry = { app: pixiApp, until: now() + WAKE_MS, visible: true, observer: null, wakes: {} };
    entry.wake = (ms = WAKE_MS, why = "") => {
      entry.wakes[why] = (entry.wakes[why] || 0) + 1;
      entry.until = Math.max(entry.until, now() + ms);
      if (entry.visible && !ticker.started) ticker.start();
    };
    entry.stop = () => { if (ticker.started) ticker.stop(); };
    const interaction = pixiApp.renderer.plugins && pixiApp.renderer.plugins.interaction;
    if (interaction && "useSystemTicker" in interaction) interaction.useSystemTicker = false;  // Emblaze picks points itself
    ticker.add(() => {
      const el = getContainer();
      if (!el || !el.isConnected) { entry.stop(); return; }
      const plot = getScatterplot(), marks = plot && plot.markSet;
      if (marks && marks.marksChanged()) entry.wake(WAKE_MS, "marks changed");  // may start a GPU-side transition
      else if (viewportAnimating()) entry.wake(SETTLE_MS, "viewport moving");
      else if (marks && (marks.marksAnimating() || marks.decorationsAnimating())) entry.wake(SETTLE_MS, "marks moving");
      else if (now() > entry.until) entry.stop();
    }, null, 100);
    const el = getContainer();
    if (el && typeof IntersectionObserver !== "undefined") {
      entry.observer = new IntersectionObserver((seen) => {
        entry.visible = seen.some((s) => s.isIntersecting);
        if (entry.visible) entry.wake(WAKE_MS, "in view"); else entry.stop();
      });
      entry.observer.observe(el);
    }
    if (!windowHooked) { window.addEventListener("resize", () => wakeAll("resize")); windowHooked = true; }
    entries.add(entry);
    return entry;
  }
  function detach(pixiApp) {
    for (const entry of entries) {
      if (entry.app !== pixiApp) continue;
      entry.stop();
      if (entry.observer) entry.observer.disconnect();
      entries.delete(entry);
    }
  }
  // A d3 timer that sleeps once nothing has woken the widget for WAKE_MS (Emblaze's sidebar
  // canvases poll "needs drawing?" on every animation frame, forever); elapsed time goes on
  // where it stopped, so that animations computed from it do not jump.
  function timer(d3timer, callback) {
    const t = { inner: null, last: 0, stopped: false };
    const awake = () => now() < lastWake + WAKE_MS || Array.from(entries).some((e) => e.app.ticker.started);
    t.run = () => {
      if (t.inner || t.stopped) return;
      const base = t.last;
      t.inner = d3timer((elapsed) => {
        t.last = base + elapsed;
        callback(t.last);
        if (!awake() && t.inner) { t.inner.stop(); t.inner = null; }
      });
    };
    t.stop = () => { t.stopped = true; if (t.inner) t.inner.stop(); t.inner = null; timers.delete(t); };
    timers.add(t);
    t.run();
    return t;
  }
  function watch(el) {
    for (const kind of ["pointerdown", "pointermove", "wheel", "keydown", "click", "input", "change"]) {
      el.addEventListener(kind, () => wakeAll(kind), { capture: true, passive: true });
    }
  }
  const api = { attach, detach, watch, timer, wakeAll, traitChanged, entries, timers };
  globalThis.__atlasEmblazeIdle = api;  // for scripts and tests: is a viewer drawing?
  return api;
})();
const __atlasLegend = {
  scale(scale, log) { scale.atlasLog = !!log; return scale; },
  // the app's colours for categories ([label, colour] pairs, in legend order), when it gave them
  categories(scale, pairs) {
    if (!pairs || !pairs.length) return scale;
    const colours = new Map(pairs), present = new Set(scale.domain());
    const domain = [...pairs.map((p) => p[0]).filter((d) => present.has(d)), ...scale.domain().filter((d) => !colours.has(d))];
    const spare = scale.range();
    return scale.domain(domain).range(domain.map((d, i) => colours.get(d) || spare[i %% spare.length]));
  },
  compact(value) {
    const abs = Math.abs(value);
    if (abs >= 1e6) return (value / 1e6).toPrecision(2).replace(/\\.0+$/, "") + "M";
    if (abs >= 1e3) return (value / 1e3).toPrecision(2).replace(/\\.0+$/, "") + "k";
    if (abs >= 100 || Number.isInteger(value)) return String(Math.round(value));
    return String(Number(value.toPrecision(2)));
  },
  // top left inside the map, below the row of the map's buttons (top right, once a point is
  // clicked): what does not fit is cut off rather than drawn over the buttons or the sidebar
  place(el) {
    Object.assign(el.style, { top: "%(legend_top)dpx", maxWidth: "calc(100%% - 24px)",
                              maxHeight: "calc(100%% - %(legend_bottom)dpx)", overflow: "hidden" });
  },
  // the legend's box drawn around what it holds, with a small margin: Emblaze sizes it from an
  // estimate that leaves wide margins and would cut off rows of the compact legend
  fit(svg) {
    const g = svg.node() && svg.node().querySelector("g");
    if (!g || typeof g.getBBox !== "function") return;
    const box = g.getBBox(), margin = 8;
    if (!box.width || !box.height) return;  // not laid out (detached): Emblaze's size stays
    g.setAttribute("transform", `translate(${margin - box.x}, ${margin - box.y})`);
    svg.style("width", `${Math.ceil(box.width + 2 * margin)}px`).style("height", `${Math.ceil(box.height + 2 * margin)}px`);
  },
  labels(scale) {
    const domain = scale.domain(), lo = domain[0], hi = domain[domain.length - 1];
    return ({ i, genLength }) => {
      const middle = Math.round((genLength - 1) / 2);
      if (i !== 0 && i !== middle && i !== genLength - 1) return "";
      const value = genLength > 1 ? lo + (i * (hi - lo)) / (genLength - 1) : lo;
      return __atlasLegend.compact(scale.atlasLog ? Math.pow(10, value) : value);
    };
  },
};
"""


@dataclass(frozen=True)
class Fix:
    """A piece of the bundle (``old``, which must occur exactly ``count`` times) and what
    replaces it."""

    name: str
    old: str
    new: str
    count: int = 1


# The listener signature fix: Emblaze keeps every synced trait in a Svelte store that it
# refreshes with the Backbone listener signature ``(model, value)``. marimo (and the current
# anywidget spec) call ``change:`` listeners without arguments, so the stores never received
# data and the canvas stayed blank. Reading the value from the model works under both; a trait
# change is also a reason to draw again.
BACKBONE_LISTENER = 'model.on("change:" + name2, (model2, val) => curVal.set(val), null);'
PORTABLE_LISTENER = 'model.on("change:" + name2, () => { curVal.set(model.get(name2)); __atlasIdle.traitChanged(name2); }, null);'

FIXES = (
    Fix("trait listener", BACKBONE_LISTENER, PORTABLE_LISTENER),
    # each viewer gets its own ticker, which __atlasIdle may stop without stopping another's
    Fix("own ticker", "sharedTicker: true\n    }));", "sharedTicker: false\n    }));"),
    Fix(
        "draw on demand",
        "container.appendChild(view);\n    initializeMouseHandlers(view);",
        "container.appendChild(view);\n    __atlasIdle.attach(pixiApp, () => container, () => viewportAnimating, () => scatterplot);\n"
        "    initializeMouseHandlers(view);",
    ),
    Fix(
        "release the ticker",
        "onDestroy(() => {\n    if (!!scatterplot) {\n      scatterplot.destroy();",
        "onDestroy(() => {\n    if (!!pixiApp) __atlasIdle.detach(pixiApp);\n    if (!!scatterplot) {\n      scatterplot.destroy();",
    ),
    Fix(
        "destroy with the view",
        "function render(view) {\n  new App({\n    target: view.el,\n    props: {\n      model: view.model\n    }\n  });\n}",
        "function render(view) {\n  __atlasIdle.watch(view.el);\n  const app = new App({\n    target: view.el,\n    props: {\n      model: view.model\n    }\n  });\n"
        "  return () => app.$destroy();\n}",
    ),
    # a zoom or pan reports the viewport a moment later, by then perhaps after the view is gone
    Fix(
        "viewport report after destroy",
        'dispatch2("viewportChanged", getViewport());\n        viewportUpdateTimeout = null;',
        'if (!!viewportManager) dispatch2("viewportChanged", getViewport());\n        viewportUpdateTimeout = null;',
    ),
    # the sidebar's canvases (frame thumbnails, the frame slider) check for work on every frame
    Fix("sleeping timers", "timer$1 = timer(", "timer$1 = __atlasIdle.timer(timer, ", count=4),
    Fix(
        "colour flags",
        "this.previewMode = rawData.previewMode || PreviewMode.PROJECTION_SIMILARITY;",
        "this.previewMode = rawData.previewMode || PreviewMode.PROJECTION_SIMILARITY;\n      this.atlasColourLog = !!rawData.atlasColourLog;"
        "\n      this.atlasColours = rawData.atlasColours || null;",
    ),
    Fix(
        "category colours",
        "return ordinal(scheme2.value).domain(this.getColorExtent(true));",
        "return __atlasLegend.categories(ordinal(scheme2.value).domain(this.getColorExtent(true)), this.atlasColours);",
    ),
    Fix(
        "log colour scale",
        "return sequential(scheme2.value).domain(this.getColorExtent());",
        "return __atlasLegend.scale(sequential(scheme2.value).domain(this.getColorExtent()), this.atlasColourLog);",
    ),
    # a compact legend (12 pt labels beside 16 px dots filled a third of the map)
    Fix("legend font", "let { fontSize = 12 } = $$props;", "let { fontSize = 9 } = $$props;"),
    Fix(
        "legend marks",
        "const CategoryRadius = 8;\nconst CategoryPadding = 8;\nconst ContinuousWidth = 30;",
        "const CategoryRadius = 5;\nconst CategoryPadding = 4;\nconst ContinuousWidth = 20;",
    ),
    Fix(
        "legend box",
        'svg.select(".legendLinear").call(legendLinear);\n    }\n  }',
        'svg.select(".legendLinear").call(legendLinear);\n    }\n    __atlasLegend.fit(svg);\n  }',
    ),
    Fix(
        "legend place",
        'attr(div2, "class", "legend-container svelte-1w0oifm");',
        'attr(div2, "class", "legend-container svelte-1w0oifm");\n      __atlasLegend.place(div2);',
    ),
    # drawn after the map, the legend would hide the map's buttons where they meet
    Fix(
        "map buttons on top",
        'attr(div0, "id", "button-panel");',
        'attr(div0, "id", "button-panel");\n      set_style(div0, "z-index", "1");',
    ),
    Fix(
        "legend labels",
        '.cells(numCells).orient("horizontal").scale(colorScale);',
        '.cells(numCells).orient("horizontal").scale(colorScale).labels(__atlasLegend.labels(colorScale));',
    ),
)


def target_problems(source: str) -> list[str]:
    """One line per fix whose piece ``source`` lacks (or holds another number of times), naming
    the fix, the count and the start of the piece; empty when every fix applies."""
    problems = []
    for fix in FIXES:
        found = source.count(fix.old)
        if found != fix.count:
            piece = fix.old.splitlines()[0][:70]
            problems.append(f"{fix.name!r} fix (found {found} times, expected {fix.count}): {piece!r}")
    return problems


def patch_bundle(source: str) -> str:
    """Emblaze's front-end module with every fix in ``FIXES`` applied (once).

    Raises ``RuntimeError`` naming the fix whose piece is missing or found another number of
    times: this Emblaze build is not the one atlas knows how to adapt.
    """
    if source.startswith(MARKER):
        return source
    for fix in FIXES:
        found = source.count(fix.old)
        if found != fix.count:
            piece = fix.old.splitlines()[0][:70]
            raise RuntimeError(
                f"This Emblaze build does not contain the piece atlas adapts for its {fix.name!r} fix "
                f"(found {found} times, expected {fix.count}): {piece!r}; atlas patches emblaze=={EMBLAZE_VERSION} "
                "(pinned in pyproject.toml): install that version, or update atlas.widgets.emblaze_js."
            )
        source = source.replace(fix.old, fix.new)
    import json

    prelude = PRELUDE % {"wake": WAKE_MS, "quiet": json.dumps(list(QUIET_TRAITS)), "legend_top": LEGEND_TOP, "legend_bottom": LEGEND_TOP + 12}
    return MARKER + prelude + source
