"""Messages in the app's own words: the box or slider to change, not the command-line flag.

The core's errors name the ``atlas build`` flag to change ("Fix --weight-col."), which is right
on the command line. In the app the same setting is a box or a slider with a label, so
``in_app`` names that instead ("Fix the “weight” box (Data → Columns).").
"""

from __future__ import annotations

import functools
import re

# The data form's boxes, by the flag of the same setting.
SOURCE_CONTROLS = {
    "--user-col": "the “user” box (Data → Columns)",
    "--item-col": "the “item” box (Data → Columns)",
    "--weight-col": "the “weight” box (Data → Columns)",
    "--items-id-col": "the “id” box (Data → Metadata columns)",
    "--name-col": "the “name” box (Data → Metadata columns)",
    "--label-col": "the “label” box (Data → Metadata columns)",
    "--items": "the item metadata file",
    "--seed": "the “seed” box (sidebar)",
    "--align-to": "the “align to a previous export” box (Regions and stable rebuilds)",
}
PHRASES = {"the INPUT path": "the interactions file", "the --items path": "the item metadata file"}
SECTIONS = {"filter": "Filters", "cooccurrence": "Graph", "graph": "Graph", "embed": "Embedding", "regions": "Regions and stable rebuilds"}
_FLAG = re.compile(r"--[a-z][a-z0-9-]*")


@functools.cache
def flag_controls() -> dict[str, str]:
    """Every flag the app has a control for -> how the app names that control."""
    from atlas import projections
    from atlas.plan import projection_fields, stage_fields

    names = dict(SOURCE_CONTROLS)
    for stage, fields in stage_fields().items():
        for f in fields:
            names[f.option.flag] = f"“{f.label}” ({SECTIONS.get(stage, stage)})"
    for name, fields in projection_fields().items():
        for f in fields:
            names[f.option.flag] = f"“{f.label}” ({projections.get(name).title})"
    return names


def in_app(message: str) -> str:
    """``message`` with each flag the app has a control for replaced by that control's name;
    flags joined by slashes ("--user-col/--item-col") become "A or B"."""
    if not message:
        return message
    for phrase, words in PHRASES.items():
        message = message.replace(phrase, words)
    names = flag_controls()

    def group(match: re.Match) -> str:
        flags = match.group(0).split("/")
        if not all(f in names for f in flags):
            return match.group(0)
        return " or ".join(names[f] for f in flags)

    return re.sub(rf"{_FLAG.pattern}(?:/{_FLAG.pattern})*", group, message)
