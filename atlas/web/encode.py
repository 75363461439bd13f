"""The binary forms of the web atlas's payload: aligned typed arrays, text columns, neighbour
lists coded by place on the map, and the zoom level at which each item may carry a label.

The page (``payload.js``, ``spatial.js``) reads every form written here; each function's
docstring says what the page does with it. Everything is computed from the packed numbers alone
(float32 positions, the header's bounds), with IEEE double arithmetic the page repeats exactly,
so the page finds the same spatial order and the same label levels without them being sent.
"""

from __future__ import annotations

import numpy as np

_JS_TYPES = {"f4": "f32", "f8": "f64", "u1": "u8", "u2": "u16", "u4": "u32"}

# The map is cut into SPATIAL_CELLS × SPATIAL_CELLS cells for the spatial order (Morton order of
# the cells, ties by index): 16 bits per axis.
SPATIAL_CELLS = 65536

# Label levels: level 0 cuts the first view (the home box's longer side) into LABEL_GRID cells,
# each finer level halves the cells; in each cell the most popular item may carry a label from
# that level on. LABEL_LEVELS levels reach past the deepest zoom the page allows (4000×: about
# 2^12). Items without a level (NO_LABEL) are labelled only when selected or highlighted.
LABEL_GRID = 16
LABEL_LEVELS = 13
NO_LABEL = 255


class Blob:
    """Collects typed arrays into one 8-byte-aligned buffer and remembers where each one is.

    Arrays of multi-byte numbers are stored byte-shuffled: all first bytes, then all second
    bytes, and so on. Neighbouring numbers often share their high bytes, so the shuffled form
    compresses much better (the page reads the planes back, all at once or one number at a time).
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, values: np.ndarray) -> dict:
        little = np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<"), copy=False)
        ref = {"offset": self.size, "length": int(values.size), "type": _JS_TYPES[values.dtype.str[1:]]}
        if little.itemsize > 1:
            data = little.view(np.uint8).reshape(-1, little.itemsize).T.tobytes()
            ref["shuffled"] = True
        else:
            data = little.tobytes()
        pad = -len(data) % 8
        self.parts.append(data + b"\0" * pad)
        self.size += len(data) + pad
        return ref


def index_dtype(count: int) -> type:
    """The smallest unsigned type that holds the numbers ``0 .. count``."""
    if count < 2**8:
        return np.uint8
    if count < 2**16:
        return np.uint16
    return np.uint32


def pack_texts(values: list[str], blob: Blob) -> dict:
    """A column of text as its UTF-8 bytes, one value after another, and each value's length in
    bytes (the smallest type that holds the longest). The page decodes a value when it is shown,
    and the whole column at once only for search."""
    encoded = [value.encode("utf-8") for value in values]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    top = int(lengths.max()) if len(lengths) else 0
    return {"bytes": blob.add(np.frombuffer(b"".join(encoded), dtype=np.uint8)),
            "lengths": blob.add(lengths.astype(index_dtype(top)))}


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """The 16 low bits of v moved to the even bit positions of a 32-bit number."""
    v = v.astype(np.uint32) & 0xFFFF
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


def _cells(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Which of SPATIAL_CELLS cells between low and high each value falls in (spatial.js, cellsOf)."""
    span = high - low
    if not span > 0:
        return np.zeros(len(values), dtype=np.int64)
    cell = np.floor((values.astype(np.float64) - low) / span * (SPATIAL_CELLS - 1))
    return np.clip(cell, 0, SPATIAL_CELLS - 1).astype(np.int64)


def spatial_order(xy: np.ndarray, bounds: list[float]) -> np.ndarray:
    """Items in Morton (Z) order of their cells on the map, ties by index: nearby items are
    mostly near each other in it. ``xy`` holds the float32 positions the page gets."""
    x0, y0, x1, y1 = bounds
    code = _spread_bits(_cells(xy[:, 0], x0, x1)) | (_spread_bits(_cells(xy[:, 1], y0, y1)) << 1)
    return np.lexsort((np.arange(len(xy)), code))


def varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned numbers as LEB128 varints (7 bits a byte, low bits first, the high bit set on
    every byte but a number's last): the bytes, and how many bytes each number took."""
    values = values.astype(np.uint64)
    size = np.ones(len(values), dtype=np.int64)
    for bits in (7, 14, 21, 28, 35, 42, 49, 56, 63):
        size += values >= np.uint64(1) << np.uint64(bits)
    end = np.cumsum(size)
    out = np.zeros(int(end[-1]) if len(end) else 0, dtype=np.uint8)
    start = end - size
    for byte in range(int(size.max()) if len(size) else 0):
        here = size > byte
        chunk = (values[here] >> np.uint64(7 * byte)) & np.uint64(0x7F)
        more = np.where(size[here] > byte + 1, 0x80, 0).astype(np.uint64)
        out[start[here] + byte] = (chunk | more).astype(np.uint8)
    return out, size


def pack_neighbors(source: np.ndarray, target: np.ndarray, n: int, xy: np.ndarray, bounds: list[float], blob: Blob) -> dict:
    """Neighbour lists (``source`` sorted, each item's neighbours in rank order): each neighbour
    as a step along the spatial order from the item, zigzag coded (0, -1, 1, -2, ... as 0, 1,
    2, 3, ...) and written as a varint, and how many bytes each item's list takes. Graph
    neighbours mostly lie near each other on the map, so most steps take one or two bytes where
    an index would take four, and they compress far better too. The page decodes the list of
    an item when it is selected."""
    order = spatial_order(xy, bounds)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    step = rank[target] - rank[source]
    data, size = varints(np.where(step >= 0, 2 * step, -2 * step - 1))
    lengths = np.bincount(source, weights=size, minlength=n).astype(np.int64)
    return {
        "coding": "spatial-steps",
        "bytes": blob.add(data),
        "lengths": blob.add(lengths.astype(index_dtype(int(lengths.max()) if n else 0))),
    }


def label_levels(x: np.ndarray, y: np.ndarray, home: list[float], cap: int | None) -> np.ndarray:
    """The zoom level from which each item (in popularity order) may carry a label.

    At level L the first view's longer side is cut into LABEL_GRID · 2^L cells; the most popular
    item of each cell gets level L unless it has a coarser one already. The page labels the
    items of the levels in view, coarsest level first and the most popular first within a level,
    so a map of any size shows a spread of labels at every zoom. With ``cap`` only that many
    items (in that order) get a level.
    """
    n = len(x)
    level = np.full(n, NO_LABEL, dtype=np.uint8)
    hx0, hy0, hx1, hy1 = home
    size = max(hx1 - hx0, hy1 - hy0)
    if not size > 0:
        size = 1.0
    for depth in range(LABEL_LEVELS):
        side = LABEL_GRID * 2**depth
        cell = size / side
        # Far outliers share the cells at the edge of a wide margin (the keys stay small).
        cx = np.clip(np.floor((x - hx0) / cell), -64 * side, 65 * side).astype(np.int64)
        cy = np.clip(np.floor((y - hy0) / cell), -64 * side, 65 * side).astype(np.int64)
        key = (cx + 64 * side) * (130 * side) + (cy + 64 * side)
        _, first = np.unique(key, return_index=True)  # the first item of a cell is its most popular
        first = first[level[first] == NO_LABEL]
        level[first] = depth
    if cap is not None and cap < n:
        ranked = np.lexsort((np.arange(n), level))
        level[ranked[cap:]] = NO_LABEL
    return level
