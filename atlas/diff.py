"""What changed between two exports of the same data: ``atlas diff OLD NEW --out DIR``.

1. Both exports are read (:func:`atlas.web.pack.read_export`) and matched by item id: an item is
   ``kept`` (on both maps), ``new`` or ``gone``.
2. NEW's map is put onto OLD's: as it is when NEW was built with ``--align-to OLD`` (its manifest
   says so), else here, by the similarity transform that best matches the kept items
   (:func:`atlas.align.align_onto`), and the report says which.
3. ``moved`` is how far a kept item lies from its old place, as a share of OLD's diameter.
4. Regions (each item's finest region, the layout's ``region`` column) are compared by their
   members: a region *split* when two or more new regions each hold at least ``share`` of its
   items, new regions *merged* old ones the other way round, a region *vanished* when no new
   region holds ``share`` of its items and *appeared* when no old one gave ``share`` of them, and
   was *renamed* when it and one new region hold most of each other's items under another name.

Written into ``--out``: ``diff.parquet`` (one row per item), ``diff.json`` (the counts, the
median move, the biggest movers, the region events) and ``diff.html`` (:mod:`atlas.web.diffpage`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .align import MIN_SHARED, Anchor, AnchorMatch, align_onto, map_diameter, match
from .errors import AtlasError, check_range
from .explain import item_names

STATUSES = ("kept", "new", "gone")
FILES = ("diff.parquet", "diff.json", "diff.html")


@dataclass(frozen=True)
class DiffParams:
    """``share``: the part of a region's items that counts in a region event; ``movers``: how
    many of the items that moved most are listed."""

    share: float = 0.25
    movers: int = 20

    def __post_init__(self) -> None:
        check_range("share", self.share, 0.01, 0.5)
        check_range("movers", self.movers, 0, 10_000)


@dataclass(frozen=True, eq=False)
class Moves:
    """The current items against an earlier map: ``rows[i]`` is current item i's row on the old
    map (-1: new), ``moved[i]`` how far it lies from its old place as a share of the old map's
    ``diameter`` (NaN for a new item), ``gone`` the old rows that no current item holds."""

    rows: np.ndarray
    moved: np.ndarray
    gone: np.ndarray
    diameter: float

    @property
    def kept(self) -> np.ndarray:
        return self.rows >= 0

    def counts(self) -> dict[str, int]:
        """Items kept, new and gone, and how many each map holds."""
        kept = int(self.kept.sum())
        return {"kept": kept, "new": int(self.rows.shape[0] - kept), "gone": int(self.gone.shape[0]),
                "old_items": kept + int(self.gone.shape[0]), "new_items": int(self.rows.shape[0])}

    def summary(self) -> dict:
        """The counts and the median and 90th-percentile move of the kept items (shares of the diameter)."""
        moved = self.moved[self.kept]
        return {
            "counts": self.counts(),
            "diameter": self.diameter,
            "median_move": float(np.median(moved)) if moved.size else 0.0,
            "p90_move": float(np.quantile(moved, 0.9)) if moved.size else 0.0,
        }


def item_moves(old_xy: np.ndarray, rows: np.ndarray, placed: np.ndarray) -> Moves:
    """Where the current items (``placed``: their positions already on the old map; ``rows``: each
    one's row of ``old_xy``, -1 for a new item) lie against the old map (``old_xy``)."""
    old_xy = np.asarray(old_xy, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    placed = np.asarray(placed, dtype=np.float64)
    diameter = map_diameter(old_xy)
    kept = np.flatnonzero(rows >= 0)
    moved = np.full(rows.shape[0], np.nan)
    moved[kept] = np.linalg.norm(placed[kept] - old_xy[rows[kept]], axis=1) / (diameter if diameter > 0 else 1.0)
    gone = np.setdiff1d(np.arange(old_xy.shape[0]), rows[kept])
    return Moves(rows, moved, gone, diameter)


def mover_order(moved: np.ndarray, ids: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` largest finite ``moved``, largest first, ties by item id."""
    moved = np.asarray(moved, dtype=np.float64)
    ids = np.asarray(ids).astype(str)
    known = np.flatnonzero(np.isfinite(moved))
    order = known[np.lexsort((ids[known], -moved[known]))]
    return order[: max(0, int(count))]


def changes_since(found: AnchorMatch, placed: np.ndarray, ids: np.ndarray, names, movers: int = 5) -> dict:
    """What changed since the earlier map of ``found`` (an ``align.AnchorMatch``) for the current
    items at ``placed`` (already turned onto that map), as ``atlas diff`` reports it: counts,
    median and 90th-percentile move, and the ``movers`` items that moved most (``row``,
    ``item_id``, ``name``, ``moved``); ``new`` marks each current item new since that map."""
    moves = item_moves(found.anchor.xy, found.rows, placed)
    names = np.asarray(names, dtype=object)
    ids = np.asarray(ids).astype(str)
    return {
        "directory": found.anchor.directory,
        **moves.summary(),
        "new": ~moves.kept,
        "biggest_movers": [
            {"row": int(i), "item_id": str(ids[i]), "name": str(names[i]), "moved": float(moves.moved[i])} for i in mover_order(moves.moved, ids, movers)
        ],
    }


@dataclass(frozen=True, eq=False)
class Diff:
    table: pd.DataFrame  # item_id, name, status, moved, region_old, region_new, x_old, y_old, x_new, y_new, n_users
    report: dict


def _built_onto(old, new) -> bool:
    """Whether NEW's manifest says it was built with ``--align-to`` this OLD folder."""
    alignment = new.manifest.get("alignment")
    if not isinstance(alignment, dict) or not alignment.get("directory"):
        return False
    try:
        return Path(alignment["directory"]).resolve() == Path(old.directory).resolve()
    except OSError:
        return False


def _regions(layout: pd.DataFrame) -> pd.Series:
    if "region" not in layout.columns:
        return pd.Series([None] * len(layout), index=layout.index, dtype=object)
    return layout["region"].astype(object).where(layout["region"].notna(), None)


def compare(old, new, params: DiffParams = DiffParams()) -> Diff:
    """The difference between two read exports (``old``, ``new``: :class:`atlas.web.pack.Export`)."""
    old_ids = old.layout["item_id"].astype(str).to_numpy()
    new_ids = new.layout["item_id"].astype(str).to_numpy()
    shared = int(np.isin(new_ids, old_ids).sum())
    if shared < MIN_SHARED:
        raise AtlasError(
            f"{new.directory} and {old.directory} share {shared} item id(s); atlas diff compares two exports of the same kind of data "
            f"(at least {MIN_SHARED} items in common) — check that both were built from the same catalogue."
        )
    old_xy = old.layout[["x", "y"]].to_numpy(dtype=np.float64)
    new_xy = new.layout[["x", "y"]].to_numpy(dtype=np.float64)
    found = match(Anchor(str(old.directory), old_ids, old_xy, old.manifest), new_ids)
    built_onto = _built_onto(old, new)
    placed = new_xy if built_onto else align_onto(new_xy, found)
    moves = item_moves(old_xy, found.rows, placed)

    rows = found.rows
    kept_new = np.flatnonzero(moves.kept)
    gone_old = moves.gone
    new_only = np.flatnonzero(~moves.kept)
    old_names, new_names = item_names(old.layout, old.manifest.get("name_column")), item_names(new.layout, new.manifest.get("name_column"))
    old_regions, new_regions = _regions(old.layout), _regions(new.layout)
    moved = moves.moved[kept_new]

    def part(status, new_rows, old_rows, moves):
        size = len(new_rows) if new_rows is not None else len(old_rows)
        nan = np.full(size, np.nan)
        pick = lambda series, r: series.to_numpy()[r] if r is not None else np.full(size, None, dtype=object)  # noqa: E731
        return pd.DataFrame(
            {
                "item_id": new_ids[new_rows] if new_rows is not None else old_ids[old_rows],
                "name": new_names.to_numpy()[new_rows] if new_rows is not None else old_names.to_numpy()[old_rows],
                "status": status,
                "moved": moves if moves is not None else nan,
                "region_old": pick(old_regions, old_rows),
                "region_new": pick(new_regions, new_rows),
                "x_old": old_xy[old_rows, 0] if old_rows is not None else nan,
                "y_old": old_xy[old_rows, 1] if old_rows is not None else nan,
                "x_new": placed[new_rows, 0] if new_rows is not None else nan,
                "y_new": placed[new_rows, 1] if new_rows is not None else nan,
                "n_users": (new.layout["n_users"].to_numpy()[new_rows] if new_rows is not None else old.layout["n_users"].to_numpy()[old_rows]),
            }
        )

    table = pd.concat(
        [part("kept", kept_new, rows[kept_new], moved), part("new", new_only, None, None), part("gone", None, gone_old, None)], ignore_index=True
    )
    table["status"] = pd.Categorical(table["status"], categories=list(STATUSES))
    table["n_users"] = table["n_users"].astype(np.int64)
    report = {
        "old": str(old.directory),
        "new": str(new.directory),
        "aligned": "at build time (--align-to)" if built_onto else "here",
        **moves.summary(),
        "biggest_movers": _movers(table, params.movers),
        "regions": region_events(table, params.share),
    }
    return Diff(table, _json_safe(report))


def _movers(table: pd.DataFrame, count: int) -> list[dict]:
    kept = table[table["status"] == "kept"]
    kept = kept.iloc[mover_order(kept["moved"].to_numpy(), kept["item_id"].to_numpy(), count)]
    return [
        {"item_id": r.item_id, "name": r.name, "moved": float(r.moved), "from": [r.x_old, r.y_old], "to": [r.x_new, r.y_new], "region_old": r.region_old, "region_new": r.region_new}
        for r in kept.itertuples(index=False)
    ]


def region_events(table: pd.DataFrame, share: float) -> dict:
    """Regions split, merged, appeared, vanished and renamed, judged by their members (see the module doc)."""
    old = table[table["region_old"].notna()]
    new = table[table["region_new"].notna()]
    old_size = old["region_old"].value_counts()
    new_size = new["region_new"].value_counts()
    both = table[table["region_old"].notna() & table["region_new"].notna()]
    overlap = both.groupby(["region_old", "region_new"]).size()
    place_old = old.groupby("region_old")[["x_old", "y_old"]].median()
    place_new = new.groupby("region_new")[["x_new", "y_new"]].median()
    at_old = lambda a: [float(place_old.loc[a, "x_old"]), float(place_old.loc[a, "y_old"])]  # noqa: E731
    at_new = lambda b: [float(place_new.loc[b, "x_new"]), float(place_new.loc[b, "y_new"])]  # noqa: E731

    events = {"split": [], "merged": [], "vanished": [], "appeared": [], "renamed": []}
    to_new = {a: [(b, n / old_size[a]) for (a2, b), n in overlap.items() if a2 == a] for a in old_size.index}
    to_old = {b: [(a, n / new_size[b]) for (a, b2), n in overlap.items() if b2 == b] for b in new_size.index}
    for a in sorted(old_size.index, key=str):
        big = sorted([(b, s) for b, s in to_new[a] if s >= share], key=lambda t: (-t[1], str(t[0])))
        if len(big) >= 2:
            events["split"].append({"region": a, "items": int(old_size[a]), "into": [b for b, _ in big], "shares": [s for _, s in big], "at": at_new(big[0][0])})
        if not big:
            events["vanished"].append({"region": a, "items": int(old_size[a]), "at": at_old(a)})
    for b in sorted(new_size.index, key=str):
        big = sorted([(a, s) for a, s in to_old[b] if s >= share], key=lambda t: (-t[1], str(t[0])))
        if len(big) >= 2:
            events["merged"].append({"region": b, "items": int(new_size[b]), "from": [a for a, _ in big], "shares": [s for _, s in big], "at": at_new(b)})
        if not big:
            events["appeared"].append({"region": b, "items": int(new_size[b]), "at": at_new(b)})
    involved = {e["region"] for e in events["split"]} | {a for e in events["merged"] for a in e["from"]}
    involved_new = {e["region"] for e in events["merged"]} | {b for e in events["split"] for b in e["into"]}
    for (a, b), n in overlap.items():
        mutual = n / old_size[a] > 0.5 and n / new_size[b] > 0.5
        if a != b and mutual and a not in involved and b not in involved_new:
            events["renamed"].append({"old": a, "new": b, "items": int(n), "at": at_new(b)})
    events["renamed"].sort(key=lambda e: str(e["old"]))
    return events


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def change_line(report: dict) -> str:
    """"85 items kept, 8 new, 5 gone; median move 1.2% of the map's diameter (90th percentile
    9.8%)": the counts and moves of a report (``compare``'s, or ``changes_since``'s)."""
    c = report["counts"]
    return (
        f"{c['kept']:,} items kept, {c['new']:,} new, {c['gone']:,} gone; "
        f"median move {report['median_move']:.1%} of the map's diameter (90th percentile {report['p90_move']:.1%})"
    )


def movers_line(movers: list[dict], shown: int = 5, name=str) -> str:
    """"moved most: Alien (25%), Heat (20%)": the first ``shown`` movers, each name through ``name``
    (the app writes them as Markdown that stays text)."""
    return "moved most: " + ", ".join(f"{name(m['name'])} ({m['moved']:.0%})" for m in movers[:shown])


def diff_lines(report: dict) -> list[str]:
    """The report in a few lines, for the command line."""
    c = report["counts"]
    lines = []
    if report["aligned"] == "here":
        lines.append(f"{report['new']} was not built with --align-to {report['old']}: aligned it to the old map here (rotation, scale and shift fitted on the {c['kept']:,} kept items)")
    lines.append(change_line(report))
    if report["biggest_movers"]:
        lines.append(movers_line(report["biggest_movers"]))
    r = report["regions"]
    words = {"split": "split", "merged": "merged", "appeared": "appeared", "vanished": "vanished", "renamed": "renamed"}
    counted = [f"{len(r[k])} {w}" for k, w in words.items() if r[k]]
    lines.append("regions: " + (", ".join(counted) if counted else "no changes"))
    for e in r["split"][:3]:
        lines.append(f"  split: {e['region']} → {' + '.join(map(str, e['into']))}")
    for e in r["merged"][:3]:
        lines.append(f"  merged: {' + '.join(map(str, e['from']))} → {e['region']}")
    for e in r["renamed"][:3]:
        lines.append(f"  renamed: {e['old']} → {e['new']}")
    lines.append(f"wrote: {', '.join(report.get('files', []))}")
    return lines


def write_diff(old_dir, new_dir, out_dir, *, title: str | None = None, params: DiffParams = DiffParams()) -> dict:
    """Compare the exports in ``old_dir`` and ``new_dir`` and write the three files into
    ``out_dir``, all or none; return the report (``diff.json``'s content)."""
    from .web.diffpage import render_diff_page
    from .web.pack import read_export

    old, new = read_export(old_dir), read_export(new_dir)
    if Path(old.directory).resolve() == Path(new.directory).resolve():
        raise AtlasError(f"OLD and NEW are the same folder ({old_dir}); give the earlier export first and the later one second.")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AtlasError(f"--out {str(out_dir)!r} exists and is not a folder; choose another --out.")
    result = compare(old, new, params)
    page = render_diff_page(result, title=title or f"What changed: {Path(old.directory).name} → {Path(new.directory).name}")
    report = dict(result.report, files=[str(out / name) for name in FILES])
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".diff.tmp-", dir=out))
        try:
            result.table.to_parquet(staging / "diff.parquet", index=False)
            (staging / "diff.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
            (staging / "diff.html").write_text(page, encoding="utf-8")
            for name in FILES:
                os.replace(staging / name, out / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise AtlasError(f"cannot write the diff into {str(out_dir)!r} ({exc.strerror or exc}); check free space and permissions.") from None
    return report
