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
import urllib.parse
import urllib.request
from dataclasses import dataclass
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
VEGA_VIEW_JS = """
(el) => {
  // the Vega view a .vega-embed element draws: held in a React hook's state of an element near it
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
  return view;
}
"""

SYMBOL_MARKS_JS = """
() => {
  const VEGA_VIEW_OF = """ + VEGA_VIEW_JS.strip() + """;
  const embeds = [];
  document.querySelectorAll('marimo-vega, marimo-mime-renderer').forEach(host => {
    if (host.shadowRoot) host.shadowRoot.querySelectorAll('.vega-embed').forEach(e => embeds.push(e));
  });
  const marks = {};
  for (const el of embeds) {
    const view = VEGA_VIEW_OF(el);
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


# Runs in the page before its own scripts: reports to Python (``__atlasPageLogRecord``) every
# chart and widget element marimo shows, by what identifies its content (its tag, its widget
# model and the data files it names), and every fetch that fails, with its address. An element
# seen once and gone at the end (removed, or given another model or data file) was *replaced*.
PAGE_LOG_JS = """
(() => {
  if (window.__atlasPageLogInstalled) return;
  window.__atlasPageLogInstalled = true;
  const TAGS = new Set(%(tags)s);
  const report = (record) => { try { Promise.resolve(window.__atlasPageLogRecord(record)).catch(() => {}); } catch (e) { /* not bound yet */ } };
  const sent = new Set();
  const identify = (el) => {
    const files = [];
    for (const a of el.attributes) for (const m of a.value.matchAll(/\\/@file\\/[^"'\\s\\\\)?#]+/g)) files.push(m[0]);
    return { tag: el.tagName.toLowerCase(), model: el.getAttribute("data-model-id") || "", files: [...new Set(files)].sort() };
  };
  const key = (id) => id.tag + " " + id.model + " " + id.files.join(",");
  const note = (el) => {
    if (!el.tagName || !TAGS.has(el.tagName.toLowerCase())) return;
    const id = identify(el), k = key(id);
    if (!sent.has(k)) { sent.add(k); report({ kind: "element", ...id }); }
  };
  // marimo draws some outputs inside shadow roots (a lazily shown widget): those are followed too
  const watched = new WeakSet();
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") note(r.target);
      else r.addedNodes.forEach(visit);
    }
  });
  const watch = (root) => {
    if (watched.has(root)) return;
    watched.add(root);
    observer.observe(root, { subtree: true, childList: true, attributes: true });
  };
  const visit = (node) => {
    if (node.nodeType !== 1) return;
    note(node);
    node.querySelectorAll(%(selector)s).forEach(note);
    for (const el of [node, ...node.querySelectorAll("*")]) if (el.shadowRoot) { watch(el.shadowRoot); visit(el.shadowRoot.firstElementChild || el.shadowRoot); }
  };
  watch(document);
  const deep = (root) => {
    const found = [...root.querySelectorAll(%(selector)s)];
    root.querySelectorAll("*").forEach((el) => { if (el.shadowRoot) found.push(...deep(el.shadowRoot)); });
    return found;
  };
  window.__atlasPageLogCurrent = () => deep(document).map((el) => key(identify(el)));
  // a widget's module is named by the message that opens its model, not by its element
  const NativeSocket = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new NativeSocket(...args);
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string" || !event.data.startsWith('{"op": "model-lifecycle"')) return;
      const model = /"model_id":\\s*"([^"]+)"/.exec(event.data);
      const files = [...event.data.matchAll(/"esm_spec":\\s*\\{"url":\\s*"\\.?(\\/@file\\/[^"]+)"/g)].map((m) => m[1]);
      if (model && files.length) report({ kind: "model", model: model[1], files });
    });
    return socket;
  };
  window.WebSocket.prototype = NativeSocket.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  const nativeFetch = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || String(input);
    return nativeFetch.apply(this, arguments).catch((error) => {
      report({ kind: "fetch", url: new URL(url, location.href).pathname, error: String(error) });
      throw error;
    });
  };
})();
"""

#: How the browser says that a module's script could not be loaded.
IMPORT_FAILED = "TypeError: Failed to fetch dynamically imported module: "

#: The elements whose replacement the log follows: marimo's charts and widgets.
REPLACEABLE = ("marimo-vega", "marimo-mime-renderer", "marimo-anywidget")
PAGE_LOG_JS = PAGE_LOG_JS % {"tags": list(REPLACEABLE), "selector": repr(", ".join(REPLACEABLE))}


@dataclass(frozen=True)
class Replaced:
    """What was replaced on the page during a test, read from ``PAGE_LOG_JS``'s reports."""

    charts: int = 0  # Vega charts (marimo-vega, marimo-mime-renderer)
    widgets: int = 0  # anywidget models
    files: frozenset[str] = frozenset()  # /@file/ data files named only by replaced elements
    failed_fetches: tuple[tuple[str, str], ...] = ()  # (path, error) of fetches that failed, of those files
    other_failed_fetches: int = 0  # fetches that failed of a served file no chart or widget named (atlas's own modules, say)


