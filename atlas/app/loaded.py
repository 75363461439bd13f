"""Datasets read by this app server, shared by its sessions.

Every session of the app (a reload, a second tab, a shared link) starts by reading its data,
before the stage cache can help: 2.2 s at 100k items, about 20 s at 1M. The server keeps the
last dataset it read and hands it to the next session that names the same files, unchanged on
disk (path, size and modification time of each file, every file of a folder). Nothing
downstream changes a dataset in place: stages make new arrays and frames from it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from atlas.widgets.memo import Recent

#: Datasets kept: the one the sessions use now (a second would only hold memory for longer).
KEPT = 1

_DATASETS: Recent = Recent(KEPT)


def file_state(path: str | None) -> tuple:
    """What identifies the content of ``path`` without reading it: size and modification time,
    of each file under it for a folder; () for no path, ("missing",) for none on disk."""
    if not path:
        return ()
    where = Path(path).expanduser()
    try:
        if where.is_dir():
            files = ((f, f.stat()) for f in where.rglob("*") if f.is_file())
            return tuple(sorted((str(f.relative_to(where)), st.st_size, st.st_mtime_ns) for f, st in files))
        stat = where.stat()
    except OSError:
        return ("missing",)
    return ((stat.st_size, stat.st_mtime_ns),)


def shared_load(source, load: Callable[[], object]):
    """``load()``, or the dataset this server read last for the same ``source`` with its files
    unchanged. A load that fails is not kept, so the next session tries again."""
    key = (source, *(file_state(getattr(source, name)) for name in ("input", "items", "candidates")))
    return _DATASETS.get(key, load)
