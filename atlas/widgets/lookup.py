"""Finding items by what people type: a pasted list, a search, a user's profile.

Names are compared without regard to case, spacing or accents; a line that names no item is
tried in a looser form (without a trailing year, a leading or trailing article, punctuation),
the way the web atlas matches pasted lists, and then split on commas. Lines that still match
nothing come back with the closest names, so that "Amelie" finds
"Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)".
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Lines of a pasted list for which closest names are looked up (the rest are only listed).
MAX_SUGGESTED_LINES = 20
#: Graph neighbours of a searched item that are outlined and listed with their reasons.
SEARCH_NEIGHBOURS = 10
#: Characters written as numeric entities by ``md_text``: every one that Markdown, HTML or
#: marimo's maths (``$…$``, ``\(…\)``, ``\[…\]``) could read as markup.
_MARKUP = set("\\`*_{}[]()#+-.!|~<>&\"'$:=")


def md_text(text: object) -> str:
    """``text`` for ``mo.md``, shown exactly as written: an item name such as ``**x** <b>`` or
    ``$x$`` stays those characters, never bold, a tag, a link or maths."""
    return "".join(f"&#{ord(ch)};" if ch in _MARKUP else ch for ch in str(text))


def plain(text: object) -> str:
    """``text`` for comparison: case-folded, accents removed, runs of spaces made one."""
    text = str(text)
    if text.isascii():  # most names: nothing to decompose, and casefold is lower
        return " ".join(text.lower().split())
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(folded.split())


def loose(text: object) -> str:
    """A looser form of a name: no trailing bracketed note (a year), no leading or trailing
    article, punctuation as spaces ("The Matrix (1999)" and "Matrix, The" agree)."""
    name = plain(text)
    name = re.sub(r"\s*[(\[][^()\[\]]*[)\]]$", "", name)
    name = re.sub(r",\s*(the|a|an)$", "", name)
    name = re.sub(r"^(the|a|an)\s+", "", name)
    return " ".join(re.sub(r"[^\w]+", " ", name).split())


class NameIndex:
    """Rows of a map table by id, by name and by the loose form of the name.

    The keys are made on the first lookup, not when the index is made: the app makes one for
    every session and every set of kept items, and most are never searched (at 100k items the
    keys take about 2 s)."""

    def __init__(self, table) -> None:
        self.rows = table["row"].to_numpy()
        self.names = table["name"].astype(str).to_numpy()
        self.popularity = table["n_users"].to_numpy() if "n_users" in table else np.zeros(len(table))
        self._ids = table["item_id"].astype(str).to_numpy()
        self._keys: tuple[dict[str, list[int]], dict[str, list[int]]] | None = None
        self._loose_names: list[str] | None = None

    def _made(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        if self._keys is None:
            exact: dict[str, list[int]] = {}
            looser: dict[str, list[int]] = {}
            for position, (item_id, name) in enumerate(zip(self._ids, self.names)):
                for key in (plain(item_id), plain(name)):
                    exact.setdefault(key, []).append(position)
                looser.setdefault(loose(name), []).append(position)
            self._keys = exact, looser
        return self._keys

    @property
    def exact(self) -> dict[str, list[int]]:
        """Positions by the plain form of an id or a name."""
        return self._made()[0]

    @property
    def looser(self) -> dict[str, list[int]]:
        """Positions by the loose form of a name."""
        return self._made()[1]

    def lookup(self, text: str) -> list[int]:
        """Map rows that ``text`` names exactly (any case), else in the loose form; [] if none."""
        found = self.exact.get(plain(text)) or self.looser.get(loose(text)) or []
        return sorted({int(self.rows[p]) for p in found})

    def closest(self, text: str, limit: int = 3) -> list[str]:
        """Names close to ``text``: those starting with it or holding it as words (most popular
        first), else those difflib finds similar (a typo)."""
        key = loose(text)
        if not key:
            return []
        if self._loose_names is None:
            self._loose_names = [loose(name) for name in self.names]
        pattern = re.compile(rf"(^|\s){re.escape(key)}(\s|$)")
        holding = [p for p, name in enumerate(self._loose_names) if name.startswith(key) or pattern.search(name)]
        holding.sort(key=lambda p: -self.popularity[p])
        if holding:
            return [self.names[p] for p in holding[:limit]]
        found: list[str] = []
        for name in difflib.get_close_matches(key, list(self.looser), n=limit, cutoff=0.6):
            found += [self.names[p] for p in self.looser[name] if self.names[p] not in found]
        return found[:limit]


@dataclass(frozen=True)
class ListMatch:
    """What a pasted list named: the rows found, how many entries were read, and each entry
    that matched nothing with the closest names."""

    rows: np.ndarray
    entries: int
    failed: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def matched(self) -> int:
        return self.entries - len(self.failed)


def match_list(table, text: str, *, index: NameIndex | None = None) -> ListMatch:
    """The items a pasted list names, one per line.

    A line is an item id or a name in any case ("Matrix, The (1999)" is one name); a line that
    names no item and holds commas is read as several entries. Entries that match nothing are
    reported with the closest names (for the first ``MAX_SUGGESTED_LINES`` of them).
    """
    index = index or NameIndex(table)
    rows: dict[int, None] = {}
    entries = 0
    failed: list[tuple[str, tuple[str, ...]]] = []
    for line in str(text or "").splitlines():
        whole = line.strip()
        if not whole:
            continue
        found = index.lookup(whole)
        parts = [p.strip() for p in whole.split(",") if p.strip()] if not found and "," in whole else [whole]
        hits = [index.lookup(p) for p in parts] if len(parts) > 1 else [found]
        if len(parts) > 1 and not any(hits):  # the line as a whole is what did not match
            parts, hits = [whole], [[]]
        for part, part_hits in zip(parts, hits):
            entries += 1
            rows.update(dict.fromkeys(part_hits))
            if not part_hits:
                suggestions = index.closest(part) if len(failed) < MAX_SUGGESTED_LINES else []
                failed.append((part, tuple(suggestions)))
    return ListMatch(np.array(list(rows), dtype=np.int64), entries, tuple(failed))


def list_report(match: ListMatch, *, shown: int = 8) -> str:
    """A few lines of Markdown on a pasted list: how many entries matched, which did not, and
    the closest names for those (each shown as written, ``md_text``)."""
    if not match.entries:
        return ""
    lines = [f"Pasted list: {match.matched} of {match.entries} entries found ({len(match.rows)} items on the map)."]
    for entry, suggestions in match.failed[:shown]:
        hint = f" — did you mean {', '.join(f'“{md_text(s)}”' for s in suggestions)}?" if suggestions else ""
        lines.append(f"- not found: “{md_text(entry)}”{hint}")
    if len(match.failed) > shown:
        lines.append(f"- … and {len(match.failed) - shown} more not found")
    return "\n".join(lines)


@dataclass(frozen=True)
class UserItems:
    """A user's items on the map after the filters: rows by decreasing weight (the first
    ``top`` of them), how many the filters kept and how many the user had before them."""

    rows: np.ndarray
    kept: int
    before: int


def user_items(profiles, interactions, user_id: str, *, top: int | None = None) -> UserItems:
    """The map rows of the items ``user_id`` kept after the filters (the weight threshold, the
    item and user minimums, the cap), heaviest first, at most ``top`` of them."""
    user_id = str(user_id)
    before = 0
    raw_users = np.asarray(interactions.user_ids).astype(str)
    raw = np.flatnonzero(raw_users == user_id)
    if raw.size:
        before = int(np.count_nonzero(np.asarray(interactions.user) == raw[0]))
    kept_users = np.asarray(profiles.user_ids).astype(str)
    at = np.flatnonzero(kept_users == user_id)
    if at.size == 0:
        return UserItems(np.array([], dtype=np.int64), 0, before)
    row = profiles.matrix.getrow(int(at[0]))
    order = np.lexsort((row.indices, -row.data))  # heaviest first, then by map row
    rows = row.indices[order].astype(np.int64)
    return UserItems(rows if top is None else rows[: max(0, int(top))], int(rows.size), before)


def user_note(user_id: str, found: UserItems, *, top: int | None = None) -> str:
    """One line on a placed user: how many of their items the filters kept, how many are shown."""
    if not found.kept:
        return f"User **{md_text(user_id)}**: none of their {found.before:,} interactions is kept by the filters."
    shown = len(found.rows)
    line = f"User **{md_text(user_id)}** (outlined in orange): {found.kept:,} of their {found.before:,} interactions are kept by the filters"
    if top and shown < found.kept:
        return line + f"; their top {shown:,} by weight are shown."
    hint = " — set “top N by weight” to show only their heaviest." if found.kept > 200 else ""
    return line + f", all shown{hint}."


def choice_labels(table, rows: Sequence[int]) -> dict[str, int]:
    """Dropdown labels for search hits ("Alien (1979) · 12,345 users") -> row."""
    names = table["name"].astype(str).to_numpy()
    users = table["n_users"].to_numpy()
    labels: dict[str, int] = {}
    for row in rows:
        label = f"{names[row]} · {int(users[row]):,} users"
        while label in labels:
            label += " "
        labels[label] = int(row)
    return labels


@dataclass(frozen=True)
class NeighbourReason:
    """One graph neighbour of an item: its rank (0: strongest), map row, name, and why the two
    are neighbours in ``explain.reason_text``'s words (None where the build holds no user counts)."""

    rank: int
    row: int
    name: str
    reason: str | None


