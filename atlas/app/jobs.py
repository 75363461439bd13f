"""Projections computed in the background of the app, shown while they are optimised.

A slider move must not freeze the page for the minute a t-SNE of 25,000 items takes. So the app
computes missing layouts in a ``mo.Thread``: the page stays live (another move, or Cancel, is
handled at once), the panel above the maps shows the layout as it forms with a progress line
(step, elapsed time, time left), and each finished layout is published to the maps through a
``mo.state`` setter. A layout seen before is published at once, without a thread. The first map
(UMAP by default) is computed alone on every core, so that a map is on screen as soon as can be;
the others then side by side, as ``atlas build`` computes them: on two cores t-SNE on one while
PaCMAP takes the other, and the layout still running when the other lane has nothing left takes
both (``cores.Lanes``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import numpy as np

from atlas import projections

log = logging.getLogger(__name__)

#: Points drawn in the live preview of a layout being optimised.
PREVIEW_POINTS = 1500


class _Board:
    """The panel above the maps while layouts are computed: a progress line for each layout
    running (two at once where two cores are idle), the Cancel button, and the layout forming of
    the first of them that has one to show."""

    def __init__(self, cancel_button) -> None:
        self.cancel_button = cancel_button
        self.running: list[_Report] = []
        self._lock = threading.Lock()

    def add(self, report: _Report) -> None:
        with self._lock:
            self.running.append(report)

    def remove(self, report: _Report) -> None:
        with self._lock:
            if report in self.running:
                self.running.remove(report)

    def show(self) -> None:
        import marimo as mo

        with self._lock:
            now = time.perf_counter()
            parts = [mo.md(progress_line(r.title, r.step, r.total, now - r.began, refining=r.refining)) for r in self.running]
            if self.cancel_button is not None:
                parts.append(self.cancel_button)
            forming = next((r for r in self.running if r.xy is not None), None)
            if forming is not None:
                parts.append(mo.Html(preview_svg(forming.xy, title=f"{forming.title}, as it forms")))
            mo.output.replace(mo.vstack(parts))


class _Report:
    """The progress callback of one background layout: shows it on the board, and stops it when asked."""

    def __init__(self, title: str, refining: bool, jobs: LayoutJobs, board: _Board) -> None:
        self.title, self.refining, self.jobs, self.board = title, refining, jobs, board
        self.began = time.perf_counter()
        self.step, self.total, self.xy = 0, 1, None
        board.add(self)

    def poll(self) -> None:
        import marimo as mo

        if mo.current_thread().should_exit or self.jobs.cancelled:
            raise Cancelled

    def __call__(self, step: int, total: int, xy: np.ndarray | None) -> None:
        self.poll()
        self.step, self.total = step, total
        if xy is not None:
            self.xy = xy
        self.board.show()


class Cancelled(Exception):
    """Raised inside an optimisation to stop it (the Cancel button, or a newer request)."""


class LayoutJobs:
    """One browser session's background layouts: the latest layout of each method (the start of
    the next warm start), what the maps show now, and the Cancel switch."""

    def __init__(self) -> None:
        self.latest: dict[str, projections.Layout] = {}
        self.shown: dict[str, projections.Layout] = {}
        self.read: dict[str, float] = {}  # layout key -> seconds it took to read from the stage cache
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run_of(self, title: str, layout: projections.Layout):
        """The ``StageRun`` of a layout on show: read from the stage cache (and how quickly), or
        computed in this session (and how long it took)."""
        from .stages import StageRun

        if layout.key in self.read:
            return StageRun(title, layout, None, self.read[layout.key], cached=True)
        return StageRun(title, layout, None, layout.seconds, cached=False)

    def start_from(self, name: str, embedding_key: str) -> projections.Layout | None:
        """The layout of method ``name`` to refine, when one of this embedding exists."""
        layout = self.latest.get(name)
        return layout if layout is not None and layout.embedding_key == embedding_key else None

    def publish(self, ready: Mapping[str, projections.Layout], wanted: tuple[str, ...], embedding_key: str, setter: Callable) -> None:
        """Show ``ready`` layouts, keeping the previous layout of the same embedding for methods
        still being computed (the map on screen stays until its replacement is ready).

        The maps are told (``setter``) only when what they show changes: a slider move whose
        layout is still being computed leaves them as they are, so that they are not rebuilt and
        sent again (at 100,000 items 2 s of the kernel and the browser) while the layout forms."""
        with self._lock:
            for layout in ready.values():
                self.latest[layout.method] = layout
            shown = {}
            for name in wanted:
                layout = ready.get(name)
                if layout is None:
                    previous = self.shown.get(name)
                    layout = previous if previous is not None and previous.embedding_key == embedding_key else None
                if layout is not None:
                    shown[name] = layout
            changed = _identity(shown) != _identity(self.shown)
            self.shown = shown
        if changed:
            setter(dict(shown))


def _identity(layouts: Mapping[str, projections.Layout]) -> list[tuple]:
    """What a set of maps shows: each method's layout by its key (the object where it has none)."""
    return [(name, layout.key or id(layout), layout.embedding_key) for name, layout in layouts.items()]


def progress_line(title: str, step: int, total: int, elapsed: float, *, refining: bool) -> str:
    """``t-SNE (refining the map on screen): 250 of 750 steps · 12 s · about 24 s left``."""
    what = f"{title} ({'refining the map on screen' if refining else 'from PCA'})"
    if step <= 0 or total <= 0:
        return f"{what}: starting · {elapsed:.0f} s"
    left = elapsed / step * max(total - step, 0)
    return f"{what}: {step:,} of {total:,} steps · {elapsed:.0f} s · about {left:.0f} s left"