def _frames(text: str) -> list[str]:
    """The stack's frames that name a script (``at f (http://…)``); the engine's own frames
    (``at async Promise.all (index 0)``) name none and run no one's code."""
    return [line.strip() for line in text.splitlines()[1:] if line.strip().startswith("at ") and "://" in line]


def _only_marimo_frames(stack: str) -> bool:
    """Whether a stack runs only through marimo's own scripts (served under /assets/): atlas's
    widgets are served under /@file/, and an error passing through them is never marimo's race."""
    frames = _frames(stack)
    return all("/assets/" in f and "/@file/" not in f for f in frames)


def unexplained(console: list[tuple[str, str, str]], page_errors: list[tuple[str, str]], replaced: Replaced) -> list[str]:
    """The errors of a page that marimo's replacement of a chart or widget does not explain.

    When the app's layouts arrive one by one (or a setting changes twice quickly), marimo
    replaces a chart or widget while the one before is still loading. Exactly four messages
    come from that race, and each is let through only when it is tied to a replaced element:

    - ``Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING`` for the address of a
      data file named only by a replaced chart (the server dropped it mid-transfer);
    - ``TypeError: Failed to fetch`` (the browser's words, as the fetch failed) once per failed
      fetch of such a file;
    - ``TypeError: Failed to fetch dynamically imported module: ADDRESS`` logged by marimo's
      bundle, once per module file named only by replaced widgets (the file a widget model's
      opening message names as its module);
    - ``Cannot read properties of null (reading 'clientWidth')`` thrown only through marimo's
      scripts, at most once per replaced chart (its size read after its element is gone);
    - ``Error: [anywidget] binding destroyed`` raised only through marimo's scripts, at most
      once per replaced widget model;
    - ``TypeError: Failed to fetch`` logged by marimo's own bundle (under /assets/) when every
      failed fetch the page log saw was of a chart's or widget's data file (a request cut off with
      its element, or with an element that was drawn again from the same file), at most once per
      replaced chart or widget.

    Anything else, a longer message, a message from a script of atlas's (under /@file/) or one
    more than the replacements explain, is returned, formatted as ``PageLog.errors`` formats it.
    """
    left: list[str] = []
    imports_seen: set[str] = set()
    fetches = list(replaced.failed_fetches)
    budget = {"chart": replaced.charts, "widget": replaced.widgets}
    cut_off = replaced.charts + replaced.widgets - len(replaced.failed_fetches)  # elements whose fetch failed unseen

    def spend(kind: str) -> bool:
        if budget[kind] <= 0:
            return False
        budget[kind] -= 1
        return True

    for kind, text, url in console:
        if kind != "error":
            continue
        first = text.splitlines()[0] if text else ""
        path = urllib.parse.urlsplit(url).path if url else ""
        if text == "Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING" and path in replaced.files:
            continue
        module = first.removeprefix(IMPORT_FAILED) if first.startswith(IMPORT_FAILED) else None
        if module is not None and urllib.parse.urlsplit(module).path in replaced.files - imports_seen and _only_marimo_frames(text) and path.startswith("/assets/"):
            imports_seen.add(urllib.parse.urlsplit(module).path)
            continue  # a replaced widget's module, cut off with it
        match = next((f for f in fetches if first == f[1] and f[0] in replaced.files), None)
        if match is not None and _only_marimo_frames(text) and "/assets/" in path:
            fetches.remove(match)
            continue
        if first == "Error: [anywidget] binding destroyed" and _only_marimo_frames(text) and spend("widget"):
            continue
        if first == "TypeError: Failed to fetch" and _only_marimo_frames(text) and path.startswith("/assets/") and not replaced.other_failed_fetches and cut_off > 0 and (spend("chart") or spend("widget")):
            cut_off -= 1
            continue  # logged by marimo's own bundle when the element that asked for a file is gone
        left.append(text + (f" [{url}]" if url else ""))
    for message, stack in page_errors:
        if message == "Cannot read properties of null (reading 'clientWidth')" and _only_marimo_frames(stack) and spend("chart"):
            continue
        if message == "[anywidget] binding destroyed" and _only_marimo_frames(stack) and spend("widget"):
            continue
        left.append(message)
    return left


