"""The stage cache: every stage result stored under a key of (its inputs, its parameters, the
code that computes it). Changing a projection parameter recomputes only the projection; running
the same build twice recomputes nothing; editing or upgrading the code a stage runs makes its old
entries unreachable, so a result is never served by code other than the one that made it.

Two layers: an in-memory LRU (so a value seen before in a notebook comes back at once), bounded
by entries and by the bytes its arrays hold (a user moving many sliders at 100k items makes
neighbour tables of 100 MB each), and an optional folder of entries, written atomically and
trimmed to a size bound, least recently used first.

A cache folder may hold other people's files, or files someone planted there. So the folder
layer stores no pickles: each entry is ``atlas-<key>.npz``, arrays plus a JSON description
(:mod:`atlas.stagecodec`), read without running anything, and one that is not exactly what its
stage produces is a miss. The folder is marked as a stage cache by ``MARKER``; the cache lists,
trims and clears only entries of its own name pattern in a marked folder, and never touches any
other file there.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import sys
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import stagecodec

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The module whose code (with everything it imports) computes each stage's result.
STAGE_CODE = {
    "profiles": "atlas.profiles",
    "cooccurrence": "atlas.cooccur",
    "graph": "atlas.graph",
    "embedding": "atlas.embeddings",
    "neighbors": "atlas.projections.base",
    "layout": "atlas.projections",
    "metrics": "atlas.metrics",
    "faithfulness": "atlas.explain",
    "regions": "atlas.regions",
}

DEFAULT_MAX_BYTES = 4 * 1024**3
#: The memory layer's bound unless ``ATLAS_CACHE_MEMORY_GB`` says otherwise.
DEFAULT_MEMORY_BYTES = 2 * 1024**3


def default_directory() -> Path:
    """Where ``atlas build`` and the app keep their stage cache unless told otherwise:
    ``$XDG_CACHE_HOME/atlas`` (``~/.cache/atlas``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "atlas"


def size_limit(variable: str = "ATLAS_CACHE_MAX_GB", default: int = DEFAULT_MAX_BYTES) -> int:
    """A cache bound in bytes from an environment variable in gigabytes: ``ATLAS_CACHE_MAX_GB``
    (the disk store, default 4) or ``ATLAS_CACHE_MEMORY_GB`` (the memory layer, default 2)."""
    from .errors import AtlasError

    raw = os.environ.get(variable)
    if raw is None:
        return default
    try:
        gb = float(raw)
    except ValueError:
        raise AtlasError(f"{variable} must be a number of gigabytes, got {raw!r}.") from None
    if not 0 <= gb <= 1e6:  # NaN and infinity too: the bound must be a size
        raise AtlasError(f"{variable} must be a number of gigabytes from 0 to 1000000, got {raw!r}.")
    return int(gb * 1024**3)


def memory_limit() -> int:
    """The memory layer's bound in bytes (``ATLAS_CACHE_MEMORY_GB``, default 2)."""
    return size_limit("ATLAS_CACHE_MEMORY_GB", DEFAULT_MEMORY_BYTES)


def value_bytes(value, _seen: set | None = None) -> int:
    """The bytes of the arrays a stage result holds (numpy arrays, sparse matrices, tables, in
    dataclasses, dicts, lists and tuples), each buffer counted once; other objects count 0."""
    import numpy as np

    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        base = value
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base is not value and id(base) in seen:
            return 0
        seen.add(id(base))
        return int(base.nbytes)
    if hasattr(value, "tocsr") and hasattr(value, "nnz"):  # a scipy sparse matrix or array
        return sum(value_bytes(getattr(value, name), seen) for name in ("data", "indices", "indptr", "row", "col") if hasattr(value, name))
    if hasattr(value, "memory_usage") and hasattr(value, "columns"):  # a pandas DataFrame
        return int(value.memory_usage(index=True, deep=False).sum())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(value_bytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(value_bytes(v, seen) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(value_bytes(v, seen) for v in value)
    return 0

#: The file that marks a folder as a stage cache (written with the first entry).
MARKER = ".atlas-stage-cache"
MARKER_TEXT = "atlas stage cache: files named atlas-<stage>-<key>.npz here are entries atlas may delete; nothing else is touched.\n"
PREFIX = "atlas-"
ENTRY = re.compile(r"^atlas-([a-z][a-z0-9_]*)-([0-9a-f]{6,64})\.npz$")


def _default_memory_bytes() -> int:
    """``memory_limit()``, or its default when the variable is unusable (warned once per cache)."""
    from .errors import AtlasError

    try:
        return memory_limit()
    except AtlasError as exc:
        log.warning("%s Using %d GB.", exc, DEFAULT_MEMORY_BYTES // 1024**3)
        return DEFAULT_MEMORY_BYTES


def stages() -> tuple[str, ...]:
    """The names of the stages the cache stores (what ``atlas cache clear --stage`` accepts)."""
    return tuple(STAGE_CODE)


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__, **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@functools.cache
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(modules of the same package, other top-level packages) that ``module``'s source imports anywhere."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return frozenset(), frozenset()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    root = module.split(".")[0]
    inside, outside = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == root:
                if _is_module(name):
                    inside.add(name)
            elif top not in sys.stdlib_module_names:
                outside.add(top)
    return frozenset(inside), frozenset(outside)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def code_fingerprint(module: str) -> str:
    """A digest of ``module``'s source, of every module of its package that it imports
    (transitively), and of the versions of the other libraries they import."""
    seen: set[str] = set()
    libraries: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        inside, outside = _imports(name)
        libraries |= outside
        todo.extend(inside - seen)
    digest = hashlib.sha256()
    for name in sorted(seen):
        spec = importlib.util.find_spec(name)
        digest.update(name.encode() + b"\0" + Path(spec.origin).read_bytes() + b"\0")
    for top in sorted(libraries):
        digest.update(f"{top}=={_library_version(top)}\0".encode())
    return digest.hexdigest()[:16]


#: Import names whose distribution is called otherwise.
_DISTRIBUTIONS = {"umap": "umap-learn", "sklearn": "scikit-learn", "yaml": "PyYAML"}


@functools.cache
def _library_version(top: str) -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(top, top))
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(sys.modules.get(top), "__version__", "unknown"))


def stage_key(stage: str, params: object, *upstream: str, code: str | None = None) -> str:
    """A short hash naming one stage result: stage, the fingerprint of its code (``code``, a
    module name, else the stage's own), parameters, inputs."""
    fingerprint = code_fingerprint(code or STAGE_CODE.get(stage, "atlas"))
    payload = json.dumps([stage, fingerprint, _plain(params), list(upstream)], sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(payload.encode()).hexdigest()[:20]}"


class StageCache:
    """Memory LRU of at most ``memory_items`` entries and ``memory_bytes`` bytes of arrays
    (default ``memory_limit()``) in front of an optional on-disk store of at most ``max_bytes``
    (least recently used entries go first in both). The entry used last always stays, whatever
    its size: it is the one being shown."""

    def __init__(
        self, directory: str | os.PathLike | None = None, memory_items: int = 64, max_bytes: int | None = None, memory_bytes: int | None = None
    ) -> None:
        self.directory = None if directory is None else Path(directory)
        self.memory_items = memory_items
        self.max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
        self.memory_bytes = _default_memory_bytes() if memory_bytes is None else int(memory_bytes)
        self._memory: OrderedDict[str, object] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._lock = threading.RLock()
        self.hits: Counter = Counter()
        self.misses: Counter = Counter()

    def _path(self, key: str) -> Path | None:
        """Where ``key``'s entry lives on disk; None without a folder, or for a key that does
        not name a stage result (such a value stays in memory)."""
        if self.directory is None:
            return None
        name = f"{PREFIX}{key}.npz"
        if not ENTRY.match(name):
            return None
        return self.directory / name

    def get(self, key: str, expected: type | None = None):
        """The value stored under ``key``, or None; with ``expected``, a value of another type is
        a miss. An entry on disk that is damaged, of another format version or not exactly what
        its stage produces is a miss too (it is never run, only read as arrays)."""
        with self._lock:
            if key in self._memory:
                value = self._memory[key]
                if expected is None or isinstance(value, expected):
                    self._memory.move_to_end(key)
                    return value
                return None
        path = self._path(key)
        if path is None or not path.is_file() or path.is_symlink():
            return None
        try:
            with open(path, "rb") as f:
                value = stagecodec.loads(f, key.split("-", 1)[0], expected)
        except (stagecodec.Mismatch, OSError) as exc:  # recomputed, and rewritten, not fatal
            log.warning("ignoring cache entry %s: %s", path.name, exc)
            return None
        try:
            os.utime(path)  # recently used: trimmed last
        except OSError:
            pass
        self._remember(key, value)
        return value

    def _remember(self, key: str, value) -> None:
        size = value_bytes(value)
        with self._lock:
            self._memory[key] = value
            self._sizes[key] = size
            self._memory.move_to_end(key)
            while len(self._memory) > 1 and (len(self._memory) > self.memory_items or self.memory_held > self.memory_bytes):
                old, _ = self._memory.popitem(last=False)
                self._sizes.pop(old, None)

    @property
    def memory_held(self) -> int:
        """Bytes of arrays the memory layer holds now."""
        with self._lock:
            return sum(self._sizes.values())

    def put(self, key: str, value) -> None:
        self._remember(key, value)
        path = self._path(key)
        if path is None:
            return
        try:
            data = stagecodec.dumps(value, key.split("-", 1)[0])
        except stagecodec.Unencodable as exc:
            log.debug("not caching %s on disk: it holds %s", key, exc)
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._mark()
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-atlas-", suffix=".npz")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            log.warning("could not write cache entry %s (%s); continuing without it", path, exc)
            return
        self.trim()

    def _mark(self) -> None:
        marker = self.directory / MARKER
        if not marker.is_file():
            marker.write_text(MARKER_TEXT, encoding="utf-8")

    @property
    def marked(self) -> bool:
        """Whether the folder is a stage cache (atlas wrote its marker)."""
        return self.directory is not None and (self.directory / MARKER).is_file() and not (self.directory / MARKER).is_symlink()

    def get_or_compute(self, key: str, compute: Callable[[], T], expected: type | None = None) -> tuple[T, bool]:
        """The cached value for ``key`` or ``compute()``'s; the flag says whether it was a hit."""
        stage = key.split("-", 1)[0]
        value = self.get(key, expected)
        if value is not None:
            self.hits[stage] += 1
            return value, True
        self.misses[stage] += 1
        value = compute()
        self.put(key, value)
        return value, False

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._sizes.clear()

    # -- the disk store ---------------------------------------------------------------------------
    def entries(self) -> list[tuple[Path, int, float]]:
        """(path, bytes, last use) of every entry of ours on disk, least recently used first:
        files named like an entry, in a folder that carries the cache's marker. Nothing else in
        the folder is listed, so nothing else is ever trimmed or cleared."""
        if not self.marked or not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            if not ENTRY.match(path.name) or path.is_symlink():
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file():
                found.append((path, st.st_size, st.st_mtime))
        return sorted(found, key=lambda e: e[2])

    def foreign(self) -> int:
        """How many files in the folder are not entries of ours (left alone)."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        ours = {p for p, _, _ in self.entries()}
        return sum(1 for p in self.directory.iterdir() if p not in ours and p.name != MARKER and not p.name.startswith(".tmp-atlas-"))

    def trim(self, max_bytes: int | None = None) -> int:
        """Delete least recently used entries until the store holds at most ``max_bytes``;
        returns how many were deleted."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        deleted = 0
        for path, size, _ in entries:
            if total <= limit:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            deleted += 1
        return deleted

    def info(self) -> dict:
        """Entries and bytes on disk, in total and per stage (entries of ours only), and how
        many other files the folder holds."""
        per_stage: dict[str, dict] = {}
        for path, size, _ in self.entries():
            stage = ENTRY.match(path.name).group(1)
            slot = per_stage.setdefault(stage, {"entries": 0, "bytes": 0})
            slot["entries"] += 1
            slot["bytes"] += size
        return {
            "directory": None if self.directory is None else str(self.directory),
            "entries": sum(s["entries"] for s in per_stage.values()),
            "bytes": sum(s["bytes"] for s in per_stage.values()),
            "max_bytes": self.max_bytes,
            "stages": per_stage,
            "other_files": self.foreign(),
        }

    def clear(self, stage: str | None = None) -> int:
        """Delete the disk entries (of one ``stage`` only, when given) and the memory layer."""
        self.clear_memory()
        deleted = 0
        for path, _, _ in self.entries():
            if stage is None or ENTRY.match(path.name).group(1) == stage:
                try:
                    path.unlink()
                    deleted += 1
                except OSError:
                    pass
        return deleted