def preview_svg(xy: np.ndarray, *, title: str, width: int = 460, height: int = 420, points: int = PREVIEW_POINTS) -> str:
    """A light picture of a layout being optimised: an inline SVG of a fixed sample of at most
    ``points`` items. Inline, so that replacing it every second never leaves the page fetching a
    file the server has already dropped."""
    import html

    n = xy.shape[0]
    rows = np.arange(n) if n <= points else np.sort(np.random.default_rng(0).choice(n, points, replace=False))
    pts = xy[rows].astype(np.float64)
    low, high = pts.min(axis=0), pts.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    pad = 8
    x = pad + (pts[:, 0] - low[0]) / span[0] * (width - 2 * pad)
    y = height - pad - (pts[:, 1] - low[1]) / span[1] * (height - 2 * pad - 18)
    dots = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2"/>' for a, b in zip(x, y))
    return (
        f'<svg data-atlas-preview="{html.escape(title)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="{width / 2}" y="12" text-anchor="middle" font-size="12" '
        f'font-family="sans-serif">{html.escape(title)}</text><g fill="#4c78a8" fill-opacity="0.6">{dots}</g></svg>'
    )


def first_alone(missing: list[str], wanted: tuple[str, ...], cores: int) -> bool:
    """Whether the first map is computed alone on every core before the others start side by side:
    when it is missing (the page's first map, the one the others are turned onto) and others wait
    with it. At 100,000 items UMAP took 51 s on one core beside t-SNE, 26 s alone on two, and the
    layouts after it share the cores as before (bench/README "The first map first")."""
    return cores > 1 and len(missing) > 1 and missing[0] == wanted[0]


def start_layouts(
    build,
    *,
    jobs: LayoutJobs,
    publish: Callable,
    cancel_button=None,
    from_pca: bool = False,
    background: bool = True,
) -> dict:
    """Publish the layouts of ``build`` (an ``atlas.Build``): at once for those computed before,
    from background threads for the others (side by side where cores are idle), each
    refining the method's latest layout unless ``from_pca`` or the build starts from an earlier
    map (its anchor). Without
    ``background`` (a notebook run as a script) everything is computed here. Returns the
    layouts ready now."""
    import marimo as mo

    wanted = tuple(build.params.names)
    embedding_key = build.embedding.key
    anchored = build.start is not None

    def warm(name: str):
        return None if from_pca or anchored else jobs.start_from(name, embedding_key)

    ready = {}
    for name in wanted:
        began = time.perf_counter()
        known = build.known_layout(name, from_pca=from_pca)
        if known is not None:
            jobs.read[known.key] = time.perf_counter() - began
        elif not background:
            known = build.project(name, warm_from=warm(name))
        if known is not None:
            ready[name] = known
    missing = [name for name in wanted if name not in ready]
    jobs.publish(ready, wanted, embedding_key, publish)
    if not missing:
        return ready
    jobs._cancel.clear()

    def compute(queue: list[str], board: _Board, done: dict, stopped: list, lock: threading.Lock) -> None:
        """Compute the layouts of ``queue`` in this thread, taking the next one as each is done (the
        other threads take from the same queue), publishing each as it is ready."""
        thread = mo.current_thread()
        while True:
            with lock:
                if not queue or any(kind == "cancelled" for kind, _, _ in stopped):
                    return
                name = queue.pop(0)
            method = projections.get(name)
            start = warm(name)
            report = _Report(method.title, start is not None, jobs, board)
            try:
                report(0, 1, None)
                layout = build.project(name, warm_from=start, progress=report)
            except Cancelled:
                stopped.append(("cancelled", method.title, None))
                return
            except Exception as exc:  # noqa: BLE001 - shown in the panel, logged with its traceback
                log.exception("layout %s failed", name)
                stopped.append(("failed", method.title, exc))
                return
            finally:
                board.remove(report)
            if thread.should_exit:
                return
            with lock:
                done[name] = layout
                jobs.publish(done, wanted, embedding_key, publish)

    def work() -> None:
        from atlas.cores import Lanes, sharing, side_by_side_cores

        thread = mo.current_thread()
        done, stopped, lock = dict(ready), [], threading.Lock()
        board = _Board(cancel_button)
        cores = side_by_side_cores()
        queue = list(missing)
        if first_alone(queue, wanted, cores):
            with sharing(cores):
                compute(queue[:1], board, done, stopped, lock)
            del queue[:1]
        # then as ``atlas build`` does: one thread a core, each taking the next layout as it is
        # free, so on two cores t-SNE runs beside PaCMAP; a layout alone takes every core
        lanes = max(1, min(cores, len(queue)))
        shares = Lanes(cores, lanes)

        def lane() -> None:
            with shares.lane():
                compute(queue, board, done, stopped, lock)

        others = [mo.Thread(target=lane, daemon=True) for _ in range(lanes - 1)]
        for other in others:
            other.start()
        lane()
        for other in others:
            other.join()
        if thread.should_exit:
            return
        failed = next((exc for kind, _, exc in stopped if kind == "failed"), None)
        title = next((title for kind, title, _ in stopped if kind == "failed"), None)
        if failed is not None:
            mo.output.replace(mo.callout(mo.md(f"**{title}** — {failed}"), kind="danger"))
        elif stopped:
            titles = " and ".join(title for _, title, _ in stopped)
            mo.output.replace(mo.callout(mo.md(f"**{titles}** cancelled: the maps show the layouts computed before. Move a slider or press *restart from PCA* to compute again."), kind="warn"))
        else:
            mo.output.replace(mo.md(""))

    mo.Thread(target=work, daemon=True).start()
    titles = ", ".join(projections.get(name).title for name in missing)
    mo.output.replace(mo.md(f"Computing {titles}…"))
    return ready
