"""The stage cache: every stage result stored under a key of (its inputs, its parameters,
the stage's code version). Changing a projection parameter recomputes only the projection;
running the same build twice recomputes nothing.

Two layers: an in-memory LRU (so a value seen before in a notebook comes back at once) and an
optional directory of pickles, written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Bump a stage's version when its code changes what it returns.
STAGE_VERSIONS = {
    "profiles": 1,
    "cooccurrence": 2,  # 2: column sums in double precision
    "graph": 1,
    "embedding": 1,
    "neighbors": 1,
    "layout": 2,
    "metrics": 1,
}


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__, **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def stage_key(stage: str, params: object, *upstream: str) -> str:
    """A short hash naming one stage result: stage, its code version, parameters, inputs."""
    payload = json.dumps([stage, STAGE_VERSIONS.get(stage, 0), _plain(params), list(upstream)], sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(payload.encode()).hexdigest()[:20]}"


def _fits(value: object, expected: type) -> bool:
    """Whether ``value`` is an ``expected`` with every field (an older class may lack some)."""
    if not isinstance(value, expected):
        return False
    if dataclasses.is_dataclass(expected):
        return all(hasattr(value, f.name) for f in dataclasses.fields(expected))
    return True


class StageCache:
    """Memory LRU of ``memory_items`` entries in front of an optional on-disk store."""

    def __init__(self, directory: str | os.PathLike | None = None, memory_items: int = 64) -> None:
        self.directory = None if directory is None else Path(directory)
        self.memory_items = memory_items
        self._memory: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.RLock()
        self.hits: Counter = Counter()
        self.misses: Counter = Counter()

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.pkl"

    def get(self, key: str, expected: type | None = None):
        """The value stored under ``key``, or None; with ``expected``, a value that is not a
        complete instance of that type (another version's object, a stray file) is a miss."""
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self._path(key)
        if path is not None and path.exists():
            try:
                with open(path, "rb") as f:
                    value = pickle.load(f)
            except Exception as exc:  # a damaged entry is recomputed, not fatal
                log.warning("ignoring unreadable cache entry %s (%s)", path, exc)
                return None
            if expected is not None and not _fits(value, expected):
                log.warning("ignoring cache entry %s: it holds a %s, not a %s", path, type(value).__name__, expected.__name__)
                return None
            self._remember(key, value)
            return value
        return None

    def _remember(self, key: str, value) -> None:
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    def put(self, key: str, value) -> None:
        self._remember(key, value)
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not write cache entry %s (%s); continuing without it", path, exc)

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
