"""How the app's maps are turned to match each other, and how it says so.

Layouts come out of their methods in any rotation and reflection. By default the app turns every
map to match the first (UMAP), so a t-SNE map turns when only UMAP changes. ``MapTurns`` offers
the other choice: each map turned to match the map of the same method shown before it, so a map
stays put while another method's settings change.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping

from atlas import projections
from atlas.projections.base import align_layout

#: The choices of the "turn each map to match" control: label -> value.
TURN_CHOICES = {"the first map": "first", "its own previous map": "previous"}


class MapTurns:
    """One browser session's maps as last shown, by method: ``(raw layout key, layout shown)``."""

    def __init__(self) -> None:
        self.shown: dict[str, tuple[str, projections.Layout]] = {}

    def show(self, raw: Mapping[str, projections.Layout], aligned: Mapping[str, projections.Layout], *, previous: bool) -> dict:
        """The layouts to draw: ``aligned`` (each turned to match the first map), or with
        ``previous`` each raw layout turned to match the map of its method shown last (when that
        one holds the same items; else as in ``aligned``). What is returned is remembered."""
        out = {}
        for name, layout in aligned.items():
            kept = self.shown.get(name)
            if previous and kept is not None:
                raw_key, before = kept
                if raw_key == raw[name].key:
                    layout = before  # the same layout as before: the same drawing
                elif before.embedding_key == raw[name].embedding_key and before.xy.shape == raw[name].xy.shape:
                    turned = align_layout(raw[name], before)
                    digest = hashlib.sha1(before.key.encode()).hexdigest()[:12]
                    layout = dataclasses.replace(turned, key=f"{raw[name].key}:after:{digest}")
            out[name] = layout
            self.shown[name] = (raw[name].key, layout)
        return out


def turn_wording(names: list[str], *, previous: bool, onto: str | None = None) -> tuple[dict[str, str], str]:
    """Each map's title and a sentence saying what the maps are turned to match: the first map
    (``names[0]``), each method's previous map, or, with ``onto`` (the folder of an earlier
    export the app is aligned to), that export."""
    title = {name: projections.get(name).title for name in names}
    if not names:
        return {}, ""
    first = title[names[0]]
    others = [title[n] for n in names[1:]]
    if onto is not None:
        titles = {n: title[n] + (" (turned to match the earlier export)" if n == names[0] else f" (turned to match {first})") for n in names}
        return titles, f"{first} is turned to match the earlier export in {onto}" + (f"; {', '.join(others)} to match {first}." if others else ".")
    if previous:
        titles = {n: f"{title[n]} (turned to match its previous map)" for n in names}
        return titles, "Each map is turned to match its own previous map, so it stays where it was when only another method's settings change."
    titles = {n: title[n] + ("" if n == names[0] else f" (turned to match {first})") for n in names}
    if not others:
        return titles, ""
    verb = "is" if len(others) == 1 else "are"
    note = (
        f"{', '.join(others)} {verb} rotated and mirrored to match {first}, so {'it turns' if len(others) == 1 else 'they turn'} "
        f"when only {first} changes; to keep each map in place, turn each map to match “its own previous map”."
    )
    return titles, note