def neighbour_reasons(
    row: int, neighbors: np.ndarray, names: Sequence[str], profiles, candidates=None, *, pair_weight: str = "none", k: int = SEARCH_NEIGHBOURS
) -> list[NeighbourReason]:
    """The first ``k`` graph neighbours of item ``row`` in the graph's order, each with the people
    behind it: shared users and lift counted as the export counts them (``explain.neighbor_reasons``
    on the build's profiles, or on its candidates' counts where they count users under
    ``pair_weight``)."""
    from atlas.explain import graph_pairs, neighbor_reasons, reason_text

    rows, cols, ranks = graph_pairs(np.asarray(neighbors)[:, :k], [row])
    reasons = neighbor_reasons(profiles, candidates, rows, cols, ranks, pair_weight) if rows.size else None
    names = np.asarray(names, dtype=object)
    return [
        NeighbourReason(
            int(rank), int(col), str(names[col]),
            None if reasons is None else reason_text(int(reasons.shared_users[p]), int(reasons.users_item[p]), float(reasons.lift[p])),
        )
        for p, (col, rank) in enumerate(zip(cols, ranks))
    ]


def no_match_note(query: str, closest: Sequence[str]) -> str:
    """Markdown saying that ``query`` names no item, with the closest names (shown as written)."""
    hint = f" Closest: {', '.join(f'“{md_text(c)}”' for c in closest)}." if closest else ""
    return f"No item matches “{md_text(query.strip())}”.{hint}"


def neighbour_list(name: str, found: Sequence[NeighbourReason]) -> str:
    """Markdown for a searched item and its graph neighbours, strongest first, each with its reason
    ("Alien (1979) — shared by 41 of 120 · 6.2× chance"); names are shown as written (``md_text``)."""
    head = f"**{md_text(name)}** (outlined in red) and its {len(found)} graph neighbours (in black)"
    if not found:
        return head + "."
    lines = [head + ", strongest first, with the users behind each:", ""]
    for n in found:
        lines.append(f"{n.rank + 1}. {md_text(n.name)}" + (f" — {n.reason}" if n.reason else ""))
    if all(n.reason is None for n in found):
        lines += ["", "_No shared-user counts for this graph: its profiles are not held here, and its pair counts are not of users._"]
    return "\n".join(lines)
