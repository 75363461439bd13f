"""Headless Chromium for the browser tests: the system browser, the flags this machine needs,
and a page that records console errors and uncaught exceptions."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}; install it with 'apt-get install -y chromium'"
        if os.environ.get("ATLAS_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


# The Vega view behind each mo.ui.altair_chart lives in React state, not in the DOM: find it
# through the React fiber of the chart's element. Charts live in the shadow roots of
# <marimo-vega> elements (interactive charts) and <marimo-mime-renderer> elements (plain charts,
# such as the preview of a layout as it forms); looking only there keeps this cheap enough to
# run on every frame.
# Evaluates to a JavaScript function returning {mark name: [scenegraph items]} for every named
# symbol mark drawn on the page.
SYMBOL_MARKS_JS = """
() => {
  const embeds = [];
  document.querySelectorAll('marimo-vega, marimo-mime-renderer').forEach(host => {
    if (host.shadowRoot) host.shadowRoot.querySelectorAll('.vega-embed').forEach(e => embeds.push(e));
  });
  const marks = {};
  for (const el of embeds) {
    let view = null;
    for (let node = el, up = 0; node && up < 6 && !view; node = node.parentElement, up++) {
      const key = Object.keys(node).find(k => k.startsWith('__reactFiber'));
      for (let fiber = key ? node[key] : null, depth = 0; fiber && depth < 30 && !view; fiber = fiber.return, depth++) {
        for (let hook = fiber.memoizedState; hook && typeof hook === 'object' && !view; hook = hook.next) {
          const state = hook.memoizedState;
          if (state && state.view && typeof state.view.scenegraph === 'function') view = state.view;
        }
      }
    }
    if (!view) continue;
    const visit = (item) => {
      if (item.marktype === 'symbol' && item.role === 'mark' && item.name) marks[item.name] = item.items;
      (item.items || []).forEach(visit);
    };
    visit(view.scenegraph().root);
  }
  return marks;
}
"""


class PageLog:
    """Console messages and page errors collected from one page."""

    def __init__(self, page) -> None:
        self.console: list[tuple[str, str]] = []
        self.page_errors: list[str] = []
        page.on("console", lambda msg: self.console.append((msg.type, msg.text + (f" [{msg.location.get('url')}]" if msg.location.get("url") else ""))))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def errors(self, ignore: tuple[str, ...] = ()) -> list[str]:
        found = [text for kind, text in self.console if kind == "error"] + self.page_errors
        return [e for e in found if not any(pattern in e for pattern in ignore)]

    def errors_but_replaced_charts(self) -> list[str]:
        """``errors()`` less one race that changes nothing on screen: when the app's layouts
        arrive one by one (or a setting changes twice quickly), marimo replaces the maps' chart
        and drops the data file of the one before, whose fetch, if still under way, fails (in
        marimo's own scripts, under /assets/); the newer chart is drawn. Rarely the replaced chart's
        size is read after its element is gone ("reading 'clientWidth'" of null: no atlas script in
        the app reads it; seen once in a full run, when the region names were switched off), and
        marimo's binding of a replaced widget reports itself destroyed."""
        return [
            e for e in self.errors()
            if not ("ERR_INCOMPLETE_CHUNKED_ENCODING" in e and "/@file/" in e) and not (e.startswith("TypeError: Failed to fetch") and "/assets/" in e)
            and e != "Cannot read properties of null (reading 'clientWidth')" and not e.startswith("Error: [anywidget] binding destroyed")
        ]  # fmt: skip


@contextlib.contextmanager
def chromium_page(viewport=(1400, 1000)):
    """Yield ``(page, log)`` on a fresh headless Chromium."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            page = context.new_page()
            yield page, PageLog(page)
        finally:
            context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def marimo_server(notebook: Path, args: list[str] = (), timeout: float = 120.0, env: dict | None = None):
    """Serve ``notebook`` with ``marimo run`` on a free local port and yield its URL."""
    port = free_port()
    marimo = shutil.which("marimo", path=str(Path(sys.executable).parent)) or "marimo"
    cmd = [marimo, "run", str(notebook), "--headless", "--port", str(port), "--no-token"]
    if args:
        cmd += ["--", *args]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"marimo did not start: {log.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
