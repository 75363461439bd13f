"""Charts and comparison parts kept for settings seen before, keyed by what they show.

What is kept is data — Altair charts (``mo.ui.altair_chart`` draws a copy) and the parts an
Emblaze viewer is made of — never a widget: every session makes its own widgets from them. So
the app server keeps one memo for all its sessions (``shared_memo``), and a reload or a second
tab on a map already drawn skips building its charts and comparison again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    """The values built for the last ``size`` keys; a key of None is never kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()  # sessions run in threads of one server

    def get(self, key: Hashable | None, build: Callable[[], T]) -> T:
        """The value kept under ``key``, or ``build()`` (then kept). Two sessions asking for the
        same new key at once may both build it; the values are equal, the last one is kept."""
        if key is not None:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
        value = build()
        if key is not None:
            with self._lock:
                self._values[key] = value
                self._values.move_to_end(key)
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
        return value


def content_hash(*parts) -> str:
    """A digest of tables, arrays and plain values, for keys of what a widget shows."""
    import numpy as np
    import pandas as pd

    digest = hashlib.sha1()
    for part in parts:
        if isinstance(part, (pd.DataFrame, pd.Series)):
            digest.update(repr(list(part.columns) if isinstance(part, pd.DataFrame) else part.name).encode())
            digest.update(pd.util.hash_pandas_object(_hashable(part), index=False).to_numpy().tobytes())
        elif isinstance(part, np.ndarray):
            digest.update(repr((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes() if part.dtype != object else repr(part.tolist()).encode())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _hashable(part):
    """``part`` with lists and other unhashable cells (Parquet list columns) written out as text."""
    import pandas as pd

    frame = part.to_frame() if isinstance(part, pd.Series) else part
    nested = [c for c in frame.columns if frame[c].dtype == object and frame[c].map(lambda v: isinstance(v, (list, dict)) or hasattr(v, "tolist")).any()]
    if not nested:
        return part
    frame = frame.assign(**{c: frame[c].map(repr) for c in nested})
    return frame.iloc[:, 0] if isinstance(part, pd.Series) else frame


class Memo:
    """Charts (maps, histograms) and the parts of Emblaze comparisons, the most recent kept."""

    def __init__(self, charts: int = 32, comparisons: int = 8) -> None:
        self.charts: Recent = Recent(charts)
        self.comparisons: Recent = Recent(comparisons)


_SHARED: Memo | None = None
_SHARED_LOCK = threading.Lock()


def shared_memo() -> Memo:
    """The memo every session of this process uses (made on first use)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Memo()
        return _SHARED
