"""A user's path through the map: the items they kept, in the order they first met them.

When the interactions carry times (``--time-col``, or a column that is obviously a timestamp:
:mod:`atlas.ingest`), a user's items can be drawn as a path over a map. Each (user, item) pair
holds the time of the user's *first* interaction with the item (ingest keeps the earliest of a
pair's duplicates), so a path follows how someone came to things — a film rated twice, a song
played every day, is placed where it entered their history, not at its latest repeat.

The items are those the filters kept for the user (the rows of their profile, which are the
map's rows), optionally only their ``top`` heaviest, as the app's "place a user" shows them; an
item whose time is missing is left out of the path and counted. Equal times keep map-row order,
so the same data always gives the same path.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np

from .errors import AtlasError
from .ingest import NO_TIME


@dataclass(frozen=True)
class UserPath:
    """A user's kept items in time order: ``rows`` (map rows, earliest first) with ``times``
    (int64 Unix seconds of their first interaction with each), how many kept items had no time
    (``untimed``, not in the path), and how many items the user kept in all (``kept``)."""

    user_id: str
    rows: np.ndarray
    times: np.ndarray
    untimed: int = 0
    kept: int = 0

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def has_times(interactions) -> bool:
    """Whether ``interactions`` carry a time per interaction (only the in-memory route reads them)."""
    return getattr(interactions, "time", None) is not None


def user_path(profiles, interactions, user_id, *, top: int | None = None) -> UserPath:
    """The map rows of the items ``user_id`` kept after the filters, ordered by when they first
    interacted with each (ties by map row), with those times; with ``top``, only their ``top``
    heaviest items (as ``widgets.user_items`` picks them), still in time order.

    ``profiles`` are the build's (their columns are the map's rows), ``interactions`` the ones
    they were filtered from. A user the filters dropped, or never seen, has an empty path.
    """
    if not has_times(interactions):
        raise AtlasError(
            "these interactions carry no times, so a user's items have no order; "
            "name the column that says when each interaction happened with --time-col (ISO dates or Unix times)."
        )
    user_id = str(user_id)
    empty = UserPath(user_id, np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    raw = np.flatnonzero(np.asarray(interactions.user_ids).astype(str) == user_id)
    kept_at = np.flatnonzero(np.asarray(profiles.user_ids).astype(str) == user_id)
    if raw.size == 0 or kept_at.size == 0:
        return empty
    profile = profiles.matrix.getrow(int(kept_at[0]))
    rows = profile.indices.astype(np.int64)
    kept = int(rows.size)
    if top is not None:
        heaviest = np.lexsort((profile.indices, -profile.data))  # the rule of widgets.user_items
        rows = rows[heaviest[: max(0, int(top))]]
    # the user's own interactions (one per item after ingest), looked up by the items' codes
    mine = np.flatnonzero(np.asarray(interactions.user) == raw[0])
    items = np.asarray(interactions.item)[mine]
    wanted = np.asarray(profiles.item_source)[rows]
    times = np.full(rows.size, NO_TIME, dtype=np.int64)
    if items.size:
        by_item = np.argsort(items, kind="stable")
        sorted_items, sorted_times = items[by_item], np.asarray(interactions.time)[mine][by_item]
        at = np.minimum(np.searchsorted(sorted_items, wanted), items.size - 1)
        times = np.where(sorted_items[at] == wanted, sorted_times[at], NO_TIME)
    timed = times != NO_TIME
    rows, times = rows[timed], times[timed].astype(np.int64)
    order = np.lexsort((rows, times))
    return UserPath(user_id, rows[order], times[order], untimed=int(np.count_nonzero(~timed)), kept=kept)


def when(seconds: int) -> str:
    """A time as a person reads it, in UTC: ``2016-01-03`` at midnight, else ``2016-01-03 14:02``."""
    moment = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=int(seconds))
    return moment.strftime("%Y-%m-%d") if moment.time() == _dt.time(0) else moment.strftime("%Y-%m-%d %H:%M")


def path_note(path: UserPath, *, label: str | None = None) -> str:
    """One line on a user's path: how many items it joins, from when to when, and what it leaves out.
    ``label``: the user's id as the page should show it (escaped for markdown), else the id."""
    user = f"User **{path.user_id if label is None else label}**"
    if not len(path):
        if path.untimed:
            return f"{user}: none of their {path.untimed:,} items shown has a time, so there is no path to draw."
        return f"{user}: no items kept by the filters, so there is no path to draw."
    span = when(path.times[0]) if len(path) == 1 or path.times[0] == path.times[-1] else f"{when(path.times[0])} to {when(path.times[-1])}"
    line = f"{user}'s path: {len(path):,} items in the order they first met them, {span} (the first ringed, the last boxed)"
    if path.untimed:
        line += f"; {path.untimed:,} items without a time are left out"
    return line + "."