class PageLog:
    """Console messages, page errors, failed fetches and replaced charts of one page (kept
    across reloads: the page reports them to Python as they happen)."""

    def __init__(self, page) -> None:
        self.page = page
        self.entries: list[tuple[str, str, str]] = []  # (type, text, source address)
        self.exceptions: list[tuple[str, str]] = []  # (message, stack)
        self.elements: set[tuple[str, str, tuple[str, ...]]] = set()  # (tag, model, files) ever shown
        self.fetch_failures: list[tuple[str, str]] = []  # (path, error)
        self.modules: dict[str, list[str]] = {}  # widget model -> the module files its opening messages named, in order
        page.on("console", lambda msg: self.entries.append((msg.type, msg.text, msg.location.get("url") or "")))
        page.on("pageerror", lambda exc: self.exceptions.append((exc.message, exc.stack or "")))
        page.expose_function("__atlasPageLogRecord", self._record)
        page.add_init_script(PAGE_LOG_JS)

    def _record(self, record: dict) -> None:
        if record.get("kind") == "element":
            self.elements.add((record["tag"], record["model"], tuple(record["files"])))
        elif record.get("kind") == "model":
            files = self.modules.setdefault(record["model"], [])
            files += [f for f in record["files"] if f not in files]
        elif record.get("kind") == "fetch":
            self.fetch_failures.append((record["url"], record["error"]))

    @property
    def console(self) -> list[tuple[str, str]]:
        """(type, text [source address]) of every console message."""
        return [(kind, text + (f" [{url}]" if url else "")) for kind, text, url in self.entries]

    @property
    def page_errors(self) -> list[str]:
        return [message for message, _ in self.exceptions]

    def errors(self) -> list[str]:
        """Every console error (with its source address) and every uncaught exception."""
        return [text for kind, text in self.console if kind == "error"] + self.page_errors

    def replaced(self) -> Replaced:
        """What was shown on the page and is gone now (needs the page still open). A widget model
        opened and gone before its element was seen (a lazily shown output replaced at once)
        counts as a replaced widget, with its module."""
        current = set(self.page.evaluate("() => window.__atlasPageLogCurrent ? window.__atlasPageLogCurrent() : []"))
        gone = [e for e in self.elements if f"{e[0]} {e[1]} {','.join(e[2])}" not in current]
        model = lambda text: text.strip('"')  # noqa: E731  (an element writes its model id as JSON)
        shown_models = {model(key.split(" ")[1]) for key in current if key.startswith("marimo-anywidget ")}
        seen_models = {model(e[1]) for e in self.elements if e[0] == "marimo-anywidget"}
        unseen_gone = {m for m in self.modules if m not in shown_models and m not in seen_models}
        files_of = lambda e: set(e[2]) | set(self.modules.get(model(e[1]), []))  # noqa: E731
        # a model opened again (drawn anew) loads its latest module; the ones before are gone with their drawing
        still = {f for e in self.elements if e not in gone for f in e[2]} | {self.modules[m][-1] for m in shown_models if self.modules.get(m)}
        earlier = {f for m in shown_models for f in self.modules.get(m, [])[:-1]}
        files = frozenset({f for e in gone for f in files_of(e)} | {f for m in unseen_gone for f in self.modules[m]} | earlier) - still
        named = {f for e in self.elements for f in files_of(e)} | {f for fs in self.modules.values() for f in fs}
        return Replaced(
            charts=sum(1 for tag, _, _ in gone if tag != "marimo-anywidget"),
            widgets=len({model(m) for tag, m, _ in gone if tag == "marimo-anywidget" and m} | unseen_gone),
            files=files,
            failed_fetches=tuple(f for f in self.fetch_failures if f[0] in files),
            other_failed_fetches=sum(1 for f in self.fetch_failures if f[0].startswith("/@file/") and f[0] not in named),
        )

    def errors_but_replaced_charts(self) -> list[str]:
        """``errors()`` less the messages of marimo replacing a chart or widget, each tied to
        the element it replaced (see ``unexplained``)."""
        return unexplained(self.entries, self.exceptions, self.replaced())


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


def umap_min_dist_stops() -> tuple[str, str]:
    """UMAP's default min_dist and the slider stop right of it, as the app and the command write them."""
    from atlas.options import fields_of, word
    from atlas.projections.umap import UmapParams

    field = next(f for f in fields_of(UmapParams) if f.name == "min_dist")
    return word(field.default), word(next(s for s in field.option.steps if s > field.default))
